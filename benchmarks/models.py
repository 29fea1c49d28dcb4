"""Cost of each pretrained model of the ``sevenn`` wheel: a force call and an exact Hessian row.

Usage: .venv/bin/python benchmarks/models.py [--threads 1] [--repeat 3]

Structure: rattled 2x2x2 cubic SrTiO3 (40 atoms, a = 3.9 A). For each model (SevenNet-0,
SevenNet-l3i5, SevenNet-MF-0 r2SCAN and PBE): load time, the best of ``--repeat`` force
calls (energy, forces, stress; float32, the calculator's default), and the best of
``--repeat`` single exact Hessian rows in float64 (graph set-up plus one double-backward
pass, as :func:`ase_symbreak.hessian.autodiff.hessian_rows` does it) with the per-row cost once the
graph is built. Ratios to SevenNet-0 are taken within this run.
"""

from __future__ import annotations

import argparse
import os
import time

MODELS = ("SevenNet-0", "SevenNet-l3i5", "7net-mf-0-r2scan", "7net-mf-0-pbe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.hessian.autodiff import iter_hessian_rows
    from ase_symbreak.structures import cubic_perovskite

    atoms = cubic_perovskite(3.9).repeat(2)
    atoms.rattle(0.02, seed=3)
    rows = []
    for name in MODELS:
        t0 = time.perf_counter()
        calc = SymBreakCalculator(model=name)
        calc.hessian_model  # noqa: B018 - build the float64 copy now, not inside the timing
        load = time.perf_counter() - t0
        force = []
        for k in range(args.repeat):
            work = atoms.copy()
            work.positions[0, 0] += 1e-3 * (k + 1)  # a new structure: no cached result
            work.calc = calc
            t0 = time.perf_counter()
            work.get_forces()
            work.get_stress()
            force.append(time.perf_counter() - t0)
        first_row, next_row = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            it = iter_hessian_rows(calc.hessian_model, atoms, [0, 1], torch.float64)
            next(it)
            t1 = time.perf_counter()
            next(it)
            first_row.append(t1 - t0)
            next_row.append(time.perf_counter() - t1)
        rows.append((name, load, min(force), min(first_row), min(next_row)))
    base_f, base_r = rows[0][2], rows[0][4]
    print(
        f"40-atom SrTiO3, torch threads {args.threads}, best of {args.repeat}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| model | load (s) | force call, float32 (s) | first Hessian row, float64 (s) "
        "| each further row (s) | force / SevenNet-0 | row / SevenNet-0 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, load, f, r1, r in rows:
        print(
            f"| {name} | {load:.1f} | {f:.2f} | {r1:.2f} | {r:.2f} | {f / base_f:.1f} "
            f"| {r / base_r:.1f} |"
        )


if __name__ == "__main__":
    main()
