"""Time symmetry-adapted modes and mode decomposition of large children (target: 270 atoms
in < 10 s).

Children: corundum Al2O3 (R-3c, 10-atom primitive cell) in a 3x3x3 supercell (270 atoms),
and cubic SrTiO3 in 3x3x3 (135 atoms) and 4x4x4 (320 atoms) supercells, each rattled
(0.02 A, seed 0), strained by 0.3 %, shuffled. Prints the time of the displacement modes of
the parent supercell (the expensive part), of the whole first decomposition (modes
included), of a repeated one (modes cached) and the completeness residual.

Run: .venv/bin/python benchmarks/decompose_large.py [--skip-444]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from ase.build import make_supercell
from ase.spacegroup import crystal

from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import decompose, displacement_modes


def corundum():
    return crystal(
        ["Al", "O"],
        basis=[(0, 0, 0.352), (0.306, 0, 0.25)],
        spacegroup=167,
        cellpar=[4.76, 4.76, 12.99, 90, 90, 120],
        primitive_cell=True,
    )


def child_of(parent, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sc = make_supercell(parent, n * np.eye(3))
    sc.positions += rng.normal(scale=0.02, size=sc.positions.shape)
    sc.set_cell(sc.cell[:] @ np.diag([1.003, 0.998, 1.001]), scale_atoms=True)
    return sc[rng.permutation(len(sc))]


def run(name: str, parent, n: int) -> None:
    child = child_of(parent, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        rep = displacement_modes(parent, (n, n, n))
        t1 = time.perf_counter()
        from ase_symbreak.symmetry.decompose import _MODES_CACHE

        _MODES_CACHE.clear()
        t2 = time.perf_counter()
        dec = decompose(parent, child)
        t3 = time.perf_counter()
        decompose(parent, child)
        t4 = time.perf_counter()
    print(
        f"{name:28s} {len(child):5d} atoms  {len(rep.operations):5d} ops  "
        f"{len(rep.irreps):3d} irreps  "
        f"modes {t1 - t0:7.2f} s  first decomposition {t3 - t2:7.2f} s  repeated {t4 - t3:6.2f} s  "
        f"residual {dec.completeness_residual:.1e} A^2"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-444", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    run("SrTiO3 Pm-3m 3x3x3", cubic_perovskite(3.9), 3)
    run("corundum R-3c 3x3x3", corundum(), 3)
    if not args.skip_444:
        run("SrTiO3 Pm-3m 4x4x4", cubic_perovskite(3.9), 4)


if __name__ == "__main__":
    main()
