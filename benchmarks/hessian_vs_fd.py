"""Exact force constants (autograd Hessians) vs phonopy's finite displacements, one run.

Cubic SrTiO3 (a = 3.9 A, B site at the origin) 2x2x2 (40 atoms) with the embedded default
(SevenNet-0):

(a) exact, symmetry-reduced: ``strategy="orbits"`` (one exact Hessian-vector product along a
    random direction whose space-group images span all 3N directions; the fastest),
    ``strategy="directions"`` (exact HVPs along phonopy's 3 displacement directions, phonopy
    fits) and ``strategy="rows"`` (9 rows of the 3 independent atoms);
(b) phonopy's finite displacements (distance 0.01 A, ``is_plusminus="auto"``) with forces
    from the same ``SymBreakCalculator`` and ``produce_force_constants``.

Then a rattled copy without symmetry: exact full Hessian (3N = 120 rows) vs phonopy's
240 displaced cells. Cubic times are the best of 2 calls (rows: 1). Prints times, the
ratio FD/exact (> 1: exact is faster) and the largest |fc difference| (eV/A^2). Usage::

    .venv/bin/python benchmarks/hessian_vs_fd.py [--dtypes float32,float64] [--threads 1]
        [--skip-p1] [--mixed]

``--mixed``: one calculator with float64 forces and float32 Hessian-vector products
(force constants accumulated in float64) against phonopy's displacements with its float64
forces, and the force-constant error against the float64 exact way.

Larger or lower-symmetry cells (``--structure FILE --supercell 2 2 2``): the structure's
supercell by the exact symmetry-reduced path (``--method``, default ``orbits``) or by
phonopy's displacements (``--only fd``), one way per process, each printing its time, its
number of HVPs or displaced cells, and the process's peak memory (run both ways, compare
the force constants from ``--save``)::

    .venv/bin/python benchmarks/hessian_vs_fd.py --structure child_Pnma.cif \
        --supercell 2 2 2 --only exact --save fc_exact.npy
    .venv/bin/python benchmarks/hessian_vs_fd.py --structure child_Pnma.cif \
        --supercell 2 2 2 --only fd --save fc_fd.npy
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.hessian.forceconstants import force_constants_from_forces, phonopy_displacements
from ase_symbreak.structures import cubic_perovskite


def finite_displacement_fc(
    calc: SymBreakCalculator, atoms: Atoms, distance: float = 0.01
) -> tuple[np.ndarray, int]:
    """phonopy's finite-displacement force constants (N, N, 3, 3) with ``calc``'s forces."""
    displacements = phonopy_displacements(
        atoms, distance=distance, symprec=calc.parameters.symprec, is_plusminus="auto"
    )
    forces = []
    for cell in displacements.phonon.supercells_with_displacements:
        displaced = Atoms(
            cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True
        )
        displaced.calc = calc
        forces.append(displaced.get_forces())
    return force_constants_from_forces(displacements, np.array(forces)), len(forces)


def timed(fn, *args, repeat: int = 1, **kwargs):
    """``(result, seconds)``: the fastest of ``repeat`` calls (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return out, best


def warm_up(calc: SymBreakCalculator, atoms: Atoms) -> None:
    """Model build and first-call allocations (forces and one Hessian row), off the clock."""
    _ = calc.hessian_model
    warm = atoms.copy()
    warm.calc = calc
    warm.get_forces()
    calc.get_hessian(atoms, [0])


def benchmark_cells() -> tuple[Atoms, Atoms]:
    """Cubic SrTiO3 2x2x2 (40 atoms) and its rattled P1 copy (0.03 A, seed 7)."""
    cubic = cubic_perovskite(3.9).repeat(2)
    rattled = cubic.copy()
    rattled.rattle(0.03, seed=7)
    return cubic, rattled


def run(dtype: str, skip_p1: bool) -> list[str]:
    lines = []
    calc = SymBreakCalculator(dtype=dtype, hessian_dtype=dtype)
    cubic, rattled = benchmark_cells()
    warm_up(calc, cubic)

    fc_orb, t_orb = timed(calc.get_force_constants, cubic, strategy="orbits", repeat=2)
    fc_dir, t_dir = timed(calc.get_force_constants, cubic, strategy="directions", repeat=2)
    fc_rows, t_rows = timed(calc.get_force_constants, cubic, strategy="rows")
    (fc_fd, n_fd), t_fd = timed(finite_displacement_fc, calc, cubic, repeat=2)
    n_dir = len(phonopy_displacements(cubic, symprec=calc.parameters.symprec).vectors)
    lines.append(
        f"[{dtype}] cubic 40 atoms: exact orbits (1 HVP) {t_orb:.2f} s, "
        f"FD/exact(orbits) = {t_fd / t_orb:.2f}, "
        f"max|fc_orbits - fc_FD| = {np.abs(fc_orb - fc_fd).max():.2e}, "
        f"max|fc_orbits - fc_rows| = {np.abs(fc_orb - fc_rows).max():.2e} | "
        f"exact directions ({n_dir} HVPs) {t_dir:.2f} s | exact rows (9) {t_rows:.2f} s | "
        f"FD ({n_fd} cells) {t_fd:.2f} s | FD/exact(directions) = {t_fd / t_dir:.2f}, "
        f"FD/exact(rows) = {t_fd / t_rows:.2f} | "
        f"max|fc_dir - fc_FD| = {np.abs(fc_dir - fc_fd).max():.2e}, "
        f"max|fc_dir - fc_rows| = {np.abs(fc_dir - fc_rows).max():.2e} eV/A^2"
    )
    print(lines[-1], flush=True)
    if skip_p1:
        return lines
    fc_full, t_full = timed(calc.get_force_constants, rattled, strategy="full")
    (fc_fd, n_fd), t_fd = timed(finite_displacement_fc, calc, rattled)
    lines.append(
        f"[{dtype}] rattled P1 40 atoms: exact full Hessian (120 rows) {t_full:.1f} s | "
        f"FD ({n_fd} cells) {t_fd:.1f} s | "
        f"FD/exact = {t_fd / t_full:.2f} | "
        f"max|fc_exact - fc_FD| = {np.abs(fc_full - fc_fd).max():.2e} eV/A^2"
    )
    print(lines[-1], flush=True)
    return lines


def run_mixed(skip_p1: bool) -> list[str]:
    """Float32 Hessian products, float64 everything else, against float64 FD.

    One calculator (``dtype="float64", hessian_dtype="float32"``) gives both ways: phonopy's
    displaced cells get float64 forces, the exact way runs its Hessian-vector products in
    float32 and accumulates the force constants (images, least squares, symmetrisation) in
    float64. The error is measured against the float64 exact force constants.
    """
    lines = []
    calc = SymBreakCalculator(dtype="float64", hessian_dtype="float32")
    calc64 = SymBreakCalculator(dtype="float64", hessian_dtype="float64")
    cubic, rattled = benchmark_cells()
    for c in (calc, calc64):
        warm_up(c, cubic)
    fc_orb, t_orb = timed(calc.get_force_constants, cubic, strategy="orbits", repeat=2)
    fc_orb64, t_orb64 = timed(calc64.get_force_constants, cubic, strategy="orbits", repeat=2)
    (fc_fd, n_fd), t_fd = timed(finite_displacement_fc, calc, cubic, repeat=2)
    lines.append(
        f"[mixed] cubic 40 atoms: exact orbits, float32 HVP {t_orb:.2f} s | "
        f"float64 HVP {t_orb64:.2f} s | FD float64 ({n_fd} cells) {t_fd:.2f} s | "
        f"FD/exact(float32 HVP) = {t_fd / t_orb:.2f}, FD/exact(float64) = "
        f"{t_fd / t_orb64:.2f} | max|fc_32 - fc_64| = {np.abs(fc_orb - fc_orb64).max():.2e}, "
        f"max|fc_32 - fc_FD| = {np.abs(fc_orb - fc_fd).max():.2e} eV/A^2"
    )
    print(lines[-1], flush=True)
    if skip_p1:
        return lines
    fc_full, t_full = timed(calc.get_force_constants, rattled, strategy="full")
    fc_full64, t_full64 = timed(calc64.get_force_constants, rattled, strategy="full")
    (fc_fd, n_fd), t_fd = timed(finite_displacement_fc, calc, rattled)
    lines.append(
        f"[mixed] rattled P1 40 atoms: exact full Hessian (120 rows) float32 HVP "
        f"{t_full:.1f} s | float64 {t_full64:.1f} s | FD float64 ({n_fd} cells) {t_fd:.1f} s "
        f"| FD/exact(float32 HVP) = {t_fd / t_full:.2f}, FD/exact(float64) = "
        f"{t_fd / t_full64:.2f} | max|fc_32 - fc_64| = {np.abs(fc_full - fc_full64).max():.2e}"
        f", max|fc_64 - fc_FD| = {np.abs(fc_full64 - fc_fd).max():.2e} eV/A^2 "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    print(lines[-1], flush=True)
    return lines


def run_structure(args) -> None:
    """One way (exact or FD) on the supercell of ``args.structure``; time and peak memory."""
    import resource

    from ase.io import read

    atoms = read(args.structure).repeat(tuple(args.supercell))
    dtype = args.dtypes.split(",")[0]
    calc = SymBreakCalculator(dtype=dtype, hessian_dtype=dtype)
    start = time.perf_counter()
    if args.only == "fd":
        fc, count = finite_displacement_fc(calc, atoms)
        what = f"FD ({count} displaced cells)"
    else:
        calls = []
        fc = calc.get_force_constants(
            atoms,
            strategy=args.method,
            progress=lambda done, total: calls.append(total),
        )
        what = f"exact {args.method} ({calls[-1] if calls else 0} HVPs/rows)"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    if args.save:
        np.save(args.save, fc)
    print(
        f"[{dtype}] {args.structure} x {args.supercell} ({len(atoms)} atoms): {what} "
        f"{seconds:.1f} s, peak memory of the process {peak:.2f} GB "
        f"(load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--structure", default=None, help="a structure file (see above)")
    parser.add_argument("--supercell", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument("--only", choices=("exact", "fd"), default="exact")
    parser.add_argument("--method", choices=("orbits", "directions", "rows"), default="orbits")
    parser.add_argument("--save", default=None, help="save the force constants (.npy)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--skip-p1", action="store_true")
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="float32 Hessian products vs float64 FD (one calculator), error vs float64",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if args.structure:
        run_structure(args)
        return
    if args.mixed:
        run_mixed(args.skip_p1)
        return
    for dtype in args.dtypes.split(","):
        run(dtype.strip(), args.skip_p1)


if __name__ == "__main__":
    main()
