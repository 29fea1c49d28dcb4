"""Cost of the default distortion search on parents of growing size and lower symmetry.

Usage: .venv/bin/python benchmarks/search_cost.py [--parents GeTe,ZrO2,...] [--out DIR]
       [--model NAME] [--jsonl FILE]
       .venv/bin/python benchmarks/search_cost.py --first-pass 0.05 --parents SrTiO3
       [--plan-dir DIR]

Each parent is built here from published lattice parameters (the search relaxes it first),
searched with the default settings (``ase_symbreak.distortion_search``, ``SearchSettings()``,
SevenNet-0 unless ``--model``) in a fresh folder, and printed as one Markdown row: atoms of
the primitive cell, soft irreps, candidates (of the parent, and over every searched
structure), children relaxed (relaxation checkpoints written: candidates, strain and random
trials), descent nodes, wall time, the time of each step (the timings the search records),
complete or not, the ground state (space group, meV/f.u. below the parent) and the machine
load (``os.getloadavg()``, 1-minute average, at the start and at the end). ``--jsonl``
appends each row as one JSON line as well.

``--first-pass FMAX`` measures instead whether a cheap first pass would pay: the parent's
chosen candidates (its plan, loaded from ``--plan-dir`` when a search of it is there) are
relaxed to the default ``child_fmax`` from the scan (what the search does), to ``FMAX``
from the scan, and to ``child_fmax`` again from the loose result; printed: seconds and
steps of each, the space group and gain of the loose and the tight relaxation, and whether
the loose pass ranks the candidates (and finds their duplicates) as the tight one does.

Parents, smallest first (``--parents`` takes a comma-separated subset):

=============  =====  ===========  ============================================================
name           atoms  group        source of the structure
=============  =====  ===========  ============================================================
GeTe           2      Fm-3m        rocksalt, a = 6.0 A (cubic GeTe above 700 K: 6.01 A,
                                   Chattopadhyay et al., J. Phys. C 20, 1431 (1987))
ZrO2           3      Fm-3m        fluorite, a = 5.09 A (``benchmarks/validation.py``)
SrTiO3         5      Pm-3m        perovskite, a = 3.905 A (``benchmarks/validation.py``)
TiO2           6      P4_2/mnm     rutile, a = 4.594, c = 2.959 A, x(O) = 0.3048
                                   (``benchmarks/validation.py``)
cristobalite   6      Fd-3m        ideal beta-cristobalite SiO2, a = 7.16 A, Si 8a, O 16c
                                   (Wright & Leadbetter, Phil. Mag. 31, 1391 (1975))
quartz         9      P6_222       beta-quartz SiO2, a = 4.9977, c = 5.4601 A, Si 3c,
                                   O 6j x = 0.2072 (Wright & Lehmann, J. Solid State Chem. 36,
                                   371 (1981))
spinel         14     Fd-3m        MgAl2O4, a = 8.0832 A, u = 0.2624 (origin 2; Yamanaka &
                                   Takeuchi, Z. Kristallogr. 165, 65 (1983))
=============  =====  ===========  ============================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PARENTS = ("GeTe", "ZrO2", "SrTiO3", "TiO2", "cristobalite", "quartz", "spinel")

#: Step columns, in order: the first level's steps, then the descent below it.
STEP_COLUMNS = (
    ("relax parent", "parent"),
    ("phonons", "phonons"),
    ("condense", "condense"),
    ("relax children", "children"),
    ("identify", "identify"),
    ("descent", "descent"),
)


def _primitive(atoms):
    """The spglib primitive cell of a conventional cell."""
    import spglib
    from ase import Atoms

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.find_primitive(cell, symprec=1e-4)
    return Atoms(numbers=numbers, scaled_positions=positions, cell=lattice, pbc=True)


def build(name: str):
    """The parent structure of ``name`` (primitive cell)."""
    from ase.build import bulk
    from ase.spacegroup import crystal

    sys.path.insert(0, str(Path(__file__).parent))
    import validation

    if name == "GeTe":
        return bulk("GeTe", "rocksalt", a=6.0)
    if name in ("ZrO2", "TiO2"):
        return validation.build(name)
    if name == "SrTiO3":
        return validation.build("SrTiO3")
    if name == "cristobalite":
        conventional = crystal(
            ["Si", "O"],
            basis=[(0, 0, 0), (1 / 8, 1 / 8, 1 / 8)],
            spacegroup=227,
            setting=1,
            cellpar=[7.16, 7.16, 7.16, 90, 90, 90],
        )
        return _primitive(conventional)
    if name == "quartz":
        x = 0.2072
        return crystal(
            ["Si", "O"],
            basis=[(0.5, 0, 0), (x, 2 * x, 0.5)],
            spacegroup=180,
            cellpar=[4.9977, 4.9977, 5.4601, 90, 90, 120],
        )
    if name == "spinel":
        conventional = crystal(
            ["Mg", "Al", "O"],
            basis=[(1 / 8, 1 / 8, 1 / 8), (1 / 2, 1 / 2, 1 / 2), (0.2624, 0.2624, 0.2624)],
            spacegroup=227,
            setting=2,
            cellpar=[8.0832, 8.0832, 8.0832, 90, 90, 90],
        )
        return _primitive(conventional)
    raise ValueError(f"unknown parent {name!r}; known: {', '.join(PARENTS)}")


def _relaxed(folder: Path) -> dict[str, int]:
    """Relaxation checkpoints written in a search folder: candidates, strain, random trials."""
    counts = {"candidates": 0, "strain": 0, "random": 0}
    for path in folder.rglob("05_child_*.json"):
        kind = path.parent.name if path.parent.name in ("strain", "random") else "candidates"
        counts[kind] += 1
    return counts


def _descent_parts(folder: Path, descent_s: float) -> dict[str, float]:
    """Seconds of the descent by kind, from the timings its nodes and relaxations record:
    the nodes' plans (relaxation in their group, condensation), their phonons, their
    children, the random trials, the strain children; ``other`` is the rest (the strain
    checks' elastic tensors, off-grid follow-ups, the bookkeeping).
    """
    parts = dict.fromkeys(("node plans", "node phonons", "node children", "random", "strain"), 0.0)
    for path in (folder / "descent").glob("*/search.json"):
        t = json.loads(path.read_text())["timings"]
        parts["node phonons"] += t.get("phonons", {}).get("seconds", 0.0)
        for step in ("relax parent", "soft modes", "condense"):
            parts["node plans"] += t.get(step, {}).get("seconds", 0.0)
        for step in ("relax children", "identify"):
            parts["node children"] += t.get(step, {}).get("seconds", 0.0)
    for kind in ("random", "strain"):
        for path in folder.rglob(f"{kind}/05_child_*.json"):
            t = json.loads(path.read_text())["result"]["timings"]
            parts[kind] += t["relax"] + t["identify"]
    parts["other"] = descent_s - sum(parts.values())
    return parts


def _candidates(folder: Path) -> int:
    """Candidates scanned over every searched structure (their condensation checkpoints)."""
    return sum(
        len(json.loads(path.read_text())["result"]["candidates"])
        for path in folder.rglob("04_condense.json")
    )


def measure(name: str, calc, out: Path, no_budget: bool = False) -> dict:
    """Search ``name`` with the default settings in ``out`` (``no_budget``: without the work
    budgets, ``max_candidates=None, max_nodes=None``); the row's numbers.
    """
    from ase_symbreak import SearchSettings, distortion_search
    from ase_symbreak.symmetry import analyze

    atoms = build(name)
    settings = SearchSettings(max_candidates=None, max_nodes=None) if no_budget else None
    load_start = os.getloadavg()
    start = time.perf_counter()
    result = distortion_search(atoms, calc, settings, out_dir=out)
    wall = time.perf_counter() - start
    load_end = os.getloadavg()
    nodes = result.nodes
    skipped = [x for n in nodes for x in n.skipped] if nodes else list(result.skipped)
    gs = result.predicted_ground_state
    info = analyze(atoms)
    timings = result.timings
    return {
        "parent": name,
        "formula": atoms.get_chemical_formula(mode="metal", empirical=True),
        "atoms": len(atoms),
        "space_group": f"{info.symbol} ({info.number})",
        "supercell_atoms": len(result.phonons.supercell)
        if result.phonons.supercell is not None
        else None,
        "soft_irreps": [m.irrep for m in result.soft_modes.modes],
        "candidates": len(result.condense.candidates),
        "candidates_all": _candidates(out),
        "searched_structures": sum(1 for _ in out.rglob("04_condense.json")),
        "relaxed": _relaxed(out),
        "duplicates_before_relaxation": sum(
            1 for x in skipped if getattr(x, "duplicate_of", None) is not None
        ),
        "nodes": len(nodes),
        "nodes_checked": sum(
            1 for n in nodes if str(n.status) not in ("work budget", "time budget", "pending")
        ),
        "wall_s": wall,
        "steps_s": {
            key: float(timings.get(step, {}).get("seconds", 0.0)) for step, key in STEP_COLUMNS
        },
        "descent_s": _descent_parts(out, float(timings.get("descent", {}).get("seconds", 0.0))),
        "complete": result.complete,
        "left_by_budget": result.left_by_budget(),
        "ground_state": None
        if gs is None
        else {
            "label": gs.label,
            "gain_mev_per_fu": gs.energy_gain_mev_per_fu,
            "via": gs.via,
            "node": gs.index,
        },
        "load_start": list(load_start),
        "load_end": list(load_end),
    }


HEADER = (
    "| parent | atoms (supercell) | soft irreps | candidates (parent / all) "
    "| relaxed (candidates + strain + random) "
    "| nodes (checked) | wall (s) "
    "| parent / phonons / condense / children / identify / descent (s) "
    "| complete | ground state | load start / end |"
)


def row(m: dict) -> str:
    """One Markdown row of :data:`HEADER`."""
    gs = m["ground_state"]
    ground = "none" if gs is None else f"{gs['label']}, {gs['gain_mev_per_fu']:.2f} meV/f.u."
    if gs is not None and gs["node"] == 0:
        ground = f"{gs['label']}: the parent is stable"
    steps = " / ".join(f"{m['steps_s'][key]:.0f}" for _, key in STEP_COLUMNS)
    r = m["relaxed"]
    complete = "yes" if m["complete"] else "no: " + "; ".join(m["left_by_budget"])
    return (
        f"| {m['parent']} {m['formula']} {m['space_group']} | {m['atoms']} "
        f"({m['supercell_atoms']}) | {' '.join(m['soft_irreps']) or 'none'} "
        f"| {m['candidates']} / {m['candidates_all']} | {sum(r.values())} ({r['candidates']} + "
        f"{r['strain']} + {r['random']}) "
        f"| {m['nodes']} ({m['nodes_checked']}) | {m['wall_s']:.0f} | {steps} | {complete} "
        f"| {ground} | {m['load_start'][0]:.1f} / {m['load_end'][0]:.1f} |"
    )


PARTS_HEADER = (
    "| parent | descent (s) | node plans | node phonons | node children | random trials "
    "| strain children | other (elastic checks, off-grid follow-ups, bookkeeping) |"
)


def parts_row(m: dict) -> str:
    """One Markdown row of :data:`PARTS_HEADER`: where the descent's time went."""
    p = m["descent_s"]
    keys = ("node plans", "node phonons", "node children", "random", "strain", "other")
    return (
        f"| {m['parent']} | {m['steps_s']['descent']:.0f} | "
        + " | ".join(f"{p[k]:.0f}" for k in keys)
        + " |"
    )


def report(jsonl: str) -> None:
    """Both tables from the rows of ``--jsonl`` files (one parent per run)."""
    rows = [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]
    for m in rows:  # rows written before these counts were recorded: from their folders
        out = Path(m["out_dir"])
        if "descent_s" not in m:
            m["descent_s"] = _descent_parts(out, m["steps_s"]["descent"])
        if "relaxed" not in m:
            m["relaxed"], m["candidates_all"] = _relaxed(out), _candidates(out)
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for m in rows:
        print(row(m))
    print()
    print(PARTS_HEADER)
    print("|" + "---|" * PARTS_HEADER.count(" | ") + "---|")
    for m in rows:
        print(parts_row(m))


def first_pass(name: str, calc, fmax: float, plan_dir: str | None) -> None:
    """Time a loose first pass against the search's tight relaxation (see the module doc)."""
    import dataclasses

    from ase_symbreak.symmetry import analyze
    from ase_symbreak.workflows import SearchSettings
    from ase_symbreak.workflows.search import plan_search
    from ase_symbreak.workflows.steps import formula_units, relax_child

    s = SearchSettings()
    plan = plan_search(build(name), calc, s, out_dir=plan_dir)
    e_parent = plan.parent.energy_per_fu

    def relaxed(cand, f):
        t0 = time.perf_counter()
        r = relax_child(cand, calc, fmax=f, steps=s.max_steps, optimizer=s.optimizer)
        seconds = time.perf_counter() - t0
        gain = (e_parent - r.energy / formula_units(r.atoms, plan.parent.atoms)) * 1000.0
        group = analyze(r.atoms, symprec=s.child_symprec).symbol
        return r, seconds, gain, group

    print(
        f"{name}: {len(plan.chosen)} chosen candidates, first pass fmax {fmax} eV/A, "
        f"tight {s.child_fmax} eV/A ({s.optimizer}), load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| candidate | tight: s (steps) | group, gain | loose: s (steps) | group, gain "
        "| tight from loose: s (steps) |"
    )
    print("|---|---|---|---|---|---|")
    rows = []
    for cand in plan.chosen:
        tight, t_tight, g_tight, grp_tight = relaxed(cand, s.child_fmax)
        loose, t_loose, g_loose, grp_loose = relaxed(cand, fmax)
        again, t_again, g_again, _ = relaxed(
            dataclasses.replace(cand, structure=loose.atoms), s.child_fmax
        )
        rows.append((cand.name, t_tight, g_tight, grp_tight, t_loose, g_loose, grp_loose, t_again))
        print(
            f"| {cand.name} | {t_tight:.1f} ({tight.n_steps}) | {grp_tight}, {g_tight:.3f} "
            f"| {t_loose:.1f} ({loose.n_steps}) | {grp_loose}, {g_loose:.3f} "
            f"| {t_again:.1f} ({again.n_steps}), {g_again:.3f} |",
            flush=True,
        )

    def minima(gains_groups):
        """Indices of the first of each minimum (same group, gains within 0.05 meV/f.u.)."""
        kept: list[int] = []
        for i, (g, grp) in enumerate(gains_groups):
            if not any(
                grp == gains_groups[k][1] and abs(g - gains_groups[k][0]) <= 0.05 for k in kept
            ):
                kept.append(i)
        return kept

    tight_minima = minima([(r[2], r[3]) for r in rows])
    loose_minima = minima([(r[5], r[6]) for r in rows])
    rank_tight = sorted(range(len(rows)), key=lambda i: -rows[i][2])
    rank_loose = sorted(range(len(rows)), key=lambda i: -rows[i][5])
    total_tight = sum(r[1] for r in rows)
    two_pass = sum(r[4] for r in rows) + sum(rows[i][7] for i in loose_minima)
    print(
        f"same ranking: {rank_tight == rank_loose}; same minima: "
        f"{tight_minima == loose_minima} (tight {tight_minima}, loose {loose_minima}); "
        f"tight for all {total_tight:.1f} s, loose for all + tight for the distinct minima "
        f"{two_pass:.1f} s; load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", default=",".join(PARENTS), help="comma-separated subset")
    parser.add_argument("--out", default="/tmp/symbreak_search_cost", help="output folder")
    parser.add_argument("--model", default=None, help="model name (default: SevenNet-0)")
    parser.add_argument("--jsonl", default=None, help="append each row as a JSON line here")
    parser.add_argument(
        "--first-pass", type=float, default=None, help="measure a loose first pass (eV/A)"
    )
    parser.add_argument("--plan-dir", default=None, help="a search folder of the parent")
    parser.add_argument(
        "--no-budget",
        action="store_true",
        help="search without the work budgets (max_candidates=None, max_nodes=None)",
    )
    parser.add_argument(
        "--report", default=None, help="print the tables of the rows in this --jsonl file"
    )
    args = parser.parse_args()
    if args.report:
        report(args.report)
        return
    names = [n.strip() for n in args.parents.split(",") if n.strip()]
    for n in names:
        build(n)  # unknown names fail before any work

    from ase_symbreak.calculator import SymBreakCalculator

    label = args.model or "SevenNet-0"
    calc = SymBreakCalculator(model=args.model) if args.model else SymBreakCalculator()
    if args.first_pass is not None:
        for name in names:
            first_pass(name, calc, args.first_pass, args.plan_dir)
        return
    what = "no work budgets" if args.no_budget else "default settings"
    print(f"model {label}, {what}, {os.cpu_count()} cores", flush=True)
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|", flush=True)
    for name in names:
        out = Path(args.out) / label / f"{name}_{time.strftime('%Y%m%d_%H%M%S')}"
        m = measure(name, calc, out, args.no_budget)
        m["model"] = label
        m["no_budget"] = args.no_budget
        m["out_dir"] = str(out)
        print(row(m), flush=True)
        print("   descent: " + parts_row(m), flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(m) + "\n")


if __name__ == "__main__":
    main()
