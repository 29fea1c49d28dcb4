"""Shared fixtures: seeded generators, small structures, calculators on both models."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing import small_e3nn_potential, srtio_cluster, triclinic_srtio3_small


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


STRUCTURES = {"triclinic_periodic": triclinic_srtio3_small, "cluster": srtio_cluster}


@pytest.fixture(params=sorted(STRUCTURES))
def structure(request) -> Atoms:
    return STRUCTURES[request.param]()


@pytest.fixture(scope="session")
def sevennet_calc64() -> SymBreakCalculator:
    """The embedded default in float64 throughout."""
    return SymBreakCalculator(dtype="float64")


@pytest.fixture(scope="session")
def own_calc() -> SymBreakCalculator:
    return SymBreakCalculator(small_e3nn_potential(), dtype="float64")


@pytest.fixture(params=["own", "sevennet"])
def calc64(request, own_calc, sevennet_calc64) -> SymBreakCalculator:
    """Both models, float64."""
    return {"own": own_calc, "sevennet": sevennet_calc64}[request.param]


#: (test, calculator, structure) combinations too slow for the default run; the same check on
#: SevenNet-0 runs there on a smaller cell (tests/models/test_sevennet_models.py).
SLOW_COMBINATIONS = {("test_hessian_matches_finite_differences", "sevennet", "triclinic_periodic")}


def pytest_collection_modifyitems(config, items):
    """Mark the :data:`SLOW_COMBINATIONS` of parametrised fixtures ``slow``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        key = (item.originalname, callspec.params.get("calc64"), callspec.params.get("structure"))
        if key in SLOW_COMBINATIONS:
            item.add_marker(pytest.mark.slow)
