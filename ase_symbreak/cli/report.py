"""``ase-symbreak report``: the HTML report of an existing search folder.

A folder that is not a search folder (no ``search.json``) or whose ``search.json`` cannot be
read exits with code 2 and a one-line message; the path of the report is the only output, so
that ``xdg-open "$(ase-symbreak report run/)"`` opens it.
"""

from __future__ import annotations

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

    if not folder.is_dir():
        fail(f"{folder}: not a folder", code=BAD_INPUT)
    if not (folder / "search.json").is_file():
        fail(f"{folder} has no search.json (not a search folder?)", code=BAD_INPUT)
    try:
        path = write_report(folder, tree_plot=tree)
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # malformed result files
        fail(f"the search in {folder} cannot be read: {first_line(err)}", code=BAD_INPUT)
    except OSError as err:
        fail(f"cannot write the report in {folder}: {err.strerror or err}", code=BAD_INPUT)
    typer.echo(str(path))
