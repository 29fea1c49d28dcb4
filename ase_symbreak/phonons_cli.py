"""Command-line layer for labelled phonons: ``ase-symbreak phonons STRUCTURE``.

Reads the structure with :func:`ase.io.read` (a file that cannot be read exits with code 2
and a one-line message), computes the force constants from the model's exact Hessian with
a progress bar over the Hessian rows, and prints the labelled modes
(:func:`ase_symbreak.phonons.labelled_modes`) as a rich table or, with ``--json``, JSON.
A rejected input (:class:`ValueError`, e.g. a singular supercell matrix or an element the
model does not know) exits with code 1; a model file that cannot be loaded exits with code 2.

Use :func:`register` to add the command to the package's main typer app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ase_symbreak.symmetry.cli import _fail, read_structure

__all__ = ["phonons_command", "register"]


def phonons_command(
    structure: Annotated[Path, typer.Argument(help="High-symmetry structure file (any ase.io format).")],
    supercell: Annotated[
        tuple[int, int, int], typer.Option(help="Diagonal supercell N1 N2 N3; modes at every commensurate q.")
    ] = (2, 2, 2),
    origin: Annotated[
        int | None, typer.Option(help="Atom index put at the origin for the labels (default: B site of a perovskite).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model: .safetensors file, sevenn .pth or name (default: embedded SevenNet-0).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Also plot the band structure with irrep labels (.png or .pdf).")
    ] = None,
) -> None:
    """Phonon modes at Gamma and every commensurate q, labelled by irrep (exact Hessian)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ase_symbreak.phonons import labelled_modes, phonopy_from_calculator, plot_band_structure

    atoms = read_structure(structure)
    if any(n < 1 for n in supercell):
        _fail(f"--supercell entries must be positive integers, got {list(supercell)}", code=2)
    calc = _load_calculator(model)
    err = Console(stderr=True)
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True, disable=as_json and not err.is_terminal,
        ) as bar:
            task = bar.add_task("exact Hessian rows", total=None)
            phonon = phonopy_from_calculator(
                atoms, calc, supercell,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        modes = labelled_modes(atoms, phonon, supercell, origin_index=origin)
    except ValueError as exc:
        _fail(str(exc), code=1)
    if plot is not None:
        plot_band_structure(phonon, modes, plot, title=f"{atoms.get_chemical_formula()} ({structure.name})")
    if as_json:
        typer.echo(json.dumps(modes.to_dict(), indent=2))
        return
    console = Console()
    console.print(modes.table(title=f"{structure.name}: phonon modes, supercell {list(supercell)}, "
                                    f"origin atom {modes.origin_index} ({atoms[modes.origin_index].symbol})"))
    unstable = modes.unstable()
    if unstable:
        console.print("unstable: " + ", ".join(f"{m.q_label} {m.irrep} ({abs(m.frequency_thz):.2f}i THz)" for m in unstable))
    if plot is not None:
        console.print(f"band structure written to {plot}")


def _load_calculator(model: str | None):
    from ase_symbreak.calculator import SymBreakCalculator

    try:
        return SymBreakCalculator(model=model)
    except Exception as exc:  # missing file, wrong format, ModelFileError, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"cannot load model {model}: {reason}", code=2)


def register(app: typer.Typer) -> None:
    """Add the ``phonons`` command to ``app``."""
    app.command("phonons")(phonons_command)
