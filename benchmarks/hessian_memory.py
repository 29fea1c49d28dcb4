"""Peak memory and time of force calls and exact Hessian-vector products as cells grow.

Rattled SrTiO3 n x n x n supercells (a = 3.9 A, 0.03 A rattle, P1), SevenNet-0 in
float64, one fresh process per measurement (peak RSS above the process's size after the
model is built, from ``getrusage``). For each cell: a force call and one HVP with the
edge-chunked, recomputed convolutions (``SevenNetModel(edge_chunk=512)``, the default
above 4096 edges) and with the plain graph (``edge_chunk=None``, skipped above
``--plain-max`` atoms). The last column compares one exact Hessian row (an HVP after its
setup, amortised as in a full Hessian: ``row = HVP time - force time``) with the two
force calls a central finite-displacement row costs. Usage::

    .venv/bin/python benchmarks/hessian_memory.py [--sizes 2,3,4,5] [--plain-max 320]
        [--threads 1] [--malloc keep|system]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_PROBE = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[4]))
from ase_symbreak.hessian import allocator, autodiff
allocator.keep_freed_memory()  # ASE_SYMBREAK_MALLOC decides
from ase_symbreak.models.sevennet import SevenNetModel
from ase_symbreak.structures import cubic_perovskite
n, what, chunk = int(sys.argv[1]), sys.argv[2], sys.argv[3]
model = SevenNetModel(dtype=torch.float64, edge_chunk=None if chunk == "none" else int(chunk))
atoms = cubic_perovskite(3.9).repeat(n)
atoms.rattle(0.03, seed=7)
with open("/proc/self/statm") as f:
    base = int(f.read().split()[1]) * resource.getpagesize()
start = time.perf_counter()
if what == "force":
    autodiff.energy_forces_stress(model, atoms, torch.float64, stress=False)
else:
    u = np.random.default_rng(0).normal(size=(1, len(atoms), 3))
    autodiff.hessian_vector_products(model, atoms, u, torch.float64)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
edges = len(autodiff.neighbor_list(atoms, model.cutoff).edge_src)
print(json.dumps({"atoms": len(atoms), "edges": edges, "seconds": seconds,
                  "peak_gb": (peak - base) / 1e9}))
"""


def probe(n: int, what: str, chunk: str, threads: int, malloc: str = "keep") -> dict:
    """One measurement in a fresh process (``malloc``: ``ASE_SYMBREAK_MALLOC``)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(n), what, chunk, str(threads)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS=str(threads), ASE_SYMBREAK_MALLOC=malloc),
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,3,4,5", help="supercell repeats n (5 atoms x n^3)")
    parser.add_argument("--plain-max", type=int, default=320, help="largest cell for plain HVP")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--malloc",
        choices=("keep", "system"),
        default="keep",
        help="keep: ase_symbreak.hessian.allocator's thresholds (the default); system: glibc's own",
    )
    args = parser.parse_args()
    print(
        f"load average at start {os.getloadavg()[0]:.1f}, threads {args.threads}, "
        f"malloc {args.malloc}"
    )
    print(
        "| atoms | edges | force call (s, GB) | HVP chunked (s, GB) | HVP plain (s, GB) "
        "| exact row / FD row (chunked) |"
    )
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        force = probe(n, "force", "512", args.threads, args.malloc)
        chunked = probe(n, "hvp", "512", args.threads, args.malloc)
        plain = (
            probe(n, "hvp", "none", args.threads, args.malloc)
            if 5 * n**3 <= args.plain_max
            else {"error": "skipped"}
        )

        def cell(r: dict) -> str:
            return r["error"] if "error" in r else f"{r['seconds']:.1f}, {r['peak_gb']:.2f}"

        ratio = "-"
        if "error" not in force and "error" not in chunked:
            row = max(chunked["seconds"] - force["seconds"], 1e-9)
            ratio = f"{row / (2 * force['seconds']):.2f}"
        print(
            f"| {5 * n**3} | {force.get('edges', '-')} | {cell(force)} | {cell(chunked)} "
            f"| {cell(plain)} | {ratio} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
