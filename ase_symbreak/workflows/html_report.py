"""``report.html``: one self-contained page of a finished distortion search.

:func:`write_report` reads a search folder's ``search.json`` and writes ``report.html`` beside
it: the parent, model and settings, the soft modes, the ranked children (with links to their
CIF and POSCAR files), the descent and its predicted ground state, the family tree picture
(:func:`~.tree_plot.plot_family_tree`, also kept as ``family_tree.png``) and the phonon band
plots of the parent and of every descent node. Pictures are embedded as base64 PNGs and the
style is inline: the page needs no network, no script and no other file (the structure
links point to the files in the folder). Every text from the JSON is HTML-escaped.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ase_symbreak import htmlpage
from ase_symbreak.errors import first_line

from .storage import write_text
from .tree_plot import condensed_label, group_label, plot_family_tree, read_search_json

if TYPE_CHECKING:
    from .search_result import SearchResult

log = logging.getLogger(__name__)

__all__ = ["REPORT_NAME", "TREE_IMAGE", "render_report", "write_report", "write_report_safely"]

#: File name of the report in the search folder.
REPORT_NAME = "report.html"
#: File name of the family-tree picture the report writes and embeds.
TREE_IMAGE = "family_tree.png"
#: Band plot of a search (``steps.phonons``), in the folder of each search of the descent.
BANDS_IMAGE = "phonon_bands.png"
PNG_MAGIC = htmlpage.PNG_MAGIC
Cell = htmlpage.Cell
_e = htmlpage.escape
_num = htmlpage.number
_table = htmlpage.table
_png_img = htmlpage.png_img
_figure = htmlpage.figure


def _inside(folder: Path, rel: Any) -> Path | None:
    """The existing file ``folder/rel`` when ``rel`` is a relative path inside ``folder``."""
    if not isinstance(rel, str) or not rel or os.path.isabs(rel):
        return None
    path = (folder / rel).resolve()
    root = folder.resolve()
    if path != root and root not in path.parents:
        return None
    return path if path.is_file() else None


def _link(folder: Path, rel: Any, text: str | None = None) -> str:
    """A link to a structure file of the search, or its name greyed out when it is missing."""
    if rel is None:
        return ""
    shown = _e(text or Path(str(rel)).name)
    if _inside(folder, rel) is None:
        return f'<span class="missing" title="file not found">{shown}</span>'
    href = _e(quote(Path(rel).as_posix()))
    return f'<a href="{href}">{shown}</a>'


def _files(folder: Path, entry: Mapping[str, Any]) -> str:
    """Links to the CIF and POSCAR of a child entry."""
    cif, poscar = entry.get("cif"), entry.get("poscar")
    links = [_link(folder, cif, "CIF") if cif else "", _link(folder, poscar, "POSCAR")]
    return " ".join(x for x in links if x)


def _stability(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(CSS class, text) of a child's or node's dynamical stability."""
    stable = entry.get("dynamically_stable")
    soft = entry.get("softest_mode") or {}
    status = str(entry.get("status") or "")
    follow = entry.get("off_grid_follow") or {}
    if stable is True and follow.get("short"):  # what the follow-up found, as the CLI says
        css = "caution" if str(follow.get("outcome")) == "not checked" else "stable"
        return css, f"yes ({follow['short']})"
    if stable is True:
        off = entry.get("off_grid") or {}
        if off.get("min_frequency_thz") is not None:  # the same caveat as the CLI's
            return "caution", f"yes (off grid {_num(off['min_frequency_thz'], '.2f')} THz?)"
        return "stable", "yes"
    if stable is False:
        if status and not status.startswith(("searched", "depth limit")):
            return "unstable", f"no ({status})"  # e.g. unstable to strain, with its reason
        detail = ""
        if soft:
            detail = f" ({soft.get('irrep', '?')} {_num(soft.get('frequency_thz'), '.2f')} THz)"
        return "unstable", "no" + detail
    return "", f"not checked ({status})" if status else "not checked"


def _model_name(data: Mapping[str, Any]) -> str | None:
    model = data.get("model") or {}
    return model.get("name") or model.get("model")


def _model_text(data: Mapping[str, Any]) -> str:
    """``'SevenNet-0 (modality: ..., dtype: float32)'`` from the ``model`` entry."""
    model = data.get("model") or {}
    rest = {k: v for k, v in model.items() if k not in ("model", "name")}
    if model.get("name") and model.get("model"):  # the name first, then the class
        rest = {"class": model["model"], **rest}
    details = ", ".join(f"{k}: {v}" for k, v in rest.items())
    name = _model_name(data) or "unknown model"
    return f"{name} ({details})" if details else str(name)


def _title(data: Mapping[str, Any]) -> str:
    p = data.get("parent") or {}
    name = _model_name(data)
    model = f" with {name}" if name else ""
    return f"{p.get('formula', '?')} {group_label(p)}: distortion search{model}"


def _header(data: Mapping[str, Any]) -> str:
    p = data.get("parent") or {}
    converged = "" if p.get("converged", True) else " (relaxation not converged)"
    return (
        f"<h1>{_e(_title(data))}</h1>"
        f"<p>Parent {_e(p.get('formula', '?'))} {_e(group_label(p))}, "
        f"E = {_num(p.get('energy_ev_per_fu'), '.6f')} eV/f.u.{_e(converged)}; "
        f"model: {_e(_model_text(data))}.</p>"
    )


def _note(data: Mapping[str, Any]) -> str:
    note = data.get("ground_state_note") or data.get("no_children_reason")
    if not note:
        note = "no descent (max_depth = 0): the children were not checked for stability"
    return f'<p class="note" id="ground-state">{_e(note)}</p>'


def _settings(data: Mapping[str, Any]) -> str:
    settings = data.get("settings") or {}
    rows = [
        [_e(k), _e(json.dumps(v) if not isinstance(v, str) else v)] for k, v in settings.items()
    ]
    return "<h2>Settings</h2>" + _table(["setting", "value"], rows, "settings")


def _soft_modes(data: Mapping[str, Any]) -> str:
    rows: list[list[Cell]] = []
    for m in data.get("soft_modes") or ():
        q = m.get("q") or ()
        coords = ", ".join(_num(x, ".3f") for x in q)
        rows.append(
            [
                _e(m.get("irrep")),
                f"{_e(m.get('q_label'))} ({coords})",
                ("num", _num(m.get("frequency_thz"), ".3f")),
                ("num", _num(m.get("degeneracy"), "d")),
            ]
        )
    if not rows:
        return "<h2>Soft modes</h2><p>none below the threshold</p>"
    headers = ["irrep", "q", "frequency (THz)", "degeneracy"]
    return "<h2>Soft modes</h2>" + _table(headers, rows, "soft-modes")


def _children(folder: Path, data: Mapping[str, Any]) -> str:
    gs = (data.get("ground_state") or {}).get("index")
    rows: list[list[Cell]] = []
    for c in data.get("children") or ():
        css, stable = _stability(c)
        group = _e(group_label(c))
        if gs is not None and c.get("node") == gs:
            group = f'<span class="gs">{group} (ground state)</span>'
        rows.append(
            [
                ("num", _num(c.get("rank"), "d")),
                group,
                _e(condensed_label(c)),
                ("num", _num(c.get("energy_gain_mev_per_fu"), ".3f")),
                (css, _e(stable)),
                _files(folder, c),
            ]
        )
    if not rows:
        return "<h2>Children</h2><p>no child found</p>"
    headers = ["rank", "space group", "condensed", "gain (meV/f.u.)", "stable", "files"]
    return "<h2>Children, ranked by energy gain</h2>" + _table(headers, rows, "children")


def _nodes(folder: Path, data: Mapping[str, Any]) -> str:
    nodes = [n for n in data.get("nodes") or () if isinstance(n, Mapping)]
    if not nodes:
        return ""
    by_index = {n.get("index"): n for n in nodes}
    order = [0, *(data.get("ranked") or [n.get("index") for n in nodes[1:]])]
    gs = (data.get("ground_state") or {}).get("index")
    rows: list[list[Cell]] = []
    for i in order:
        n = by_index.get(i)
        if n is None:
            continue
        css, stable = _stability(n)
        came = [f"#{n['parent']}"] if n.get("parent") is not None else []
        came += [f"#{p}" for p in n.get("other_parents") or ()]
        group = _e(group_label(n)) + (" (ground state)" if i == gs else "")
        rows.append(
            [
                ("num", _e(f"#{i}")),
                ("num", _num(n.get("depth"), "d")),
                f'<span class="gs">{group}</span>' if i == gs else group,
                _e(", ".join(came)),
                _e(n.get("via")),
                ("num", _num(n.get("energy_gain_mev_per_fu"), ".3f")),
                (css, _e(stable)),
                _e(n.get("status")),
                _link(folder, n.get("cif"), "CIF") if n.get("cif") else "",
            ]
        )
    headers = ["node", "depth", "space group", "from", "via", "gain (meV/f.u.)", "stable"]
    headers += ["status", "structure"]
    return "<h2>Descent (stable structures first, then by energy)</h2>" + _table(
        headers, rows, "nodes"
    )


def _merged(folder: Path, data: Mapping[str, Any]) -> str:
    rank_of = {c.get("candidate_index"): c.get("rank") for c in data.get("children") or ()}
    rows: list[list[Cell]] = []
    for d in data.get("duplicates") or ():
        target = d.get("duplicate_of")
        into = f"rank {rank_of[target]}" if target in rank_of else f"candidate {target}"
        rows.append(
            [
                _e(condensed_label(d)),
                _e(d.get("candidate_space_group")),
                _e(group_label(d)),
                ("num", _num(d.get("energy_gain_mev_per_fu"), ".3f")),
                _e(into),
                _files(folder, d),
            ]
        )
    if not rows:
        return ""
    headers = ["condensed", "condensed in", "relaxed to", "gain (meV/f.u.)", "merged into"]
    headers.append("files")
    return "<h2>Merged candidates (same minimum)</h2>" + _table(headers, rows, "merged")


def _tree(data: Mapping[str, Any], picture: bytes | None) -> str:
    text = data.get("descent_tree") or (data.get("tree") or {}).get("text")
    parts = ["<h2>Family tree</h2>"]
    if picture:
        parts.append(_figure(picture, "family tree: energy below the parent (meV/f.u.)"))
    if text:
        parts.append(f"<details><summary>as text</summary><pre>{_e(text)}</pre></details>")
    return "".join(parts) if len(parts) > 1 else ""


def _band_plots(folder: Path, data: Mapping[str, Any]) -> str:
    figures = []
    parent = data.get("parent") or {}
    own = _inside(folder, BANDS_IMAGE)
    if own is not None:
        figures.append(_figure(own.read_bytes(), f"parent {group_label(parent)}"))
    for n in data.get("nodes") or ():
        rel = n.get("folder") if isinstance(n, Mapping) else None
        if not rel or rel == ".":
            continue
        path = _inside(folder, f"{rel}/{BANDS_IMAGE}")
        if path is not None:
            figures.append(_figure(path.read_bytes(), f"#{n.get('index')} {group_label(n)}"))
    figures = [f for f in figures if f]
    return "<h2>Phonon bands</h2>" + "".join(figures) if figures else ""


def _left_out(data: Mapping[str, Any]) -> str:
    items = [
        f"{kind} {condensed_label(r)} {r.get('space_group_symbol', '')}: {r.get('reason', '')}"
        for kind in ("skipped", "rejected")
        for r in data.get(kind) or ()
        if isinstance(r, Mapping)
    ]
    if not items:
        return ""
    lis = "".join(f"<li>{_e(x)}</li>" for x in items)
    return f"<details><summary>{len(items)} candidate(s) left out</summary><ul>{lis}</ul></details>"


def _yes_no(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "-") if isinstance(value, bool) else "-"


def _opinion_row(name: str, x: Mapping[str, Any], parent: bool = False) -> list[Cell]:
    """One row of a second-opinion table (the parent's gains are 0 by definition)."""
    kinds = [str(k) for k in x.get("disagrees_on") or ()]
    group = x.get("space_group")
    relaxed = x.get("space_group_relaxed", group)
    if x.get("failed"):
        verdict: Cell = ("unstable", htmlpage.escape(f"failed: {x.get('failed')}"))
    elif kinds:
        verdict = ("unstable", htmlpage.escape("disagree: " + ", ".join(kinds)))
    else:
        verdict = ("stable", "agree")
    zero = "0" if parent else None
    strain = " (strain)" if x.get("unstable_to_strain_in_search") else ""
    return [
        htmlpage.escape(name),
        htmlpage.escape(group),
        ("num", zero or htmlpage.number(x.get("gain_in_search_mev_per_fu"), ".2f")),
        ("num", zero or htmlpage.number(x.get("gain_mev_per_fu"), ".2f")),
        htmlpage.escape("" if parent else f"{x.get('rank_in_search', '-')}/{x.get('rank') or '-'}"),
        htmlpage.escape(relaxed),
        htmlpage.escape(f"{_yes_no(x.get('stable_in_search'))}{strain}/{_yes_no(x.get('stable'))}"),
        htmlpage.escape(x.get("softest")),
        verdict,
    ]


def _second_opinion(data: Mapping[str, Any]) -> str:
    """The ``verification`` block of ``search.json`` (``verify.json``): per second
    calculator, the search's top structures relaxed again, side by side with the search.
    """
    block = data.get("verification")
    if not isinstance(block, Mapping):
        return ""
    head = '<h2 id="second-opinion">Second opinion</h2>'
    if block.get("note"):
        return head + f'<p class="note">{htmlpage.escape(block.get("note"))}</p>'
    checks = [m for m in block.get("by_model") or () if isinstance(m, Mapping)]
    if not checks:
        return ""
    search = str(block.get("model") or "the search's calculator")
    models = ", ".join(str(m.get("model")) for m in checks)
    verdict = "they agree" if block.get("agrees") else "they disagree (marked below)"
    parts = [
        head,
        f"<p>The search's parent and top structures relaxed again with {htmlpage.escape(models)}"
        f" ({htmlpage.escape(block.get('file', 'verify.json'))}), each in its own space group: "
        "gains below the parent relaxed with the same calculator, stability from labelled "
        f"{htmlpage.escape(checks[0].get('stability_check') or 'phonons')}; "
        f"{htmlpage.escape(verdict)}.</p>",
    ]
    for k, m in enumerate(checks):
        other = str(m.get("model"))
        headers = [
            "structure",
            "space group",
            f"gain, {search} (meV/f.u.)",
            f"gain, {other} (meV/f.u.)",
            f"rank {search}/{other}",
            f"relaxed with {other}",
            f"stable {search}/{other}",
            f"softest with {other}",
            "agreement",
        ]
        rows = [_opinion_row("parent", m.get("parent") or {}, parent=True)]
        rows += [
            _opinion_row(str(x.get("name")), x)
            for x in m.get("structures") or ()
            if isinstance(x, Mapping)
        ]
        parts.append(
            f"<h3>{htmlpage.escape(search)} and {htmlpage.escape(other)}</h3>"
            + htmlpage.table(headers, rows, f"second-opinion-{k + 1}")
            + f"<p>{htmlpage.escape(other)}'s force constants: "
            f"{htmlpage.escape(m.get('force_constants'))}.</p>"
        )
        lines = [str(line) for line in m.get("disagreements") or ()]
        lines += [f"note: {line}" for line in m.get("notes") or ()]
        if lines:
            items = "".join(f"<li>{htmlpage.escape(line)}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
    return "".join(parts)


def _timings(data: Mapping[str, Any]) -> str:
    rows: list[list[Cell]] = []
    for step, t in (data.get("timings") or {}).items():
        seconds = t.get("seconds") if isinstance(t, Mapping) else t
        rows.append([_e(step), ("num", _num(seconds, ".1f"))])
    return "<h2>Timings</h2>" + _table(["step", "seconds"], rows, "timings") if rows else ""


def render_report(
    folder: str | os.PathLike, data: Mapping[str, Any], tree_png: bytes | None = None
) -> str:
    """The HTML of the report of the search in ``folder`` (``data``: its ``search.json``).

    ``tree_png``: the family tree picture to embed (None: none). Links and band plots are
    taken from ``folder`` (only files inside it).
    """
    folder = Path(folder)
    body = [
        _header(data),
        _note(data),
        _settings(data),
        _soft_modes(data),
        _children(folder, data),
        _nodes(folder, data),
        _merged(folder, data),
        _second_opinion(data),
        _left_out(data),
        _tree(data, tree_png),
        _band_plots(folder, data),
        _timings(data),
    ]
    return htmlpage.page(_title(data), body)


def write_report(source: SearchResult | str | os.PathLike, tree_plot: bool = True) -> Path:
    """Write ``report.html`` of a search into its folder.

    Parameters
    ----------
    source : a :class:`~.search.SearchResult` (written into its ``out_dir``), or a search
        folder: its ``result.json`` is read back (:func:`~.folder.load_search`); a folder of
        an older version with only ``search.json`` is rendered from that file.
    tree_plot : draw the family tree (``family_tree.png``, embedded); False: the tree as
        text only (no matplotlib).

    Returns
    -------
    Path of ``report.html``.

    Raises
    ------
    FileNotFoundError
        ``folder`` has no ``search.json``.
    ValueError
        ``search.json`` is not a JSON object, or the result has no folder.
    """
    folder, data = _report_source(source)
    picture = None
    if tree_plot:
        picture = plot_family_tree(data, folder / TREE_IMAGE).read_bytes()
    page = render_report(folder, data, picture)
    # ASCII with character references: the same page whatever the locale's encoding
    page = page.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return write_text(folder / REPORT_NAME, page)


def _report_source(source: SearchResult | str | os.PathLike) -> tuple[Path, dict]:
    """The folder of a report and the summary it is drawn from (``SearchResult.summary``)."""
    from .folder import RESULT_FILE, SUMMARY_FILE, load_search
    from .search_result import SearchResult

    if isinstance(source, SearchResult):
        if source.out_dir is None:
            raise ValueError("the search has no folder (out_dir=None) to write a report into")
        return Path(source.out_dir), _with_verification(source.out_dir, source)
    folder = Path(source)
    if (folder / RESULT_FILE).is_file():
        return folder, _with_verification(folder, load_search(folder))
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no search.json (not a search folder?)")
    data = read_search_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return folder, data


def _with_verification(folder: str | os.PathLike, result: SearchResult) -> dict:
    """The summary of ``result`` with the ``verification`` block of ``search.json``, from
    the folder's ``verify.json`` (:func:`~.verify.verification_block`), if any.
    """
    from .folder import verification_block

    data = result.summary()
    block = verification_block(folder, result)
    if block is not None:
        data["verification"] = block
    return data


def write_report_safely(
    source: SearchResult | str | os.PathLike | None, tree_plot: bool = True
) -> Path | None:
    """:func:`write_report`, with any failure logged as a warning and None returned: a report
    (or a plot) that fails must never cost the search it describes.
    """
    if source is None:
        return None
    where = getattr(source, "out_dir", source)
    try:
        return write_report(source, tree_plot=tree_plot)
    except Exception as err:  # noqa: BLE001 - the report is extra, the search is not
        log.warning("%s not written in %s: %s", REPORT_NAME, where, first_line(err))
        return None
