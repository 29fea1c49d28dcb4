"""The family tree of a distortion search as a picture (matplotlib, no graphviz).

:func:`family_tree_layout` reads a ``search.json`` (:meth:`SearchResult.to_dict
<ase_symbreak.workflows.search.SearchResult.to_dict>`) into boxes and edges:

* one box per structure: the parent, every descent node (``nodes``), and every ranked child
  that has no node (a search without the descent); its height is the energy relative to the
  parent, ``y = -energy_gain_mev_per_fu`` (meV per formula unit: parent at 0, lower is more
  stable); its column is its depth (number of condensations), boxes of one depth that would
  overlap are set side by side;
* a solid edge from the structure a box was condensed from, labelled with what was condensed
  (``R4+ (a,a,a)``, ``GM4- + R4+ (...)``);
* a dashed edge where the JSON records a merge: a node reached again from another node
  (``other_parents``) and each ``duplicates`` entry, drawn as its own dashed box, to the child
  it relaxed into (``duplicate_of``).

:func:`plot_family_tree` draws the layout: stable structures green, unstable ones red, those
not checked grey, the predicted ground state with a thick gold frame.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .storage import atomic_write

__all__ = ["TreeBox", "TreeEdge", "TreeLayout", "family_tree_layout", "plot_family_tree"]

#: Fill colours by dynamical stability (True, False, None: not checked).
COLOURS = {True: "#c7e9c0", False: "#fcbba1", None: "#e0e0e0"}
GROUND_STATE_EDGE = "#d4a017"
#: Height of a box as a fraction of the largest energy gain drawn (boxes of one depth closer
#: than that in energy go side by side).
BOX_HEIGHT = 0.14
#: Where along an edge its label may sit (0: source, 1: target), first choice first: the
#: first spot clear of the boxes and of the other labels.
LABEL_AT = (0.55, 0.4, 0.7, 0.3, 0.8, 0.2, 0.5)


@dataclass(frozen=True)
class TreeBox:
    """One structure of the picture.

    Attributes
    ----------
    key : str
        ``"n<i>"`` descent node ``i`` (``"n0"`` the parent), ``"c<k>"`` ranked child of
        candidate ``k`` without a node, ``"d<k>"`` merged candidate ``k`` (a duplicate).
    label : str
        Space group symbol (number).
    x, y : float
        Column position; energy relative to the parent, meV/f.u. (``-gain``).
    gain_mev_per_fu : float
        Energy gain below the parent (positive: more stable than the parent).
    depth : int
        Column: condensations from the parent (descent nodes), or the level in the
        group-subgroup family tree (children of a search without the descent).
    kind : str
        'parent', 'node', 'child' or 'merged'.
    stable : bool or None
        Dynamically stable; None when not checked.
    ground_state : bool
        The predicted ground state of the descent.
    note : str
        Second line of the box (rank, status or what was merged).
    """

    key: str
    label: str
    x: float
    y: float
    gain_mev_per_fu: float
    depth: int
    kind: str
    stable: bool | None
    ground_state: bool
    note: str = ""


@dataclass(frozen=True)
class TreeEdge:
    """A condensation (solid) or a merge (``dashed``) from ``source`` to ``target`` keys."""

    source: str
    target: str
    label: str
    dashed: bool = False


@dataclass(frozen=True)
class TreeLayout:
    """Boxes by key, edges, and the key of each ``children`` entry in rank order."""

    boxes: dict[str, TreeBox]
    edges: tuple[TreeEdge, ...]
    child_keys: tuple[str, ...]
    title: str = ""

    def positions(self) -> dict[str, tuple[float, float]]:
        """``key -> (x, y)`` of every box."""
        return {k: (b.x, b.y) for k, b in self.boxes.items()}

    @property
    def ground_state(self) -> TreeBox | None:
        """The box of the predicted ground state (None: none found, or no descent)."""
        return next((b for b in self.boxes.values() if b.ground_state), None)


def read_search_json(search_json: Mapping[str, Any] | str | os.PathLike) -> dict:
    """The ``search.json`` content from a mapping, the file, or the folder holding it."""
    if isinstance(search_json, Mapping):
        return dict(search_json)
    path = Path(search_json)
    if path.is_dir():
        path = path / "search.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _number(x: Any, default: float = 0.0) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def group_label(entry: Mapping[str, Any]) -> str:
    """``'I4/mcm (140)'`` of a search.json entry with a space group."""
    return f"{entry.get('space_group_symbol', '?')} ({entry.get('space_group_number', '?')})"


def condensed_label(entry: Mapping[str, Any]) -> str:
    """What a child condensed: its irreps joined by ``' + '`` and its direction."""
    irreps = " + ".join(str(i) for i in entry.get("irreps") or ())
    return f"{irreps} {entry.get('direction') or ''}".strip()


@dataclass
class _Box:
    """A box before it has a column position."""

    key: str
    label: str
    gain: float
    depth: int
    kind: str
    stable: bool | None = None
    ground_state: bool = False
    note: str = ""


def _stability(entry: Mapping[str, Any]) -> bool | None:
    value = entry.get("dynamically_stable")
    return None if value is None else bool(value)


def _short_status(status: Any, limit: int = 28) -> str:
    """A node's status without its explanation in brackets, at most ``limit`` characters."""
    text = str(status or "").split(" (")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _node_boxes(data: dict) -> tuple[list[_Box], list[TreeEdge]]:
    """Boxes and edges of the descent nodes (empty without a descent)."""
    nodes = [n for n in data.get("nodes") or () if isinstance(n, Mapping)]
    gs = data.get("ground_state") or {}
    via = {c.get("node"): condensed_label(c) for c in data.get("children") or () if "node" in c}
    boxes, edges = [], []
    for n in nodes:
        i = int(n["index"])
        root = n.get("parent") is None
        boxes.append(
            _Box(
                key=f"n{i}",
                label=group_label(n),
                gain=0.0 if root else _number(n.get("energy_gain_mev_per_fu")),
                depth=int(n.get("depth") or 0),
                kind="parent" if root else "node",
                stable=_stability(n),
                ground_state=gs.get("index") == i,
                note="parent" if root else f"#{i} {_short_status(n.get('status'))}",
            )
        )
        if not root:
            label = via.get(i) or str(n.get("via") or "")
            edges.append(TreeEdge(f"n{n['parent']}", f"n{i}", label))
            for p in n.get("other_parents") or ():
                edges.append(TreeEdge(f"n{p}", f"n{i}", "merged", dashed=True))
    return boxes, edges


def _child_key(entry: Mapping[str, Any]) -> str:
    node = entry.get("node")
    return f"n{node}" if node is not None else f"c{entry.get('candidate_index')}"


def _tree_level(tree_parent: list, i: int) -> int:
    """1 for a child directly under the parent, one more per supergroup child above it."""
    level, seen = 1, {i}
    while i < len(tree_parent) and tree_parent[i] is not None and tree_parent[i] not in seen:
        i = tree_parent[i]
        seen.add(i)
        level += 1
    return level


def _child_boxes(data: dict, known: set[str]) -> tuple[list[_Box], list[TreeEdge]]:
    """Ranked children without a descent node, under their family-tree supergroup."""
    children = list(data.get("children") or ())
    tree_parent = list((data.get("tree") or {}).get("tree_parent") or ())
    tree_parent = [p if p is None or 0 <= p < len(children) else None for p in tree_parent]
    boxes, edges = [], []
    for i, c in enumerate(children):
        key = _child_key(c)
        if key in known:
            continue
        up = tree_parent[i] if i < len(tree_parent) else None
        source = "n0" if up is None else _child_key(children[up])
        boxes.append(
            _Box(
                key=key,
                label=group_label(c),
                gain=_number(c.get("energy_gain_mev_per_fu")),
                depth=_tree_level(tree_parent, i),
                kind="child",
                stable=_stability(c),
                note=f"rank {c.get('rank', i + 1)}",
            )
        )
        edges.append(TreeEdge(source, key, condensed_label(c)))
        known.add(key)
    return boxes, edges


def _merged_boxes(data: dict, depths: dict[str, int]) -> tuple[list[_Box], list[TreeEdge]]:
    """Each ``duplicates`` entry as a dashed box, with a dashed edge to the child it joined."""
    by_candidate = {c.get("candidate_index"): c for c in data.get("children") or ()}
    dup_of = {d.get("candidate_index"): d.get("duplicate_of") for d in data.get("duplicates") or ()}
    boxes, edges = [], []
    for d in data.get("duplicates") or ():
        target, seen = d.get("duplicate_of"), set()
        while target not in by_candidate and target in dup_of and target not in seen:
            seen.add(target)
            target = dup_of[target]  # merged into a candidate that merged further
        if target not in by_candidate:
            continue
        to = _child_key(by_candidate[target])
        key = f"d{d.get('candidate_index')}"
        boxes.append(
            _Box(
                key=key,
                label=group_label(d),
                gain=_number(d.get("energy_gain_mev_per_fu")),
                depth=depths.get(to, 1),
                kind="merged",
                note=f"merged: {condensed_label(d)}",
            )
        )
        edges.append(TreeEdge(key, to, "same minimum", dashed=True))
    return boxes, edges


def _place(boxes: list[_Box], min_dy: float) -> dict[str, tuple[float, float]]:
    """Columns by depth; a box goes to the first slot of its column it does not overlap."""
    slots: dict[int, list[list[float]]] = {}
    slot_of: dict[str, tuple[int, int]] = {}
    order = sorted(boxes, key=lambda b: (b.depth, b.kind == "merged", -b.gain, b.key))
    for b in order:
        y = -b.gain
        column = slots.setdefault(b.depth, [])
        s = next((k for k, ys in enumerate(column) if all(abs(y - v) >= min_dy for v in ys)), None)
        if s is None:
            column.append([])
            s = len(column) - 1
        column[s].append(y)
        slot_of[b.key] = (b.depth, s)
    offsets, x = {}, 0.0
    for depth in sorted(slots):
        offsets[depth] = x
        x += len(slots[depth]) + 0.4
    positions = {}
    for b in boxes:
        depth, s = slot_of[b.key]
        positions[b.key] = (offsets[depth] + s, 0.0 - b.gain)
    return positions


def family_tree_layout(
    search_json: Mapping[str, Any] | str | os.PathLike, show_merged: bool = True
) -> TreeLayout:
    """The boxes, positions and edges of the family tree of a search.

    Parameters
    ----------
    search_json : the ``search.json`` content, its path, or the search folder.
    show_merged : also draw each ``duplicates`` entry (dashed, to the child it joined).

    Returns
    -------
    TreeLayout; ``y`` of each box is minus its energy gain (meV/f.u.), the parent at 0.
    """
    data = read_search_json(search_json)
    parent = data.get("parent") or {}
    boxes, edges = _node_boxes(data)
    if not boxes:
        soft = data.get("soft_modes")
        stable = None if soft is None else not soft
        boxes = [_Box("n0", group_label(parent), 0.0, 0, "parent", stable, note="parent")]
    more, more_edges = _child_boxes(data, {b.key for b in boxes})
    boxes += more
    edges += more_edges
    if show_merged:
        more, more_edges = _merged_boxes(data, {b.key: b.depth for b in boxes})
        boxes += more
        edges += more_edges
    span = max([abs(b.gain) for b in boxes] + [1e-3])
    xy = _place(boxes, min_dy=BOX_HEIGHT * span)
    placed = {
        b.key: TreeBox(
            key=b.key,
            label=b.label,
            x=xy[b.key][0],
            y=xy[b.key][1],
            gain_mev_per_fu=b.gain,
            depth=b.depth,
            kind=b.kind,
            stable=b.stable,
            ground_state=b.ground_state,
            note=b.note,
        )
        for b in boxes
    }
    title = f"{parent.get('formula', '')} {group_label(parent)}: family tree".strip()
    child_keys = tuple(_child_key(c) for c in data.get("children") or ())
    return TreeLayout(placed, tuple(edges), child_keys, title)


def _label_spot(
    a: TreeBox, b: TreeBox, layout: TreeLayout, taken: list[tuple[float, float]], dy: float
) -> tuple[float, float]:
    """A point on the edge ``a -> b`` clear of every box and of the labels placed already."""
    points = [(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)) for t in LABEL_AT]

    def clear(p: tuple[float, float]) -> bool:
        near_box = any(
            abs(p[0] - c.x) < 0.5 and abs(p[1] - c.y) < dy for c in layout.boxes.values()
        )
        near_label = any(abs(p[0] - q[0]) < 0.6 and abs(p[1] - q[1]) < 0.4 * dy for q in taken)
        return not (near_box or near_label)

    spot = next((p for p in points if clear(p)), points[0])
    taken.append(spot)
    return spot


def _draw_edges(ax, layout: TreeLayout, dy: float) -> None:
    taken: list[tuple[float, float]] = []
    for e in layout.edges:
        a, b = layout.boxes.get(e.source), layout.boxes.get(e.target)
        if a is None or b is None:
            continue
        ax.annotate(
            "",
            xy=(b.x, b.y),
            xytext=(a.x, a.y),
            arrowprops=dict(
                arrowstyle="-|>",
                color="0.45" if e.dashed else "0.15",
                lw=0.9,
                ls="--" if e.dashed else "-",
                shrinkA=14,
                shrinkB=14,
                connectionstyle="arc3,rad=0.35" if e.dashed else "arc3",
            ),
        )
        if e.label and not e.dashed:
            x, y = _label_spot(a, b, layout, taken, dy)
            ax.text(
                x,
                y,
                e.label,
                fontsize=6.5,
                ha="center",
                va="center",
                color="0.1",
                parse_math=False,
                zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="0.8", lw=0.5, alpha=0.9),
            )


def _draw_boxes(ax, layout: TreeLayout) -> None:
    for b in layout.boxes.values():
        merged = b.kind == "merged"
        second = "ground state" if b.ground_state else b.note
        energy = f"{b.y:+.2f} meV/f.u." if b.kind != "parent" else "0 (reference)"
        ax.text(
            b.x,
            b.y,
            f"{b.label}\n{energy}\n{second}",
            fontsize=7,
            ha="center",
            va="center",
            color="0.35" if merged else "black",
            fontweight="bold" if b.ground_state else "normal",
            parse_math=False,
            zorder=3,
            bbox=dict(
                boxstyle="round,pad=0.3",
                fc="white" if merged else COLOURS[b.stable],
                ec=GROUND_STATE_EDGE if b.ground_state else "0.3",
                lw=2.5 if b.ground_state else 0.8,
                ls="--" if merged else "-",
            ),
        )


def _legend(ax) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(fc=COLOURS[True], ec="0.3", label="dynamically stable"),
        Patch(fc=COLOURS[False], ec="0.3", label="unstable"),
        Patch(fc=COLOURS[None], ec="0.3", label="not checked"),
        Patch(fc="white", ec=GROUND_STATE_EDGE, lw=2.5, label="predicted ground state"),
        Patch(fc="white", ec="0.3", ls="--", label="merged (same minimum)"),
        Line2D([], [], color="0.45", ls="--", label="merge / also reached from"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3)


def _axes_limits(ax, layout: TreeLayout) -> None:
    xs = [b.x for b in layout.boxes.values()]
    ys = [b.y for b in layout.boxes.values()]
    span = max(max(ys) - min(ys), 1.0)
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.3 * span, max(ys) + 0.12 * span)
    columns: dict[int, list[float]] = {}
    for b in layout.boxes.values():
        columns.setdefault(b.depth, []).append(b.x)
    ax.set_xticks([0.5 * (min(v) + max(v)) for _, v in sorted(columns.items())])
    ax.set_xticklabels(["parent" if d == 0 else f"depth {d}" for d in sorted(columns)])
    ax.axhline(0.0, color="0.7", lw=0.6, zorder=0)
    ax.set_ylabel("energy relative to the parent (meV/f.u.; lower = more stable)")


def plot_family_tree(
    search_json: Mapping[str, Any] | str | os.PathLike,
    path: str | os.PathLike,
    show_merged: bool = True,
    dpi: int = 120,
) -> Path:
    """Draw the family tree of a search (:func:`family_tree_layout`) into ``path``.

    Parameters
    ----------
    search_json : the ``search.json`` content, its path, or the search folder.
    path : output file; format from the suffix (``.png``, ``.pdf``, ``.svg``).
    show_merged : also draw the merged candidates (``duplicates``).
    dpi : resolution of raster formats.

    Returns
    -------
    Path of the written file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = family_tree_layout(search_json, show_merged)
    xs = [b.x for b in layout.boxes.values()]
    width = min(max(6.0, 1.5 * (max(xs) - min(xs) + 1.4)), 40.0)
    fig = Figure(figsize=(width, 6.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    span = max([abs(b.y) for b in layout.boxes.values()] + [1e-3])
    _draw_edges(ax, layout, 0.5 * BOX_HEIGHT * span)
    _draw_boxes(ax, layout)
    _axes_limits(ax, layout)
    _legend(ax)
    ax.set_title(layout.title, fontsize=10)
    fig.tight_layout()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))
