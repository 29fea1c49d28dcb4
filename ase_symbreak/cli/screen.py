"""``ase-symbreak screen``: the distortion search of many structures on Dask.

A summary row per structure; a structure that fails fails alone (exit code 1 when some
did). Bad options, settings or cluster configuration and a model the workers cannot load
exit with code 2.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import BAD_INPUT, AllowCodeOption, check_model_name, exit_on, fail, screen_bars

if TYPE_CHECKING:
    from ase_symbreak.workflows.search import SearchSettings

__all__ = ["screen_command"]


#: A Dask scheduler address: ``[protocol://]host[:port]``.
_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[A-Za-z0-9_.\-\[\]:]+$")


def _check_cluster_options(scheduler: str | None, workers: int | None) -> None:
    """Exit 2 for a ``--scheduler`` that is not an address or ``--workers`` out of 1..cores
    (0 or -1 would wait for workers that never come; more than the cores overload the machine
    with model copies: use --scheduler or --jobqueue for more).
    """
    import os

    if sum(x is not None for x in (scheduler, workers)) > 1:
        return  # the caller says: at most one
    if scheduler is not None and not _ADDRESS.match(scheduler):
        fail(
            f"--scheduler {scheduler!r} is not a Dask scheduler address "
            "(tcp://host:8786 or host:8786)",
            code=BAD_INPUT,
        )
    cores = os.cpu_count() or 1
    if workers is not None and not 1 <= workers <= cores:
        fail(
            f"--workers must be between 1 and the machine's {cores} cores, got {workers} "
            "(--scheduler or --jobqueue run more workers on a cluster)",
            code=BAD_INPUT,
        )


def _screen_settings(settings_file: Path | None, overrides: dict) -> SearchSettings:
    """SearchSettings from an optional TOML (a ``[search]`` table, as in recipes) and options;
    sizes are bounded as in recipes (:func:`~ase_symbreak.workflows.recipe.check_search_sizes`).
    """
    from ase_symbreak.errors import first_line
    from ase_symbreak.tomlfile import TomlFileError, read_toml
    from ase_symbreak.workflows.recipe import check_search_sizes
    from ase_symbreak.workflows.search import SearchSettings

    base: dict = {}
    if settings_file is not None:
        with exit_on(TomlFileError, code=BAD_INPUT):
            data = read_toml(settings_file, "settings")
        base = data.get("search", data)
        if not isinstance(base, dict):
            fail(f"{settings_file}: [search] must be a table", code=BAD_INPUT)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "supercell" in given:
        given["supercell"] = list(given["supercell"])
    with exit_on(ValueError, code=BAD_INPUT, prefix="bad search settings: "):
        check_search_sizes({**base, **given})
    try:
        return SearchSettings.from_dict({**base, **given})
    except (TypeError, ValueError) as err:
        fail(f"bad search settings: {first_line(err)}", code=BAD_INPUT)


def screen_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Structure files and/or folders of them (any ase.io format)."),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder: one folder per structure, summary.csv/json; reruns resume."
        ),
    ] = Path("screen"),
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (tcp://host:8786).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Workers of a local cluster (default: one per core).")
    ] = None,
    jobqueue: Annotated[
        Path | None,
        typer.Option(help="dask-jobqueue YAML (SLURM/PBS...), e.g. recipes/jobqueue_slurm.yaml."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model: name, file or 'module:Class' (with --allow-code-models; "
            "default: SevenNet-0)."
        ),
    ] = None,
    allow_code_models: AllowCodeOption = False,
    settings: Annotated[
        Path | None,
        typer.Option(help="TOML whose search table (as in recipes) holds SearchSettings fields."),
    ] = None,
    supercell: Annotated[
        tuple[int, int, int] | None, typer.Option(help="Diagonal phonon supercell N1 N2 N3.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Soft-mode threshold, THz (imaginary negative).")
    ] = None,
    max_children: Annotated[
        int | None,
        typer.Option(help="Relax at most this many coupled-pair candidates per structure."),
    ] = None,
    max_depth: Annotated[
        int | None,
        typer.Option(help="Descent depth per structure (0: one level; default 3)."),
    ] = None,
    fmax: Annotated[
        float | None, typer.Option(help="Force criterion of the child relaxations, eV/A.")
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Further tries of a task that failed (not for bad input).")
    ] = 2,
) -> None:
    """Distortion search of many structures on Dask: a summary row per structure; \
failures fail alone.

    Exit code 0 when every structure is done, 1 when some failed (see summary.csv), \
2 for bad options.
    """
    from rich.console import Console

    if sum(x is not None for x in (scheduler, workers, jobqueue)) > 1:
        fail("give at most one of --scheduler, --workers, --jobqueue", code=BAD_INPUT)
    _check_cluster_options(scheduler, workers)
    api = _screening_api()
    options = {
        "supercell": supercell,
        "threshold_thz": threshold,
        "max_children": max_children,
        "max_depth": max_depth,
        "child_fmax": fmax,
    }
    search_settings = _screen_settings(settings, options)
    check_model_name(model, allow_code_models)
    structures = _read_inputs(api, inputs, out, jobqueue)
    console = Console()
    cluster = _Cluster(scheduler, workers, jobqueue)
    result = _run_screen(api, console, cluster, structures, search_settings, model, out, retries)
    _print_summary(console, result, out)


def _screening_api() -> _ScreeningApi:
    """The Dask side of the screen; exits with what to install when Dask is missing."""
    try:
        from ase_symbreak.workflows.screening import (
            load_jobqueue_config,
            open_client,
            read_structures,
            screen,
        )
    except ImportError as err:
        fail(
            f"the screen needs Dask ({err.name} is missing): pip install 'ase-symbreak[dask]'",
            code=BAD_INPUT,
        )
    return _ScreeningApi(load_jobqueue_config, open_client, read_structures, screen)


@dataclass(frozen=True)
class _ScreeningApi:
    """Functions of :mod:`ase_symbreak.workflows.screening` (imported only when needed)."""

    load_jobqueue_config: Callable
    open_client: Callable
    read_structures: Callable
    screen: Callable


@dataclass(frozen=True)
class _Cluster:
    """Where to run: at most one of a scheduler address, local workers, a jobqueue YAML."""

    scheduler: str | None
    workers: int | None
    jobqueue: Path | None


def _read_inputs(api: _ScreeningApi, inputs: list[Path], out: Path, jobqueue: Path | None):
    """Structures of ``inputs`` once ``out`` is checked unlocked; loads the jobqueue YAML."""
    from .search import check_unlocked

    check_unlocked(out)
    with exit_on(FileNotFoundError, ValueError, code=BAD_INPUT):
        structures = api.read_structures(inputs)
        if jobqueue is not None:
            api.load_jobqueue_config(jobqueue)
    return structures


def _run_screen(
    api: _ScreeningApi,
    console,
    cluster: _Cluster,
    structures,
    search_settings: SearchSettings,
    model: str | None,
    out: Path,
    retries: int,
):
    """Open the Dask client and screen ``structures`` with progress bars; the result."""
    import logging

    from ase_symbreak.workflows.storage import FolderLocked

    # keep Dask's INFO lines off the progress bars
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        with exit_on(
            OSError,
            TimeoutError,
            ValueError,
            code=BAD_INPUT,
            prefix="cannot start or reach the Dask cluster: ",
        ):
            client, torch_threads = stack.enter_context(
                api.open_client(cluster.scheduler, cluster.workers, cluster.jobqueue)
            )
        console.print(f"screening {len(structures)} structures on {client.scheduler.address}")
        # a model the workers cannot load, no structures
        with (
            exit_on(FolderLocked, ValueError, code=BAD_INPUT),
            screen_bars(console) as progress,
        ):
            return api.screen(
                structures,
                search_settings,
                model,
                out_dir=out,
                client=client,
                retries=retries,
                progress=progress,
                torch_threads=torch_threads,
            )


def _print_summary(console, result, out: Path) -> None:
    """The summary table and totals; exit code 1 when some structures failed."""
    from ._tables import screen_table

    console.print(screen_table(result))
    console.print(
        f"{len(result.entries)} structures in {result.seconds:.1f} s on "
        f"{result.n_workers} workers; summary in {out}/summary.csv",
        highlight=False,
    )
    if result.failed:
        console.print(f"{len(result.failed)} of {len(result.entries)} failed:", highlight=False)
        for line in result.errors():
            console.print(f"  {line}", highlight=False, markup=False)
        raise typer.Exit(code=1)  # some structures failed
