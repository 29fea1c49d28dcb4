"""Issue 29: the search's steps are one table; fingerprints come from the settings each step
declares, so no setting can change a result without changing its key."""

from __future__ import annotations

import dataclasses

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings
from ase_symbreak.workflows.search import (
    CHILD_STEP,
    PLAN_STEPS,
    UNKEYED_SETTINGS,
    plan_search,
)
from ase_symbreak.workflows.settings import STEPS

FCC = ((0, 1, 1), (1, 0, 1), (1, 1, 0))


def test_every_setting_is_in_a_key_or_says_why_not():
    declared = {f for step in (*PLAN_STEPS, CHILD_STEP) for f in step.fields}
    fields = {f.name for f in dataclasses.fields(SearchSettings)}
    assert declared <= fields, f"unknown settings in the table: {declared - fields}"
    assert not declared & set(UNKEYED_SETTINGS)
    assert declared | set(UNKEYED_SETTINGS) == fields, (
        f"settings in no key: {fields - declared - set(UNKEYED_SETTINGS)}"
    )


def test_table_is_in_step_order_and_reads_only_earlier_steps():
    names = [s.name for s in PLAN_STEPS] + [CHILD_STEP.name]
    assert names == list(STEPS[:5])
    for i, step in enumerate(PLAN_STEPS):
        assert set(step.reads) <= set(names[:i])


def test_a_changed_setting_recomputes_its_step_and_the_later_ones(tmp_path):
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    settings = SearchSettings(supercell=FCC, parent_fmax=1e-4, plot=False, max_depth=0)
    plan_search(toy.cubic(), calc, settings, tmp_path)
    again = plan_search(
        toy.cubic(), calc, dataclasses.replace(settings, threshold_thz=-0.2), tmp_path
    )
    loaded = {step: t["loaded"] for step, t in again.timings.items()}
    assert loaded == {STEPS[0]: True, STEPS[1]: True, STEPS[2]: False, STEPS[3]: False}
