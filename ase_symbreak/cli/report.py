"""``ase-symbreak report``: the HTML report of an existing search folder.

A folder that is not a search folder (no ``search.json``) or whose ``search.json`` cannot be
read exits with code 2 and a one-line message; the path of the report is the only output, so
that ``xdg-open "$(ase-symbreak report run/)"`` opens it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Annotated

import typer

from ._common import BAD_INPUT, fail

__all__ = ["report_command"]


def report_command(
    folder: Annotated[Path, typer.Argument(help="Search folder (holds search.json).")],
    tree: Annotated[
        bool,
        typer.Option(
            "--tree/--no-tree", help="Draw the family tree picture (--no-tree: as text only)."
        ),
    ] = True,
) -> None:
    """Write FOLDER/report.html (soft modes, ranked children, descent, pictures) and print \
its path.
    """
    from ase_symbreak.errors import first_line
    from ase_symbreak.workflows.html_report import write_report

    for path in (folder, folder / "search.json"):
        if _link_loop(path):
            fail(f"{path} is a symbolic link loop (or a link to nothing)", code=BAD_INPUT)
    if not folder.is_dir():
        fail(f"{folder}: not a folder", code=BAD_INPUT)
    if not (folder / "search.json").is_file():
        fail(f"{folder} has no search.json (not a search folder?)", code=BAD_INPUT)
    try:
        path = write_report(folder, tree_plot=tree)
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # malformed result files
        fail(f"the search in {folder} cannot be read: {first_line(err)}", code=BAD_INPUT)
    except RuntimeError as err:  # pathlib's resolve() on a symbolic link loop (Python < 3.13)
        if "Symlink loop" not in str(err):
            raise
        fail(f"cannot write the report in {folder}: {_loop_text(err)}", code=BAD_INPUT)
    except OSError as err:
        if err.errno == errno.ELOOP:
            fail(f"cannot write the report in {folder}: {_loop_text(err)}", code=BAD_INPUT)
        fail(f"cannot write the report in {folder}: {err.strerror or err}", code=BAD_INPUT)
    typer.echo(str(path))


def _link_loop(path: Path) -> bool:
    """Whether ``path`` is a symbolic link that leads nowhere (a loop, or a missing target)."""
    return path.is_symlink() and not os.path.exists(path)


def _loop_text(err: BaseException) -> str:
    """'symbolic link loop at PATH' from pathlib's RuntimeError or an ELOOP OSError."""
    where = getattr(err, "filename", None) or str(err).partition(" from ")[2].strip("'")
    return f"symbolic link loop at {where}" if where else "a symbolic link loop"
