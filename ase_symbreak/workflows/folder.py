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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .records import SCHEMA_VERSION
from .storage import content_hash, write_json

if TYPE_CHECKING:
    from .search_result import SearchResult

__all__ = [
    "RESULT_FILE",
    "SUMMARY_FILE",
    "VERIFY_FILE",
    "load_search",
    "model_label",
    "verification_block",
    "verification_entries",
    "write_search_files",
]

#: The whole record of a search, read back by :func:`load_search`.
RESULT_FILE = "result.json"
#: The summary of a search (``SearchResult.summary()``).
SUMMARY_FILE = "search.json"
#: A second opinion on the search (:func:`~.verify.verify_search`); its short form is the
#: ``verification`` block of ``search.json`` (:func:`verification_block`).
VERIFY_FILE = "verify.json"


def write_search_files(result: SearchResult) -> None:
    """Write ``search.json`` and ``result.json`` into ``result.out_dir`` (atomically);
    ``search.json`` gets the ``verification`` block of the folder's ``verify.json``, if
    any (:func:`~.verify.verification_block`).
    """
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
    summary = result.summary()
    block = verification_block(out, result)  # a second opinion (verify.json), if any
    if block is not None:
        summary["verification"] = block
    write_json(out / SUMMARY_FILE, summary)


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


# ----------------------------------------------------------------------------- verification
def model_label(model: Mapping[str, Any]) -> str:
    """A calculator's short name from its ``storage.model_description``: 'SevenNet-0',
    '7net-mf-0 (PBE)', 'EMT'.
    """
    name = model.get("name") or model.get("model") or model.get("calculator") or "?"
    modality = model.get("modality")
    return f"{name} ({modality})" if modality else str(name)


def verification_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a ``verify.json`` (one per second calculator; a file of one
    verification, as first written, reads as one), checked but not decoded.

    Raises ``ValueError`` saying what is wrong, without the file's name: it does not parse,
    it is not a verification, or it has another schema version.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"does not parse ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError("is not a verification")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"has schema version {data.get('schema_version')!r}, this ase-symbreak "
            f"reads {SCHEMA_VERSION}"
        )
    entries = data.get("verifications")
    if entries is None and "record" in data:  # one verification, as first written
        entries = [data]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError("is not a verification")
    return entries


def verification_block(
    folder: str | os.PathLike, result: SearchResult | None = None
) -> dict[str, Any] | None:
    """The ``verification`` block of ``search.json``, read from ``folder/verify.json`` (None
    when there is none): per second calculator and per verified structure its gain, rank,
    space group after relaxing, stability and what it disagrees on with the search.

    ``result``: the folder's search (None: read with :func:`load_search`). A ``verify.json``
    whose structures are no longer the search's (the search ran again since and its parent
    energy, a verified structure's gain or stability changed, or the structure is gone) gives
    only a note that it is stale; one that cannot be read, a note saying why.
    """
    path = Path(folder) / VERIFY_FILE
    if not path.is_file():
        return None
    try:
        entries = verification_entries(path)
    except ValueError as err:
        return {"file": VERIFY_FILE, "note": f"not read: {VERIFY_FILE} {err}"}
    if result is None:
        try:
            result = load_search(folder)
        except (FileNotFoundError, ValueError):
            result = None
    if result is not None and any(_stale(e, result) for e in entries):
        return {
            "file": VERIFY_FILE,
            "stale": True,
            "note": f"{VERIFY_FILE} was written for an earlier result of this folder (the "
            "search ran again since); run ase-symbreak verify again",
        }
    return {
        "file": VERIFY_FILE,
        "model": model_label(entries[0].get("model_a") or {}) if entries else "",
        "models": [_label_b(e) for e in entries],
        "agrees": all(e.get("agrees") is True for e in entries),
        "by_model": [_short(e) for e in entries],
    }


def _label_b(entry: Mapping[str, Any]) -> str:
    return str(entry.get("name_b") or model_label(entry.get("model_b") or {}))


def _stale(entry: Mapping[str, Any], result: SearchResult) -> bool:
    """Whether the search's side of a verification (``entry``: its summary) is no longer
    what ``result`` says: another parent energy, a structure gone or with another gain or
    stability.
    """

    def differs(a: Any, b: Any) -> bool:
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return True
        return abs(float(a) - float(b)) > 1e-6

    parent = entry.get("parent") or {}
    if differs(parent.get("energy_a_ev_per_fu"), result.parent.energy_per_fu):
        return True
    nodes = {n.index: n for n in result.nodes}
    children = {c.candidate_index: c for c in result.children}
    for s in entry.get("structures") or ():
        if not isinstance(s, Mapping):
            return True
        if s.get("node") is not None:
            n = nodes.get(s["node"])
            if n is None:
                return True
            gain, stable = n.energy_gain_mev_per_fu, n.dynamically_stable
        else:
            index = s.get("candidate_index")
            c = children.get(index) if isinstance(index, int) else None
            if c is None:
                return True
            gain, stable = c.identification.energy_gain_mev_per_fu, None
        if differs(s.get("gain_a_mev_per_fu"), gain) or s.get("stable_a") != stable:
            return True
    return False


def _short(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One second calculator's short form for ``search.json`` (``entry``: its summary in
    ``verify.json``).
    """
    parent = entry.get("parent") or {}
    return {
        "model": _label_b(entry),
        "agrees": entry.get("agrees"),
        "force_constants": entry.get("force_constants_b"),
        "stability_check": entry.get("stability_check"),
        "parent": {
            "space_group": parent.get("space_group"),
            "stable": parent.get("stable_b"),
            "stable_in_search": parent.get("stable_a"),
            "softest": parent.get("softest_b"),
            "disagrees_on": list(parent.get("disagrees_on") or ()),
        },
        "structures": [
            {
                "name": x.get("name"),
                "node": x.get("node"),
                "candidate_index": x.get("candidate_index"),
                "space_group": x.get("space_group_a"),
                "space_group_relaxed": x.get("space_group_b"),
                "gain_in_search_mev_per_fu": x.get("gain_a_mev_per_fu"),
                "gain_mev_per_fu": x.get("gain_b_mev_per_fu"),
                "rank_in_search": x.get("rank_a"),
                "rank": x.get("rank_b"),
                "stable_in_search": x.get("stable_a"),
                "unstable_to_strain_in_search": bool(x.get("strain_unstable_a")),
                "softest_in_search": x.get("softest_a", ""),
                "stable": x.get("stable_b"),
                "softest": x.get("softest_b"),
                "failed": x.get("failed", ""),
                "agrees": not x.get("disagrees_on"),
                "disagrees_on": list(x.get("disagrees_on") or ()),
            }
            for x in entry.get("structures") or ()
            if isinstance(x, Mapping)
        ],
        "disagreements": list(entry.get("disagreements") or ()),
        "notes": list(entry.get("notes") or ()),
    }
