"""The HTML report and the family-tree picture of a search (issue 17).

One real descent on the tilt toy of test_descent.py (its minima are known exactly: R-3c gains
3 W* per formula unit and is stable, I4/mcm 2 W* and is a saddle, Imma in between and a
saddle; the descent reaches R-3c again from both saddles), with the phonon band plots on.
The report must agree with ``search.json`` row by row, embed only valid PNGs, link only to
files that exist, and escape every text it shows.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import distortion_search, search_one_level
from ase_symbreak.workflows.html_report import REPORT_NAME, TREE_IMAGE, write_report
from ase_symbreak.workflows.tree_plot import BOX_HEIGHT, family_tree_layout, group_label

from .test_descent import _tilt_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"img", "meta", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Tables by id (rows of cell texts), links, images and script tags of a page; checks
    that every element is closed in order.
    """

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.images: list[str] = []
        self.scripts = 0
        self.stack: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_body = False
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed elements: {self.stack}"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self.scripts += 1
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def descent(toy, tmp_path_factory):
    """A finished descent folder, its search.json, the page, and whether the search itself
    had written a report (before ``write_report`` rewrites it with the descent).
    """
    out = tmp_path_factory.mktemp("report")
    calc = SymBreakCalculator(model=toy, dtype="float64")
    distortion_search(toy.cubic(), calc, _tilt_settings(plot=True), out_dir=out)
    written_by_search = (out / REPORT_NAME).is_file() and Page((out / REPORT_NAME).read_text())
    path = write_report(out)
    data = json.loads((out / "search.json").read_text())
    return out, data, Page(path.read_text()), written_by_search


def test_search_writes_its_report(descent):
    out, data, _, written_by_search = descent
    assert written_by_search and (out / TREE_IMAGE).is_file()
    # the search rewrites its page after the descent: the page holds the descent's nodes
    assert len(written_by_search.tables["nodes"]) == len(data["nodes"])
    for node in data["nodes"][1:]:  # each node's own search (one level) has its report too
        folder = out / node["folder"]
        sub = json.loads((folder / "search.json").read_text())
        page = Page((folder / REPORT_NAME).read_text())
        assert len(page.tables.get("children", [])) == len(sub["children"])


def test_children_table_is_search_json_in_rank_order(toy, descent):
    _, data, page, _ = descent
    rows = page.tables["children"]
    children = data["children"]
    assert len(rows) == len(children) == 3
    w = 1000 * toy.well_depth  # meV per buckled X
    for row, child in zip(rows, children):
        rank, group, condensed, gain, stable, files = row
        assert int(rank) == child["rank"]
        assert group.startswith(group_label(child))
        assert condensed == " + ".join(child["irreps"]) + " " + child["direction"]
        assert float(gain) == pytest.approx(child["energy_gain_mev_per_fu"], abs=5e-4)
        assert stable.startswith("yes" if child["dynamically_stable"] else "no (GM")
        assert files == "CIF POSCAR"
    assert [int(r[0]) for r in rows] == [1, 2, 3]
    gains = [float(r[3]) for r in rows]
    assert gains == sorted(gains, reverse=True)
    by_group = {r[1].split(" (")[0]: r for r in rows}
    assert float(by_group["R-3c"][3]) == pytest.approx(3 * w, abs=0.05)
    assert float(by_group["I4/mcm"][3]) == pytest.approx(2 * w, abs=0.05)
    assert "ground state" in by_group["R-3c"][1] and by_group["R-3c"][4] == "yes"
    # the descent table: the parent then every node, ground state first
    nodes = page.tables["nodes"]
    assert [r[0] for r in nodes] == ["#0", *(f"#{i}" for i in data["ranked"])]
    assert "predicted ground state: #1 R-3c" in data["ground_state_note"]
    soft = page.tables["soft-modes"]
    assert [r[0] for r in soft] == ["R4+"] and float(soft[0][2]) < -1.0


def test_every_image_is_an_embedded_png(descent):
    import matplotlib.image

    _, data, page, _ = descent
    bands = 1 + sum(1 for n in data["nodes"][1:] if n["folder"])  # the parent and each node
    assert len(page.images) == 1 + bands  # and the family tree
    for src in page.images:
        head, _, payload = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(payload, validate=True)
        assert raw.startswith(PNG_MAGIC)
        pixels = matplotlib.image.imread(io.BytesIO(raw), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert pixels.std() > 0.01  # a drawing, not a blank canvas


def test_every_link_is_an_existing_file_of_the_folder(descent):
    out, data, page, _ = descent
    assert page.links
    for href in page.links:
        parsed = urlparse(href)
        assert not parsed.scheme and not parsed.netloc and not href.startswith("/")
        assert (out / unquote(parsed.path)).is_file(), href
    targets = {unquote(h) for h in page.links}
    for child in data["children"] + data["duplicates"]:
        assert {child["cif"], child["poscar"]} <= targets
    assert {n["cif"] for n in data["nodes"]} <= targets
    assert page.scripts == 0 and "://" not in (out / REPORT_NAME).read_text()  # no network


def test_tree_layout_puts_each_child_at_its_energy(descent):
    out, data, _, _ = descent
    layout = family_tree_layout(out)
    parent = layout.boxes["n0"]
    assert (parent.x, parent.y) == (0.0, 0.0) and parent.kind == "parent"
    assert parent.stable is False  # R4+ is soft
    nodes = {n["index"]: n for n in data["nodes"]}
    assert len(layout.child_keys) == len(set(layout.child_keys)) == len(data["children"])
    for key, child in zip(layout.child_keys, data["children"]):
        box = layout.boxes[key]
        node = nodes[child["node"]]
        assert box.y == -node["energy_gain_mev_per_fu"] < 0  # below the parent by its gain
        assert box.y == pytest.approx(-child["energy_gain_mev_per_fu"], abs=0.05)
        assert box.x > parent.x and box.depth == 1
        assert box.stable is child["dynamically_stable"]
        edge = next(e for e in layout.edges if e.target == key and not e.dashed)
        assert edge.source == "n0" and edge.label == f"R4+ {child['direction']}"
    gs = layout.ground_state
    assert gs is not None and gs.key == f"n{data['ground_state']['index']}"
    assert gs.label == "R-3c (167)" and gs.stable is True
    assert gs.y == min(b.y for b in layout.boxes.values() if b.kind != "merged")
    assert sum(b.ground_state for b in layout.boxes.values()) == 1
    # merges are dashed: nodes reached again from the saddles, duplicates to their minimum
    dashed = {(e.source, e.target) for e in layout.edges if e.dashed}
    for n in data["nodes"]:
        assert {(f"n{p}", f"n{n['index']}") for p in n["other_parents"]} <= dashed
    rank_key = {c["candidate_index"]: k for c, k in zip(data["children"], layout.child_keys)}
    for d in data["duplicates"]:
        assert (f"d{d['candidate_index']}", rank_key[d["duplicate_of"]]) in dashed
        assert layout.boxes[f"d{d['candidate_index']}"].kind == "merged"
    # boxes of one column never overlap
    span = max(abs(b.y) for b in layout.boxes.values())
    boxes = list(layout.boxes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a.x != b.x or abs(a.y - b.y) >= BOX_HEIGHT * span - 1e-9


def test_tree_layout_of_one_level_follows_the_family_tree(descent):
    """A node's own search (no descent): children under the family tree, not checked."""
    out, data, _, _ = descent
    folder = out / next(n["folder"] for n in data["nodes"] if n["space_group_symbol"] == "I4/mcm")
    sub = json.loads((folder / "search.json").read_text())
    layout = family_tree_layout(sub)
    assert layout.ground_state is None and layout.boxes["n0"].label == "I4/mcm (140)"
    for i, (key, child) in enumerate(zip(layout.child_keys, sub["children"])):
        box = layout.boxes[key]
        assert key == f"c{child['candidate_index']}" and box.stable is None
        assert box.y == -child["energy_gain_mev_per_fu"] < 0
        up = sub["tree"]["tree_parent"][i]
        source = "n0" if up is None else layout.child_keys[up]
        assert any(e.source == source and e.target == key for e in layout.edges)
    symbols = [c["space_group_symbol"] for c in sub["children"]]
    assert symbols[0] == "R-3c"  # the saddle's lowest child is the planted minimum


def test_text_from_search_json_is_escaped(descent, tmp_path):
    _, data, _, _ = descent
    hostile = "<script>alert('$x')</script>"  # an unbalanced $: no mathtext either
    data = json.loads(json.dumps(data))
    data["children"][0]["space_group_symbol"] = hostile
    data["model"]["model"] = '<img src=x onerror="alert(1)">'
    data["ground_state_note"] = "</p><script>bad()</script>"
    (tmp_path / "search.json").write_text(json.dumps(data))
    text = write_report(tmp_path).read_text()
    assert "<script" not in text and "&lt;script&gt;" in text and "<img src=x" not in text
    page = Page(text)
    assert page.scripts == 0
    assert page.tables["children"][0][1].startswith(hostile)  # shown as text, verbatim
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not page.links  # no structure file in this folder: names shown, not linked


def test_cli_report(descent, tmp_path):
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and "search.json" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / REPORT_NAME).exists()
    (tmp_path / "search.json").write_text("{not json")
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and res.output.startswith("error:")
    out = tmp_path / "copy"
    shutil.copytree(descent[0], out)
    res = CliRunner().invoke(app, ["report", str(out), "--no-tree"])
    assert res.exit_code == 0, res.output
    assert Path(res.output.strip()) == out / REPORT_NAME
    assert len(Page((out / REPORT_NAME).read_text()).images) == len(descent[2].images) - 1


def test_a_failing_report_never_costs_the_search(toy, descent, tmp_path, monkeypatch, caplog):
    """finish_search logs the failure and still returns and writes the search."""
    out = tmp_path / "run"
    shutil.copytree(descent[0], out, ignore=shutil.ignore_patterns("descent", "report.html"))
    (out / "search.json").unlink()

    def broken(*args, **kwargs):
        raise RuntimeError("no display for you")

    monkeypatch.setattr("ase_symbreak.workflows.html_report.plot_family_tree", broken)
    calc = SymBreakCalculator(model=toy, dtype="float64")
    with caplog.at_level(logging.WARNING, logger="ase_symbreak.workflows.html_report"):
        result = search_one_level(toy.cubic(), calc, _tilt_settings(plot=True), out_dir=out)
    assert result is not None and len(result.children) == len(descent[1]["children"])
    assert (out / "search.json").is_file() and not (out / REPORT_NAME).exists()
    assert any("no display for you" in r.getMessage() for r in caplog.records)


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def test_headless_browser_renders_the_page(descent, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        message = f"no headless browser on PATH (looked for {', '.join(BROWSERS)})"
        if os.environ.get("ASE_SYMBREAK_REQUIRE_BROWSER") == "1":  # .ci/run installed one
            pytest.fail(message + ", yet ASE_SYMBREAK_REQUIRE_BROWSER=1")
        pytest.skip(message)
    shot = tmp_path / "page.png"
    page = (descent[0] / REPORT_NAME).resolve()
    args = [browser, "--headless", "--disable-gpu", "--no-sandbox", f"--screenshot={shot}"]
    subprocess.run(
        [*args, "--window-size=1200,2400", page.as_uri()], timeout=120, capture_output=True
    )
    assert shot.is_file() and shot.stat().st_size > 0
    assert shot.read_bytes().startswith(PNG_MAGIC)
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1000
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # not blank
    # the DOM the browser built holds the ranked table and every embedded picture
    dom = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", page.as_uri()],
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    rendered = Page(dom)
    assert len(rendered.tables["children"]) == len(descent[1]["children"])
    assert len(rendered.images) == len(descent[2].images) > 0


def test_second_opinion_section_is_drawn_from_search_json(descent, tmp_path):
    """The 'Second opinion' section: absent without a ``verification`` block (no
    verify.json), else one table per second model, row by row from the block, every text
    escaped and the page well formed.
    """
    _, data, page, _ = descent
    assert not any(name.startswith("second-opinion") for name in page.tables)
    hostile = "<script>alert(1)</script>"
    row = {
        "name": "#1",
        "space_group": "R-3c (167)",
        "space_group_relaxed": hostile,
        "gain_in_search_mev_per_fu": 3.0,
        "gain_mev_per_fu": 2.5,
        "rank_in_search": 1,
        "rank": 2,
        "stable_in_search": True,
        "stable": False,
        "softest": "GM4- at GM, -1.00 THz",
        "failed": "",
        "disagrees_on": ["ranking", "stability"],
    }
    data = json.loads(json.dumps(data))
    data["verification"] = {
        "file": "verify.json",
        "model": "toy",
        "models": [hostile],
        "agrees": False,
        "by_model": [
            {
                "model": hostile,
                "force_constants": "finite displacements",
                "stability_check": "phonons",
                "parent": {"space_group": "Pm-3m (221)", "stable": False, "disagrees_on": []},
                "structures": [row, {"name": "#2"}],  # a sparse row is drawn, not a crash
                "disagreements": [f"ranking: {hostile}"],
                "notes": [],
            }
        ],
    }
    (tmp_path / "search.json").write_text(json.dumps(data))
    text = write_report(tmp_path, tree_plot=False).read_text()
    assert "<script" not in text and "Second opinion" in text
    page = Page(text)
    rows = page.tables["second-opinion-1"]
    assert rows[0][:2] == ["parent", "Pm-3m (221)"] and rows[0][-1] == "agree"
    assert rows[1] == [
        "#1",
        "R-3c (167)",
        "3.00",
        "2.50",
        "1/2",
        hostile,
        "yes/no",
        "GM4- at GM, -1.00 THz",
        "disagree: ranking, stability",
    ]
    assert rows[2][0] == "#2" and len(rows) == 3
    data["verification"] = {"file": "verify.json", "stale": True, "note": hostile}
    (tmp_path / "search.json").write_text(json.dumps(data))
    text = write_report(tmp_path, tree_plot=False).read_text()
    assert "<script" not in text and "Second opinion" in text
