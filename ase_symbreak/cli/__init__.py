"""The ``ase-symbreak`` command line: a thin layer over the library.

Every command lives in a module of this package and is listed once, in :data:`COMMANDS`;
:mod:`._common` holds what they share (exit codes, reading inputs, loading the model,
progress bars), :mod:`._tables` the rich tables of the library's results. Nothing outside
this package imports typer or rich.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
from collections.abc import Iterator
from typing import Annotated

import typer

from . import _common

__all__ = ["COMMANDS", "app", "main"]

#: ``(command, "module:function")`` of every command, in the order ``--help`` lists them;
#: modules are relative to this package.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("demo", "demo:demo_command"),
    ("irreps", "symmetry:irreps_command"),
    ("decompose", "symmetry:decompose_command"),
    ("subgroups", "symmetry:subgroups_command"),
    ("explain", "explain:explain_command"),
    ("environments", "environments:environments_command"),
    ("phonons", "phonons:phonons_command"),
    ("search", "search:search_command"),
    ("run", "search:run_command"),
    ("report", "report:report_command"),
    ("verify", "verify:verify_command"),
    ("screen", "screen:screen_command"),
    ("train", "train:train_command"),
)

app = typer.Typer(
    help="Symmetry-aware machine learning for ASE.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the full traceback of an error instead of its one-line message."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress; results, warnings, errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also the library's INFO log lines.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="torch threads (default: the cores minus the machine's load, or "
            "ASE_SYMBREAK_THREADS / OMP_NUM_THREADS when set).",
        ),
    ] = None,
) -> None:
    """ase-symbreak: equivariant calculators with exact Hessians, labelled irreps, distortion
    search.
    """
    _common.set_debug(debug)
    _common.set_verbosity(quiet, verbose)
    if threads is not None or _common.console_script():
        from ase_symbreak.threads import apply_thread_policy

        with _common.exit_on(ValueError, code=_common.BAD_INPUT):
            apply_thread_policy(threads)


def _register(app: typer.Typer, commands: tuple[tuple[str, str], ...]) -> None:
    for name, target in commands:
        module, function = target.split(":")
        app.command(name)(getattr(importlib.import_module(f".{module}", __name__), function))


_register(app, COMMANDS)


def quiet_dependencies() -> None:
    """Keep dependencies' warnings that a user cannot act on off the console script's output
    (deprecations inside torch, spglib, phonopy; Dask's INFO lines).
    """
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*OLD_ERROR_HANDLING.*")
    for name in ("distributed", "phonopy"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM during the console script.

    Not a ``KeyboardInterrupt``, which typer turns into a silent exit 130; not an
    ``Exception``, which the search's steps would record as a failed candidate. It unwinds
    the run like an error, so that ``finally`` blocks (the folder lock) run.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Raise :class:`Interrupted` in this process on SIGINT and SIGTERM (signals ignored at
    start, as under ``nohup``, stay ignored); forked workers keep the default behaviour.
    """
    owner = os.getpid()

    def handler(signum: int, frame) -> None:
        if os.getpid() != owner:  # a forked worker process
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: list[str] | None = None) -> None:
    """The console script: ``app`` with every unexpected error as a one-line message (exit
    :data:`~._common.INTERNAL`), or its traceback under ``--debug``; Ctrl-C and SIGTERM stop
    it with one line saying so (exit 130 and 143), the folder lock released.
    """
    _common.set_console_script(True)
    quiet_dependencies()
    try:
        with _interruptible():
            app(args=argv, standalone_mode=True)
    except SystemExit:
        raise
    except Interrupted as stop:
        _common.report_interrupted(stop.signum)
    except Exception as err:
        if _common.debug_enabled():
            raise
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            _disk_full(err)
        _common.report_unexpected(err)


#: errno of a full disk or an exhausted quota.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_full(err: OSError) -> None:
    """One line for a full disk (exit 2): results are written atomically, so what was
    written is whole and a rerun of a search or screen resumes from its folder.
    """
    from rich.console import Console
    from rich.markup import escape

    where = f" writing {err.filename}" if err.filename else ""
    Console(stderr=True).print(
        "[red]error:[/red] "
        + escape(
            f"no space left on the device{where} ({err.strerror or err}): nothing was left "
            "half-written; free some space and run again (a search or screen resumes from "
            "its folder)"
        ),
        highlight=False,
        soft_wrap=True,
    )
    raise SystemExit(_common.BAD_INPUT)


if __name__ == "__main__":  # pragma: no cover
    main()
