"""Result folders that were damaged, edited, interrupted or shared (issue 19).

Every step file carries the hash of its content and the key of its inputs, which include the
content hashes of the steps it was computed from. A damaged file is reported and recomputed,
never used; a step recomputed with another result invalidates the later steps; two runs on one
folder are refused. The toy model of test_workflows.py keeps each search to a few seconds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys

import pytest

from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.storage import (
    LOCK_NAME,
    Checkpoints,
    FolderLocked,
    content_hash,
    folder_lock,
)

from .test_workflows import CountingCalculator
from .test_workflows import _settings as one_level_settings

STEP_FILES = ("01_parent", "02_phonons", "03_soft_modes", "04_condense")


def _settings(**kw) -> SearchSettings:
    """test_workflows.py's one-level search, with two coupled-pair children."""
    return one_level_settings(**{"max_children": 2, **kw})


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def reference(toy, tmp_path_factory):
    """A finished search folder and its result."""
    out = tmp_path_factory.mktemp("reference")
    calc = CountingCalculator(model=toy, dtype="float64")
    return distortion_search(toy.cubic(), calc, _settings(), out_dir=out), out


def _summary(result):
    """What must not change between equal runs: candidates, children, energies (exactly)."""
    return (
        [
            (c.irreps, c.direction, c.space_group_symbol, tuple(c.energies_mev_per_fu))
            for c in result.condense.candidates
        ],
        [
            (
                c.candidate.name,
                c.identification.space_group_symbol,
                c.identification.energy_gain_mev_per_fu,
            )
            for c in result.children
        ],
    )


def _copy(reference, tmp_path):
    _, out = reference
    dest = tmp_path / "run"
    shutil.copytree(out, dest)
    return dest


def _rerun(toy, folder):
    calc = CountingCalculator(model=toy, dtype="float64")
    result = distortion_search(toy.cubic(), calc, _settings(), out_dir=folder)
    return result, calc


def test_step_files_carry_their_content_hash(reference):
    _, out = reference
    for name in STEP_FILES:
        data = json.loads((out / f"{name}.json").read_text())
        assert data["format"] == 2
        assert data["content_hash"] == content_hash(data["result"])


def test_intact_folder_is_reused(toy, reference, tmp_path):
    folder = _copy(reference, tmp_path)
    result, calc = _rerun(toy, folder)
    assert calc.fc_calls == 0
    assert all(t["loaded"] for t in result.timings.values() if "loaded" in t)
    assert _summary(result) == _summary(reference[0])


def _truncate(path):
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def _wrong_shape_list(path):
    path.write_text("[1, 2, 3]")


def _empty_object(path):
    path.write_text("{}")


def _valid_hash_wrong_result(path):
    data = json.loads(path.read_text())
    data["result"] = {"unexpected": 1}
    data["content_hash"] = content_hash(data["result"])
    path.write_text(json.dumps(data))


def _edited_numbers(path):
    data = json.loads(path.read_text())
    text = json.dumps(data["result"])
    # make every frequency (or energy) look different without touching the hash
    data["result"] = json.loads(text.replace("0.", "9.", 1))
    assert data["result"] != json.loads(text)
    path.write_text(json.dumps(data))


def _binary(path):
    path.write_bytes(os.urandom(64))


DAMAGE = {
    "truncated": (_truncate, "does not parse"),
    "a JSON list": (_wrong_shape_list, "not an object"),
    "an empty object": (_empty_object, "lacks"),
    "a result of the wrong shape": (_valid_hash_wrong_result, "wrong shape"),
    "edited numbers": (_edited_numbers, "does not match its hash"),
    "binary garbage": (_binary, "does not parse"),
}


@pytest.mark.parametrize("step", ["02_phonons", "04_condense"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_step_is_reported_and_recomputed(toy, reference, tmp_path, caplog, step, damage):
    folder = _copy(reference, tmp_path)
    spoil, why = DAMAGE[damage]
    spoil(folder / f"{step}.json")
    with caplog.at_level(logging.WARNING, logger="ase_symbreak.workflows.storage"):
        result, calc = _rerun(toy, folder)
    message = f"{step}.json is damaged"
    assert any(message in r.getMessage() and why in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
    assert calc.fc_calls == (1 if step == "02_phonons" else 0)
    assert _summary(result) == _summary(reference[0])
    data = json.loads((folder / f"{step}.json").read_text())  # repaired on disk
    assert data["content_hash"] == content_hash(data["result"])


def test_damaged_child_is_recomputed(toy, reference, tmp_path, caplog):
    folder = _copy(reference, tmp_path)
    _edited_numbers(folder / "05_child_00.json")
    with caplog.at_level(logging.WARNING, logger="ase_symbreak.workflows.storage"):
        result, _ = _rerun(toy, folder)
    assert any("05_child_00.json is damaged" in r.getMessage() for r in caplog.records)
    assert _summary(result) == _summary(reference[0])


def test_missing_middle_step_is_recomputed_and_identical_results_keep_later_steps(
    toy, reference, tmp_path
):
    folder = _copy(reference, tmp_path)
    (folder / "02_phonons.json").unlink()
    stamp = (folder / "04_condense.json").stat().st_mtime_ns
    result, calc = _rerun(toy, folder)
    assert calc.fc_calls == 1  # the phonons again
    # the recomputed phonons equal the old ones, so what was built on them stays valid
    assert (folder / "04_condense.json").stat().st_mtime_ns == stamp
    assert _summary(result) == _summary(reference[0])


def test_a_changed_step_invalidates_every_later_step(toy, reference, tmp_path):
    """A parent whose result differs (here: replaced by a valid file for the same inputs with
    another energy) must not be combined with phonons computed from the old parent."""
    folder = _copy(reference, tmp_path)
    data = json.loads((folder / "01_parent.json").read_text())
    data["result"]["energy"] = data["result"]["energy"] + 1.0
    Checkpoints(folder).save("01_parent", data["key"], data["result"])
    stamps = {n: (folder / f"{n}.json").stat().st_mtime_ns for n in STEP_FILES[1:]}
    _, calc = _rerun(toy, folder)
    assert calc.fc_calls == 1  # phonons recomputed from the changed parent
    for name in STEP_FILES[1:]:
        assert (folder / f"{name}.json").stat().st_mtime_ns != stamps[name], name


@pytest.mark.parametrize(
    "kill_at",
    [("phonons", 0), ("condense", 1), ("relax children", 1)],
    ids=["before phonons", "inside condense", "between children"],
)
def test_kill_and_resume_gives_the_same_search(toy, reference, tmp_path, kill_at):
    step, when = kill_at

    def kill(s, done, total):
        if s == step and done == when:
            raise KeyboardInterrupt

    calc = CountingCalculator(model=toy, dtype="float64")
    with pytest.raises(KeyboardInterrupt):
        distortion_search(toy.cubic(), calc, _settings(), out_dir=tmp_path, progress=kill)
    assert not (tmp_path / LOCK_NAME).exists()  # the lock goes with the run
    assert not list(tmp_path.glob(".*.tmp"))
    result, _ = _rerun(toy, tmp_path)
    assert _summary(result) == _summary(reference[0])


def test_same_search_twice_is_identical(toy, reference, tmp_path):
    """Determinism: a second search from scratch gives the same candidates in the same order
    and the same energies, bit for bit."""
    calc = CountingCalculator(model=toy, dtype="float64")
    again = distortion_search(toy.cubic(), calc, _settings(), out_dir=tmp_path)
    assert calc.fc_calls == 1
    assert _summary(again) == _summary(reference[0])
    for name in STEP_FILES:
        first = json.loads((reference[1] / f"{name}.json").read_text())
        second = json.loads((tmp_path / f"{name}.json").read_text())
        assert first["content_hash"] == second["content_hash"], name


# ------------------------------------------------------------------ the lock
def _write_lock(folder, pid, host=None):
    folder.mkdir(parents=True, exist_ok=True)
    lock = {"pid": pid, "host": host or socket.gethostname(), "started": 0.0}
    (folder / LOCK_NAME).write_text(json.dumps(lock))


def test_second_run_on_a_folder_is_refused(toy, tmp_path):
    _write_lock(tmp_path, os.getppid())  # a live process that is not us
    calc = CountingCalculator(model=toy, dtype="float64")
    with pytest.raises(FolderLocked, match="in use by another run"):
        distortion_search(toy.cubic(), calc, _settings(), out_dir=tmp_path)
    assert calc.fc_calls == 0
    assert (tmp_path / LOCK_NAME).exists()  # someone else's lock is left alone


def test_lock_of_a_dead_process_is_taken_over(toy, tmp_path, caplog):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _write_lock(tmp_path, proc.pid)
    with caplog.at_level(logging.WARNING, logger="ase_symbreak.workflows.storage"):
        with folder_lock(tmp_path):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert any("stale lock" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_reentrant_in_one_process(tmp_path):
    with folder_lock(tmp_path), folder_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_in_another_process_blocks(tmp_path):
    """A real second process holding the lock."""
    code = (
        "import sys, time\n"
        "from ase_symbreak.workflows.storage import folder_lock\n"
        f"with folder_lock({str(tmp_path)!r}):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=f"process {proc.pid}"):
            with folder_lock(tmp_path):
                pass
    finally:
        proc.communicate("\n", timeout=60)
    with folder_lock(tmp_path):  # free again
        pass


def test_equal_gains_rank_the_same_way_whatever_the_rounding_noise(reference):
    """Candidates whose gains differ only by floating-point noise (1e-12 meV) are ordered by
    the canonical tie-breakers, in whichever order and with whichever noise they come."""
    import dataclasses

    from ase_symbreak.workflows.search import choose_candidates
    from ase_symbreak.workflows.steps.condense import candidate_rank

    base = reference[0].condense.candidates[0]
    a = dataclasses.replace(base, direction="(a,0,0)", energy_gain_mev_per_fu=5.0 + 1e-12)
    b = dataclasses.replace(base, direction="(0,a,0)", energy_gain_mev_per_fu=5.0 - 1e-12)
    c = dataclasses.replace(base, direction="(a,a,0)", energy_gain_mev_per_fu=4.0)
    first = sorted([a, b, c], key=candidate_rank)
    b_up = dataclasses.replace(b, energy_gain_mev_per_fu=5.0 + 2e-12)
    second = sorted([c, b_up, a], key=candidate_rank)
    assert [x.direction for x in first] == [x.direction for x in second]
    assert [x.direction for x in first] == ["(0,a,0)", "(a,0,0)", "(a,a,0)"]
    pairs = [dataclasses.replace(x, irreps=("GM4-", "R4+")) for x in (a, b, c)]
    chosen, _ = choose_candidates(pairs, max_children=1)
    chosen_again, _ = choose_candidates(pairs[::-1], max_children=1)
    assert [x.direction for x in chosen] == [x.direction for x in chosen_again] == ["(0,a,0)"]
