"""Pm-3m -> Pnma (a+b-b- tilts): per-B-site pseudovectors (1e) with pattern M3+ + R4+.

Smidt, Geiger, Miller (papers/000), Fig. 3. The child is built here by rotating the TiO6
octahedra of a cubic SrTiO3-like 2x2x2 cell (Ti at the origin): an in-phase (M-point)
rotation about x and equal anti-phase (R-point) rotations about y and z. Only the B sites
carry features, each its own. The learned 1e vectors are read as octahedral rotations and
labelled with the parent's space-group irreps (B site at the origin).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from ase_symbreak.orderparams import (
    find_order_parameter,
    perovskite_b_sites,
    rigid_unit_displacements,
)
from ase_symbreak.structures import cubic_perovskite


def glazer_child(parent, in_phase=(0.0, 0.0, 0.0), anti_phase=(0.0, 0.0, 0.0)):
    """Rotate the BX6 octahedra of a 2x2x2 cubic perovskite (angles in radians, per axis).

    In-phase (+) about axis a: the sign alternates in the two directions perpendicular to
    a (M point); anti-phase (-): alternates in all three directions (R point).
    """
    b = perovskite_b_sites(parent)
    a = parent.cell.lengths()[0] / 2
    ijk = np.rint(parent.positions[b] / a).astype(int)
    omega = np.zeros((len(b), 3))
    for axis in range(3):
        others = [q for q in range(3) if q != axis]
        omega[:, axis] += in_phase[axis] * (-1.0) ** ijk[:, others].sum(axis=1)
        omega[:, axis] += anti_phase[axis] * (-1.0) ** ijk.sum(axis=1)
    child = parent.copy()
    child.positions += rigid_unit_displacements(parent, b, omega)
    return child, omega


def main(steps: int = 300) -> dict:
    parent = cubic_perovskite(3.9).repeat(2)
    child, omega = glazer_child(parent, in_phase=(0.10, 0, 0), anti_phase=(0, 0.07, 0.07))  # a+b-b-
    b = perovskite_b_sites(parent)
    start = time.perf_counter()
    result = find_order_parameter(parent, child, sites=b, lmax=4, steps=steps, progress=100, seed=0)
    seconds = time.perf_counter() - start

    shares = {
        k: round(v, 4)
        for k, v in sorted(result.o3_shares.items(), key=lambda kv: -kv[1])
        if v > 1e-4
    }
    w = result.irrep_block("1e")[b]
    print(
        f"symmetric fit loss {result.symmetric_loss:.3g} -> "
        f"with order parameter {result.final_loss:.3g}"
    )
    print(f"O(3) shares of the learned order parameter: {shares}")
    print("learned 1e pseudovector per B site (x, y, z), scaled to the largest; built-in tilts:")
    scale = np.abs(w).max()
    for i, (learned, built) in enumerate(zip(w / scale, omega / np.abs(omega).max())):
        print(
            f"  B{i} {parent.positions[b[i]].round(2)}  learned {learned.round(3)}  "
            f"built {built.round(3)}"
        )
    print(f"|1e| per B site: {np.round(result.site_norms['1e'][b], 4).tolist()}")
    s = result.symmetry
    print(
        f"parent {s.parent_group}, child {s.child_group}, kept by parent+OP {s.kept_group}; "
        f"contains child: {s.contains_child}, equals child: {s.equals_child}"
    )
    print(f"space-group irreps of the learned pseudovectors: {result.space_group_shares}")
    print(
        "space-group irreps of the child's distortion:   "
        f"{list(result.child_space_group_irreps or [])}"
    )
    print(f"time {seconds:.1f} s")
    return {"o3_irreps": shares, "space_group_irreps": list(result.space_group_irreps or [])}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main()))
