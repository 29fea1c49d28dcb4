"""The phonon supercell chosen for the cell: the smallest symmetric one that is long enough.

A fixed 2x2x2 is 8 atoms for a one-atom metal (periodic images 5-6 A apart: too few q
points to trust) and 72 for quartz. :func:`auto_supercell` picks, among all superlattices of
the cell (every Hermite normal form up to :data:`MAX_CELLS` cells, non-diagonal ones
included, as phonopy users pick by hand) that are invariant under the structure's point
group, the one with the fewest cells whose periodic images are at least ``min_length``
apart; ties go to the longer, then to a fixed order, so the choice is the same in every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

__all__ = ["MAX_CELLS", "MIN_LENGTH", "auto_supercell", "image_distance"]

#: Default shortest distance between periodic images of the supercell, Angstrom (2x2x2 of
#: a 3.9 A perovskite: 7.8 A; of fluorite's primitive cell: 7.2 A).
MIN_LENGTH = 7.0

#: Largest supercell (in cells of the input) considered.
MAX_CELLS = 32


def image_distance(lattice: NDArray) -> float:
    """Shortest nonzero lattice vector of ``lattice`` (rows, Angstrom)."""
    from ase.geometry import minkowski_reduce

    reduced, _ = minkowski_reduce(np.asarray(lattice, dtype=float))
    return float(np.linalg.norm(reduced, axis=1).min())


def _hermite_forms(n: int) -> Iterator[NDArray]:
    """Every lower-triangular Hermite normal form of determinant ``n`` (rows; one per
    superlattice of index ``n``): ``[[a,0,0],[b,c,0],[d,e,f]]``, ``0 <= b, d < a``,
    ``0 <= e < c``.
    """
    for a in range(1, n + 1):
        if n % a:
            continue
        for c in range(1, n // a + 1):
            if (n // a) % c:
                continue
            f = n // (a * c)
            for b in range(a):
                for d in range(a):
                    for e in range(c):
                        yield np.array([[a, 0, 0], [b, c, 0], [d, e, f]])


def auto_supercell(
    atoms: Atoms,
    min_length: float = MIN_LENGTH,
    symprec: float = 1e-3,
    max_atoms: int = 200,
) -> tuple[tuple[int, ...], ...]:
    """The phonon supercell for ``atoms`` (3x3 integers, rows, in the basis of its cell).

    The fewest cells with periodic images at least ``min_length`` (Angstrom) apart, among
    superlattices invariant under the point group; when none within ``max_atoms`` atoms
    (and :data:`MAX_CELLS` cells) is that long, the longest one within them.

    >>> from ase_symbreak.structures import cubic_perovskite
    >>> auto_supercell(cubic_perovskite(3.9))
    ((2, 0, 0), (0, 2, 0), (0, 0, 2))
    """
    from ase_symbreak.symmetry import analyze
    from ase_symbreak.symmetry.lattice import is_supercell_invariant

    rotations = np.asarray(analyze(atoms, symprec=symprec).rotations)
    cell = np.asarray(atoms.cell[:], dtype=float)
    largest = max(1, min(MAX_CELLS, max_atoms // max(len(atoms), 1)))
    best: tuple | None = None
    for n in range(1, largest + 1):
        for p in _hermite_forms(n):
            if not is_supercell_invariant(p, rotations):
                continue
            length = image_distance(p @ cell)
            key = (length < min_length - 1e-9, -length if length < min_length else 0.0)
            rank = (key, n, -length, p.tolist())
            if best is None or rank < best[0]:
                best = (rank, p)
        if best is not None and not best[0][0][0]:
            break  # the fewest cells that are long enough: found
    assert best is not None  # n = 1 (the cell itself) is always invariant
    p = _reduced(best[1], cell)
    return tuple(tuple(int(x) for x in row) for row in p)


def _reduced(p: NDArray, cell: NDArray) -> NDArray:
    """The same superlattice in a short basis (Minkowski-reduced; each row's entries summing
    to >= 0, rows ordered by their largest axis, right-handed): ``diag(2, 2, 2)``, not a
    Hermite form of it.
    """
    from ase.geometry import minkowski_reduce

    _, op = minkowski_reduce(p @ cell)
    q = np.asarray(op, dtype=int) @ p
    q = q * np.where(q.sum(axis=1) < 0, -1, 1)[:, None]
    q = q[np.argsort([int(np.argmax(np.abs(row))) for row in q], kind="stable")]
    if np.linalg.det(q) < 0:
        q[[1, 2]] = q[[2, 1]]
    return q
