"""The ``ase-symbreak`` command line: a thin layer over the library."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Symmetry-aware machine learning for ASE.", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """ase-symbreak: equivariant calculators with exact Hessians, labelled irreps, distortion search."""


@app.command()
def demo(
    model: str = typer.Option(None, help="model (default: embedded SevenNet-0)"),
    lattice: float = typer.Option(3.9, help="cubic lattice parameter of SrTiO3 (Angstrom)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Energy, stress and the lowest Hessian eigenvalues of cubic SrTiO3 (the main job for now)."""
    from ase_symbreak.demo import run_demo

    result = run_demo(model=model, lattice=lattice)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from ase_symbreak.demo import print_demo

    print_demo(result)


def _register_subcommands() -> None:
    from ase_symbreak.phonons_cli import register as register_phonons
    from ase_symbreak.symmetry.cli import register as register_symmetry

    register_symmetry(app)
    register_phonons(app)


_register_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
