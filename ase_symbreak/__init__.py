"""ase-symbreak: symmetry-aware machine learning for ASE.

Subpackages: ``calculator`` (equivariant ASE calculator with exact Hessians),
``models`` / ``nn`` (e3nn potentials), ``symmetry`` (space groups, labelled irreps,
mode decomposition, isotropy subgroups).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
