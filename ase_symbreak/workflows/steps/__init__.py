"""The steps of the distortion search, each a function of ASE ``Atoms`` returning a record.

Every result is a frozen dataclass with ``to_dict()`` (JSON-ready) and ``from_dict()``
(:class:`ase_symbreak.codec.Record`):

========================  ======================================================================
:func:`relax`             ASE optimiser with ``FrechetCellFilter`` / ``FixSymmetry`` -> RelaxResult
:func:`phonons`           labelled phonon modes from the exact Hessian -> PhononModes
:func:`soft_modes`        unstable irreps with q, label, frequency, patterns -> PhononModes
:func:`condense`          isotropy subgroups of soft irreps (and pairs), scans -> CondenseResult
:func:`same_structures`   candidates whose scans end in one structure up to the parent's symmetry
:func:`relax_child`       relax a candidate inside its subgroup -> RelaxResult
:func:`identify`          space group, energy gain, mode decomposition -> Identification
========================  ======================================================================

Units: eV, Angstrom, THz (imaginary as negative), meV per formula unit for energy gains;
mode amplitudes are ISODISTORT's ``Ap`` (normalised to the parent cell), Angstrom.
"""

from .common import Progress, check_parent, formula_units
from .condense import Candidate, CondenseResult, condense, same_structures
from .identify import Identification, identify
from .phonons import check_supercell, phonons, soft_modes
from .relax import RelaxResult, relax, relax_child

__all__ = [
    "Candidate",
    "CondenseResult",
    "Identification",
    "Progress",
    "RelaxResult",
    "check_parent",
    "check_supercell",
    "condense",
    "formula_units",
    "identify",
    "phonons",
    "relax",
    "relax_child",
    "same_structures",
    "soft_modes",
]
