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
