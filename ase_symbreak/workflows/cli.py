"""Command line of the distortion search: ``ase-symbreak search`` and ``ase-symbreak run``.

Both are thin layers over :func:`ase_symbreak.workflows.distortion_search`. An unreadable
structure, a malformed recipe or a model that cannot be loaded exits with code 2 and a
one-line message; a rejected input (P1 structure, incompatible supercell) exits with code 1.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "search_command", "run_command", "progress_bars"]


@contextlib.contextmanager
def progress_bars(console=None, disable: bool = False):
    """Rich progress bars, one per search step; yields a ``progress(step, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=disable) as bar:
        tasks: dict[str, int] = {}

        def progress(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield progress


def _fail(message: str, code: int) -> None:
    from ase_symbreak.symmetry.cli import _fail as fail

    fail(message, code)


def _calculator(model: str | None):
    from ase_symbreak.calculator import SymBreakCalculator

    try:
        return SymBreakCalculator(model=model)
    except Exception as exc:  # missing file, wrong format, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"cannot load model {model}: {reason}", code=2)


def _run_search(atoms, model, settings, out_dir: Path) -> None:
    from rich.console import Console

    from .demo import print_result
    from .search import distortion_search

    from .steps import check_parent

    console = Console()
    try:  # reject bad inputs before loading the model
        check_parent(atoms, settings.symprec)
    except ValueError as err:
        _fail(str(err), code=1)
    calc = _calculator(model)
    import time

    start = time.perf_counter()
    try:
        with progress_bars(console) as progress:
            result = distortion_search(atoms, calc, settings, out_dir=out_dir, progress=progress)
    except ValueError as err:
        _fail(str(err), code=1)
    print_result(result, console, seconds=time.perf_counter() - start)


def search_command(
    structure: Annotated[Path, typer.Argument(help="High-symmetry parent structure (any ase.io format).")],
    supercell: Annotated[tuple[int, int, int], typer.Option(help="Diagonal phonon supercell N1 N2 N3.")] = (2, 2, 2),
    model: Annotated[str | None, typer.Option(help="Model: name, .safetensors or .pth (default: SevenNet-0).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder (JSON per step, CIFs, plots; reruns resume).")] = Path("search"),
    threshold: Annotated[float, typer.Option(help="Soft-mode threshold, THz (imaginary negative).")] = -0.1,
    max_children: Annotated[int, typer.Option(help="Relax at most this many candidates.")] = 8,
    fmax: Annotated[float, typer.Option(help="Force criterion of the child relaxations, eV/A.")] = 5e-3,
    no_couple: Annotated[bool, typer.Option("--no-couple", help="Do not condense pairs of soft irreps.")] = False,
) -> None:
    """Distortion search: soft phonons -> isotropy subgroups -> relaxed children, ranked, with a family tree."""
    from ase_symbreak.symmetry.cli import read_structure

    from .search import SearchSettings

    atoms = read_structure(structure)
    try:
        settings = SearchSettings(supercell=supercell, threshold_thz=threshold, max_children=max_children,
                                  child_fmax=fmax, couple=not no_couple)
    except ValueError as err:
        _fail(str(err), code=1)
    _run_search(atoms, model, settings, out)


def run_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe (TOML), e.g. workflows/srtio3_search.toml.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the recipe's [output] dir).")] = None,
) -> None:
    """Run a distortion-search recipe (TOML): structure, model, supercell, thresholds, steps."""
    from .recipe import RecipeError, load_recipe

    try:
        r = load_recipe(recipe)
    except RecipeError as err:
        _fail(str(err), code=2)
    _run_search(r.structure, r.model, r.settings, out or r.out_dir)


def register(app: typer.Typer) -> None:
    """Add ``search`` and ``run`` to the main app."""
    app.command("search")(search_command)
    app.command("run")(run_command)
