"""Issue 37: same input, same answer. The search's default bounds count work (candidates
per structure, descent nodes), not seconds: a slow or loaded machine gives the same result;
a wall-clock limit is explicit, says what it left, and a rerun without it completes the
answer of an uncut run from the same folder.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time

import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.search import choose_candidates

from .test_descent import _tilt_settings
from .test_workflows import CountingCalculator


class SleepyCalculator(SymBreakCalculator):
    """The toy model on a machine under random load: every call sleeps 0-3 ms first."""

    def __init__(self, *args, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self._random = random.Random(seed)

    def calculate(self, *args, **kwargs):
        time.sleep(self._random.uniform(0.0, 0.003))
        return super().calculate(*args, **kwargs)

    def get_force_constants(self, *args, **kwargs):
        time.sleep(self._random.uniform(0.0, 0.003))
        return super().get_force_constants(*args, **kwargs)


def _verdict(result) -> list[tuple]:
    """What a user reads: every node's group, status and gain (to 1e-3 meV/f.u.)."""
    return [
        (n.space_group_symbol, n.status_text, round(n.energy_gain_mev_per_fu, 3))
        for n in result.nodes
    ]


def _without_timings(folder) -> dict:
    data = json.loads((folder / "search.json").read_text())
    data.pop("timings")
    return data


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def uncut(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("uncut")
    calc = SymBreakCalculator(model=toy, dtype="float64")
    return distortion_search(toy.cubic(), calc, _tilt_settings(max_nodes=2), out_dir=out), out


def test_a_slow_machine_gives_the_same_answer_and_files(toy, uncut, tmp_path):
    fast, fast_out = uncut
    calc = SleepyCalculator(model=toy, dtype="float64", seed=7)
    slow = distortion_search(toy.cubic(), calc, _tilt_settings(max_nodes=2), out_dir=tmp_path)
    assert _verdict(slow) == _verdict(fast)
    assert _without_timings(tmp_path) == _without_timings(fast_out)
    # the budget cut real work, identically: 2 nodes checked, the others left
    assert not fast.complete and fast.left_by_budget() == slow.left_by_budget()
    checked = [n for n in fast.nodes[1:] if n.status_text.split(":")[0] != "work budget"]
    assert len(checked) == 2


def test_a_larger_budget_resumes_the_same_folder(toy, uncut, tmp_path):
    """Rerun with no node budget in a copy of the cut folder: the checked nodes are loaded,
    only the left ones computed, and the answer is that of a search never cut."""
    import shutil

    cut, cut_out = uncut
    folder = tmp_path / "resumed"
    shutil.copytree(cut_out, folder)
    resumed_calc = CountingCalculator(model=toy, dtype="float64")
    resumed = distortion_search(
        toy.cubic(), resumed_calc, _tilt_settings(max_nodes=None), out_dir=folder
    )
    fresh_calc = CountingCalculator(model=toy, dtype="float64")
    fresh = distortion_search(
        toy.cubic(), fresh_calc, _tilt_settings(max_nodes=None), out_dir=tmp_path / "fresh"
    )
    assert resumed.complete and fresh.complete
    assert _verdict(resumed) == _verdict(fresh)
    assert 0 < resumed_calc.fc_calls < fresh_calc.fc_calls  # the checked nodes were loaded


def test_wall_clock_limit_marks_the_result_incomplete_and_a_rerun_completes_it(toy, tmp_path):
    calc = SymBreakCalculator(model=toy, dtype="float64")
    settings = _tilt_settings(max_nodes=None)
    cut = distortion_search(
        toy.cubic(), calc, _tilt_settings(max_nodes=None, time_budget_s=1e-6), out_dir=tmp_path
    )
    assert not cut.complete
    assert cut.children == ()  # no relaxation started after the limit
    left = cut.left_by_budget()
    assert left and all("time_budget_s=1e-06" in line for line in left)
    assert "incomplete" in cut.ground_state_note()
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["complete"] is False and data["left_by_budget"] == left
    rerun = distortion_search(toy.cubic(), calc, settings, out_dir=tmp_path)
    uncut = distortion_search(toy.cubic(), calc, settings)
    assert rerun.complete and _verdict(rerun) == _verdict(uncut)


def test_max_candidates_keeps_the_most_promising_in_a_canonical_order(toy):
    calc = SymBreakCalculator(model=toy, dtype="float64")
    from ase_symbreak.workflows.search import search_one_level

    result = search_one_level(toy.cubic(), calc, _tilt_settings(max_depth=0))
    singles = list(result.condense.candidates)
    assert len(singles) >= 3
    pairs = [
        dataclasses.replace(c, irreps=("R4+", "M3+"), energy_gain_mev_per_fu=100.0 + k)
        for k, c in enumerate(singles)
    ]
    everything = singles + pairs
    chosen, skipped = choose_candidates(everything, max_candidates=len(singles) + 1)
    assert chosen[: len(singles)] == sorted(singles, key=lambda c: -c.energy_gain_mev_per_fu)
    assert chosen[-1] is pairs[-1]  # the best pair, after every single irrep
    assert len(skipped) == len(pairs) - 1
    assert all(s.budget == "max_candidates" for s in skipped)
    # the same choice from the candidates in any order
    again, _ = choose_candidates(list(reversed(everything)), max_candidates=len(singles) + 1)
    assert again == chosen
    with pytest.raises(ValueError, match="max_candidates"):
        SearchSettings(max_candidates=0)


@pytest.mark.slow
def test_thread_counts_give_the_same_real_search(tmp_path):
    """The demo's first level with SevenNet-0 under 1 and 2 torch threads: the same children,
    groups and gains to 1e-3 meV/f.u. (ranking energies in float64, relaxations to the
    default 1e-3 eV/A)."""
    import torch

    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS

    # the default force criterion (the demo's loose 0.02 eV/A leaves 0.01 meV/f.u. of noise)
    settings = dataclasses.replace(
        DEMO_SETTINGS, max_depth=0, plot=False, child_fmax=1e-3, parent_fmax=1e-3
    )
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tmp_path / f"threads{threads}"
            runs.append(distortion_search(cubic_perovskite(3.9), None, settings, out_dir=out))
    finally:
        torch.set_num_threads(before)
    one, two = runs
    assert [c.identification.space_group_symbol for c in one.children] == [
        c.identification.space_group_symbol for c in two.children
    ]
    assert [c.candidate.name for c in one.children] == [c.candidate.name for c in two.children]
    gains = [[c.identification.energy_gain_mev_per_fu for c in r.children] for r in runs]
    assert gains[1] == pytest.approx(gains[0], abs=1e-3)
