"""Compare optimisers for relaxing a distortion-search child inside its subgroup.

Usage: .venv/bin/python benchmarks/relax_methods.py [--children "P1;P2"] [--methods "M1;M2"]
       [--plan-dir DIR] [--threads 1] [--no-toy]

Children: the candidates of the SrTiO3 demo search's condense step (cubic SrTiO3, a = 3.9 A,
SevenNet-0, demo settings with every candidate kept; cached in ``--plan-dir``), picked by
name prefix, plus a toy: :class:`~ase_symbreak.testing.toy_models.PlantedTiltModel` started
from a rigid a0a0c- tilt (phi = 0.05 rad) in a strained cell, analytic minimum
``E = 2 W*`` per formula unit.

Each method relaxes each child (``FixSymmetry`` at symprec 1e-3 and cell); the table gives
force calls (energy + forces + stress evaluations, those of finite-difference Hessians
included), Hessians, wall seconds, the energy against BFGS at fmax 1e-3 (meV per formula
unit), the final max force (ASE's FixSymmetry + FrechetCellFilter criterion) and the space
group. Run one at a time on a quiet machine: times are wall clock.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import time
import warnings

import numpy as np

CHILDREN = (
    "R4+ (a,0,0)",  # I4/mcm
    "R4+ (a,a,a)",  # R-3c
    "R4+ (a,a,0)",  # Imma
    "GM4- (a,a,a)",  # R3m (polar)
    "GM4-+R4+ (a,a,a|b,b,b)",  # R3c
    "R4++M3+ (a,a,0|b,0,0)",  # Pnma (relaxes to Imma with SevenNet-0)
)

#: name -> (optimizer, fmax, options); options of the 'newton' and 'seeded-BFGS' rows.
METHODS = {
    "BFGS": ("BFGS", 1e-3, {}),
    "BFGS 5e-3": ("BFGS", 5e-3, {}),
    "BFGS 1e-2": ("BFGS", 1e-2, {}),
    "FIRE": ("FIRE", 1e-3, {}),
    "LBFGS": ("LBFGS", 1e-3, {}),
    "PreconLBFGS": ("precon", 1e-3, {}),
    "seeded BFGS": ("seeded", 1e-3, {"hessian": "exact", "hessian_dtype": "native"}),
    "newton": ("newton", 1e-3, {}),  # default: forward-difference Hessian
    "newton exact": ("newton", 1e-3, {"hessian": "exact"}),  # native dtype
    "newton exact f64-H": ("newton", 1e-3, {"hessian": "exact", "hessian_dtype": "float64"}),
    "newton fd": ("newton", 1e-3, {"hessian": "fd"}),
    "newton 5e-3": ("newton", 5e-3, {}),
    "BFGS f64 model": ("BFGS", 1e-3, {"model_dtype": "float64"}),
    "newton f64 model": ("newton", 1e-3, {"model_dtype": "float64"}),
}


def seeded_bfgs(atoms, calc, fmax, steps, symprec, hessian="exact", hessian_dtype="native"):
    """ASE BFGS on FixSymmetry + FrechetCellFilter with its initial Hessian ``H0`` set from
    the symmetric-subspace Hessian (70 eV/A^2 on the rest, as ASE's default).
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from ase_symbreak.workflows.steps.newton import symmetric_basis, symmetric_hessian
    from ase_symbreak.workflows.steps.relax import _CountingCalculator

    work = atoms.copy()
    work.set_constraint()
    counter = _CountingCalculator(calc)
    work.calc = counter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fix = FixSymmetry(work, symprec=symprec)
    work.set_constraint(fix)
    basis = symmetric_basis(work, fix)
    hq = symmetric_hessian(calc, work, basis, method=hessian, dtype=hessian_dtype)
    n = len(work)
    kp = basis.n_displacements
    filt = FrechetCellFilter(work)
    w = np.zeros((3 * n + 9, basis.size))
    w[: 3 * n, :kp] = basis.displacements
    for j, s in enumerate(basis.strains):
        w[3 * n :, kp + j] = s.reshape(-1)
    jac = np.ones(basis.size)
    jac[kp:] = basis.length / filt.exp_cell_factor
    hy = jac[:, None] * hq * jac[None, :]
    opt = BFGS(filt, logfile=None)
    opt.H0 = w @ hy @ w.T + opt.alpha * (np.eye(3 * n + 9) - w @ w.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converged = opt.run(fmax=fmax, steps=steps)
    f = filt.get_forces()
    return dict(
        atoms=work,
        energy=float(work.get_potential_energy()),
        calls=counter.calls,
        hessians=1,
        converged=bool(converged),
        max_force=float(np.sqrt((f**2).sum(axis=1)).max()),
    )


def precon_lbfgs(atoms, calc, fmax, steps, symprec):
    """ase.optimize.precon.PreconLBFGS (Exp preconditioner) on FixSymmetry + FrechetCellFilter
    (at most 60 steps: its line search fails on some children and then never stops).
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize.precon import Exp, PreconLBFGS

    from ase_symbreak.workflows.steps.relax import _CountingCalculator

    work = atoms.copy()
    work.set_constraint()
    counter = _CountingCalculator(calc)
    work.calc = counter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work.set_constraint(FixSymmetry(work, symprec=symprec))
    filt = FrechetCellFilter(work)
    opt = PreconLBFGS(filt, precon=Exp(A=3), logfile=None)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # and its "not downhill" line-search messages
        converged = opt.run(fmax=fmax, steps=min(steps, 60))
    f = filt.get_forces()
    return dict(
        atoms=work,
        energy=float(work.get_potential_energy()),
        calls=counter.calls,
        hessians=0,
        converged=bool(converged),
        max_force=float(np.sqrt((f**2).sum(axis=1)).max()),
    )


def run_method(name, atoms, calcs, steps=300, symprec=1e-3):
    from ase_symbreak.symmetry import analyze
    from ase_symbreak.workflows.steps.common import single_threaded_blas
    from ase_symbreak.workflows.steps.newton import newton_relax
    from ase_symbreak.workflows.steps.relax import relax

    optimizer, fmax, options = METHODS[name]
    options = dict(options)
    calc = calcs[options.pop("model_dtype", "native")]
    t0 = time.perf_counter()
    if optimizer == "seeded":
        with single_threaded_blas():
            out = seeded_bfgs(atoms, calc, fmax, steps, symprec, **options)
    elif optimizer == "precon":
        try:
            with single_threaded_blas():
                out = precon_lbfgs(atoms, calc, fmax, steps, symprec)
        except Exception as exc:  # report, do not stop the table
            return dict(error=f"{type(exc).__name__}: {exc}"[:60], seconds=time.perf_counter() - t0)
    elif optimizer == "newton":
        with single_threaded_blas():
            res = newton_relax(atoms, calc, fmax=fmax, steps=steps, symprec=symprec, **options)
        out = dict(
            atoms=res.atoms,
            energy=res.energy,
            calls=res.n_force_calls,
            hessians=res.n_hessians,
            converged=res.converged,
            max_force=res.max_force,
        )
    else:
        res = relax(
            atoms, calc, fmax=fmax, keep_symmetry=True, steps=steps, optimizer=optimizer,
            symprec=symprec,
        )  # fmt: skip
        out = dict(
            atoms=res.atoms,
            energy=res.energy,
            calls=res.n_force_calls,
            hessians=0,
            converged=res.converged,
            max_force=res.max_force,
        )
    out["seconds"] = time.perf_counter() - t0
    out["symbol"] = analyze(out["atoms"], symprec=symprec).symbol
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", default=";".join(CHILDREN), help="name prefixes, ;-separated")
    parser.add_argument("--methods", default=";".join(METHODS), help="names, ;-separated")
    parser.add_argument("--plan-dir", default="/tmp/relax_methods_plan")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-toy", action="store_true")
    parser.add_argument("--no-sevennet", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.testing.toy_models import PlantedTiltModel, rigid_tilt_i4mcm
    from ase_symbreak.workflows.search import plan_search
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS
    from ase_symbreak.workflows.steps.common import formula_units

    methods = [m for m in args.methods.split(";") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {list(METHODS)}")
    cases = []  # (label, atoms, calcs, exact energy per f.u. or None)
    if not args.no_toy:
        toy = PlantedTiltModel()
        tcalc = SymBreakCalculator(model=toy, dtype="float64")
        start = rigid_tilt_i4mcm(toy, 0.05)
        start.set_cell(start.cell[:] * [1.01, 1.01, 0.985], scale_atoms=True)
        cases.append(
            ("toy I4/mcm", start, {"native": tcalc, "float64": tcalc}, 2 * -toy.well_depth)
        )
    if not args.no_sevennet:
        calc = SymBreakCalculator()
        calcs = {"native": calc, "float64": SymBreakCalculator(dtype="float64")}
        settings = dataclasses.replace(DEMO_SETTINGS, max_children=None, plot=False)
        plan = plan_search(cubic_perovskite(3.9), calc, settings, out_dir=args.plan_dir)
        for prefix in [c for c in args.children.split(";") if c]:
            found = [c for c in plan.chosen if c.name.startswith(prefix)]
            if not found:
                print(f"no candidate {prefix!r}; have {[c.name for c in plan.chosen]}")
                continue
            cand = found[0]
            cases.append((f"{cand.name}", cand.structure, calcs, None))
        # build the float64 Hessian model and warm both models up outside the timings
        calc.hessian_model
        w = cubic_perovskite(3.9)
        for c in calcs.values():
            w.calc = c
            w.get_stress()

    header = (
        "| child | method | fmax | force calls | Hessians | seconds | dE vs BFGS (meV/f.u.) "
        "| max force (eV/A) | space group |"
    )
    print(header)
    print("|" + "---|" * 9)
    for label, atoms, calcs, exact in cases:
        ref = None
        rows = [m for m in (["BFGS"] if "BFGS" not in methods else []) + methods]
        for name in rows:
            out = run_method(name, atoms, calcs)
            if "error" in out:
                print(f"| {label} | {name} | | | | {out['seconds']:.2f} | {out['error']} | | |")
                continue
            e_fu = out["energy"] / formula_units(out["atoms"])
            if name == "BFGS":
                ref = e_fu
                if "BFGS" not in methods:
                    continue
            de = 1000 * (e_fu - ref)
            extra = f" (vs exact {1000 * (e_fu - exact):+.4f})" if exact is not None else ""
            conv = "" if out["converged"] else " (not converged)"
            print(
                f"| {label} | {name} | {METHODS[name][1]:g} | {out['calls']} | {out['hessians']} "
                f"| {out['seconds']:.2f} | {de:+.4f}{extra} | {out['max_force']:.1e}{conv} "
                f"| {out['symbol']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
