"""Thread policy under load: a float64 force call of the default model on a 40-atom cell, with
torch's default threads (one per core) and with the policy of ``ase_symbreak.threads``, while
``--hogs`` busy processes load the machine.

    .venv/bin/python benchmarks/threads_under_load.py [--hogs 0 1 2] [--repeats 5]

Each measurement runs in a fresh process (torch's threads are fixed before any work) and
reports the median wall time of ``--repeats`` force calls after one warm-up call.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

CHILD = r"""
import json, os, statistics, sys, time
import torch
mode, repeats = sys.argv[1], int(sys.argv[2])
if mode == "policy":
    from ase_symbreak.threads import apply_thread_policy
    threads = apply_thread_policy()
else:
    threads = torch.get_num_threads()
from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.structures import cubic_perovskite
atoms = cubic_perovskite(3.9).repeat(2)
atoms.rattle(0.02, seed=1)
calc = SymBreakCalculator(dtype="float64")
times = []
for i in range(repeats + 1):
    atoms.positions[0, 0] += 1e-4  # a new structure each call
    t0 = time.perf_counter()
    calc.get_forces(atoms)
    times.append(time.perf_counter() - t0)
print(json.dumps({"threads": threads, "median_s": statistics.median(times[1:])}))
"""


def _hog(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


def measure(mode: str, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(repeats)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; float64 SevenNet-0 force call, 40 atoms, median of {args.repeats}")
    print(f"{'hogs':>4} {'load':>5} {'default thr':>11} {'s':>7} {'policy thr':>10} {'s':>7} ratio")
    for hogs in args.hogs:
        procs = [mp.Process(target=_hog, args=(time.time() + 3600,)) for _ in range(hogs)]
        for p in procs:
            p.start()
        try:
            if hogs:
                time.sleep(65)  # let the 1-minute load average see the hogs
            load = os.getloadavg()[0]
            default = measure("default", args.repeats)
            policy = measure("policy", args.repeats)
        finally:
            for p in procs:
                p.terminate()
                p.join()
        ratio = default["median_s"] / policy["median_s"]
        print(
            f"{hogs:>4} {load:>5.1f} {default['threads']:>11} {default['median_s']:>7.2f} "
            f"{policy['threads']:>10} {policy['median_s']:>7.2f} {ratio:5.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
