"""Time the distortion-search demo (cubic SrTiO3, SevenNet-0) as a whole and per step.

Usage: .venv/bin/python benchmarks/search_srtio3.py [--threads N] [--out DIR]

Runs :func:`ase_symbreak.workflows.srtio3_demo.run_search_demo` with its demo settings in a fresh
folder (nothing loaded from a previous run) and prints one table: seconds per step, the
model load, the total, and what each step produced.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    if args.threads:
        torch.set_num_threads(args.threads)
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.workflows import distortion_search
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS

    out = args.out or tempfile.mkdtemp(prefix="search_srtio3_")
    start = time.perf_counter()
    calc = SymBreakCalculator()
    t_model = time.perf_counter() - start
    result = distortion_search(cubic_perovskite(3.9), calc, DEMO_SETTINGS, out_dir=out)
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
    }
    table = Table(
        title=(
            f"distortion search, SrTiO3 a=3.9, SevenNet-0, torch threads {torch.get_num_threads()}"
        )
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    table.add_column("result")
    table.add_row("load model", f"{t_model:.1f}", f"{t_model / total:.0%}", "SevenNet-0")
    for step, info in t.items():
        table.add_row(
            step, f"{info['seconds']:.1f}", f"{info['seconds'] / total:.0%}", produced.get(step, "")
        )
    table.add_row("total", f"{total:.1f}", "100%", out)
    Console().print(table)


if __name__ == "__main__":
    main()
