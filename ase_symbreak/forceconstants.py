"""Force constants in phonopy's layout, and their completion by space-group symmetry.

phonopy needs force constants ``fc[i, j, alpha, beta] = d2E / du_{i alpha} du_{j beta}``
(eV/A^2) of a supercell. Only the rows of symmetry-independent atoms must be computed:
for an operation ``g = (R|t)`` mapping atom i to g(i), ``fc[g(i), g(j)] = R fc[i, j] R^T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms
from numpy.typing import NDArray


def hessian_to_force_constants(hessian: NDArray[np.float64]) -> NDArray[np.float64]:
    """(3N, 3N) Hessian -> (N, N, 3, 3) force constants."""
    n = hessian.shape[0] // 3
    if hessian.shape != (3 * n, 3 * n):
        raise ValueError(f"Hessian must be (3N, 3N), got {hessian.shape}")
    return hessian.reshape(n, 3, n, 3).transpose(0, 2, 1, 3).copy()


def force_constants_to_hessian(fc: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, N, 3, 3) force constants -> (3N, 3N) Hessian."""
    n = fc.shape[0]
    return fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n).copy()


@dataclass(frozen=True)
class SymmetryMap:
    """Space-group operations of a cell as Cartesian rotations and atom permutations."""

    rotations: NDArray[np.float64]  # (n_ops, 3, 3) Cartesian
    permutations: NDArray[np.int64]  # (n_ops, N): atom i goes to permutations[g, i]
    independent_atoms: NDArray[np.int64]  # (n_indep,) one representative per orbit
    equivalent_atoms: NDArray[np.int64]  # (N,) representative of each atom's orbit


def symmetry_map(atoms: Atoms, symprec: float = 1e-5) -> SymmetryMap:
    """Operations of the structure (spglib) with the permutation of atoms each induces."""
    cell = (atoms.cell.array, atoms.get_scaled_positions(wrap=True), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise ValueError(f"spglib could not find the symmetry of {atoms.get_chemical_formula()} (symprec={symprec})")
    lattice = atoms.cell.array  # rows are lattice vectors
    frac = atoms.get_scaled_positions(wrap=True)
    rotations, permutations = [], []
    for rot, trans in zip(dataset.rotations, dataset.translations):
        image = frac @ rot.T + trans
        permutations.append(_match_sites(image, frac, atoms.numbers, lattice, symprec))
        rotations.append(lattice.T @ rot @ np.linalg.inv(lattice.T))
    equivalent = np.asarray(dataset.equivalent_atoms, dtype=np.int64)
    return SymmetryMap(
        rotations=np.array(rotations),
        permutations=np.array(permutations, dtype=np.int64),
        independent_atoms=np.unique(equivalent),
        equivalent_atoms=equivalent,
    )


def _match_sites(image: NDArray, frac: NDArray, numbers: NDArray, lattice: NDArray, symprec: float) -> NDArray[np.int64]:
    diff = image[:, None, :] - frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ lattice, axis=-1)
    dist[numbers[:, None] != numbers[None, :]] = np.inf
    perm = np.argmin(dist, axis=1)
    if np.max(dist[np.arange(len(frac)), perm]) > 10 * symprec + 1e-8 or len(set(perm.tolist())) != len(frac):
        raise ValueError("a symmetry operation does not map the structure onto itself")
    return perm.astype(np.int64)


def complete_force_constants(rows: dict[int, NDArray[np.float64]], sym: SymmetryMap) -> NDArray[np.float64]:
    """Full (N, N, 3, 3) force constants from the rows of the independent atoms.

    ``rows[i]`` is ``fc[i]`` (N, 3, 3) for every ``i`` in ``sym.independent_atoms``.
    """
    n = sym.permutations.shape[1]
    missing = set(sym.independent_atoms.tolist()) - set(rows)
    if missing:
        raise ValueError(f"rows of independent atoms {sorted(missing)} are missing")
    fc = np.zeros((n, n, 3, 3))
    done = np.zeros(n, dtype=bool)
    for rot, perm in zip(sym.rotations, sym.permutations):
        for i in sym.independent_atoms:
            target = perm[i]
            if done[target]:
                continue
            # fc[g(i), g(j)] = R fc[i, j] R^T
            fc[target, perm] = np.einsum("ab,jbc,dc->jad", rot, rows[int(i)], rot)
            done[target] = True
    if not done.all():
        raise ValueError(f"atoms {np.flatnonzero(~done).tolist()} are not reached from the independent atoms")
    return fc
