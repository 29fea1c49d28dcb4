"""Make ``emt_data.extxyz``, the training data of ``train_example.toml``: rattled and strained
fcc Cu and Al cells labelled with ASE's EMT (energies, forces, stresses), so that the example
runs offline as it is.

    .venv/bin/python recipes/training/make_emt_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write


def emt_structures(n_per_element: int = 24, seed: int = 0) -> list:
    """Rattled (0.05 A) and strained (up to 2 %) 2x2x1 cells of fcc Cu and Al with EMT labels."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in ("Cu", "Al"):
        for _ in range(n_per_element):
            atoms = bulk(symbol, "fcc", cubic=True).repeat((2, 1, 1))
            strain = np.eye(3) + 0.02 * rng.uniform(-1, 1, (3, 3))
            atoms.set_cell(atoms.cell[:] @ (0.5 * (strain + strain.T)), scale_atoms=True)
            atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
            atoms.calc = EMT()
            labels = {
                "energy": atoms.get_potential_energy(),
                "forces": atoms.get_forces(),
                "stress": atoms.get_stress(),
            }
            atoms.calc = SinglePointCalculator(atoms, **labels)
            frames.append(atoms)
    return frames


if __name__ == "__main__":
    out = Path(__file__).with_name("emt_data.extxyz")
    write(out, emt_structures())
    print(f"wrote {out}")
