"""Model files round-trip for every architecture the package saves."""

from __future__ import annotations

import numpy as np
import torch

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.models import load_model, save_model
from ase_symbreak.structures import cubic_perovskite


def test_relaxed_potential_round_trips_with_its_theta(tmp_path):
    from ase_symbreak.models.relaxed_potential import RelaxedPotential, RelaxedPotentialConfig

    torch.manual_seed(1)
    model = RelaxedPotential(
        RelaxedPotentialConfig(species=(8, 22, 38), cutoff=4.0, hidden_mul=4, num_layers=2),
        dtype=torch.float64,
    )
    with torch.no_grad():  # break the symmetry so theta's non-scalar part must survive the trip
        for name, parameter in model.named_parameters():
            if "theta" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    loaded = load_model(save_model(model, tmp_path / "relaxed.safetensors"))
    assert type(loaded) is RelaxedPotential
    atoms = cubic_perovskite(3.9)
    atoms.rattle(0.05, seed=2)
    f0 = SymBreakCalculator(model, dtype="float64").get_forces(atoms)
    f1 = SymBreakCalculator(loaded, dtype="float64").get_forces(atoms)
    assert np.abs(f0 - f1).max() < 1e-12


def _crafted(tmp_path, edit_config=None, edit_tensors=None):
    """A model file written by save_model, then edited as an attacker would."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from ase_symbreak.testing import small_e3nn_potential

    path = save_model(small_e3nn_potential(), tmp_path / "good.safetensors")
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if edit_config:
        config = json.loads(metadata["config"])
        config.update(edit_config)
        metadata["config"] = json.dumps(config)
    if edit_tensors:
        edit_tensors(tensors)
    crafted = tmp_path / "crafted.safetensors"
    save_file(tensors, str(crafted), metadata=metadata)
    return crafted


def test_model_file_asking_for_a_million_layers_is_refused_at_once(tmp_path):
    import time

    import pytest

    from ase_symbreak.models.files import ModelFileError

    crafted = _crafted(tmp_path, edit_config={"num_layers": 1_000_000})
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="num_layers"):
        load_model(crafted)
    assert time.perf_counter() - start < 5.0


def test_model_file_with_nan_weights_is_refused(tmp_path):
    import pytest

    from ase_symbreak.models.files import ModelFileError

    def poison(tensors):
        name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel())
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")

    with pytest.raises(ModelFileError, match="NaN"):
        load_model(_crafted(tmp_path, edit_tensors=poison))
