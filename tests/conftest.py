"""Shared fixtures: seeded generators, small structures, calculators on both models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.structures import cubic_perovskite


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


def triclinic_srtio3_small() -> Atoms:
    """5 atoms in a small rattled triclinic cell: every atom sees its own images."""
    atoms = cubic_perovskite(3.9)
    cell = atoms.cell.array + np.array([[0.0, 0.2, -0.1], [0.15, 0.0, 0.1], [-0.2, 0.1, 0.0]])
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.08, seed=7)
    return atoms


def srtio_cluster() -> Atoms:
    """A non-periodic 4-atom Sr-Ti-O cluster."""
    return Atoms(
        "SrTiO2",
        positions=[[0.0, 0.0, 0.0], [2.2, 0.4, 0.1], [1.1, 1.7, -0.3], [0.9, -1.5, 0.8]],
        pbc=False,
    )


STRUCTURES = {"triclinic_periodic": triclinic_srtio3_small, "cluster": srtio_cluster}


@pytest.fixture(params=sorted(STRUCTURES))
def structure(request) -> Atoms:
    return STRUCTURES[request.param]()


def own_model(seed: int = 0):
    from ase_symbreak.models import E3nnPotential, PotentialConfig

    torch.manual_seed(seed)
    return E3nnPotential(PotentialConfig(species=(8, 22, 38), cutoff=4.0, hidden_mul=8, num_layers=2), dtype=torch.float64)


@pytest.fixture(scope="session")
def sevennet_calc64() -> SymBreakCalculator:
    """The embedded default in float64 throughout."""
    return SymBreakCalculator(dtype="float64")


@pytest.fixture(scope="session")
def own_calc() -> SymBreakCalculator:
    return SymBreakCalculator(own_model(), dtype="float64")


@pytest.fixture(params=["own", "sevennet"])
def calc64(request, own_calc, sevennet_calc64) -> SymBreakCalculator:
    """Both models, float64."""
    return {"own": own_calc, "sevennet": sevennet_calc64}[request.param]
