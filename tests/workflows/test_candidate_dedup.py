"""Issue 32 (less work for the same answer): candidates whose scanned structures are one
structure up to the parent's symmetry (another domain of the same isotropy subgroup, or
scans that end in the same structure) are relaxed once, and the copy is recorded as a
duplicate naming the candidate relaxed in its place, not silently dropped.

The isotropy subgroups are enumerated one per class of equivalent directions, so the search
itself makes no such copies on the toy: the tests plant one, the planted-tilt toy's
I4/mcm candidate carried into another domain by a parent operation (a rotated copy of its
structure and pattern), as a condensation that listed two domains would.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import distortion_search, search
from ase_symbreak.workflows.steps import same_structures
from ase_symbreak.workflows.steps.condense import candidate_rank

from .test_descent import _tilt_settings
from .test_workflows import CountingCalculator

DOMAIN = " other domain"


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


def _other_domain(candidate, ops):
    """``candidate`` carried by the first parent operation that moves its scanned structure
    to another domain: the same structure, rotated; a pattern the operation's image.
    """
    images = ops.act(candidate.pattern)
    moved = np.abs(images - candidate.pattern).max(axis=(1, 2))
    g = int(np.flatnonzero(moved > 0.1)[0])
    rot = ops.cartesian[g]
    structure = candidate.structure.copy()
    structure.set_cell(candidate.structure.cell[:] @ rot.T, scale_atoms=False)
    structure.positions = candidate.structure.positions @ rot.T
    return dataclasses.replace(
        candidate,
        direction=candidate.direction + DOMAIN,
        pattern=images[g],
        structure=structure,
    )


def _planting_condense(monkeypatch):
    """Make the search's condensation list the I4/mcm candidate twice (two domains)."""
    condense = search.condense

    def planted(parent, soft, calc, **kw):
        result = condense(parent, soft, calc, **kw)
        (tetragonal,) = [c for c in result.candidates if c.space_group_symbol == "I4/mcm"]
        ops = search.supercell_operations(parent, soft.supercell_matrix, soft.origin_index, 1e-3)
        copy = _other_domain(tetragonal, ops)
        return dataclasses.replace(result, candidates=(*result.candidates, copy))

    monkeypatch.setattr(search, "condense", planted)


def _counting_relaxations(monkeypatch) -> list:
    """Record every candidate the search relaxes (its name)."""
    relaxed: list[str] = []
    relax_child = search.relax_child

    def counting(candidate, *args, **kw):
        relaxed.append(candidate.name)
        return relax_child(candidate, *args, **kw)

    monkeypatch.setattr(search, "relax_child", counting)
    return relaxed


def _search(toy, out, monkeypatch, dedup: bool):
    _planting_condense(monkeypatch)
    relaxed = _counting_relaxations(monkeypatch)
    if not dedup:
        monkeypatch.setattr(
            search,
            "distinct_candidates",
            lambda candidates, ops: (sorted(candidates, key=candidate_rank), []),
        )
    calc = CountingCalculator(model=toy, dtype="float64")
    result = distortion_search(toy.cubic(), calc, _tilt_settings(max_depth=1), out_dir=out)
    return result, relaxed


@pytest.fixture(scope="module")
def searches(toy, tmp_path_factory):
    """The planted search with and without the deduplication (and what each relaxed)."""
    out = {}
    for dedup in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            folder = tmp_path_factory.mktemp(f"dedup_{dedup}")
            result, relaxed = _search(toy, folder, mp, dedup)
            out[dedup] = (result, relaxed, folder)
    return out


def test_symmetry_equivalent_candidates_are_relaxed_once(searches):
    result, relaxed, folder = searches[True]
    names = [c.name for c in result.condense.candidates]
    (copy,) = [n for n in names if DOMAIN in n]
    original = copy.replace(DOMAIN, "")
    # relaxed once: the first domain only, every other candidate once
    assert original in relaxed and copy not in relaxed
    first_level = [n for n in relaxed if n in names]
    assert sorted(first_level) == sorted(n for n in names if n != copy)
    # recorded as a duplicate naming the candidate relaxed in its place, no budget spent
    (dup,) = [s for s in result.skipped if s.candidate == copy]
    assert dup.duplicate_of == original
    assert dup.budget is None and "the same structure as candidate" in dup.reason
    assert result.complete  # a duplicate is not work left
    summary = json.loads((folder / "search.json").read_text())
    (entry,) = [s for s in summary["skipped"] if s["candidate"] == copy]
    assert entry["duplicate_of"] == original
    # the parent node lists it too
    assert any(s.duplicate_of == original for s in result.nodes[0].skipped)


def test_the_answer_is_the_same_as_without_deduplication(searches):
    (with_dedup, relaxed, _), (without, relaxed_all, _) = searches[True], searches[False]
    assert len(relaxed_all) == len(relaxed) + 1  # the copy, relaxed again
    # without it the copy is relaxed and then found to be the same minimum afterwards
    assert any(DOMAIN in c.candidate.direction for c in without.duplicates)

    def children(r):
        return [(c.identification.space_group_symbol, c.candidate.name) for c in r.children]

    assert children(with_dedup) == children(without)
    gains = [c.identification.energy_gain_mev_per_fu for c in with_dedup.children]
    gains_all = [c.identification.energy_gain_mev_per_fu for c in without.children]
    assert np.allclose(gains, gains_all, atol=1e-6)
    gs, gs_all = with_dedup.predicted_ground_state, without.predicted_ground_state
    assert gs.label == gs_all.label == "R-3c (167)"
    assert gs.energy_gain_mev_per_fu == pytest.approx(gs_all.energy_gain_mev_per_fu, abs=1e-6)
    assert [n.label for n in with_dedup.nodes] == [n.label for n in without.nodes]


def test_same_structures_finds_domains_not_different_directions(toy):
    """On the toy's real candidates: none is another's copy; a domain copy of each is."""
    from ase_symbreak.calculator import SymBreakCalculator

    calc = SymBreakCalculator(model=toy, dtype="float64")
    plan = search.plan_search(toy.cubic(), calc, _tilt_settings(max_depth=0))
    cands = sorted(plan.condense.candidates, key=candidate_rank)
    assert len({c.space_group_number for c in cands}) == len(cands) >= 3
    soft = plan.soft_modes
    ops = search.supercell_operations(
        plan.parent.atoms, soft.supercell_matrix, soft.origin_index, 1e-3
    )
    # different groups never match; the same candidate twice, or a domain copy, does
    assert same_structures(cands, ops) == [None] * len(cands)
    copies = [_other_domain(c, ops) for c in cands if c.space_group_symbol != "R-3c"]
    found = same_structures(cands + copies, ops)
    assert found[: len(cands)] == [None] * len(cands)
    expected = [i for i, c in enumerate(cands) if c.space_group_symbol != "R-3c"]
    assert found[len(cands) :] == expected
    # another amplitude of the same direction is another structure
    deeper = dataclasses.replace(cands[0], best_amplitude=cands[0].best_amplitude + 0.01)
    assert same_structures([cands[0], deeper], ops) == [None, None]
    # distinct_candidates keeps the first, records the copy
    kept, dups = search.distinct_candidates([*cands, copies[0]], lambda: ops)
    assert kept == cands
    assert [d.duplicate_of for d in dups] == [cands[expected[0]].name]
