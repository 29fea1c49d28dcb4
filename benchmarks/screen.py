"""Throughput of the Dask screen: 8 cubic perovskites with 1 and with 2 workers on this machine.

Usage: .venv/bin/python benchmarks/screen.py [--configs 1x2,1x1,2x1] [--max-children 3]
       [--couple] [--out DIR]

Each configuration screens the same 8 Pm-3m ABO3 cells (SevenNet-0, the demo's search
settings but single irreps only unless ``--couple``, at most ``--max-children`` children
each) into a fresh folder, on a new
``LocalCluster`` (``WORKERSxTORCH_THREADS``: 1x2 is one worker using both cores, 1x1 one
worker on one core, 2x1 two workers on one core each). Prints one table: wall time,
structures per hour, speed-up over the first configuration, and checks that every
configuration found the same best children.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

#: (formula, cubic lattice parameter in Angstrom): starting points, relaxed by the search
PEROVSKITES = (
    ("SrTiO3", 3.90),
    ("BaTiO3", 4.00),
    ("CaTiO3", 3.84),
    ("PbTiO3", 3.97),
    ("KNbO3", 4.02),
    ("NaNbO3", 3.95),
    ("SrZrO3", 4.15),
    ("BaZrO3", 4.19),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        default="1x2,1x1,2x1",
        help="comma-separated WORKERSxTORCH_THREADS (default 1x2,1x1,2x1 on 2 cores)",
    )
    parser.add_argument(
        "--max-children", type=int, default=3, help="children relaxed per structure"
    )
    parser.add_argument(
        "--couple", action="store_true", help="also condense pairs of soft irreps (about 2x slower)"
    )
    parser.add_argument(
        "--out", default=None, help="parent folder of the runs (default: a temporary one)"
    )
    args = parser.parse_args()

    import logging

    from rich.console import Console
    from rich.table import Table

    from ase_symbreak.cli._tables import screen_table
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.workflows.screening import open_client, screen
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS

    logging.getLogger("distributed").setLevel(logging.WARNING)
    structures = {f: cubic_perovskite(a, f) for f, a in PEROVSKITES}
    settings = dataclasses.replace(
        DEMO_SETTINGS, max_children=args.max_children, couple=args.couple, plot=False
    )
    root = args.out or tempfile.mkdtemp(prefix="bench_screen_")
    cores = os.cpu_count() or 1
    rows, best = [], {}
    for config in args.configs.split(","):
        n, threads = (int(x) for x in config.lower().split("x"))
        with open_client(workers=n) as (client, _):
            start = time.perf_counter()
            result = screen(
                structures,
                settings,
                None,
                out_dir=os.path.join(root, f"{n}x{threads}"),
                client=client,
                torch_threads=threads,
            )
            wall = time.perf_counter() - start
        best[config] = [(e.name, e.best_child_space_group) for e in result.entries]
        rows.append((n, threads, wall, len(result.entries) - len(result.failed), result))
        print(
            f"{n} worker(s) x {threads} torch thread(s): {wall:.1f} s, "
            f"failed: {[e.name for e in result.failed]}",
            flush=True,
        )

    table = Table(
        title=f"screen of {len(PEROVSKITES)} cubic perovskites, SevenNet-0, {cores} cores, "
        f"couple={args.couple}, max_children={args.max_children}, load {os.getloadavg()[0]:.1f}"
    )
    for col in (
        "workers",
        "torch threads each",
        "wall (s)",
        "structures/hour",
        "speed-up vs first",
        "speed-up vs 1x1",
    ):
        table.add_column(col, justify="right")
    base = rows[0][2]
    serial = next((wall for n, threads, wall, _, _ in rows if (n, threads) == (1, 1)), None)
    for n, threads, wall, done, _ in rows:
        table.add_row(
            str(n),
            str(threads),
            f"{wall:.1f}",
            f"{3600 * done / wall:.1f}",
            f"{base / wall:.2f}",
            "-" if serial is None else f"{serial / wall:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(screen_table(rows[-1][4]))
    same = all(v == next(iter(best.values())) for v in best.values())
    console.print(f"same best children in every configuration: {same}; runs in {root}")


if __name__ == "__main__":
    main()
