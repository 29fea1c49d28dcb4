"""Cube -> rectangular prism elongated along z: the order parameter is 2e with m = 0 (z pole).

A tetragonal prism (D4h) keeps the four-fold axis, so only the m = 0 part of 2e (and of 4e)
may appear; m = 2 would need an orthorhombic prism. One global feature vector is learned.
"""

from __future__ import annotations

import itertools
import json
import logging
import time

import numpy as np
from ase import Atoms

from ase_symbreak.orderparams import find_order_parameter


def main(steps: int = 300) -> dict:
    corners = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))
    cube = Atoms("H8", positions=corners, pbc=False)
    prism = Atoms("H8", positions=corners * [1.0, 1.0, 1.25], pbc=False)
    start = time.perf_counter()
    result = find_order_parameter(
        cube, prism, tie_sites="all", lmax=4, steps=steps, progress=100, seed=0
    )
    seconds = time.perf_counter() - start

    shares = {
        k: round(v, 4)
        for k, v in sorted(result.o3_shares.items(), key=lambda kv: -kv[1])
        if v > 1e-4
    }
    print(
        f"symmetric fit loss {result.symmetric_loss:.3g} -> "
        f"with order parameter {result.final_loss:.3g}"
    )
    print(f"O(3) shares of the learned order parameter: {shares}")
    for name in ("2e", "4e"):
        m = result.m_components(name)
        print(f"{name} components m=-l..l (z pole):", np.round(m, 4).tolist())
    s = result.symmetry
    print(
        f"parent {s.parent_group}, child {s.child_group}, kept by parent+OP {s.kept_group}; "
        f"contains child: {s.contains_child}, equals child: {s.equals_child}"
    )
    print(f"time {seconds:.1f} s")
    return {"o3_irreps": shares}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main()))
