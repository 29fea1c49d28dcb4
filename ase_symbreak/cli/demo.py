"""``ase-symbreak demo``: the search of :mod:`ase_symbreak.workflows.srtio3_demo`, printed."""

from __future__ import annotations

import typer

from .search import search_and_print

__all__ = ["demo_command"]


def demo_command(
    model: str = typer.Option(None, help="model (default: embedded SevenNet-0)"),
    lattice: float = typer.Option(
        3.9, help="starting cubic lattice parameter of SrTiO3 (Angstrom)"
    ),
    out: str = typer.Option(
        "results/demo", help="output folder (step JSONs, search.json, CIFs, plot); reruns resume"
    ),
) -> None:
    """The main job: distortion search on cubic SrTiO3 with the embedded default model."""
    from ase_symbreak.workflows.srtio3_demo import run_search_demo

    def search(calc, progress):
        return run_search_demo(calc, lattice, out_dir=out, progress=progress)

    search_and_print(search, model)
