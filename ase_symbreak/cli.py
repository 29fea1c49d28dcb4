"""The ``ase-symbreak`` command line: a thin layer over the library."""

from __future__ import annotations

import typer

app = typer.Typer(help="Symmetry-aware machine learning for ASE.", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """ase-symbreak: equivariant calculators with exact Hessians, labelled irreps, distortion search."""


@app.command()
def demo(
    model: str = typer.Option(None, help="model (default: embedded SevenNet-0)"),
    lattice: float = typer.Option(3.9, help="starting cubic lattice parameter of SrTiO3 (Angstrom)"),
    out: str = typer.Option("results/demo", help="output folder (step JSONs, search.json, CIFs, plot); reruns resume"),
) -> None:
    """The main job: distortion search on cubic SrTiO3 with the embedded default model."""
    from ase_symbreak.workflows.demo import run_search_demo

    run_search_demo(model=model, lattice=lattice, out_dir=out)


def _register_subcommands() -> None:
    from ase_symbreak.phonons_cli import register as register_phonons
    from ase_symbreak.symmetry.cli import register as register_symmetry
    from ase_symbreak.training.cli import register as register_training
    from ase_symbreak.workflows.cli import register as register_workflows

    register_symmetry(app)
    register_phonons(app)
    register_workflows(app)
    register_training(app)


_register_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
