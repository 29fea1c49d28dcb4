"""Distortion-search workflow: each step a function of ASE ``Atoms`` returning a serialisable result.

>>> from ase_symbreak.workflows import distortion_search, SearchSettings   # doctest: +SKIP
>>> result = distortion_search(atoms, settings=SearchSettings(supercell=(2, 2, 2)), out_dir="run")  # doctest: +SKIP
"""

from .search import STEPS, ChildResult, SearchResult, SearchSettings, distortion_search
from .steps import (
    Candidate,
    CondenseResult,
    Identification,
    PhononMode,
    PhononResult,
    RelaxResult,
    SoftMode,
    SoftModesResult,
    condense,
    formula_units,
    identify,
    phonons,
    relax,
    relax_child,
    soft_modes,
)
from .tree import FamilyTree, family_tree

__all__ = [
    "relax",
    "phonons",
    "soft_modes",
    "condense",
    "relax_child",
    "identify",
    "distortion_search",
    "family_tree",
    "formula_units",
    "RelaxResult",
    "PhononMode",
    "PhononResult",
    "SoftMode",
    "SoftModesResult",
    "Candidate",
    "CondenseResult",
    "Identification",
    "ChildResult",
    "SearchResult",
    "SearchSettings",
    "FamilyTree",
    "STEPS",
]
