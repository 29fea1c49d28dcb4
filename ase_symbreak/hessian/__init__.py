"""The exact-Hessian engine: autodiff products, force constants, colouring, graphs.

- :mod:`~ase_symbreak.hessian.autodiff`: energy, forces, stress, exact Hessian rows and
  Hessian-vector products of an :class:`~ase_symbreak.models.base.EnergyModel`;
- :mod:`~ase_symbreak.hessian.forceconstants`: phonopy's (N, N, 3, 3) layout and the
  completion of force constants by space-group symmetry;
- :mod:`~ase_symbreak.hessian.any_calculator`: force constants of any ASE calculator (exact
  Hessian where it has one, phonopy's finite displacements otherwise);
- :mod:`~ase_symbreak.hessian.colouring`: compressed (coloured) exact Hessians;
- :mod:`~ase_symbreak.hessian.graph`: neighbour lists and differentiable edge vectors;
- :mod:`~ase_symbreak.hessian.allocator`: glibc malloc thresholds for large products.
"""

from ase_symbreak.hessian.allocator import keep_freed_memory
from ase_symbreak.hessian.any_calculator import (
    CalculatorForceConstants,
    calculator_force_constants,
    exact_hessian_of,
)
from ase_symbreak.hessian.autodiff import (
    EnergyForcesStress,
    energy_forces_stress,
    hessian_rows,
    hessian_vector_products,
)
from ase_symbreak.hessian.colouring import ColouredHessian, coloured_hessian
from ase_symbreak.hessian.forceconstants import (
    SymmetryMap,
    complete_force_constants,
    force_constants_from_forces,
    force_constants_from_orbit_products,
    force_constants_to_hessian,
    hessian_to_force_constants,
    orbit_directions,
    phonopy_displacements,
    symmetry_map,
)
from ase_symbreak.hessian.graph import NeighborList, edge_vectors, neighbor_list

__all__ = [
    "CalculatorForceConstants",
    "ColouredHessian",
    "EnergyForcesStress",
    "NeighborList",
    "SymmetryMap",
    "calculator_force_constants",
    "coloured_hessian",
    "complete_force_constants",
    "edge_vectors",
    "energy_forces_stress",
    "exact_hessian_of",
    "force_constants_from_forces",
    "force_constants_from_orbit_products",
    "force_constants_to_hessian",
    "hessian_rows",
    "hessian_to_force_constants",
    "hessian_vector_products",
    "keep_freed_memory",
    "neighbor_list",
    "orbit_directions",
    "phonopy_displacements",
    "symmetry_map",
]
