"""Small structures and a small seeded model, shared by the tests of every model.

:func:`triclinic_srtio3_small` is periodic with atoms that see their own images;
:func:`srtio_cluster` is not periodic; :func:`small_e3nn_potential` is a cheap float64
:class:`~ase_symbreak.models.E3nnPotential` for these species (O, Ti, Sr).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from ase_symbreak.structures import cubic_perovskite

if TYPE_CHECKING:
    from ase_symbreak.models import E3nnPotential

__all__ = ["small_e3nn_potential", "srtio_cluster", "triclinic_srtio3_small"]


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


def small_e3nn_potential(seed: int = 0) -> E3nnPotential:
    """A small float64 ``E3nnPotential`` (O, Ti, Sr) built after ``torch.manual_seed(seed)``."""
    import torch

    from ase_symbreak.models import E3nnPotential, PotentialConfig

    torch.manual_seed(seed)
    config = PotentialConfig(species=(8, 22, 38), cutoff=4.0, hidden_mul=8, num_layers=2)
    return E3nnPotential(config, dtype=torch.float64)
