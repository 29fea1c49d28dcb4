"""A brute-force reference for the search's ground state, on the model's own energy surface.

Usage: .venv/bin/python benchmarks/brute_force_reference.py PARENT [--trials 8]
       [--cells auto | N1 N2 N3] [--strain 0.03] [--rattle 0.2] [--fmax 1e-3]
       [--seed 0] [--search FOLDER] [--model NAME] [--jsonl FILE]

The parent (``search_cost.build``: GeTe, ZrO2, SrTiO3, TiO2, cristobalite, quartz, spinel)
is relaxed in its own symmetry; then ``--trials`` copies of a supercell of it (the search's
automatic phonon supercell by default: images at least 7 A apart) get a random symmetric
strain (``--strain``, standard deviation of each component) and random displacements
(``--rattle``, Angstrom) from fixed seeds, and are relaxed *without any symmetry*, atoms
and cell together (BFGS on ASE's ``FrechetCellFilter``, to ``--fmax`` eV/A), as far as the
model takes them. Every minimum is identified (spglib at 1e-2 A) and its energy given in
meV per formula unit below the relaxed parent (float64, the energy that ranks the search's
structures). With ``--search FOLDER`` (a finished ``ase-symbreak search``), the lowest
minimum is compared with the search's predicted ground state: the search passes when no
trial ends lower than its answer by more than the noise of the relaxations (0.05 meV/f.u.).

No symmetry, no soft modes, no isotropy subgroups: only the model's surface and a
minimiser. A minimum that needs a larger cell than the one relaxed is out of its reach,
which the output states (the cell, its atoms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

#: Trials ending within this many meV/f.u. are one minimum.
SAME_MEV = 0.05


def relaxed_parent(parent, calc, fmax: float):
    """The parent relaxed in its own symmetry (atoms and cell)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = parent.copy()
    atoms.calc = calc
    atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=500)
    atoms.set_constraint()
    return atoms


def trial(parent, cells, calc, seed: int, strain: float, rattle: float, fmax: float):
    """One random start, relaxed without symmetry; its energy (eV), group, steps, time."""
    from ase.build import make_supercell
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    rng = np.random.default_rng(seed)
    atoms = make_supercell(parent, np.asarray(cells))
    e = rng.normal(scale=strain, size=(3, 3))
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.5 * (e + e.T)), scale_atoms=True)
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.calc = calc
    start = time.perf_counter()
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)
    converged = opt.run(fmax=fmax, steps=3000)
    return atoms, bool(converged), int(opt.nsteps), time.perf_counter() - start


def energy(atoms, calc) -> float:
    precise = getattr(calc, "get_precise_energy", None)
    return float(precise(atoms)) if callable(precise) else float(atoms.get_potential_energy())


def group(atoms) -> str:
    from ase_symbreak.symmetry.spacegroup import spglib_dataset

    try:
        ds = spglib_dataset(atoms, 1e-2)
    except ValueError:
        return "P1 (1)"
    return f"{ds.international} ({ds.number})"


def formula_units(atoms) -> int:
    from math import gcd

    counts = np.unique(atoms.numbers, return_counts=True)[1]
    out = 0
    for c in counts:
        out = gcd(out, int(c))
    return out


def search_answer(folder: str) -> tuple[str, float] | None:
    """(group, gain meV/f.u.) of a finished search's predicted ground state."""
    from ase_symbreak.workflows import load_search

    result = load_search(folder)
    node = result.predicted_ground_state
    if node is None:
        return None
    return f"{node.space_group_symbol} ({node.space_group_number})", node.energy_gain_mev_per_fu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parent")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--cells", nargs="+", default=["auto"])
    parser.add_argument("--strain", type=float, default=0.03)
    parser.add_argument("--rattle", type=float, default=0.2)
    parser.add_argument("--fmax", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search", default=None, help="a finished search folder to compare")
    parser.add_argument("--model", default=None)
    parser.add_argument("--jsonl", default=None)
    args = parser.parse_args()
    import warnings

    # the cell filter's matrix logarithm warns at 4e-13 relative error, every step
    warnings.filterwarnings("ignore", message="logm result may be inaccurate")

    from search_cost import build

    from ase_symbreak import SymBreakCalculator
    from ase_symbreak.phonons.supercell import auto_supercell

    calc = SymBreakCalculator(model=args.model) if args.model else SymBreakCalculator()
    parent = relaxed_parent(build(args.parent), calc, fmax=min(args.fmax, 1e-3))
    e_parent = energy(parent, calc) / formula_units(parent)
    if args.cells == ["auto"]:
        cells = np.asarray(auto_supercell(parent))
    else:
        cells = np.diag([int(x) for x in args.cells])
    n_atoms = int(round(abs(np.linalg.det(cells)))) * len(parent)
    print(
        f"{args.parent}: parent {group(parent)}, {len(parent)} atoms; {args.trials} trials in "
        f"the {cells.tolist()} supercell ({n_atoms} atoms), strain sigma {args.strain}, "
        f"rattle {args.rattle} A, fmax {args.fmax} eV/A, seed {args.seed}; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    minima = []
    for i in range(args.trials):
        atoms, converged, steps, seconds = trial(
            parent, cells, calc, args.seed + i, args.strain, args.rattle, args.fmax
        )
        gain = (e_parent - energy(atoms, calc) / formula_units(atoms)) * 1000.0
        minima.append((gain, group(atoms), converged, steps, seconds))
        print(
            f"  trial {i}: {minima[-1][1]:<14} {gain:9.3f} meV/f.u. below the parent "
            f"({'converged' if converged else 'NOT converged'}, {steps} steps, {seconds:.0f} s)",
            flush=True,
        )
    best = max(m[0] for m in minima if m[2]) if any(m[2] for m in minima) else None
    found = sorted({(round(m[0], 2), m[1]) for m in minima if m[2]}, reverse=True)
    print("minima (meV/f.u. below the parent, group):", found)
    record = {
        "parent": args.parent,
        "supercell": cells.tolist(),
        "atoms": n_atoms,
        "trials": args.trials,
        "minima": [
            {"gain_mev_per_fu": m[0], "group": m[1], "converged": m[2], "steps": m[3]}
            for m in minima
        ],
        "load": os.getloadavg()[0],
    }
    if args.search:
        answer = search_answer(args.search)
        if answer is None:
            print("the search names no ground state")
        else:
            record["search"] = {"group": answer[0], "gain_mev_per_fu": answer[1]}
            below = None if best is None else best - answer[1]
            verdict = (
                "agrees: no trial lower"
                if below is not None and below <= SAME_MEV
                else f"a trial ends {below:.2f} meV/f.u. lower"
            )
            print(f"search: {answer[0]} at {answer[1]:.3f} meV/f.u.; brute force {verdict}")
            record["verdict"] = verdict
    if args.jsonl:
        with open(args.jsonl, "a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
