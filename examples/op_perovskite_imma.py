"""Pnma set-up with constrained features -> the intermediate group Imma (a0b-b-).

Smidt, Geiger, Miller (papers/000), Fig. 3: same parent and a+b-b- child as
``op_perovskite_pnma.py``, but the pseudovector component along the in-phase axis (x
here, "c" in the paper's setting) is held at zero and B sites that are not nearest
neighbours share one feature vector. The network can no longer reproduce Pnma; the
order parameter it learns keeps Imma (74) ⊃ Pnma: only the anti-phase R4+ tilts survive.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from ase_symbreak.orderparams import find_order_parameter, perovskite_b_sites
from ase_symbreak.structures import cubic_perovskite

try:
    from op_perovskite_pnma import glazer_child
except ImportError:  # run from the repository root
    from examples.op_perovskite_pnma import glazer_child


def main(steps: int = 300) -> dict:
    parent = cubic_perovskite(3.9).repeat(2)
    child, _ = glazer_child(parent, in_phase=(0.10, 0, 0), anti_phase=(0, 0.07, 0.07))  # a+b-b-
    b = perovskite_b_sites(parent)
    parity = np.rint(parent.positions[b] / 3.9).astype(int).sum(axis=1) % 2
    ties = [b[parity == 0].tolist(), b[parity == 1].tolist()]  # non-adjacent B sites
    start = time.perf_counter()
    result = find_order_parameter(
        parent,
        child,
        sites=b,
        tie_sites=ties,
        zero_components={"1e": "x"},
        lmax=4,
        steps=steps,
        progress=100,
        seed=0,
    )
    seconds = time.perf_counter() - start

    shares = {
        k: round(v, 4)
        for k, v in sorted(result.o3_shares.items(), key=lambda kv: -kv[1])
        if v > 1e-4
    }
    w = result.irrep_block("1e")[b]
    print(
        f"symmetric fit loss {result.symmetric_loss:.3g} -> "
        f"with order parameter {result.final_loss:.3g} "
        "(an Imma input cannot give the Pnma child exactly)"
    )
    print(f"O(3) shares of the learned order parameter: {shares}")
    print("learned 1e per B site (x, y, z):")
    for i, v in zip(b, w):
        print(f"  {parent.positions[i].round(2)}  {np.round(v, 4)}")
    s = result.symmetry
    print(
        f"parent {s.parent_group}, child {s.child_group}, kept by parent+OP {s.kept_group}; "
        f"contains child: {s.contains_child}, equals child: {s.equals_child}"
    )
    print(f"space-group irreps of the learned pseudovectors: {result.space_group_shares}")
    print(f"time {seconds:.1f} s")
    return {"o3_irreps": shares, "space_group_irreps": list(result.space_group_irreps or [])}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main()))
