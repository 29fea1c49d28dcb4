"""Force constants in phonopy's layout, and their completion by space-group symmetry.

phonopy needs force constants ``fc[i, j, alpha, beta] = d2E / du_{i alpha} du_{j beta}``
(eV/A^2) of a supercell. Only the rows of symmetry-independent atoms must be computed:
for an operation ``g = (R|t)`` mapping atom i to g(i), ``fc[g(i), g(j)] = R fc[i, j] R^T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import spglib
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.validation import check_symprec

if TYPE_CHECKING:
    from phonopy import Phonopy
    from phonopy.harmonic.displacement import Type1DisplacementDataset


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
    check_symprec(symprec)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise ValueError(
            f"spglib could not find the symmetry of {atoms.get_chemical_formula()} "
            f"(symprec={symprec})"
        )
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


def _match_sites(
    image: NDArray, frac: NDArray, numbers: NDArray, lattice: NDArray, symprec: float
) -> NDArray[np.int64]:
    diff = image[:, None, :] - frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ lattice, axis=-1)
    dist[numbers[:, None] != numbers[None, :]] = np.inf
    perm = np.argmin(dist, axis=1)
    if np.max(dist[np.arange(len(frac)), perm]) > 10 * symprec + 1e-8 or len(
        set(perm.tolist())
    ) != len(frac):
        raise ValueError("a symmetry operation does not map the structure onto itself")
    return perm.astype(np.int64)


def complete_force_constants(
    rows: dict[int, NDArray[np.float64]], sym: SymmetryMap
) -> NDArray[np.float64]:
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
        raise ValueError(
            f"atoms {np.flatnonzero(~done).tolist()} are not reached from the independent atoms"
        )
    return fc


# -- phonopy's symmetry-reduced displacements, evaluated exactly ---------------------------
@dataclass(frozen=True)
class DisplacementSet:
    """phonopy's systematic displacements of a supercell (the structure itself).

    ``phonon`` is the :class:`phonopy.Phonopy` object holding the dataset; ``vectors[k]``
    is the (N, 3) displacement pattern (Angstrom) of its k-th displaced cell.
    """

    phonon: Phonopy
    vectors: NDArray[np.float64]  # (K, N, 3) Angstrom


def phonopy_displacements(
    atoms: Atoms,
    distance: float = 0.01,
    symprec: float = 1e-5,
    is_plusminus: bool | Literal["auto"] = False,
) -> DisplacementSet:
    """phonopy's systematic displacements of ``atoms`` taken as its own supercell.

    Parameters
    ----------
    atoms : the supercell (any size; its own space group is used)
    distance : displacement length, Angstrom (irrelevant for exact Hessian-vector products,
        which are linear in it)
    symprec : spglib tolerance, Angstrom
    is_plusminus : ``False`` (one direction per needed axis: enough for exact harmonic
        forces, since ``H(-u) = -Hu``), ``"auto"`` or ``True`` (phonopy's finite-difference
        choices)

    Returns
    -------
    :class:`DisplacementSet` with ``vectors`` of shape (K, N, 3); K = 3 for cubic SrTiO3
    2x2x2 (40 atoms), 3N for a cell without symmetry.
    """
    from phonopy import Phonopy

    phonon = Phonopy(
        _to_phonopy_atoms(atoms),
        supercell_matrix=np.eye(3, dtype=int),
        primitive_matrix="P",
        symprec=symprec,
    )
    phonon.generate_displacements(distance=distance, is_plusminus=is_plusminus)
    _check_same_order(atoms, phonon.supercell)
    n = len(atoms)
    # generate_displacements makes a type-1 dataset (one displaced atom per cell)
    entries = cast("Type1DisplacementDataset", phonon.dataset)["first_atoms"]
    vectors = np.zeros((len(entries), n, 3))
    for k, entry in enumerate(entries):
        vectors[k, entry["number"]] = entry["displacement"]
    return DisplacementSet(phonon=phonon, vectors=vectors)


def force_constants_from_forces(
    displacements: DisplacementSet, forces: NDArray[np.float64]
) -> NDArray[np.float64]:
    """phonopy's force constants (N, N, 3, 3), eV/A^2, from the forces of each displaced cell.

    ``forces`` (K, N, 3) eV/A: finite-difference forces, or the exact harmonic forces
    ``-H u`` of :func:`ase_symbreak.hessian.autodiff.hessian_vector_products`; phonopy fits the
    force constants of the independent atoms and completes the rest by symmetry.
    """
    phonon = displacements.phonon
    forces = np.asarray(forces, dtype=np.float64)
    if forces.shape != displacements.vectors.shape:
        raise ValueError(f"forces must be {displacements.vectors.shape}, got {forces.shape}")
    phonon.forces = forces
    phonon.produce_force_constants()
    return np.array(phonon.force_constants, dtype=np.float64)


def _to_phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=atoms.cell.array,
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def _check_same_order(atoms: Atoms, supercell) -> None:
    diff = supercell.scaled_positions - atoms.get_scaled_positions(wrap=False)
    diff -= np.round(diff)
    if list(supercell.symbols) != atoms.get_chemical_symbols() or np.abs(diff).max() > 1e-8:
        raise RuntimeError(
            "phonopy reordered the atoms of the supercell; cannot map its displacements"
        )


# -- fewest exact Hessian-vector products: random directions spread by the group ---------
def _apply_operation(rotation: NDArray, permutation: NDArray, vectors: NDArray) -> NDArray:
    """(g u)[perm[i]] = R u[i] for vectors (K, N, 3)."""
    out = np.empty_like(vectors)
    out[:, permutation] = vectors @ rotation.T
    return out


def orbit_directions(
    sym: SymmetryMap, seed: int = 0, max_vectors: int | None = None
) -> NDArray[np.float64]:
    """Fewest random unit displacement patterns (K, N, 3) whose images under the space group
    (plus the 3 rigid translations) span all 3N directions; K = 0 (shape (0, N, 3)) for one
    atom, whose 3 directions are the translations.

    Knowing the exact ``H u`` for these K patterns fixes the whole Hessian of a
    symmetric model, since ``H (g u) = g (H u)``. K = 1 for cubic SrTiO3 2x2x2; about 3N - 3
    for a cell without symmetry.
    """
    n = sym.permutations.shape[1]
    rng = np.random.default_rng(seed)
    translations = np.zeros((3, n, 3))
    for alpha in range(3):
        translations[alpha, :, alpha] = 1.0
    basis = translations.reshape(3, -1).T  # (3N, m)
    chosen: list[NDArray[np.float64]] = []
    limit = max_vectors or 3 * n
    while np.linalg.matrix_rank(basis) < 3 * n and len(chosen) < limit:
        u = rng.standard_normal((1, n, 3))
        u /= np.linalg.norm(u)
        images = np.concatenate(
            [_apply_operation(r, p, u) for r, p in zip(sym.rotations, sym.permutations)]
        )
        basis = np.concatenate([basis, images.reshape(len(images), -1).T], axis=1)
        chosen.append(u[0])
    return np.array(chosen, dtype=np.float64).reshape(-1, n, 3)  # (0, N, 3) when none needed


def force_constants_from_orbit_products(
    sym: SymmetryMap, vectors: NDArray[np.float64], products: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Force constants (N, N, 3, 3), eV/A^2, from exact ``H u`` along :func:`orbit_directions`.

    Solves ``H X = Y`` in the least-squares sense with X the images ``g u`` (and the rigid
    translations, ``H t = 0``) and Y the images ``g (H u)``, then symmetrises ``H``. Exact for a
    model with the structure's symmetry; for a model that breaks it (SevenNet-0 has no
    parity) this is a symmetry projection, as phonopy's fit is.
    """
    n = sym.permutations.shape[1]
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, n, 3)
    products = np.asarray(products, dtype=np.float64).reshape(-1, n, 3)
    xs = [_apply_operation(r, p, vectors) for r, p in zip(sym.rotations, sym.permutations)]
    ys = [_apply_operation(r, p, products) for r, p in zip(sym.rotations, sym.permutations)]
    translations = np.zeros((3, n, 3))
    for alpha in range(3):
        translations[alpha, :, alpha] = 1.0
    x = np.concatenate(xs + [translations]).reshape(-1, 3 * n)  # (M, 3N), rows are directions
    y = np.concatenate(ys + [np.zeros_like(translations)]).reshape(-1, 3 * n)
    if np.linalg.matrix_rank(x) < 3 * n:
        raise ValueError("the directions and their symmetry images do not span all 3N directions")
    # H x_m = y_m for all m  <=>  X H^T = Y
    h_t, *_ = np.linalg.lstsq(x, y, rcond=None)
    hessian = 0.5 * (h_t + h_t.T)
    return hessian_to_force_constants(hessian)
