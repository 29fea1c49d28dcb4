"""Descent to dynamic stability on toy energy surfaces whose minima are known exactly.

Tilt toy (ase_symbreak/testing/toy_models.PlantedTiltModel): rigid octahedra with a double
well ``W`` in every B-X-B buckling, depth ``W* = A^2 / 4B`` per X. In the FCC supercell
only R4+ is soft. a0a0c- (I4/mcm) buckles 2 of the 3 X per formula unit: ``2 W*``, and its
apical X is still on the top of its well, so I4/mcm is unstable at its own Gamma point;
a-a-a- (R-3c) buckles all three: ``3 W*``, the global minimum (every term is bounded below
by its value there), so R-3c is stable. The descent must mark I4/mcm unstable, search it
again and reach the R-3c minimum from it (merged with the R-3c found in one step).

Rocksalt toy (PlantedPolarRocksaltModel): a GM4- double well with a cubic anisotropy that
makes the body diagonal (R3m) the only minimum: the R3m child is stable and the descent
stops there; the (a,0,0) and (a,a,0) children are saddles that lead to R3m.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel, PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.descent import child_supercell, same_structure
from ase_symbreak.workflows.search import choose_candidates

FCC = ((0, 1, 1), (1, 0, 1), (1, 1, 0))


class CountingCalculator(SymBreakCalculator):
    """Counts Hessian evaluations; raises KeyboardInterrupt at call ``kill_at`` (a kill)."""

    def __init__(self, *args, kill_at: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fc_calls = 0
        self.kill_at = kill_at

    def get_force_constants(self, *args, **kwargs):
        self.fc_calls += 1
        if self.kill_at is not None and self.fc_calls >= self.kill_at:
            raise KeyboardInterrupt
        return super().get_force_constants(*args, **kwargs)


def _tilt_settings(**kw):
    base = dict(
        supercell=FCC,
        child_fmax=2e-4,
        parent_fmax=1e-4,
        amplitudes=(0.1, 0.2, 0.3),
        plot=False,
        child_supercell=(1, 1, 1),
        random_trials=0,  # the soft-mode descent (test_random_trials.py tests the trials)
    )
    return SearchSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def tilt_descent(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("tilt_descent")
    calc = CountingCalculator(model=toy, dtype="float64")
    result = distortion_search(toy.cubic(), calc, _tilt_settings(), out_dir=out)
    return result, out, calc.fc_calls


def _by_group(result):
    return {n.space_group_symbol: n for n in result.nodes[1:]}


def test_tilt_descent_reaches_the_planted_ground_state(toy, tilt_descent):
    result, _, _ = tilt_descent
    w = toy.well_depth * 1000.0  # meV per X at the bottom of its well
    nodes = _by_group(result)
    i4, r3c = nodes["I4/mcm"], nodes["R-3c"]
    assert i4.energy_gain_mev_per_fu == pytest.approx(2 * w, abs=0.05)
    assert r3c.energy_gain_mev_per_fu == pytest.approx(3 * w, abs=0.05)
    # I4/mcm is a saddle: unstable at its own Gamma point, searched again
    assert i4.dynamically_stable is False and i4.status == "searched"
    assert i4.softest_mode["frequency_thz"] < -0.5 and i4.softest_mode["q_label"] == "GM"
    assert i4.softest_mode["irrep"].startswith("GM")
    # the second step from I4/mcm reaches the R-3c minimum: one node, two parents
    assert r3c.index in i4.children and i4.index in r3c.other_parents
    assert r3c.dynamically_stable is True and r3c.status == "stable" and not r3c.children
    gs = result.predicted_ground_state
    assert gs is r3c or gs.index == r3c.index
    assert gs.energy_gain_mev_per_fu == max(n.energy_gain_mev_per_fu for n in result.nodes)
    # every leaf is stable (the descent did not stop at the depth limit)
    leaves = [n for n in result.nodes[1:] if not n.children]
    assert leaves and all(n.dynamically_stable for n in leaves)
    # a node appears once: no two nodes with the same group and structure
    for a in result.nodes[1:]:
        for b in result.nodes[a.index + 1 :]:
            assert not (
                a.space_group_number == b.space_group_number and same_structure(a.atoms, b.atoms)
            )


def test_search_json_reports_the_descent(tilt_descent):
    result, out, _ = tilt_descent
    data = json.loads((out / "search.json").read_text())
    gs = result.predicted_ground_state
    assert data["ground_state"]["index"] == gs.index
    assert data["ground_state"]["space_group_symbol"] == "R-3c"
    assert "predicted ground state" in data["ground_state_note"]
    ranked = [data["nodes"][i] for i in data["ranked"]]
    assert ranked[0]["index"] == gs.index
    stable_flags = [n["dynamically_stable"] is True for n in ranked]
    assert stable_flags == sorted(stable_flags, reverse=True)  # stable structures first
    for child in data["children"]:
        assert {"dynamically_stable", "softest_mode", "depth", "parent_node", "node"} <= set(child)
        assert child["depth"] == 1 and child["parent_node"] == 0
    for node in data["nodes"][1:]:
        assert (out / node["folder"] / "02_phonons.json").exists()
        assert (out / node["cif"]).exists()
    assert "└─" in data["descent_tree"]


def test_depth_limit_checks_but_does_not_search(toy, tmp_path):
    result = distortion_search(toy.cubic(), _calc(toy), _tilt_settings(max_depth=1))
    nodes = _by_group(result)
    assert nodes["I4/mcm"].status == "depth limit" and nodes["I4/mcm"].dynamically_stable is False
    assert not nodes["I4/mcm"].children and not nodes["R-3c"].other_parents
    assert all(n.depth <= 1 for n in result.nodes)


def _calc(toy):
    return SymBreakCalculator(model=toy, dtype="float64")


def test_restart_in_the_middle_of_the_descent(toy, tilt_descent, tmp_path):
    full, _, total_fc = tilt_descent
    # killed at the third Hessian: root phonons and one node's phonons are finished
    killer = CountingCalculator(model=toy, dtype="float64", kill_at=3)
    with pytest.raises(KeyboardInterrupt):
        distortion_search(toy.cubic(), killer, _tilt_settings(), out_dir=tmp_path)
    resumed = CountingCalculator(model=toy, dtype="float64")
    again = distortion_search(toy.cubic(), resumed, _tilt_settings(), out_dir=tmp_path)
    assert resumed.fc_calls == total_fc - 2  # nothing finished is recomputed
    assert [(n.space_group_number, n.status) for n in again.nodes] == [
        (n.space_group_number, n.status) for n in full.nodes
    ]
    np.testing.assert_allclose(
        [n.energy_gain_mev_per_fu for n in again.nodes],
        [n.energy_gain_mev_per_fu for n in full.nodes],
        atol=1e-6,
    )
    done = CountingCalculator(model=toy, dtype="float64")
    distortion_search(toy.cubic(), done, _tilt_settings(), out_dir=tmp_path)
    assert done.fc_calls == 0


def test_rocksalt_descent_stops_at_the_stable_child():
    toy = PlantedPolarRocksaltModel()
    result = distortion_search(
        toy.rocksalt(),
        _calc(toy),
        SearchSettings(
            supercell=(1, 1, 1),
            couple=False,
            plot=False,
            amplitudes=(0.05, 0.1, 0.15, 0.2),
            child_supercell=(1, 1, 1),
            random_trials=0,
        ),
    )
    r3m = [n for n in result.nodes if n.space_group_number == 160]
    assert len(r3m) == 1  # reached from (a,a,a) directly and from the saddles: merged
    r3m = r3m[0]
    assert r3m.dynamically_stable and r3m.status == "stable" and r3m.children == ()
    assert r3m.depth == 1 and len(r3m.other_parents) >= 1
    saddles = [n for n in result.nodes[1:] if n.index != r3m.index]
    assert saddles and all(n.dynamically_stable is False for n in saddles)
    assert all(r3m.index in n.children for n in saddles)
    assert result.predicted_ground_state.index == r3m.index


def test_single_irrep_candidates_are_never_cut(tilt_descent):
    result, _, _ = tilt_descent
    singles = list(result.condense.candidates)
    assert len(singles) >= 3
    pairs = [
        dataclasses.replace(c, irreps=("R4+", "M3+"), energy_gain_mev_per_fu=100.0 + k)
        for k, c in enumerate(singles)
    ]
    chosen, skipped = choose_candidates(singles + pairs, max_children=1)
    assert all(c in chosen for c in singles)  # even with max_children=1 and larger pair gains
    assert [c for c in chosen if len(c.irreps) == 2] == [pairs[-1]]
    assert len(skipped) == len(pairs) - 1
    assert all("max_children=1" in s["reason"] for s in skipped)
    chosen, skipped = choose_candidates(singles + pairs, max_children=None)
    assert len(chosen) == 2 * len(singles) and not skipped


def test_child_supercell_rule():
    from ase.build import bulk

    from ase_symbreak.structures import cubic_perovskite

    cubic = cubic_perovskite(3.9)
    assert np.array_equal(child_supercell(cubic), 2 * np.eye(3, dtype=int))
    assert np.array_equal(child_supercell(cubic.repeat((2, 2, 1))), np.eye(3, dtype=int))
    assert np.array_equal(child_supercell(bulk("Si")), 2 * np.eye(3, dtype=int))
    # with the parent's 2x2x2 supercell: that lattice in the child's (strained) cell
    root = 2 * cubic.cell[:]
    i4mcm = cubic.copy()  # an fcc-like child cell, 2 % tetragonal strain
    i4mcm.set_cell(np.array(FCC) @ cubic.cell[:] @ np.diag([1.0, 1.0, 1.02]), scale_atoms=False)
    m = np.array(child_supercell(i4mcm, root))
    np.testing.assert_allclose(m @ i4mcm.cell[:], root @ np.diag([1.0, 1.0, 1.02]), atol=1e-9)
    assert round(np.linalg.det(m)) == 4  # 40 parent atoms = 4 cells of 10
    assert np.array_equal(child_supercell(cubic, root), 2 * np.eye(3, dtype=int))
    rotated = cubic.copy()
    rotated.rotate(30, "z", rotate_cell=True)  # not a cell of the root lattice: volume rule
    assert np.array_equal(child_supercell(rotated, root), 2 * np.eye(3, dtype=int))


@pytest.mark.parametrize("bad", [{"max_depth": -1}, {"max_depth": 1.5}, {"time_budget_s": 0}])
def test_bad_descent_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SearchSettings(**bad)


def test_cli_search_prints_the_ground_state_first(tmp_path):
    """``ase-symbreak search`` with a toy model: the table opens with the ground state."""
    from ase.io import write
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    toy = PlantedPolarRocksaltModel()
    path = tmp_path / "rocksalt.cif"
    write(path, toy.rocksalt())
    res = CliRunner().invoke(
        app,
        [
            "search",
            str(path),
            "--model",
            "ase_symbreak.testing.toy_models:PlantedPolarRocksaltModel",
            "--supercell",
            "1",
            "1",
            "1",
            "--no-couple",
            "--max-depth",
            "1",
            "--time-budget",
            "0",
            "--allow-code-models",
            "--out",
            str(tmp_path / "out"),
        ],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    table = res.output[res.output.index("structures below") :]
    # the stable ground state is the first row, marked
    assert table.index("R3m") < table.index("ground") < table.index("Imm2") < table.index("I4mm")
    data = json.loads((tmp_path / "out" / "search.json").read_text())
    assert data["ground_state"]["space_group_number"] == 160
    assert data["settings"]["time_budget_s"] is None  # --time-budget 0: no limit


def test_work_budget_is_reported_not_silent(toy):
    """max_nodes=1 checks the lowest-energy child (R-3c, the planted minimum) and leaves the
    other nodes unchecked, saying so; the result says it is incomplete."""
    result = distortion_search(toy.cubic(), _calc(toy), _tilt_settings(max_nodes=1))
    assert len(result.children) >= 3  # the parent's search always finishes
    first, *rest = sorted(result.nodes[1:], key=lambda n: n.energy_per_fu)
    assert first.space_group_symbol == "R-3c" and first.dynamically_stable is True
    assert rest and all(n.dynamically_stable is None for n in rest)
    assert all(n.status_text.startswith("work budget: not checked (max_nodes=1") for n in rest)
    assert result.predicted_ground_state.index == first.index
    assert not result.complete
    assert result.left_by_budget() == [f"{len(rest)} node(s) not checked (max_nodes=1)"]
    assert "incomplete: " in result.ground_state_note()


def test_screen_entry_names_the_ground_state(toy, tilt_descent):
    from ase_symbreak.workflows.screening.inputs import StructureInput
    from ase_symbreak.workflows.screening.results import done_entry

    result, _, _ = tilt_descent
    entry = done_entry(StructureInput("toy", "input", toy.cubic()), result, 1, 0.0)
    assert entry.ground_state == "R-3c (167)"
    assert entry.ground_state_gain_mev_per_fu == pytest.approx(3000 * toy.well_depth, abs=0.05)
    assert entry.row()["ground_state"] == "R-3c (167)"


@pytest.mark.parametrize(
    "bad",
    [
        {"relax_parent": "no"},
        {"max_params": "two"},
        {"couple": 1},
        {"max_depth": True},
        {"child_fmax": "0.01"},
        {"max_children": 2.5},
    ],
)
def test_settings_of_the_wrong_type_are_refused(bad):
    """TOML recipes give strings and numbers as written: "no" must not be read as true."""
    from ase_symbreak.workflows.search import SearchSettings

    with pytest.raises(ValueError, match=next(iter(bad))):
        SearchSettings(**bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        SearchSettings.from_dict(bad)
