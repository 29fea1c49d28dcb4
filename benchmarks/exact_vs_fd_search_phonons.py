"""The search's phonon step with exact Hessians vs phonopy's finite displacements (issue 33).

One model, two ways to its force constants, through the step the search runs
(:func:`ase_symbreak.workflows.steps.phonons`: force constants of the phonon supercell, the
labelled modes at every commensurate q, the off-grid dispersion check):

- **exact**: SevenNet-0 in our :class:`~ase_symbreak.calculator.SymBreakCalculator`
  (``get_force_constants``: symmetry-reduced exact Hessian-vector products);
- **FD**: the same calculator with ``get_force_constants`` / ``get_hessian`` hidden
  (:class:`ForcesOnly`: energy and forces only, as any other ASE calculator), so that
  :func:`~ase_symbreak.hessian.any_calculator.calculator_force_constants` takes phonopy's
  symmetry-reduced finite displacements (0.01 A, plus and minus where needed) and its fit.
  ``--sevenn``: sevenn's own ``SevenNetCalculator('7net-0')`` instead (float32, its own
  graph code: the numbers then also differ by the implementation).

Structures (the supercell the search picks, ``auto_supercell``): cubic SrTiO3 (a = 3.9 A,
2x2x2, 40 atoms), rutile TiO2 (a = 4.594, c = 2.959 A, x(O) = 0.3048, as
``benchmarks/validation.py``), and a P1 cell (the SrTiO3 cell with every atom rattled by
0.05 A, seed 1; no symmetry left, so both ways do the most work per atom). SrTiO3 and
rutile are relaxed first in their space group (positions and cell, 1e-3 eV/A, as the
search's parent; ``--no-relax``: as built); the P1 cell is used as rattled (relaxing would
take it back to the cube). Both calculators are warmed up by one force call first.

Prints, per structure, the time of the step each way (best of ``--repeat``), the time of
the force constants alone (``calculator_force_constants`` on the same supercell), the number
of force calculations of FD, the largest difference of the labelled frequencies (THz, matched
by q point and irrep, and the mode where it is; all frequencies sorted per q as a check that
needs no labels) and whether the labels are the same. ``benchmarks/hessian_vs_fd.py``
compares the force constants themselves (and the exact strategies) on cubic SrTiO3; this
script times the search's step as a user meets it. Usage::

    .venv/bin/python benchmarks/exact_vs_fd_search_phonons.py [--structures srtio3,rutile,p1]
        [--repeat 1] [--sevenn] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections import defaultdict

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.spacegroup import crystal

from ase_symbreak.structures import cubic_perovskite


class ForcesOnly(Calculator):
    """Energy, forces and stress of ``inner``, nothing else: no exact Hessian to find."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner
        self.n_calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.inner
        self.n_calls += 1
        self.results = {
            "energy": a.get_potential_energy(),
            "free_energy": a.get_potential_energy(),
            "forces": a.get_forces(),
        }
        if "stress" in properties:
            self.results["stress"] = a.get_stress()


def structures() -> dict[str, Atoms]:
    rutile = crystal(
        ["Ti", "O"],
        basis=[(0, 0, 0), (0.3048, 0.3048, 0)],
        spacegroup=136,
        cellpar=[4.594, 4.594, 2.959, 90, 90, 90],
    )
    p1 = cubic_perovskite(3.9)
    p1.rattle(0.05, seed=1)
    return {"srtio3": cubic_perovskite(3.9), "rutile": rutile, "p1": p1}


def frequencies(modes) -> dict[tuple[str, str], list[float]]:
    """Labelled frequencies by (q label, irrep), each repeated by its degeneracy."""
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for m in modes.modes:
        out[(m.q_label, m.irrep)] += [float(m.frequency_thz)] * int(m.degeneracy)
    return {k: sorted(v) for k, v in out.items()}


def by_q(modes) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for m in modes.modes:
        q = ",".join(f"{x:.4f}" for x in np.asarray(m.q, dtype=float))
        out[q] += [float(m.frequency_thz)] * int(m.degeneracy)
    return {k: sorted(v) for k, v in out.items()}


def largest_difference(a: dict, b: dict) -> float:
    return worst(a, b)[0]


def worst(a: dict, b: dict) -> tuple[float, str]:
    """The largest frequency difference and where: 'irrep at q: exact / FD THz'."""
    if set(a) != set(b) or any(len(a[k]) != len(b[k]) for k in a):
        return float("nan"), "different modes"
    d, where = -1.0, ""
    for k in a:
        for x, y in zip(a[k], b[k]):
            if abs(x - y) > d:
                label = f"{k[1]} at {k[0]}" if isinstance(k, tuple) else k
                d, where = abs(x - y), f"{label}: {x:.2f} / {y:.2f}"
    return d, where


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--structures", default="srtio3,rutile,p1")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--sevenn", action="store_true", help="FD with sevenn's SevenNetCalculator")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    p.add_argument("--no-relax", action="store_true", help="phonons of the cells as built")
    args = p.parse_args()
    warnings.simplefilter("ignore")  # off-grid dips of unrelaxed cells: the same both ways

    import torch
    from ase.build import make_supercell

    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.hessian.any_calculator import calculator_force_constants
    from ase_symbreak.phonons.supercell import auto_supercell
    from ase_symbreak.workflows.steps import phonons, relax

    if args.threads:
        torch.set_num_threads(args.threads)
    exact_calc = SymBreakCalculator(model="7net-0")
    if args.sevenn:
        from sevenn.calculator import SevenNetCalculator

        fd_calc = SevenNetCalculator("7net-0", device="cpu")
        fd_name = "sevenn SevenNetCalculator"
    else:
        fd_calc = ForcesOnly(exact_calc)
        fd_name = "SymBreakCalculator, Hessian hidden"
    print(
        f"# SevenNet-0, exact (SymBreakCalculator) vs FD ({fd_name}); torch threads "
        f"{torch.get_num_threads()}; load {os.getloadavg()[0]:.2f} at start"
    )
    warm = cubic_perovskite(3.9)
    for calc in (exact_calc, fd_calc):
        warm.calc = calc
        warm.get_forces()
    print(
        "| structure | atoms (supercell) | step exact (s) | step FD (s) | fc exact (s) | "
        "fc FD (s) | FD force calls | max abs df labelled (THz) | max abs df per q (THz) | "
        "same labels | where (exact / FD, THz) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.structures.split(","):
        atoms = structures()[name]
        if name != "p1" and not args.no_relax:
            atoms = relax(atoms, exact_calc, fmax=1e-3, keep_symmetry=True, symprec=1e-3).atoms
        sc = auto_supercell(atoms, symprec=1e-3)
        n = int(round(len(atoms) * abs(np.linalg.det(np.asarray(sc)))))

        def step(calc, atoms=atoms, sc=sc):
            return phonons(atoms, calc, np.asarray(sc, dtype=int), symprec=1e-3)

        t_exact, m_exact = timed(lambda: step(exact_calc), args.repeat)
        calls0 = getattr(fd_calc, "n_calls", None)
        t_fd, m_fd = timed(lambda: step(fd_calc), args.repeat)
        calls = "" if calls0 is None else str((fd_calc.n_calls - calls0) // args.repeat)
        big = make_supercell(atoms, np.asarray(sc, dtype=int))

        def fc(calc, big=big):
            return calculator_force_constants(big, calc, symprec=1e-3)

        f_exact, _ = timed(lambda: fc(exact_calc), args.repeat)
        f_fd, _ = timed(lambda: fc(fd_calc), args.repeat)
        assert m_exact.force_constants_method == "exact hessian", m_exact.force_constants_method
        assert m_fd.force_constants_method == "finite displacements", m_fd.force_constants_method
        fa, fb = frequencies(m_exact), frequencies(m_fd)
        d_lab, where = worst(fa, fb)
        d_q = largest_difference(by_q(m_exact), by_q(m_fd))
        shape = (
            "x".join(str(int(x)) for x in np.diag(np.asarray(sc)))
            if np.allclose(np.asarray(sc), np.diag(np.diag(np.asarray(sc))))
            else str(np.asarray(sc).tolist())
        )
        print(
            f"| {name} | {n} ({shape}) | {t_exact:.1f} | {t_fd:.1f} | {f_exact:.1f} | "
            f"{f_fd:.1f} | {calls} | {d_lab:.3f} | {d_q:.3f} | "
            f"{'yes' if set(fa) == set(fb) else 'no'} | {where} | "
            f"{os.getloadavg()[0]:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
