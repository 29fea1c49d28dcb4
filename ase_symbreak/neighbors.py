"""Neighbour pairs of periodic structures: one fast cell list for the whole package.

Every model call and every structure check needs the pairs of atoms within a distance;
the searches make thousands of such calls on 5-40-atom cells, where ASE's
``primitive_neighbor_list`` spends 5-20 ms in Python. vesin (a C++ cell list) finds the
same pairs in 0.1-0.3 ms (``benchmarks/README.md``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["pairs_within"]


def pairs_within(
    positions: NDArray[np.float64],
    cell: NDArray[np.float64],
    pbc: NDArray[np.bool_],
    cutoff: float,
    distances: bool = False,
) -> tuple[NDArray, ...]:
    """Directed pairs ``(i, j, shift)`` with ``|r_j - r_i + shift @ cell| < cutoff`` (no atom
    with itself at zero shift), sorted by ``i``, ``j``, ``shift``; with ``distances`` also
    their lengths. ``cell`` must be invertible along non-periodic axes too.
    """
    from vesin import NeighborList as CellList

    found = CellList(cutoff=float(cutoff), full_list=True).compute(
        points=np.ascontiguousarray(positions, dtype=np.float64),
        box=np.ascontiguousarray(cell, dtype=np.float64),
        periodic=[bool(p) for p in pbc],
        quantities="ijSd" if distances else "ijS",
    )
    src, dst = found[0].astype(np.int64), found[1].astype(np.int64)
    shifts = np.asarray(found[2], dtype=np.int64).reshape(-1, 3)
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], dst, src))
    out: list[NDArray] = [src[order], dst[order], shifts[order]]
    if distances:
        out.append(np.asarray(found[3], dtype=np.float64)[order])
    return tuple(out)
