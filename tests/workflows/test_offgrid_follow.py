"""Issue 31, stability at every q (part c): an off-grid dip is followed, not only reported.

The toy (:class:`~ase_symbreak.testing.toy_models.PlantedOffGridChainModel`): a one-atom
P4/mmm crystal of chains along z whose longitudinal branch ``sum_n k_n (1 - cos 2 pi n q)``
has its only instability at q = (0,0,1/3), an exact minimum, and is stable at every q of a
2x2x2 supercell. A 2x2x2 interpolation cannot show that dip (along an axis it is one
cosine); the 2x2x7 supercell reaches the third neighbours, so its interpolation is the
true branch: stable at its own q points (k/7), dipping at 1/3 between them. The follow
must capture the dip in the 1x1x3 supercell, find it imaginary there, and condense it into
the trimerised chain (a tripled cell, lower in energy). The artefact variant adds a fourth-
neighbour spring that the 7-cell supercell aliases onto the third: the same interpolated
dip, while the true branch is stable at 1/3; the check must say so and keep the parent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedOffGridChainModel
from ase_symbreak.workflows import SearchSettings, distortion_search, load_search
from ase_symbreak.workflows.records import NodeStatus, OffGridOutcome

SUPERCELL = ((2, 0, 0), (0, 2, 0), (0, 0, 7))
CAPTURING = ((1, 0, 0), (0, 1, 0), (0, 0, 3))
THIRD = (0.0, 0.0, 1.0 / 3.0)


def _settings(**kw) -> SearchSettings:
    base = dict(
        supercell=SUPERCELL,
        max_depth=1,
        plot=False,
        parent_fmax=1e-4,
        random_trials=0,  # the off-grid follow alone
    )
    return SearchSettings(**{**base, **kw})


def _search(toy, out=None, **kw):
    calc = SymBreakCalculator(model=toy, dtype="float64")
    return distortion_search(toy.crystal(), calc, _settings(**kw), out_dir=out)


@pytest.fixture(scope="module")
def real_dip(tmp_path_factory):
    toy = PlantedOffGridChainModel()
    out = tmp_path_factory.mktemp("offgrid_real")
    return toy, _search(toy, out), out


def test_the_toy_is_stable_on_the_grids_and_unstable_at_one_third():
    toy = PlantedOffGridChainModel()
    assert toy.branch(1 / 3) == pytest.approx(-2.25)  # 1.5 (k1 + k2)
    grid = [k / 7 for k in range(1, 4)] + [0.5]  # the 2x2x7 and 2x2x2 q along z
    assert all(toy.branch(q) > 0 for q in grid)
    q = np.linspace(0, 0.5, 501)
    assert q[np.argmin(toy.branch(q))] == pytest.approx(1 / 3, abs=1e-3)
    # the artefact variant: the same aliased branch on the 7-cell grid, stable at 1/3
    art = PlantedOffGridChainModel.artefact()
    assert art.branch(1 / 3) == pytest.approx(2.25)
    seventh = np.arange(4) / 7  # the q of a 7-cell supercell along z
    np.testing.assert_allclose(art.branch(seventh), toy.branch(seventh), atol=1e-12)


def test_a_real_off_grid_dip_is_captured_and_condensed(real_dip):
    toy, result, out = real_dip
    root = result.nodes[0]
    assert not result.soft_modes.modes  # stable at the q points of the 2x2x7 supercell
    follow = root.off_grid_follow
    assert follow is not None and follow.outcome == OffGridOutcome.REAL
    np.testing.assert_allclose(follow.q, THIRD, atol=1e-9)
    assert follow.from_supercell == SUPERCELL and follow.supercell == CAPTURING
    assert follow.n_atoms == 3
    # an imaginary mode at the captured q, as deep as the interpolation said (exact here)
    assert follow.frequency_thz < -9.0
    assert follow.frequency_thz == pytest.approx(follow.interpolated_thz, abs=0.01)
    assert root.dynamically_stable is False and root.status == NodeStatus.SEARCHED
    assert root.softest_mode.q_label == "(0,0,1/3)"
    assert root.status_text.startswith("searched: the off-grid dip at q=(0,0,1/3)")
    assert "checked in supercell 1x1x3 (3 atoms): real" in root.status_text
    # the descent goes on from the captured supercell: a lower, tripled, stable child
    gs = result.predicted_ground_state
    assert gs is not None and gs.parent == 0 and gs.dynamically_stable
    assert len(gs.atoms) == 3 * len(toy.crystal())
    assert gs.atoms.cell.volume == pytest.approx(3 * toy.crystal().cell.volume, rel=0.05)
    assert sorted(gs.atoms.cell.lengths())[0] == pytest.approx(3 * toy.c, rel=0.05)
    assert gs.energy_per_fu < root.energy_per_fu
    assert gs.energy_gain_mev_per_fu > 1.0
    note = result.ground_state_note()
    assert note.startswith(f"predicted ground state: #{gs.index}")
    assert "reached through #0 P4/mmm (123): the off-grid dip at q=(0,0,1/3)" in note
    assert "real (k(0,0,1/3)_1 at -9.57 THz there)" in note
    # search.json and result.json say the same
    data = json.loads((out / "search.json").read_text())
    entry = data["nodes"][0]["off_grid_follow"]
    assert entry["outcome"] == "real" and entry["supercell"] == [[1, 0, 0], [0, 1, 0], [0, 0, 3]]
    assert entry["folder"] == "offgrid" and "real" in entry["text"]
    assert data["nodes"][0]["status"].startswith("searched: the off-grid dip")
    assert (out / "offgrid" / "02_phonons.json").exists()
    assert load_search(out).nodes[0].off_grid_follow == follow


def test_a_rerun_loads_the_off_grid_check(real_dip):
    toy, result, out = real_dip
    again = _search(toy, out)
    assert again.nodes[0].off_grid_follow == result.nodes[0].off_grid_follow
    assert [(n.label, round(n.energy_gain_mev_per_fu, 4)) for n in again.nodes] == [
        (n.label, round(n.energy_gain_mev_per_fu, 4)) for n in result.nodes
    ]


def test_without_the_follow_the_dip_is_only_reported():
    toy = PlantedOffGridChainModel()
    result = _search(toy, follow_off_grid=False)
    root = result.nodes[0]
    assert root.dynamically_stable is True and root.status == NodeStatus.STABLE
    assert root.off_grid_follow is None
    assert root.off_grid is not None and root.off_grid.min_frequency_thz < -9.0
    assert result.ground_state == 0 and len(result.nodes) == 1
    assert "confirm with a larger supercell" in result.ground_state_note()


def test_an_interpolation_artefact_is_checked_and_called_stable(tmp_path):
    toy = PlantedOffGridChainModel.artefact()
    result = _search(toy, tmp_path)
    root = result.nodes[0]
    follow = root.off_grid_follow
    assert follow is not None and follow.outcome == OffGridOutcome.ARTEFACT
    assert follow.interpolated_thz < -9.0  # the 2x2x7 interpolation dips ...
    assert follow.frequency_thz > 9.0  # ... the mode at that q is real and stable
    assert follow.supercell == CAPTURING and not follow.soft_elsewhere
    assert root.dynamically_stable is True and root.status == NodeStatus.STABLE
    assert root.off_grid is None  # the 1x1x3 interpolation shows no dip left
    assert root.elastic is not None and root.elastic.stable  # then strain, as for any node
    assert result.ground_state == 0
    note = result.ground_state_note()
    assert note.startswith("the parent P4/mmm (123) is dynamically stable")
    assert "checked in supercell 1x1x3 (3 atoms): an interpolation artefact" in note
    assert "confirm with a larger supercell" not in note
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["nodes"][0]["off_grid_follow"]["outcome"] == "interpolation artefact"
    assert data["ground_state"]["status"].startswith("stable: the off-grid dip at q=(0,0,1/3)")
    from ase_symbreak.workflows.html_report import _stability

    # the report says what the check found, as the CLI's table does
    assert _stability(data["nodes"][0]) == ("stable", "yes (off-grid dip: artefact (1x1x3))")


def test_a_dip_beyond_the_size_limits_is_not_checked(monkeypatch, tmp_path):
    from ase_symbreak.workflows import offgrid_follow

    monkeypatch.setattr(offgrid_follow, "MAX_FOLLOW_ATOMS", 2)
    toy = PlantedOffGridChainModel()
    result = _search(toy, tmp_path)
    root = result.nodes[0]
    assert root.status == NodeStatus.OFF_GRID_UNCHECKED
    assert root.dynamically_stable is True and root.off_grid is not None
    assert root.off_grid_follow.outcome == OffGridOutcome.NOT_CHECKED
    assert root.status_text.startswith(
        "stable at the computed q: the off-grid dip at q=(0,0,1/3) (-9.57 THz interpolated "
        "from the 2x2x7 supercell) not checked: its supercell 1x1x3 has 3 cells, 3 atoms, "
        "beyond the limits of an off-grid check"
    )
    assert not (tmp_path / "offgrid").exists()
    note = result.ground_state_note()
    assert "not checked: its supercell 1x1x3" in note
    assert "confirm with a larger supercell" in note


def test_the_follow_in_one_table_cell(real_dip):
    """The cell the CLI's descent table shows for a followed node (not 'off grid ... ?')."""
    _, result, _ = real_dip
    assert result.nodes[0].off_grid_follow.short() == "off-grid dip: real (1x1x3)"
