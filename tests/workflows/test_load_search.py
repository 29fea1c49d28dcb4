"""Issue 29: one record of a search, read back from its folder and rendered three ways.

``load_search(folder)`` gives the result the search returned; ``search.json``, the CLI
tables and ``report.html`` are all drawn from it and agree. An executor runs the same
search. Files of another version are refused with a message, never misread.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from rich.console import Console

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.folder import RESULT_FILE, load_search
from ase_symbreak.workflows.html_report import write_report
from ase_symbreak.workflows.records import SCHEMA_VERSION, NodeStatus, SoftestMode

from .test_descent import _tilt_settings
from .test_report import Page


def _settings(**kw) -> SearchSettings:
    """The planted-tilt settings of test_descent, one level of descent, no time budget."""
    return _tilt_settings(**{"max_depth": 1, "time_budget_s": None, **kw})


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    toy = PlantedTiltModel()
    out = tmp_path_factory.mktemp("load_search")
    calc = SymBreakCalculator(model=toy, dtype="float64")
    return distortion_search(toy.cubic(), calc, _settings(), out_dir=out), out


def test_load_search_returns_what_the_search_returned(searched):
    result, out = searched
    loaded = load_search(out)
    assert loaded.to_dict() == result.to_dict()
    assert loaded.summary() == result.summary()
    gs = loaded.predicted_ground_state
    assert gs is not None and gs.label == result.predicted_ground_state.label == "R-3c (167)"
    assert isinstance(gs.status, NodeStatus) and gs.status == "stable"
    assert all(
        n.softest_mode is None or isinstance(n.softest_mode, SoftestMode) for n in loaded.nodes
    )
    assert loaded.nodes[1].atoms is not None and len(loaded.nodes[1].atoms) > 0
    idn = loaded.children[0].identification
    assert idn.primary and idn.primary[0].irrep == "R4+" and idn.primary[0]["role"] == "primary"


def test_search_json_cli_tables_and_report_agree(searched, tmp_path):
    from ase_symbreak.cli.search import print_search

    _, out = searched
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    loaded = load_search(folder)
    data = json.loads((folder / "search.json").read_text())
    assert data == loaded.summary() and data["schema_version"] == SCHEMA_VERSION
    # the report, drawn from the loaded record
    page = Page(write_report(loaded).read_text())
    rows = page.tables["children"]
    assert len(rows) == len(data["children"]) == len(loaded.children)
    for row, child, entry in zip(rows, loaded.children, data["children"]):
        idn = child.identification
        assert row[1].startswith(f"{idn.space_group_symbol} ({idn.space_group_number})")
        assert float(row[3]) == pytest.approx(idn.energy_gain_mev_per_fu, abs=5e-3)
        assert entry["energy_gain_mev_per_fu"] == idn.energy_gain_mev_per_fu
    assert [r[0] for r in page.tables["nodes"]] == ["#0", *(f"#{i}" for i in data["ranked"])]
    # the CLI tables, printed from the same record
    console = Console(record=True, width=200)
    print_search(loaded, console)
    text = console.export_text()
    for node in loaded.nodes[1:]:
        assert node.space_group_symbol in text and f"{node.energy_gain_mev_per_fu:.2f}" in text
    assert "ground state" in text


def test_an_executor_runs_the_same_search(searched, tmp_path):
    result, _ = searched
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    with ThreadPoolExecutor(max_workers=1) as pool:
        again = distortion_search(toy.cubic(), calc, _settings(), executor=pool)

    def nodes(r):
        return [(n.label, n.status_text, n.depth, n.parent) for n in r.nodes]

    assert nodes(again) == nodes(result) and again.ground_state == result.ground_state
    assert [n.energy_gain_mev_per_fu for n in again.nodes] == pytest.approx(
        [n.energy_gain_mev_per_fu for n in result.nodes], abs=1e-9
    )
    assert [c.identification.energy_gain_mev_per_fu for c in again.children] == pytest.approx(
        [c.identification.energy_gain_mev_per_fu for c in result.children], abs=1e-9
    )


def test_other_versions_and_damage_are_refused(searched, tmp_path):
    _, out = searched
    folder = tmp_path / "old"
    shutil.copytree(out, folder)
    path = folder / RESULT_FILE
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema_version": SCHEMA_VERSION - 1}))
    with pytest.raises(ValueError, match="schema version 1.*run the search again"):
        load_search(folder)
    data["result"]["ground_state"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="content hash"):
        load_search(folder)
    path.write_text("{ not json")
    with pytest.raises(ValueError, match="does not parse"):
        load_search(folder)
    path.unlink()  # a folder written before result.json existed
    with pytest.raises(ValueError, match="older ase-symbreak"):
        load_search(folder)
    with pytest.raises(FileNotFoundError, match="no search"):
        load_search(tmp_path / "nowhere")


def test_a_process_pool_runs_the_same_search(searched, tmp_path):
    """Issue 32: child relaxations in other processes (a CalculatorSpec travels, each process
    builds the model once) give the search the serial run gave (about 12 s: two spawned
    processes import torch)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ase_symbreak.workflows.calcspec import CalculatorSpec

    result, _ = searched
    spec = CalculatorSpec(model="ase_symbreak.testing.toy_models:PlantedTiltModel", dtype="float64")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        again = distortion_search(
            PlantedTiltModel().cubic(), spec, _settings(), out_dir=tmp_path, executor=pool
        )
    assert [(n.label, n.status_text) for n in again.nodes] == [
        (n.label, n.status_text) for n in result.nodes
    ]
    assert [c.identification.energy_gain_mev_per_fu for c in again.children] == pytest.approx(
        [c.identification.energy_gain_mev_per_fu for c in result.children], abs=1e-9
    )
    assert load_search(tmp_path).summary()["ground_state"] == again.summary()["ground_state"]
