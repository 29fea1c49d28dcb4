"""Explain a distorted structure: its parent, its order parameters and their energies.

:func:`explain` goes from one low-symmetry structure to its high-symmetry parent
(:mod:`.parents`: the supergroups within reach, aristotype first), the decomposition of the
distortion into the parent's irreps, which of them are primary order parameters and which
are secondary (:mod:`.roles`), and, with a calculator, the energy of each mode alone and
together (:mod:`.energies`). :mod:`.page` writes it as one self-contained HTML page.
"""

from .energies import EnergyBreakdown, ModeEnergy, mode_energies
from .explanation import DEFAULT_THRESHOLD, ExplainedMode, Explanation, StrainPart, explain
from .parent_phonons import ParentPhonon, parent_phonons
from .parents import ParentCandidate, find_parents
from .roles import GroupStep, IrrepRoles, assign_roles, irrep_fields

__all__ = [
    "DEFAULT_THRESHOLD",
    "EnergyBreakdown",
    "ExplainedMode",
    "Explanation",
    "GroupStep",
    "IrrepRoles",
    "ModeEnergy",
    "ParentCandidate",
    "ParentPhonon",
    "StrainPart",
    "assign_roles",
    "explain",
    "find_parents",
    "irrep_fields",
    "mode_energies",
    "parent_phonons",
]
