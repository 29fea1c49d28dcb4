"""Helpers for testing models and calculators: physics checks, samples, toy models, crystals.

The physics checks and samples are re-exported here (``from ase_symbreak.testing import
assert_equivariant``); the submodules :mod:`~ase_symbreak.testing.toy_models` (potentials
with planted instabilities, importable by Dask workers as
``"ase_symbreak.testing.toy_models:PlantedTiltModel"``) and
:mod:`~ase_symbreak.testing.crystals` (pyxtal crystals of every space group; pyxtal is a dev
dependency, imported only when a crystal is built) are imported on their own.
"""

from ase_symbreak.testing.physics import (
    CalculatorOrModel,
    as_calculator,
    assert_equivariant,
    assert_hessian_sum_rules,
    assert_translation_invariant,
    numerical_forces,
    numerical_hessian,
    pair_force_constants,
    random_rotation,
    transformed,
)
from ase_symbreak.testing.samples import small_e3nn_potential, srtio_cluster, triclinic_srtio3_small

__all__ = [
    "CalculatorOrModel",
    "as_calculator",
    "assert_equivariant",
    "assert_hessian_sum_rules",
    "assert_translation_invariant",
    "numerical_forces",
    "numerical_hessian",
    "pair_force_constants",
    "random_rotation",
    "small_e3nn_potential",
    "srtio_cluster",
    "transformed",
    "triclinic_srtio3_small",
]
