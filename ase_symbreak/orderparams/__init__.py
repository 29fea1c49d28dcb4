"""Order parameters: what breaks the parent's symmetry to give the child.

Relaxed-weights method (papers/001): :func:`theta_readout` reads the learned
symmetry-breaking weights of relaxed convolutions by irrep and names the group they keep.

Gradient-of-input method (papers/000): :func:`find_order_parameter` learns per-site input
features of an equivariant network; their symmetry-breaking part is the order parameter,
analysed by O(3) irrep, kept symmetry group and (perovskites) space-group irrep labels.
"""

from .analysis import rigid_unit_displacements
from .gradient import (
    OrderParameterResult,
    SymmetryReport,
    find_order_parameter,
    perovskite_b_sites,
    pseudovector_irreps,
)
from .relaxed_weights import (
    ChargedParticleNet,
    RelaxedShapeNet,
    ThetaReadout,
    cubic_operations,
    fit_charged_particle,
    fit_shape,
    lorentz_trajectory,
    point_group_name,
    theta_readout,
    theta_stabiliser,
)

__all__ = [
    "OrderParameterResult",
    "SymmetryReport",
    "find_order_parameter",
    "perovskite_b_sites",
    "pseudovector_irreps",
    "rigid_unit_displacements",
    "ThetaReadout",
    "theta_readout",
    "theta_stabiliser",
    "cubic_operations",
    "point_group_name",
    "RelaxedShapeNet",
    "fit_shape",
    "ChargedParticleNet",
    "fit_charged_particle",
    "lorentz_trajectory",
]
