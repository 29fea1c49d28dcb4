"""What the commands share: the exit-code policy, reading inputs, loading the model, progress, JSON.

Exit codes: :data:`BAD_INPUT` (2) for input files that cannot be read or are malformed, bad
options and a model that cannot be loaded; :data:`REJECTED` (1) for input the analysis
rejects (a :class:`ValueError` of the library, e.g. a P1 parent). Errors are one line on
stderr, ``error: MESSAGE``, never a traceback; any other error is :data:`INTERNAL` (3) with
one line too. ``ase-symbreak --debug COMMAND`` shows tracebacks instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ase_symbreak.errors import first_line

if TYPE_CHECKING:
    from ase import Atoms

    from ._calculator import CommandCalculator

__all__ = [
    "BAD_INPUT",
    "INTERNAL",
    "REJECTED",
    "check_supercell_atoms",
    "echo_json",
    "exit_on",
    "fail",
    "hessian_bar",
    "load_calculator",
    "progress_bars",
    "read_structure",
    "screen_bars",
]

#: Input rejected by the analysis (a ``ValueError`` of the library).
REJECTED = 1
#: Unreadable or malformed input files, bad options, a model that cannot be loaded.
BAD_INPUT = 2
#: An error that is not one of the above: a bug to report (traceback with ``--debug``).
INTERNAL = 3

_DEBUG = False
_CONSOLE_SCRIPT = False
_QUIET = False


def set_verbosity(quiet: bool, verbose: bool) -> None:
    """``--quiet``: no progress, warnings and errors only; ``--verbose``: INFO log lines of
    the library (thread policy, loaded steps, ...); default: warnings of the library.
    """
    import logging

    global _QUIET
    _QUIET = bool(quiet)
    level = logging.INFO if verbose else logging.WARNING
    logger = logging.getLogger("ase_symbreak")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """A log handler that writes to whatever ``sys.stderr`` is when a record comes (not the
    stream of the moment it was made, which a test runner may have closed since).
    """

    @property
    def stream(self):
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def set_console_script(enabled: bool) -> None:
    """Mark a run of the console script (:func:`ase_symbreak.cli.main`): it applies the
    thread policy (:mod:`ase_symbreak.threads`); an embedding program keeps its own threads.
    """
    global _CONSOLE_SCRIPT
    _CONSOLE_SCRIPT = bool(enabled)


def console_script() -> bool:
    """Whether this is a run of the console script."""
    return _CONSOLE_SCRIPT


def set_debug(enabled: bool) -> None:
    """``--debug``: errors show their traceback instead of one line."""
    global _DEBUG
    _DEBUG = bool(enabled)


def debug_enabled() -> bool:
    """Whether ``--debug`` was given."""
    return _DEBUG


def report_unexpected(err: BaseException) -> NoReturn:
    """One line for an error nobody anticipated, pointing to ``--debug``; exits 3."""
    Console(stderr=True).print(
        f"[red]error:[/red] unexpected {type(err).__name__}: {escape(first_line(err))} "
        "(run again with --debug for the traceback, and please report it)",
        highlight=False,
        soft_wrap=True,
    )
    raise SystemExit(INTERNAL)


def report_interrupted(signum: int) -> NoReturn:
    """One line for Ctrl-C (SIGINT) or SIGTERM; exits ``128 + signum`` (130, 143)."""
    import signal

    how = "interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)"
    Console(stderr=True).print(
        f"[red]error:[/red] {how}: the work finished so far is kept; a search or screen "
        "resumes from its folder when run again",
        highlight=False,
        soft_wrap=True,
    )
    raise SystemExit(128 + signum)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    Console(stderr=True).print(
        f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=code)


@contextlib.contextmanager
def exit_on(*errors: type[BaseException], code: int, prefix: str = "") -> Iterator[None]:
    """``with exit_on(ValueError, code=REJECTED):`` turns those errors into :func:`fail`.

    The message is ``prefix`` followed by the error's text.
    """
    try:
        yield
    except errors as err:
        if _DEBUG:
            raise
        fail(prefix + str(err), code)


def read_structure(path: Path) -> Atoms:
    """One structure (:func:`ase_symbreak.structures.read_structure`); exit 2 naming the file,
    also for more atoms than :func:`ase_symbreak.validation.max_atoms` (checked before any work).
    """
    from ase_symbreak.structures import read_structure as read
    from ase_symbreak.validation import check_atom_count

    with exit_on(ValueError, code=BAD_INPUT):
        atoms = read(path)
        check_atom_count(len(atoms), what=str(path))
        return atoms


def check_supercell_atoms(atoms: Atoms, supercell: Any, what: str = "--supercell") -> int:
    """The atoms of ``atoms`` repeated by ``supercell`` (3 integers or a 3x3 matrix); exit 2,
    before any work, when that is more than :func:`ase_symbreak.validation.max_atoms` (the
    message names the limit and ``ASE_SYMBREAK_MAX_ATOMS``).
    """
    import numpy as np

    from ase_symbreak.validation import check_atom_count

    matrix = np.asarray(supercell, dtype=float)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape == (3, 3) and np.count_nonzero(matrix - np.diag(np.diag(matrix))) == 0:
        shown = " ".join(f"{x:g}" for x in np.diag(matrix))
    else:
        shown = str(matrix.astype(int).tolist())
    cells = abs(round(float(np.linalg.det(matrix))))
    with exit_on(ValueError, code=BAD_INPUT):
        return check_atom_count(len(atoms) * cells, what=f"{what} {shown}")


def check_model_name(model: str | None, allow_code: bool) -> None:
    """Exit 2 when ``--model`` is an import path and ``--allow-code-models`` was not given."""
    from ase_symbreak.models.registry import is_import_path

    if is_import_path(model) and not allow_code:
        fail(
            f"--model {model} is an import path, which imports and runs code; "
            "pass --allow-code-models to use it",
            code=BAD_INPUT,
        )


def load_calculator(
    model: str | None,
    device: str = "cpu",
    allow_code: bool = False,
    hessian_dtype: str = "float64",
) -> CommandCalculator | Any:
    """The calculator of ``--model`` (None: SevenNet-0) on ``--device``; exit 2, in one line,
    when it cannot be loaded (unknown model, no GPU for ``cuda``, an import path without
    ``--allow-code-models``, a missing optional package, a factory that returns no calculator).

    Any ASE calculator that ``--model`` names comes first
    (:func:`~ase_symbreak.workflows.calcspec.other_calculator`: a calculator factory by import
    path, a model file of another package); its force constants come from finite
    displacements unless it has an exact Hessian. Otherwise one of our models, with Hessians
    in ``--hessian-dtype``, in a :class:`~._calculator.CommandCalculator`, which also refuses
    periodic structures with atoms out of the model's reach.
    """
    from ase_symbreak.workflows.calcspec import other_calculator

    from ._calculator import CommandCalculator

    check_model_name(model, allow_code)
    if hessian_dtype not in ("float64", "float32"):
        fail(f"--hessian-dtype must be float64 or float32, got {hessian_dtype!r}", code=BAD_INPUT)
    try:
        other = other_calculator(model, device)
    except Exception as exc:  # MissingPackageError, no such attribute, not a calculator, ...
        fail(f"cannot load model {model}: {first_line(exc)}", code=BAD_INPUT)
    if other is not None:
        return other
    try:
        return CommandCalculator(model=model, device=device, hessian_dtype=hessian_dtype)
    except Exception as exc:  # missing file, wrong format, ModelFileError, ...
        fail(f"cannot load model {model or 'SevenNet-0'}: {first_line(exc)}", code=BAD_INPUT)


AllowCodeOption = Annotated[
    bool,
    typer.Option(
        "--allow-code-models",
        help="Allow --model (or a recipe's model) to be an import path package.module:Class "
        "(that imports and runs code).",
    ),
]


def writable_folder(path: Path, option: str) -> Path:
    """Exit 2, saying why, unless ``path`` is (or could be created as) a writable folder.

    Nothing is left behind: a missing folder is created to try and removed again.
    """
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: is a file, not a folder", code=BAD_INPUT)
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{option} {path}: {existing} is a file, not a folder", code=BAD_INPUT)
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{option} {path}: {existing} is not writable", code=BAD_INPUT)
    if not path.exists():  # try it (permissions alone do not tell, e.g. as root or in /proc)
        try:
            path.mkdir(parents=True)
        except OSError as err:
            fail(f"{option} {path}: cannot create it ({err.strerror or err})", code=BAD_INPUT)
        created = path.absolute()
        while created != existing:  # leave nothing behind
            created.rmdir()
            created = created.parent
    return path


DeviceOption = Annotated[
    str, typer.Option(help="Torch device of the model: cpu (default), cuda or cuda:N.")
]

HessianDtypeOption = Annotated[
    str,
    typer.Option(
        help="float64 (default) or float32: precision of the exact Hessian-vector products "
        "(force constants are always accumulated in float64). float32: 1.2-1.6x faster, "
        "force constants within about 4e-5 eV/A^2 of float64 for SevenNet-0.",
    ),
]


def echo_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout."""
    typer.echo(json.dumps(obj, indent=2))


class LineProgress:
    """Progress as plain lines for a console that is not a terminal (a pipe, a log file):
    ``step: done/total (12 s)``, printed when a task starts, finishes, or every
    ``interval`` seconds; the same ``add_task`` / ``update`` as rich's :class:`Progress`.
    """

    def __init__(self, description: str, console: Console | None, interval: float = 5.0):
        import time

        self._clock = time.monotonic
        self.console = console or Console()
        self.interval = interval
        self.tasks: dict[TaskID, dict[str, Any]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: int | None = None) -> TaskID:
        task = TaskID(len(self.tasks))
        self.tasks[task] = {
            "description": description,
            "total": total,
            "done": None,
            "printed": -1e300,
            "start": self._clock(),
        }
        return task

    def update(self, task: TaskID, completed: int, total: int | None = None) -> None:
        t = self.tasks[task]
        t["total"] = total
        now = self._clock()
        finished = total is not None and completed >= total
        if completed == t["done"]:
            return
        first = t["done"] is None
        t["done"] = completed
        if first or finished or now - t["printed"] >= self.interval:
            count = f"{completed}/{total}" if total else f"{completed}"
            self.console.print(
                f"{t['description']}: {count} ({now - t['start']:.0f} s)",
                highlight=False,
                markup=False,
            )
            self.console.file.flush()
            t["printed"] = now


def _bars(
    description: str, console: Console | None, disable: bool, transient: bool = False
) -> Progress | LineProgress:
    console = console or Console()
    if not disable and not _QUIET and not console.is_terminal:
        return LineProgress(description, console)
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable or _QUIET,
        transient=transient,
    )


@contextlib.contextmanager
def progress_bars(
    console: Console | None = None, disable: bool = False
) -> Iterator[Callable[[str, int, int | None], None]]:
    """Rich progress bars, one per search step; yields ``progress(step, done, total)``."""
    with _bars("{task.description:<15}", console, disable) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield progress


@contextlib.contextmanager
def screen_bars(
    console: Console | None = None, disable: bool = False
) -> Iterator[Callable[[int, int, int, int], None]]:
    """Rich progress bars of a screen (structures, child relaxations); yields the callback."""
    with _bars("{task.description:<18}", console, disable) as bar:
        structures = bar.add_task("structures", total=None)
        children = bar.add_task("child relaxations", total=None)

        def progress(done: int, total: int, children_done: int, children_total: int) -> None:
            bar.update(structures, completed=done, total=total)
            bar.update(children, completed=children_done, total=children_total or None)

        yield progress


@contextlib.contextmanager
def hessian_bar(
    console: Console | None = None, disable: bool = False, what: str = "exact Hessian rows"
) -> Iterator[Callable[[int, int], None]]:
    """A transient bar over the force constants' work (``what``: the exact Hessian's rows,
    or the force calculations of finite displacements); yields ``progress(done, total)``.
    """
    with _bars("{task.description}", console, disable, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
