"""Symmetry core: space groups, labelled irreps, displacement modes, isotropy subgroups.

Labels follow the Bilbao/ISOTROPY convention and depend on the origin, an origin of the ITA
standard setting chosen by :func:`ase_symbreak.symmetry.origin.resolve_origin` (perovskite B
site, else the cell's own origin when it is a standard one, else the most symmetric atom on
a standard origin, else spglib's standard origin).
"""

from .decompose import IrrepAmplitude, ModeDecomposition, decompose
from .irreps import Irrep, commensurate_kpoints, irreps_at_k
from .isotropy import IsotropySubgroup, isotropy_subgroups, order_parameter_direction
from .mapping import ParentChildMapping, map_to_parent
from .modes import DisplacementRepresentation, IrrepModes, SupercellOperations, displacement_modes
from .origin import default_origin_index
from .pointgroup import (
    PointGroupIrrep,
    allowed_tensor_components,
    point_group_irreps,
    point_group_operations,
    projection_operator,
    symmetrize_tensor,
)
from .spacegroup import SpaceGroupInfo, analyze, shift_origin, to_atoms

__all__ = [
    "SpaceGroupInfo",
    "to_atoms",
    "analyze",
    "shift_origin",
    "default_origin_index",
    "Irrep",
    "irreps_at_k",
    "commensurate_kpoints",
    "IrrepModes",
    "DisplacementRepresentation",
    "SupercellOperations",
    "displacement_modes",
    "IsotropySubgroup",
    "isotropy_subgroups",
    "order_parameter_direction",
    "ParentChildMapping",
    "map_to_parent",
    "IrrepAmplitude",
    "ModeDecomposition",
    "decompose",
    "PointGroupIrrep",
    "point_group_operations",
    "point_group_irreps",
    "projection_operator",
    "symmetrize_tensor",
    "allowed_tensor_components",
]
