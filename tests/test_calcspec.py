"""Models named by import paths, and calculators cached once per process."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from toy_models import PlantedTiltModel  # noqa: E402

from ase_symbreak.calculator import SymBreakCalculator  # noqa: E402
from ase_symbreak.models import registry  # noqa: E402
from ase_symbreak.workflows.calcspec import CalculatorSpec, borrowed, calculator_for, clear_cache, model_loads  # noqa: E402


def test_import_path_names_a_model():
    model = registry.load("toy_models:PlantedTiltModel")
    assert isinstance(model, PlantedTiltModel)
    atoms = model.cubic()
    atoms.rattle(0.02, seed=1)
    by_path = SymBreakCalculator(model="toy_models:PlantedTiltModel", dtype="float64")
    direct = SymBreakCalculator(model=PlantedTiltModel(), dtype="float64")
    np.testing.assert_array_equal(by_path.get_forces(atoms), direct.get_forces(atoms))


@pytest.mark.parametrize("spec, error, match", [
    ("no_such_module_xyz:Model", ValueError, "cannot import"),
    ("toy_models:NoSuchFactory", ValueError, "no attribute"),
    ("toy_models:rigid_tilt_i4mcm", TypeError, "argument"),  # needs arguments
    ("numpy:pi", TypeError, "not an ase_symbreak EnergyModel"),
])
def test_bad_import_paths(spec, error, match):
    with pytest.raises(error, match=match):
        registry.load(spec)


def test_calculator_cached_once_per_process():
    clear_cache()
    spec = CalculatorSpec(model="toy_models:PlantedTiltModel", dtype="float64")
    assert pickle.loads(pickle.dumps(spec)) == spec
    first = calculator_for(spec)
    with borrowed(spec) as again:
        assert again is first
    assert calculator_for(CalculatorSpec.from_dict(spec.to_dict())) is first
    assert model_loads() == {repr(spec): 1}
    other = CalculatorSpec(model="toy_models:PlantedTiltModel", dtype="float32")
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
