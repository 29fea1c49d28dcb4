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

__all__ = ["register", "search_command", "run_command", "screen_command", "progress_bars", "screen_bars"]


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


def _screen_settings(settings_file: Path | None, overrides: dict):
    """SearchSettings from an optional TOML (a ``[search]`` table, as in recipes) and CLI options."""
    import tomllib

    from .search import SearchSettings

    base: dict = {}
    if settings_file is not None:
        try:
            data = tomllib.loads(settings_file.read_text())
        except OSError as err:
            _fail(f"cannot read settings {settings_file}: {err.strerror or err}", code=2)
        except tomllib.TOMLDecodeError as err:
            _fail(f"malformed TOML in {settings_file}: {err}", code=2)
        base = data.get("search", data)
        if not isinstance(base, dict):
            _fail(f"{settings_file}: [search] must be a table", code=2)
    try:
        return SearchSettings.from_dict({**base, **{k: v for k, v in overrides.items() if v is not None}})
    except (TypeError, ValueError) as err:
        _fail(f"bad search settings: {str(err).splitlines()[0]}", code=2)


@contextlib.contextmanager
def screen_bars(console=None, disable: bool = False):
    """Rich progress bars of a screen (structures, child relaxations); yields the callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=disable) as bar:
        structures = bar.add_task("structures", total=None)
        children = bar.add_task("child relaxations", total=None)

        def progress(done: int, total: int, children_done: int, children_total: int) -> None:
            bar.update(structures, completed=done, total=total)
            bar.update(children, completed=children_done, total=children_total or None)

        yield progress


def screen_command(
    inputs: Annotated[list[Path], typer.Argument(help="Structure files and/or folders of them (any ase.io format).")],
    out: Annotated[Path, typer.Option(help="Output folder: one folder per structure, summary.csv/json; reruns resume.")]
    = Path("screen"),
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786).")] = None,
    workers: Annotated[int | None, typer.Option(help="Workers of a local cluster (default: one per core).")] = None,
    jobqueue: Annotated[Path | None, typer.Option(
        help="dask-jobqueue YAML (SLURM/PBS...), e.g. workflows/jobqueue_slurm.yaml.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Model: name, file or 'module:factory' (default: SevenNet-0).")] = None,
    settings: Annotated[Path | None, typer.Option(
        help="TOML whose search table (as in recipes) holds SearchSettings fields.")] = None,
    supercell: Annotated[tuple[int, int, int] | None, typer.Option(help="Diagonal phonon supercell N1 N2 N3.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Soft-mode threshold, THz (imaginary negative).")] = None,
    max_children: Annotated[int | None, typer.Option(help="Relax at most this many candidates per structure.")] = None,
    fmax: Annotated[float | None, typer.Option(help="Force criterion of the child relaxations, eV/A.")] = None,
    retries: Annotated[int, typer.Option(help="Further tries of a task that failed (not for bad input).")] = 2,
) -> None:
    """Distortion search of many structures on Dask: a summary row per structure; failures fail alone.

    Exit code 0 when every structure is done, 1 when some failed (see summary.csv), 2 for bad options.
    """
    from rich.console import Console

    if sum(x is not None for x in (scheduler, workers, jobqueue)) > 1:
        _fail("give at most one of --scheduler, --workers, --jobqueue", code=2)
    try:
        from .screen import load_jobqueue_config, open_client, read_structures, screen
    except ImportError as err:
        _fail(f"the screen needs Dask ({err.name} is missing): pip install 'ase-symbreak[dask]'", code=2)
    search_settings = _screen_settings(settings, {"supercell": supercell, "threshold_thz": threshold,
                                                  "max_children": max_children, "child_fmax": fmax})
    try:
        structures = read_structures(inputs)
        if jobqueue is not None:
            load_jobqueue_config(jobqueue)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err), code=2)
    console = Console()
    import logging

    logging.getLogger("distributed").setLevel(logging.WARNING)  # keep Dask's INFO lines off the progress bars
    with contextlib.ExitStack() as stack:
        try:
            client, torch_threads = stack.enter_context(open_client(scheduler, workers, jobqueue))
        except (OSError, TimeoutError) as err:
            _fail(f"cannot start or reach the Dask cluster: {err}", code=2)
        console.print(f"screening {len(structures)} structures on {client.scheduler.address}")
        try:
            with screen_bars(console) as progress:
                result = screen(structures, search_settings, model, out_dir=out, client=client,
                                retries=retries, progress=progress, torch_threads=torch_threads)
        except ValueError as err:  # a model the workers cannot load, no structures
            _fail(str(err), code=2)
    console.print(result.table())
    console.print(f"{len(result.entries)} structures in {result.seconds:.1f} s on {result.n_workers} workers; "
                  f"summary in {out}/summary.csv", highlight=False)
    if result.failed:
        console.print(f"{len(result.failed)} of {len(result.entries)} failed:", highlight=False)
        for line in result.errors():
            console.print(f"  {line}", highlight=False, markup=False)
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``search``, ``run`` and ``screen`` to the main app."""
    app.command("search")(search_command)
    app.command("run")(run_command)
    app.command("screen")(screen_command)
