"""Models named by import paths, and calculators cached once per process."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.models import registry
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows.calcspec import (
    CalculatorSpec,
    borrowed,
    calculator_for,
    clear_cache,
    model_loads,
)

TOYS = "ase_symbreak.testing.toy_models"
TILT = f"{TOYS}:PlantedTiltModel"


def test_import_path_names_a_model():
    model = registry.load(TILT)
    assert isinstance(model, PlantedTiltModel)
    atoms = model.cubic()
    atoms.rattle(0.02, seed=1)
    by_path = SymBreakCalculator(model=TILT, dtype="float64")
    direct = SymBreakCalculator(model=PlantedTiltModel(), dtype="float64")
    np.testing.assert_array_equal(by_path.get_forces(atoms), direct.get_forces(atoms))


@pytest.mark.parametrize(
    "spec, error, match",
    [
        ("no_such_module_xyz:Model", ValueError, "cannot import"),
        (f"{TOYS}:NoSuchFactory", ValueError, "no attribute"),
        (f"{TOYS}:rigid_tilt_i4mcm", TypeError, "EnergyModel class"),  # functions: not called
        ("numpy:pi", TypeError, "not an ase_symbreak EnergyModel"),
    ],
)
def test_bad_import_paths(spec, error, match):
    with pytest.raises(error, match=match):
        registry.load(spec)


def test_calculator_cached_once_per_process():
    clear_cache()
    spec = CalculatorSpec(model=TILT, dtype="float64")
    assert pickle.loads(pickle.dumps(spec)) == spec
    first = calculator_for(spec)
    with borrowed(spec) as again:
        assert again is first
    assert calculator_for(CalculatorSpec.from_dict(spec.to_dict())) is first
    assert model_loads() == {repr(spec): 1}
    other = CalculatorSpec(model=TILT, dtype="float32")
    assert calculator_for(other) is not first
    clear_cache()
    assert model_loads() == {}


def test_spec_identity_follows_the_model_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    spec = CalculatorSpec.of(path)
    first = spec.identity()
    path.write_bytes(b"xy")
    assert spec.identity() != first and spec.identity()["model"] == str(path)
    assert CalculatorSpec.of(None) == CalculatorSpec()
