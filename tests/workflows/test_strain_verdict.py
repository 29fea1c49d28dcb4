"""Issue 31, stability means stable (part b): a structure with no soft phonon at its
supercell's q points but a negative relaxed-ion elastic eigenvalue is a strain saddle, and
the descent must not call it dynamically stable.

The toy: rocksalt with negative second-neighbour springs (a shear instability, C44 < 0) and
a weak polar well (stable at Gamma); its 1x1x1 phonons see Gamma only.
"""

from __future__ import annotations

import dataclasses
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
    base = dict(
        supercell=(1, 1, 1),
        max_depth=1,
        plot=False,
        time_budget_s=None,
        parent_fmax=1e-4,
        random_trials=0,  # the strain verdict alone
    )
    return SearchSettings(**{**base, **kw})


def test_a_strain_saddle_is_not_called_stable(tmp_path):
    toy, calc = _shear_unstable()
    result = distortion_search(toy.rocksalt(), calc, _settings(), out_dir=tmp_path)
    root = result.nodes[0]
    assert not result.soft_modes.modes  # stable at the q points the phonons saw
    assert root.dynamically_stable is False and root.status == NodeStatus.STRAIN_UNSTABLE
    assert root.elastic is not None and root.elastic.eigenvalues_gpa.min() < -10
    assert "elastic tensor eigenvalue" in root.status_text
    # max_depth=1: the saddle is followed one level (its strained child, itself unstable)
    assert "followed: the cell strained both ways" in root.status_text
    assert result.predicted_ground_state is None
    assert all(n.via.startswith("strain ") for n in result.nodes[1:])
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["nodes"][0]["status"].startswith("unstable to strain")
    assert data["nodes"][0]["elastic"]["stable"] is False
    assert (tmp_path / "06_elastic.json").exists()
    assert load_search(tmp_path).nodes[0].elastic.stable is False
    # without the check (the old verdict) the same parent was called stable
    old = distortion_search(toy.rocksalt(), calc, _settings(check_strain=False))
    assert old.nodes[0].dynamically_stable is True and old.predicted_ground_state is not None


def test_a_strain_saddle_is_followed_to_the_minimum(tmp_path):
    """The shear-unstable rocksalt relaxes, along its canonical softest strain (a single
    shear), into a child that is searched again and ends in the trigonal minimum; the
    strained children are checkpointed in the node's strain/ folder and a rerun loads them."""
    toy, calc = _shear_unstable()
    settings = _settings(max_depth=2, max_candidates=None)
    result = distortion_search(toy.rocksalt(), calc, settings, out_dir=tmp_path)
    gs = result.predicted_ground_state
    assert gs is not None and gs.space_group_symbol == "R-3m" and gs.depth == 2
    first = result.nodes[gs.parent]
    assert first.parent == 0 and first.via.startswith("strain +e ("), first.via
    assert first.via.endswith("+1.00,+0.00,+0.00)"), first.via
    assert gs.energy_gain_mev_per_fu > 100
    assert sorted(p.name for p in (tmp_path / "strain").glob("05_child_*.json")) == [
        "05_child_00.json",
        "05_child_01.json",
    ]
    again = distortion_search(toy.rocksalt(), calc, settings, out_dir=tmp_path)
    assert [n.label for n in again.nodes] == [n.label for n in result.nodes]


def test_the_softest_strain_is_canonical_in_a_degenerate_eigenspace():
    """Cubic C44 < 0: the three shears are degenerate; any rotation of them inside the
    eigenspace (the noise of another thread count) gives the same single shear."""
    from ase_symbreak.phonons.elastic import ElasticCheck
    from ase_symbreak.workflows.strain_follow import softest_strain

    c11, c12, c44 = 200.0, 100.0, -20.0
    tensor = np.diag([c11, c11, c11, c44, c44, c44])
    tensor[:3, :3] += c12 * (1 - np.eye(3))
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    mixed = np.eye(6)
    mixed[3:, 3:] = q  # another orthonormal basis of the shear eigenspace
    check = ElasticCheck(
        relaxed_gpa=mixed @ tensor @ mixed.T,
        clamped_gpa=tensor,
        eigenvalues_gpa=np.linalg.eigvalsh(tensor),
        softest_strain=mixed[:, 3],
    )
    np.testing.assert_allclose(softest_strain(check), [0, 0, 0, 1, 0, 0], atol=1e-9)
    tetragonal = np.diag([c11, c11, c11, 50.0, 50.0, 50.0])
    tetragonal[:3, :3] += 300.0 * (1 - np.eye(3))  # C11 - C12 < 0: the Eg strains
    check = dataclasses.replace(check, relaxed_gpa=tetragonal)
    expected = np.array([2.0, -1.0, -1.0, 0, 0, 0]) / np.sqrt(6)
    np.testing.assert_allclose(softest_strain(check), expected, atol=1e-9)


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
