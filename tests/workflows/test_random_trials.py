"""Issue 31, part 2: minima past barriers.

The toy: rocksalt whose cation sits in a first-order polar well ``-A p^2 + B p^4 + C p^6``
with ``36 A < k_bond`` (Gamma stable, ``B < 0``, ``C > 0``): the R3m minimum, 62 meV/f.u.
below the cubic parent, is behind a barrier that no soft mode crosses. Following soft modes
alone calls the parent the ground state; the random trials (fixed seeds, half of them in
random subgroups) must find R3m, and give the same answer in every run.
"""

from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.random_trials import trial_cell, trial_structure


@pytest.fixture(scope="module")
def first_order():
    toy = PlantedPolarRocksaltModel(well_a=0.1, well_b=-0.1102, well_c=0.02143)
    return toy, SymBreakCalculator(model=toy, dtype="float64")


def _settings(**kw) -> SearchSettings:
    base = dict(supercell=(1, 1, 1), max_depth=2, plot=False, parent_fmax=1e-4)
    return SearchSettings(**{**base, **kw})


def test_soft_modes_alone_stop_at_the_parent(first_order):
    toy, calc = first_order
    result = distortion_search(toy.rocksalt(), calc, _settings(random_trials=0))
    assert not result.soft_modes.modes
    assert result.predicted_ground_state.index == 0  # the local verdict: the parent


def test_random_trials_find_the_minimum_behind_the_barrier(first_order, tmp_path):
    toy, calc = first_order
    result = distortion_search(toy.rocksalt(), calc, _settings(), out_dir=tmp_path)
    gs = result.predicted_ground_state
    assert gs.space_group_symbol == "R3m" and gs.via.startswith("random trial")
    assert gs.energy_gain_mev_per_fu == pytest.approx(61.86, abs=0.05)
    assert "found by random trial" in result.ground_state_note()
    # every trial is accounted for: a node, merged, or skipped with the reason
    assert len(list((tmp_path / "random").glob("05_child_*.json"))) == 8
    # minima above the parent are listed, not searched
    assert all(n.energy_gain_mev_per_fu > 0 for n in result.nodes[1:])
    again = distortion_search(toy.rocksalt(), calc, _settings())
    assert [(n.label, round(n.energy_gain_mev_per_fu, 3)) for n in again.nodes] == [
        (n.label, round(n.energy_gain_mev_per_fu, 3)) for n in result.nodes
    ]


def test_trials_are_fixed_and_half_of_them_symmetric(first_order):
    from ase_symbreak.symmetry import analyze

    toy, _ = first_order
    parent = toy.rocksalt()
    cell = trial_cell(parent)
    assert round(abs(np.linalg.det(cell))) * len(parent) <= 24
    a, b = trial_structure(parent, cell, 2), trial_structure(parent, cell, 2)
    np.testing.assert_array_equal(a.positions, b.positions)  # same seed, same numbers
    assert not np.allclose(a.positions, trial_structure(parent, cell, 4).positions)
    groups = [analyze(trial_structure(parent, cell, t), symprec=1e-3).number for t in range(8)]
    assert all(g == 1 for g in groups[1::2])  # odd trials: no symmetry
    assert all(g > 1 for g in groups[0::2])  # even trials: a random subgroup
