"""glibc's default malloc vs :func:`ase_symbreak.hessian.allocator.keep_freed_memory`, one run.

Each setting in a fresh process (the allocator is set once per process): rattled 40-atom
SrTiO3, SevenNet-0, 1 thread; best of 3 for the setup (forward + first backward with the
graph kept) plus one Hessian-vector product, one more HVP, and a force call; and the
process's system time (page faults of freshly mapped memory) and peak memory. Usage::

    .venv/bin/python benchmarks/allocator.py [--dtypes float32,float64]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from ase_symbreak.hessian.allocator import keep_freed_memory
if sys.argv[2] == "keep":
    assert keep_freed_memory()
from ase_symbreak.hessian.autodiff import energy_forces_stress, hessian_vector_products
from ase_symbreak.models.sevennet import SevenNetModel
from ase_symbreak.structures import cubic_perovskite
dtype = getattr(torch, sys.argv[1])
model = SevenNetModel(dtype=dtype)
atoms = cubic_perovskite(3.9).repeat(2)
atoms.rattle(0.03, seed=7)
u = np.random.default_rng(0).normal(size=(4, len(atoms), 3))
hessian_vector_products(model, atoms, u[:1], dtype)  # warm-up
def best(fn):
    times = []
    for _ in range(3):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return min(times)
sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
one = best(lambda: hessian_vector_products(model, atoms, u[:1], dtype))
four = best(lambda: hessian_vector_products(model, atoms, u, dtype))
force = best(lambda: energy_forces_stress(model, atoms, dtype, stress=False))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"{one:.2f} {(four - one) / 3:.2f} {force:.2f} {usage.ru_stime - sys0:.1f} "
      f"{usage.ru_maxrss / 1e6:.2f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.1f}")
    print("dtype    malloc  setup+1 HVP (s)  per more HVP (s)  force (s)  sys time (s)  peak (GB)")
    for dtype in args.dtypes.split(","):
        for setting in ("system", "keep"):
            env = dict(os.environ, ASE_SYMBREAK_MALLOC=setting, OMP_NUM_THREADS="1")
            out = subprocess.run(
                [sys.executable, "-c", CHILD, dtype, setting],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            one, more, force, stime, peak = out[-5:]
            print(
                f"{dtype:8} {setting:7} {one:>15} {more:>17} {force:>10} {stime:>13} {peak:>10}",
                flush=True,
            )


if __name__ == "__main__":
    main()
