"""A search folder's result files, and :func:`load_search` to read one back.

``search.json`` is the summary people and scripts read (units in the key names,
:meth:`~.search.SearchResult.summary`); ``result.json`` is the whole
:class:`~.search.SearchResult` record (:mod:`ase_symbreak.codec`), from which
:func:`load_search` rebuilds the object the search returned. Both carry
:data:`~.records.SCHEMA_VERSION`; a file of another version is refused with a message that
says what to do, never misread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .records import SCHEMA_VERSION
from .storage import content_hash, write_json

if TYPE_CHECKING:
    from .search_result import SearchResult

__all__ = ["RESULT_FILE", "SUMMARY_FILE", "load_search", "write_search_files"]

#: The whole record of a search, read back by :func:`load_search`.
RESULT_FILE = "result.json"
#: The summary of a search (``SearchResult.summary()``).
SUMMARY_FILE = "search.json"


def write_search_files(result: SearchResult) -> None:
    """Write ``search.json`` and ``result.json`` into ``result.out_dir`` (atomically)."""
    if result.out_dir is None:
        return
    out = Path(result.out_dir)
    record = result.to_dict()
    write_json(
        out / RESULT_FILE,
        {
            "schema_version": SCHEMA_VERSION,
            "content_hash": content_hash(record),
            "result": record,
        },
    )
    write_json(out / SUMMARY_FILE, result.summary())


def load_search(folder: str | os.PathLike) -> SearchResult:
    """The :class:`~ase_symbreak.workflows.search.SearchResult` of a search folder, as the
    search returned it (children, descent nodes, ground state, timings), without computing.

    Raises ``FileNotFoundError`` when ``folder`` holds no search, and ``ValueError`` when its
    result was written by another version of ase-symbreak or was damaged (rerun the search
    on the folder: its finished steps are reused).

    >>> from ase_symbreak import load_search                   # doctest: +SKIP
    >>> result = load_search("SrTiO3_search")                 # doctest: +SKIP
    >>> result.predicted_ground_state.label                    # doctest: +SKIP
    'I4/mcm (140)'
    """
    from .search_result import SearchResult

    folder = Path(folder)
    path = folder / RESULT_FILE
    rerun = f"run the search again with out_dir={str(folder)!r}: its finished steps are reused"
    if not path.exists():
        if (folder / SUMMARY_FILE).exists():
            raise ValueError(
                f"{folder} was written by an older ase-symbreak (no {RESULT_FILE}); {rerun}"
            )
        raise FileNotFoundError(f"no search in {folder} (no {RESULT_FILE})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} does not parse ({type(err).__name__}); {rerun}") from None
    if not isinstance(data, dict) or "result" not in data:
        raise ValueError(f"{path} is not a search result; {rerun}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema version {version!r}, this ase-symbreak reads "
            f"{SCHEMA_VERSION}; {rerun}"
        )
    if content_hash(data["result"]) != data.get("content_hash"):
        raise ValueError(f"{path} does not match its content hash (edited or damaged); {rerun}")
    try:
        result = SearchResult.from_dict(data["result"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ValueError(f"{path} cannot be read ({err}); {rerun}") from None
    import dataclasses

    return dataclasses.replace(result, out_dir=str(folder))
