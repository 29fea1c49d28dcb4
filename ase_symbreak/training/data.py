"""Training data: labelled structures from ASE, validation, splits and batched graphs.

A :class:`Structure` holds one labelled configuration (energy, forces, optional stress and
Hessian) read from ASE ``Atoms`` whose calculator holds the results (extxyz, ASE db, or a
list of ``Atoms`` with a ``SinglePointCalculator``). Hessians come from
``atoms.arrays["hessian"]`` (:func:`ase_symbreak.hessian.files.stored_hessian`) or from a phonopy
``FORCE_CONSTANTS`` file of the same supercell (:func:`hessian_from_phonopy`).

:func:`collate` concatenates several periodic graphs into one (atom indices offset per
structure), so that a single model call evaluates a whole batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress
from numpy.typing import NDArray

from ase_symbreak.hessian.files import HESSIAN_KEY, stored_hessian
from ase_symbreak.hessian.graph import NeighborList, neighbor_list

__all__ = [
    "Batch",
    "DataError",
    "Structure",
    "collate",
    "hessian_from_phonopy",
    "load_structures",
    "split",
    "structure_from_atoms",
]


class DataError(ValueError):
    """A training structure that cannot be used; the message names its index."""


@dataclass(frozen=True)
class Structure:
    """One labelled configuration."""

    numbers: NDArray[np.int64]  # (N,)
    positions: NDArray[np.float64]  # (N, 3) Angstrom
    cell: NDArray[np.float64]  # (3, 3) Angstrom, rows are lattice vectors
    pbc: NDArray[np.bool_]  # (3,)
    energy: float  # eV
    forces: NDArray[np.float64]  # (N, 3) eV/A
    stress: NDArray[np.float64] | None = None  # (3, 3) eV/A^3, None if unknown or not 3-D periodic
    hessian: NDArray[np.float64] | None = None  # (3N, 3N) eV/A^2, row 3*i+alpha

    def __len__(self) -> int:
        return len(self.numbers)

    def to_atoms(self) -> Atoms:
        """The structure as plain ``Atoms`` (no labels)."""
        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


def _voigt_to_matrix(stress: NDArray[np.float64]) -> NDArray[np.float64]:
    s = np.asarray(stress, dtype=float)
    if s.shape == (3, 3):
        return s
    if s.shape != (6,):
        raise ValueError(f"stress must be (6,) Voigt or (3, 3), got {s.shape}")
    return voigt_6_to_full_3x3_stress(s)


def structure_from_atoms(
    atoms: Atoms, index: int = 0, hessian: NDArray[np.float64] | None = None
) -> Structure:
    """Read the labels of ``atoms`` (from its calculator) and validate them.

    Raises
    ------
    DataError
        Naming ``index`` when the energy or forces are missing, not finite, or of the
        wrong shape, or a stress/Hessian has the wrong shape or is not finite.
    """
    where = f"structure {index} ({atoms.get_chemical_formula()})"
    n = len(atoms)
    if n == 0:
        raise DataError(f"{where} has no atoms")
    calc = atoms.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    if "energy" not in results and "free_energy" not in results:
        raise DataError(f"{where} has no energy (attach a SinglePointCalculator with energy=...)")
    energy = float(results["energy"] if "energy" in results else results["free_energy"])
    if not np.isfinite(energy):
        raise DataError(f"{where} has a non-finite energy {energy!r}")
    if "forces" not in results:
        raise DataError(f"{where} has no forces (attach a SinglePointCalculator with forces=...)")
    forces = np.asarray(results["forces"], dtype=float)
    if forces.shape != (n, 3):
        raise DataError(f"{where} has forces of shape {forces.shape}, expected ({n}, 3)")
    if not np.all(np.isfinite(forces)):
        raise DataError(f"{where} has non-finite forces")
    stress = None
    if "stress" in results and results["stress"] is not None and bool(np.all(atoms.pbc)):
        try:
            stress = _voigt_to_matrix(results["stress"])
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
        if not np.all(np.isfinite(stress)):
            raise DataError(f"{where} has a non-finite stress")
    if hessian is None and HESSIAN_KEY in atoms.arrays:
        raw = np.shape(atoms.arrays[HESSIAN_KEY])
        if raw != (n, 9 * n):
            raise DataError(
                f"{where} has a Hessian array of shape {raw}, "
                f"expected ({n}, {9 * n}) (see store_hessian)"
            )
        hessian = stored_hessian(atoms)
    if hessian is not None:
        hessian = np.asarray(hessian, dtype=float)
        if hessian.shape != (3 * n, 3 * n):
            raise DataError(
                f"{where} has a Hessian of shape {hessian.shape}, expected ({3 * n}, {3 * n})"
            )
        if not np.all(np.isfinite(hessian)):
            raise DataError(f"{where} has a non-finite Hessian")
    return Structure(
        numbers=np.asarray(atoms.numbers, dtype=np.int64).copy(),
        positions=np.asarray(atoms.positions, dtype=float).copy(),
        cell=np.asarray(atoms.cell.array, dtype=float).copy(),
        pbc=np.asarray(atoms.pbc, dtype=bool).copy(),
        energy=energy,
        forces=forces.copy(),
        stress=stress,
        hessian=None if hessian is None else hessian.copy(),
    )


def load_structures(
    source: str | os.PathLike[str] | Iterable[Atoms], index: str = ":"
) -> list[Structure]:
    """Labelled structures from a file readable by :func:`ase.io.read` (extxyz, ASE db, ...)
    or from an iterable of ``Atoms`` with calculator results.
    """
    if isinstance(source, (str, os.PathLike)):
        import ase.io

        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no data file at {path}")
        images = ase.io.read(str(path), index=index)
        images = [images] if isinstance(images, Atoms) else list(images)
    else:
        images = list(source)
    if not images:
        raise DataError(f"no structures in {source!r}")
    return [structure_from_atoms(atoms, i) for i, atoms in enumerate(images)]


def hessian_from_phonopy(path: str | os.PathLike[str], natoms: int) -> NDArray[np.float64]:
    """(3N, 3N) Hessian (eV/A^2) from a phonopy ``FORCE_CONSTANTS`` file of a supercell of
    ``natoms``.

    The file must hold the full (N, N, 3, 3) force constants in the atom order of the
    structure it labels (phonopy's supercell order).
    """
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    fc = np.asarray(parse_FORCE_CONSTANTS(str(path)), dtype=float)
    if fc.shape != (natoms, natoms, 3, 3):
        raise DataError(
            f"{path} holds force constants of shape {fc.shape}, "
            f"expected full ({natoms}, {natoms}, 3, 3)"
        )
    return fc.transpose(0, 2, 1, 3).reshape(3 * natoms, 3 * natoms)


def split(
    structures: Sequence[Structure], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Structure], list[Structure]]:
    """Random train/validation split (seeded); at least one structure in each part."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if len(structures) < 2:
        raise ValueError(f"need at least 2 structures to split, got {len(structures)}")
    order = np.random.default_rng(seed).permutation(len(structures))
    n_val = min(max(1, round(val_fraction * len(structures))), len(structures) - 1)
    return [structures[i] for i in order[n_val:]], [structures[i] for i in order[:n_val]]


@dataclass
class Batch:
    """Several structures as one disconnected graph (torch tensors)."""

    numbers: torch.Tensor  # (N_tot,) int64
    positions: torch.Tensor  # (N_tot, 3)
    cells: torch.Tensor  # (B, 3, 3)
    edge_src: torch.Tensor  # (E,) int64, global atom index
    edge_dst: torch.Tensor  # (E,) int64
    shifts: torch.Tensor  # (E, 3) cell shifts (float)
    atom_batch: torch.Tensor  # (N_tot,) int64 structure of each atom
    edge_batch: torch.Tensor  # (E,) int64 structure of each edge
    natoms: torch.Tensor  # (B,) int64
    offsets: list[int]  # first atom of each structure
    structures: list[Structure]

    @property
    def num_structures(self) -> int:
        return len(self.structures)

    def edge_vectors(
        self, positions: torch.Tensor, strain: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(E, 3) edge vectors; ``strain`` (B, 3, 3) deforms each structure by ``1 + strain``."""
        cells = self.cells
        if strain is not None:
            deform = torch.eye(3, dtype=positions.dtype) + strain
            positions = torch.einsum("ni,nij->nj", positions, deform[self.atom_batch])
            cells = cells @ deform
        return (
            positions[self.edge_dst]
            - positions[self.edge_src]
            + torch.einsum("ei,eij->ej", self.shifts, cells[self.edge_batch])
        )


_NL_CACHE: dict[tuple[int, float], tuple[Structure, NeighborList]] = {}


def _neighbors(structure: Structure, cutoff: float) -> NeighborList:
    key = (id(structure), float(cutoff))
    hit = _NL_CACHE.get(key)
    if hit is not None and hit[0] is structure:
        return hit[1]
    nl = neighbor_list(structure.to_atoms(), cutoff)
    _NL_CACHE[key] = (structure, nl)
    return nl


def collate(
    structures: Sequence[Structure], cutoff: float, dtype: torch.dtype = torch.float64
) -> Batch:
    """Concatenate structures into one :class:`Batch` (neighbour lists cached per structure)."""
    numbers, positions, cells, src, dst, shifts, atom_batch, edge_batch, offsets = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    offset = 0
    for b, s in enumerate(structures):
        nl = _neighbors(s, cutoff)
        numbers.append(s.numbers)
        positions.append(s.positions)
        cells.append(s.cell)
        src.append(nl.edge_src + offset)
        dst.append(nl.edge_dst + offset)
        shifts.append(nl.shifts)
        atom_batch.append(np.full(len(s), b))
        edge_batch.append(np.full(len(nl.edge_src), b))
        offsets.append(offset)
        offset += len(s)
    return Batch(
        numbers=torch.as_tensor(np.concatenate(numbers), dtype=torch.int64),
        positions=torch.tensor(np.concatenate(positions), dtype=dtype),
        cells=torch.tensor(np.stack(cells), dtype=dtype),
        edge_src=torch.as_tensor(np.concatenate(src), dtype=torch.int64),
        edge_dst=torch.as_tensor(np.concatenate(dst), dtype=torch.int64),
        shifts=torch.tensor(np.concatenate(shifts), dtype=dtype),
        atom_batch=torch.as_tensor(np.concatenate(atom_batch), dtype=torch.int64),
        edge_batch=torch.as_tensor(np.concatenate(edge_batch), dtype=torch.int64),
        natoms=torch.tensor([len(s) for s in structures], dtype=torch.int64),
        offsets=offsets,
        structures=list(structures),
    )
