"""``ase-symbreak explain``: JSON keys, the page, the parent options, errors; and the search's
children explained back to the search's parent and condensed irreps.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.cli import app
from ase_symbreak.explain import explain
from ase_symbreak.explain.page import render_page
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import isotropy_subgroups
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import distortion_search
from tests.workflows.test_descent import _tilt_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    parent = cubic_perovskite(3.9)
    pnma = next(
        s.structure
        for s in isotropy_subgroups(parent, ["R4+", "M3+"], amplitude=0.25)
        if s.space_group_number == 62
    )
    write(folder / "pnma.cif", pnma)
    write(folder / "cubic.cif", parent)
    return folder


def test_json_names_the_parent_and_the_modes(files, monkeypatch):
    monkeypatch.chdir(files)
    result = runner.invoke(app, ["explain", "pnma.cif", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["parent"]["space_group_number"] == 221
    modes = {m["irrep"]: m for m in data["modes"]}
    assert set(modes) == {"R4+", "M3+"}
    for m in modes.values():
        assert m["role"] == "primary"
        assert {"k", "direction", "amplitude_angstrom", "amplitude_supercell_angstrom"} <= set(m)
    assert modes["R4+"]["k"] == [0.5, 0.5, 0.5] and modes["M3+"]["direction"] == "(a,0,0)"
    assert [s["space_group"] for s in data["chain"]] == ["Pm-3m (221)", "Imma (74)", "Pnma (62)"]
    assert data["files"] == ["pnma_explain.html"] and (files / "pnma_explain.html").exists()


def test_page_is_one_self_contained_file(files):
    e = explain(_read(files / "pnma.cif"))
    html = render_page(e, title="<script>x</script>.cif")
    tables = _Tables()
    tables.feed(html)
    assert {"parents", "modes"} <= tables.ids
    assert "<script>x" not in html and "&lt;script&gt;" in html  # the name is escaped
    assert "data:image/png;base64," in html  # the amplitude chart is embedded
    assert "http://" not in html and "https://" not in html


def test_parent_options_and_errors(files, monkeypatch):
    monkeypatch.chdir(files)
    given = runner.invoke(
        app, ["explain", "pnma.cif", "--parent", "cubic.cif", "--json", "--no-html"]
    )
    assert given.exit_code == 0, given.output
    assert json.loads(given.output)["parent"]["space_group_number"] == 221
    imma = runner.invoke(
        app,
        [
            "explain",
            "pnma.cif",
            "--parent-group",
            "74",
            "--json",
            "--no-html",
            "--parent-out",
            "imma.cif",
        ],
    )
    assert imma.exit_code == 0, imma.output
    assert json.loads(imma.output)["parent"]["space_group_number"] == 74
    assert (files / "imma.cif").exists()
    none = runner.invoke(app, ["explain", "cubic.cif", "--no-html"])
    assert none.exit_code == 1 and "no supergroup" in none.output
    both = runner.invoke(
        app, ["explain", "pnma.cif", "--parent", "cubic.cif", "--parent-group", "221"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    far = runner.invoke(app, ["explain", "pnma.cif", "--parent-group", "225", "--no-html"])
    assert far.exit_code == 1 and "no supergroup of number 225" in far.output


def test_search_children_explain_back():
    """The children a distortion search writes explain back to its parent and its irreps."""
    toy = PlantedTiltModel()
    settings = _tilt_settings(max_depth=0)  # the descent tests' toy search, one level
    calc = SymBreakCalculator(model=toy, dtype="float64")
    result = distortion_search(toy.cubic(), calc, settings)
    assert result.children
    for child in result.children:
        e = explain(child.relax.atoms, parent=result.parent.atoms)
        assert e.parent.space_group_number == 221
        assert e.child_space_group_number == child.identification.space_group_number
        assert set(e.primary) == {ir.irrep for ir in child.identification.primary}
        assert set(child.candidate.irreps) >= set(e.primary)


# ----------------------------------------------------------------------------- helpers
def _read(path):
    from ase.io import read

    return read(path)


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.ids.update(v for k, v in attrs if k == "id" and v)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--parent-group", "0"], 1, "space group number must be in 1..230"),
        (["--threshold", "-1"], 2, "--threshold must be a positive length"),
        (["--max-displacement", "0"], 2, "--max-displacement must be in (0, 5]"),
        (["--origin", "99"], 1, "origin index 99 out of range"),
        (["--parent", "nacl.cif"], 1, "different species"),
    ],
)
def test_bad_input_is_one_line(files, monkeypatch, args, code, message):
    from ase.build import bulk

    monkeypatch.chdir(files)
    write(files / "nacl.cif", bulk("NaCl", "rocksalt", a=5.6))
    result = runner.invoke(app, ["explain", "pnma.cif", "--no-html", *args])
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output
