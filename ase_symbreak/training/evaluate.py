"""Accuracy of a trained model: MAEs of energy/atom, forces, stress, Hessian and phonons.

Phonon frequencies of the model come from phonopy with force constants from the model's
exact Hessian (:func:`ase_symbreak.phonons.phonopy_from_calculator`); reference
frequencies from any ASE calculator by phonopy's finite displacements
(:func:`reference_phonon_frequencies`) or from given force constants.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.codec import Record
from ase_symbreak.hessian.autodiff import energy_forces_stress, hessian_rows
from ase_symbreak.models.base import EnergyModel
from ase_symbreak.training.data import Structure

#: phonopy's names of a centred primitive cell (``primitive_matrix``)
Centring = Literal["P", "F", "I", "A", "C", "R", "auto"]

__all__ = [
    "Metrics",
    "evaluate",
    "model_phonon_frequencies",
    "reference_phonon_frequencies",
    "write_metrics",
]


@dataclass(frozen=True)
class Metrics(Record):
    """Mean absolute errors over a set of structures (None where no labels exist)."""

    n_structures: int
    energy_mae: float  # eV/atom
    forces_mae: float  # eV/A, per component
    stress_mae: float | None  # eV/A^3, per component
    hessian_mae: float | None  # eV/A^2, per element
    phonon_mae: float | None = None  # THz, over all bands at the chosen q
    qpoints: list[list[float]] | None = None  # fractional q of the phonon comparison
    phonon_model: list[list[float]] | None = None  # (n_q, n_bands) THz, imaginary negative
    phonon_reference: list[list[float]] | None = None  # (n_q, n_bands) THz

    def summary(self) -> str:
        parts = [
            f"E {1000 * self.energy_mae:.3g} meV/atom",
            f"F {1000 * self.forces_mae:.3g} meV/A",
        ]
        if self.stress_mae is not None:
            parts.append(f"S {1000 * self.stress_mae:.3g} meV/A^3")
        if self.hessian_mae is not None:
            parts.append(f"H {self.hessian_mae:.3g} eV/A^2")
        if self.phonon_mae is not None:
            parts.append(f"phonons {self.phonon_mae:.3g} THz")
        return f"MAE over {self.n_structures} structures: " + ", ".join(parts)


def model_phonon_frequencies(
    model: EnergyModel,
    unitcell: Atoms,
    supercell: ArrayLike,
    qpoints: ArrayLike,
    primitive_matrix: Centring = "P",
) -> NDArray[np.float64]:
    """(n_q, 3 n_atoms) frequencies (THz, imaginary negative) from the model's exact Hessian.

    ``qpoints`` are fractional coordinates of the reciprocal lattice of ``unitcell``
    (``primitive_matrix="P"``, phonopy's default ``"auto"`` would reduce to the primitive cell).
    """
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.phonons import phonopy_from_calculator

    phonon = phonopy_from_calculator(
        unitcell,
        SymBreakCalculator(model, dtype="float64"),
        supercell,
        primitive_matrix=primitive_matrix,
    )
    return np.array([phonon.get_frequencies(q) for q in np.atleast_2d(qpoints)])


def reference_phonon_frequencies(
    calc,
    unitcell: Atoms,
    supercell: ArrayLike,
    qpoints: ArrayLike,
    distance: float = 0.01,
    primitive_matrix: Centring = "P",
) -> NDArray[np.float64]:
    """(n_q, 3 n_atoms) reference frequencies (THz) from any ASE calculator by finite
    displacements.
    """
    from phonopy import Phonopy

    from ase_symbreak.phonons import from_phonopy_atoms, supercell_matrix_3x3, to_phonopy_atoms

    p = supercell_matrix_3x3(supercell)
    phonon = Phonopy(
        to_phonopy_atoms(unitcell), supercell_matrix=p.T, primitive_matrix=primitive_matrix
    )
    phonon.generate_displacements(distance=distance, is_plusminus=True)
    supercells = phonon.supercells_with_displacements
    assert supercells is not None  # generate_displacements above
    forces = []
    for cell in supercells:
        atoms = from_phonopy_atoms(cell)
        atoms.calc = calc
        forces.append(atoms.get_forces().copy())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    return np.array([phonon.get_frequencies(q) for q in np.atleast_2d(qpoints)])


def evaluate(
    model: EnergyModel,
    structures: Sequence[Structure],
    dtype: torch.dtype = torch.float64,
    phonon_cell: Atoms | None = None,
    supercell: ArrayLike = (2, 2, 2),
    qpoints: ArrayLike = ((0.0, 0.0, 0.0), (0.5, 0.5, 0.5)),
    reference_frequencies: ArrayLike | None = None,
    reference_calc=None,
) -> Metrics:
    """MAEs of ``model`` on labelled ``structures`` and, optionally, its phonons.

    Phonons are compared when ``phonon_cell`` is given, against ``reference_frequencies``
    (n_q, n_bands) THz or frequencies from ``reference_calc`` by finite displacements.
    """
    if not structures:
        raise ValueError("evaluate needs at least one structure")
    e_err, f_err, s_err, h_err = [], [], [], []
    for s in structures:
        atoms = s.to_atoms()
        res = energy_forces_stress(model, atoms, dtype, stress=s.stress is not None)
        e_err.append(abs(res.energy - s.energy) / len(s))
        f_err.append(np.abs(res.forces - s.forces).ravel())
        if s.stress is not None and res.stress is not None:
            pred = voigt_6_to_full_3x3_stress(res.stress)
            s_err.append(np.abs(pred - s.stress).ravel())
        if s.hessian is not None:
            h_err.append(np.abs(hessian_rows(model, atoms, dtype=dtype) - s.hessian).ravel())
    phonon_mae: float | None = None
    qs: list[list[float]] | None = None
    model_freq: list[list[float]] | None = None
    ref_freq: list[list[float]] | None = None
    if phonon_cell is not None:
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        freq = model_phonon_frequencies(model, phonon_cell, supercell, q)
        if reference_frequencies is not None:
            ref = np.asarray(reference_frequencies, dtype=float)
        elif reference_calc is not None:
            ref = reference_phonon_frequencies(reference_calc, phonon_cell, supercell, q)
        else:
            raise ValueError("phonon_cell given without reference_frequencies or reference_calc")
        if ref.shape != freq.shape:
            raise ValueError(f"reference frequencies have shape {ref.shape}, expected {freq.shape}")
        phonon_mae = float(np.mean(np.abs(np.sort(freq, axis=1) - np.sort(ref, axis=1))))
        qs, model_freq, ref_freq = q.tolist(), freq.tolist(), ref.tolist()
    return Metrics(
        n_structures=len(structures),
        energy_mae=float(np.mean(e_err)),
        forces_mae=float(np.mean(np.concatenate(f_err))),
        stress_mae=float(np.mean(np.concatenate(s_err))) if s_err else None,
        hessian_mae=float(np.mean(np.concatenate(h_err))) if h_err else None,
        phonon_mae=phonon_mae,
        qpoints=qs,
        phonon_model=model_freq,
        phonon_reference=ref_freq,
    )


def write_metrics(metrics: Metrics, path: str | os.PathLike[str]) -> Path:
    """Write ``metrics`` as JSON; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(metrics.to_dict(), indent=2) + "\n")
    return path
