"""Issue 31, stability means stable (part b): a structure with no soft phonon at its
supercell's q points but a negative relaxed-ion elastic eigenvalue is a strain saddle, and
the descent must not call it dynamically stable.

The toy: rocksalt with negative second-neighbour springs (a shear instability, C44 < 0) and
a weak polar well (stable at Gamma); its 1x1x1 phonons see Gamma only.
"""

from __future__ import annotations

import json

import numpy as np

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel, PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search, load_search
from ase_symbreak.workflows.records import NodeStatus

from .test_descent import _tilt_settings


def _shear_unstable():
    toy = PlantedPolarRocksaltModel(well_a=0.05, k_second=-0.5)
    return toy, SymBreakCalculator(model=toy, dtype="float64")


def _settings(**kw) -> SearchSettings:
    base = dict(supercell=(1, 1, 1), max_depth=1, plot=False, time_budget_s=None, parent_fmax=1e-4)
    return SearchSettings(**{**base, **kw})


def test_a_strain_saddle_is_not_called_stable(tmp_path):
    toy, calc = _shear_unstable()
    result = distortion_search(toy.rocksalt(), calc, _settings(), out_dir=tmp_path)
    root = result.nodes[0]
    assert not result.soft_modes.modes  # stable at the q points the phonons saw
    assert root.dynamically_stable is False and root.status == NodeStatus.STRAIN_UNSTABLE
    assert root.elastic is not None and root.elastic.eigenvalues_gpa.min() < -10
    assert "elastic tensor eigenvalue" in root.status_text
    assert result.predicted_ground_state is None
    assert "the parent is unstable to strain" in result.ground_state_note()
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["nodes"][0]["status"].startswith("unstable to strain")
    assert data["nodes"][0]["elastic"]["stable"] is False
    assert (tmp_path / "06_elastic.json").exists()
    assert load_search(tmp_path).nodes[0].elastic.stable is False
    # without the check (the old verdict) the same parent was called stable
    old = distortion_search(toy.rocksalt(), calc, _settings(check_strain=False))
    assert old.nodes[0].dynamically_stable is True and old.predicted_ground_state is not None


def test_stable_nodes_of_the_tilt_descent_pass_the_strain_check(tmp_path):
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    settings = _tilt_settings(max_depth=2, time_budget_s=None)
    result = distortion_search(toy.cubic(), calc, settings, out_dir=tmp_path)
    gs = result.predicted_ground_state
    assert gs is not None and gs.space_group_symbol == "R-3c"
    stable = [n for n in result.nodes if n.dynamically_stable]
    assert stable and all(n.elastic is not None and n.elastic.stable for n in stable)
    assert all(n.elastic is None for n in result.nodes if n.dynamically_stable is False)
    assert (tmp_path / gs.folder / "06_elastic.json").exists()
    # a rerun loads the checks
    again = distortion_search(toy.cubic(), calc, settings, out_dir=tmp_path)
    before = np.concatenate([n.elastic.eigenvalues_gpa for n in result.nodes if n.elastic])
    after = np.concatenate([n.elastic.eigenvalues_gpa for n in again.nodes if n.elastic])
    np.testing.assert_array_equal(after, before)


def test_the_report_shows_the_verdict_as_the_cli_does(tmp_path):
    """A strain saddle is 'no (unstable to strain: ...)' in report.html and in the CLI table;
    a stable node with an off-grid dip carries the same caveat in both."""
    from rich.console import Console

    from ase_symbreak.cli._tables import descent_table
    from ase_symbreak.workflows.html_report import _stability

    from .test_report import Page

    toy, calc = _shear_unstable()
    result = distortion_search(toy.rocksalt(), calc, _settings(plot=True), out_dir=tmp_path)
    page = Page((tmp_path / "report.html").read_text())
    row = page.tables["nodes"][0]
    assert any(cell.startswith("no (unstable to strain") for cell in row), row
    console = Console(record=True, width=250)
    console.print(descent_table(result))
    assert "unstable to strain" in console.export_text()
    css, text = _stability({"dynamically_stable": True, "off_grid": {"min_frequency_thz": -1.2}})
    assert css == "caution" and text == "yes (off grid -1.20 THz?)"
