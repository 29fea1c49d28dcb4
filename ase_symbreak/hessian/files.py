"""Keeping Hessians with structures in files.

ASE writers keep only the registered calculator outputs (``ase/outputs.py``), so a
(3N, 3N) Hessian in ``calc.results`` is dropped on export. Stored as a per-atom array
``atoms.arrays["hessian"]`` of shape (N, 9N) (atom i's three rows), it survives extxyz
round trips; :func:`stored_hessian` turns it back into (3N, 3N).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

HESSIAN_KEY = "hessian"


def store_hessian(atoms: Atoms, hessian: NDArray[np.float64]) -> None:
    """Attach a (3N, 3N) Hessian (eV/A^2) to ``atoms`` as a per-atom array."""
    n = len(atoms)
    hessian = np.asarray(hessian, dtype=float)
    if hessian.shape != (3 * n, 3 * n):
        raise ValueError(f"Hessian of {n} atoms must be ({3 * n}, {3 * n}), got {hessian.shape}")
    atoms.arrays[HESSIAN_KEY] = hessian.reshape(n, 9 * n).copy()


def stored_hessian(atoms: Atoms) -> NDArray[np.float64]:
    """The (3N, 3N) Hessian stored by :func:`store_hessian` (KeyError if none)."""
    if HESSIAN_KEY not in atoms.arrays:
        raise KeyError(
            f"{atoms.get_chemical_formula()} has no stored Hessian (atoms.arrays['{HESSIAN_KEY}'])"
        )
    n = len(atoms)
    return np.asarray(atoms.arrays[HESSIAN_KEY], dtype=float).reshape(3 * n, 3 * n)
