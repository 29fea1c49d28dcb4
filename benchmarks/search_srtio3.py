"""Time the distortion search of cubic SrTiO3 (SevenNet-0) as a whole and per step.

Usage: .venv/bin/python benchmarks/search_srtio3.py [--threads N] [--out DIR]
       [--settings demo,default] [--model NAME]

For each settings ("demo": :data:`~ase_symbreak.workflows.srtio3_demo.DEMO_SETTINGS`,
"default": ``SearchSettings()``, what ``ase-symbreak search`` uses, descent to depth 3
included) runs the search in a fresh folder (nothing loaded from a previous run) and prints
one table: seconds per step, the model load, the total, what each step produced, and the
predicted ground state.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--settings", default="demo,default", help="comma-separated: demo, default")
    parser.add_argument("--model", default=None, help="model name (default: SevenNet-0)")
    args = parser.parse_args()
    for which in args.settings.split(","):
        run(which.strip(), args)


def run(which: str, args) -> None:
    """One search with the ``which`` settings, timed, printed as a table."""

    import torch
    from rich.console import Console
    from rich.table import Table

    if args.threads:
        torch.set_num_threads(args.threads)
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.workflows import SearchSettings, distortion_search
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS

    settings = {"demo": DEMO_SETTINGS, "default": SearchSettings()}[which]
    out = f"{args.out}/{which}" if args.out else tempfile.mkdtemp(prefix=f"search_{which}_")
    start = time.perf_counter()
    calc = SymBreakCalculator(model=args.model) if args.model else SymBreakCalculator()
    t_model = time.perf_counter() - start
    result = distortion_search(cubic_perovskite(3.9), calc, settings, out_dir=out)
    total = time.perf_counter() - start

    t = result.timings
    produced = {
        "relax parent": (
            f"a = {result.parent.atoms.cell.lengths()[0]:.4f} A, {result.parent.n_steps} steps"
        ),
        "phonons": f"{sum(m.degeneracy for m in result.phonons.modes)} modes, 40-atom supercell",
        "soft modes": ", ".join(
            f"{m.irrep} {m.frequency_thz:.2f}" for m in result.soft_modes.modes
        ),
        "condense": (
            f"{len(result.condense.candidates)} candidates lower E, "
            f"{len(result.condense.rejected)} rejected"
        ),
        "relax children": f"{t['relax children']['children']} relaxed, "
        f"{sum(c.relax.n_steps for c in result.children + result.duplicates)} steps",
        "identify": ", ".join(
            f"{c.identification.space_group_symbol} {c.identification.energy_gain_mev_per_fu:.1f}"
            for c in result.children
        )
        + " meV/f.u.",
        "descent": f"{len(result.nodes) - 1} nodes; {result.ground_state_note()}",
    }
    table = Table(
        title=(
            f"distortion search ({which} settings), SrTiO3 a=3.9, {args.model or 'SevenNet-0'}, "
            f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}"
        )
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    table.add_column("result")
    table.add_row("load model", f"{t_model:.1f}", f"{t_model / total:.0%}", str(calc.model.name))
    for step, info in t.items():
        table.add_row(
            step, f"{info['seconds']:.1f}", f"{info['seconds'] / total:.0%}", produced.get(step, "")
        )
    table.add_row("total", f"{total:.1f}", "100%", out)
    Console().print(table)


if __name__ == "__main__":
    main()
