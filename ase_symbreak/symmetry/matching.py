"""Matching atoms to the sites of a reference structure: the one place it is done.

:func:`nearest_sites` finds, for each atom given by its fractional coordinates in the
reference cell, the nearest periodic image of a same-species reference atom (the 27
neighbouring images are tried, so skewed cells give the true nearest image).
:func:`displacements_from` builds the usual one-to-one displacement field on it. Used by the
parent-child mapping (:mod:`.mapping`), the order-parameter targets
(:mod:`ase_symbreak.orderparams.targets`) and the condensation of soft modes.

:func:`minimum_image_sites` is the cheap variant for positions that sit (almost) on a site,
such as the images of the atoms under a symmetry operation: the periodic image is chosen by
rounding the fractional difference. Used by the idealisation (:mod:`.idealize`).
:func:`atom_permutations` finds where every operation sends every atom with a periodic k-d
tree, for large supercells (:mod:`.modes`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SiteMatch",
    "atom_permutations",
    "displacements_from",
    "minimum_image_sites",
    "nearest_sites",
]


@dataclass(frozen=True)
class SiteMatch:
    """Nearest reference site of every atom.

    Attributes
    ----------
    index : NDArray[int]
        (n,) reference atom whose image is nearest to each atom.
    translation : NDArray[int]
        (n, 3) lattice vector (reference fractional) of that image.
    vectors : NDArray[float]
        (n, 3) atom minus site image, Cartesian, Angstrom.
    distance : NDArray[float]
        (n,) length of ``vectors``.
    second_distance : NDArray[float]
        (n,) distance to the nearest image of any other same-species reference atom
        (``inf`` when there is none).
    """

    index: NDArray[np.int64]
    translation: NDArray[np.int64]
    vectors: NDArray[np.float64]
    distance: NDArray[np.float64]
    second_distance: NDArray[np.float64]

    def check_one_to_one(self, n_sites: int, what: str = "atoms") -> None:
        """Raise ``ValueError`` unless every one of ``n_sites`` sites has exactly one atom."""
        taken = np.bincount(self.index, minlength=n_sites)
        if len(self.index) != n_sites or np.any(taken != 1):
            raise ValueError(
                f"no one-to-one correspondence of {what}: reference atoms "
                f"{np.flatnonzero(taken > 1).tolist()} are nearest to several atoms and "
                f"{np.flatnonzero(taken == 0).tolist()} to none"
            )


def nearest_sites(fractional: ArrayLike, numbers: ArrayLike, reference: Atoms) -> SiteMatch:
    """Nearest same-species site of ``reference`` for each atom.

    Parameters
    ----------
    fractional : (n, 3) float
        The atoms' coordinates in the reference cell's fractional basis.
    numbers : (n,) int
        Their atomic numbers.
    reference : Atoms
        Sites: ``reference``'s atoms and their images under its lattice.
    """
    frac = np.atleast_2d(np.asarray(fractional, dtype=float))
    z = np.asarray(numbers)
    cell = np.asarray(reference.cell[:], dtype=float)
    basis = reference.get_scaled_positions(wrap=False)
    diff = frac[:, None, :] - basis[None, :, :]  # (n, n_sites, 3)
    near = np.round(diff)
    cart = (diff - near) @ cell
    best_d2 = np.full(diff.shape[:2], np.inf)
    best_n = np.zeros(diff.shape, dtype=np.int64)
    best_v = cart.copy()
    for off in itertools.product((-1, 0, 1), repeat=3):
        vec = cart - np.asarray(off, dtype=float) @ cell
        d2 = np.sum(vec**2, axis=-1)
        better = d2 < best_d2
        best_d2 = np.where(better, d2, best_d2)
        best_n = np.where(better[..., None], near.astype(np.int64) + np.asarray(off), best_n)
        best_v = np.where(better[..., None], vec, best_v)
    best_d2 = np.where(z[:, None] == reference.numbers[None, :], best_d2, np.inf)
    order = np.argsort(best_d2, axis=1, kind="stable")
    rows = np.arange(len(frac))
    index = order[:, 0]
    second = (
        np.sqrt(best_d2[rows, order[:, 1]]) if basis.shape[0] > 1 else np.full(len(frac), np.inf)
    )
    return SiteMatch(
        index=index.astype(np.int64),
        translation=best_n[rows, index],
        vectors=best_v[rows, index],
        distance=np.sqrt(best_d2[rows, index]),
        second_distance=second,
    )


def displacements_from(structure: Atoms, reference: Atoms, max_distance: float = 0.5) -> NDArray:
    """(N, 3) displacements (Angstrom) of ``structure`` from ``reference``, in reference order.

    Both in the same cell; atoms matched one to one by position (nearest image). Raises
    ``ValueError`` for different cells, no one-to-one match, or an atom farther than
    ``max_distance`` Angstrom from its site.
    """
    if not np.allclose(structure.cell[:], reference.cell[:], atol=1e-6):
        raise ValueError("structure and reference have different cells")
    frac = structure.positions @ np.linalg.inv(np.asarray(reference.cell[:], dtype=float))
    match = nearest_sites(frac, structure.numbers, reference)
    try:
        match.check_one_to_one(len(reference))
    except ValueError:
        raise ValueError(
            "could not match the distorted structure to the parent supercell"
        ) from None
    if match.distance.max() > max_distance:
        raise ValueError(
            f"could not match the distorted structure to the parent supercell (an atom is "
            f"{match.distance.max():.3f} A from its site, more than {max_distance} A)"
        )
    u = np.zeros_like(reference.positions)
    u[match.index] = match.vectors
    return u


def minimum_image_sites(
    fractional: ArrayLike,
    numbers: ArrayLike,
    sites: ArrayLike,
    site_numbers: ArrayLike,
    lattice: ArrayLike,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest same-species site of each atom, periodic image by rounding: ``(index, distance)``.

    The fractional difference of every atom-site pair is reduced to ``[-1/2, 1/2]`` by
    rounding, which finds the nearest image for the small distances this is meant for (an
    atom on or next to a site); :func:`nearest_sites` searches the neighbouring images too.

    Parameters
    ----------
    fractional : (n, 3) float
        The atoms' fractional coordinates in ``lattice``.
    numbers : (n,) int
        Their atomic numbers.
    sites : (m, 3) float
        The sites' fractional coordinates in ``lattice``.
    site_numbers : (m,) int
        Their atomic numbers.
    lattice : (3, 3) float
        Lattice vectors as rows, Angstrom.

    Returns
    -------
    index : NDArray[int]
        (n,) nearest site of the same species of each atom (site 0 where there is none).
    distance : NDArray[float]
        (n,) its distance, Angstrom (``inf`` where there is none).

    >>> index, distance = minimum_image_sites(
    ...     [[0.99, 0, 0], [0.5, 0.5, 0.5]], [1, 8], [[0.5, 0.5, 0.5], [0, 0, 0]], [8, 1],
    ...     2 * np.eye(3))
    >>> index.tolist(), np.round(distance, 6).tolist()
    ([1, 0], [0.02, 0.0])
    """
    frac = np.asarray(fractional, dtype=float)
    diff = frac[:, None, :] - np.asarray(sites, dtype=float)[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ np.asarray(lattice, dtype=float), axis=-1)
    dist[np.asarray(numbers)[:, None] != np.asarray(site_numbers)[None, :]] = np.inf
    index = np.argmin(dist, axis=1)
    return index.astype(np.int64), dist[np.arange(len(frac)), index]


def atom_permutations(
    frac: NDArray, numbers: NDArray, rotations: NDArray, translations: NDArray, tol: float = 1e-3
) -> NDArray:
    """For every operation, where each atom goes.

    ``perm[g, i] = j`` means ``R_g x_i + t_g = x_j`` modulo lattice vectors of the cell
    the fractional coordinates `frac` (N, 3) are given in. Nearest images are found with a
    periodic k-d tree (``O(n_ops N log N)``), so large supercells stay cheap.

    Raises ValueError when an operation does not map the structure onto itself.
    """
    from scipy.spatial import cKDTree

    frac = np.asarray(frac, dtype=float)
    numbers = np.asarray(numbers)
    n = len(frac)
    tree = cKDTree(np.mod(frac, 1.0) % 1.0, boxsize=1.0 + 1e-12)
    new = np.einsum("gij,nj->gni", rotations, frac) + np.asarray(translations)[:, None, :]
    dist, perm = tree.query((np.mod(new, 1.0) % 1.0).reshape(-1, 3), k=1, p=np.inf)
    perm = perm.reshape(len(rotations), n)
    ok = dist.reshape(len(rotations), n) < tol
    same = numbers[perm] == numbers[None, :]
    if not (np.all(ok) and np.all(same)):
        bad = int(np.argwhere(~(ok & same))[0, 0])
        raise ValueError(f"operation {bad} does not map the structure onto itself (tol={tol})")
    return perm
