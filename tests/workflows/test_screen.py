"""High-throughput screen on a Dask LocalCluster, with the planted-tilt toy
(:mod:`ase_symbreak.testing.toy_models`, which the workers import by name).

The toy's searches take about a second each, so these tests exercise the orchestration:
same results as one search after another, the model loaded once per worker, retries of
failing tasks, bad structures failing alone, and a killed screen resuming without redoing
finished work.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.calcspec import CalculatorSpec
from ase_symbreak.workflows.screening import (
    SUMMARY_COLUMNS,
    load_jobqueue_config,
    open_client,
    read_structures,
    screen,
)

pytest.importorskip("distributed")

FCC = ((0, 1, 1), (1, 0, 1), (1, 1, 0))
# spawned Dask workers import the toys from the installed package, by these import paths
TOY = CalculatorSpec(model="ase_symbreak.testing.toy_models:PlantedTiltModel", dtype="float64")
FLAKY = CalculatorSpec(model="ase_symbreak.testing.toy_models:FlakyTiltModel", dtype="float64")
ROOT = Path(__file__).parents[2]


def _settings(**kw) -> SearchSettings:
    base = dict(
        supercell=FCC,
        child_fmax=2e-4,
        parent_fmax=1e-4,
        amplitudes=(0.1, 0.2, 0.3),
        plot=False,
        max_children=3,
        max_depth=0,
    )
    return SearchSettings(**{**base, **kw})


def _structures() -> dict:
    """Three parents of the toy: as built, strained by 2 %, and with the A site at the origin."""
    toy = PlantedTiltModel()
    strained = toy.cubic()
    strained.set_cell(strained.cell * 1.02, scale_atoms=True)
    shifted = toy.cubic()
    shifted.translate(-shifted.positions[0])
    shifted.wrap()
    return {"plain": toy.cubic(), "strained": strained, "a_origin": shifted}


@pytest.fixture(scope="module")
def client():
    with open_client(workers=2) as (c, _):
        yield c


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    calc = SymBreakCalculator(model=PlantedTiltModel(), dtype="float64")
    out = tmp_path_factory.mktemp("serial")
    return {
        name: distortion_search(atoms, calc, _settings(), out_dir=out / name)
        for name, atoms in _structures().items()
    }


@pytest.fixture(scope="module")
def first_screen(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("screen")
    calls = []
    result = screen(
        _structures(),
        _settings(),
        TOY,
        out_dir=out,
        client=client,
        torch_threads=1,
        progress=lambda *a: calls.append(a),
    )
    return result, out, calls


def _children(search: dict) -> list[tuple[str, float]]:
    return [(c["space_group_symbol"], c["energy_gain_mev_per_fu"]) for c in search["children"]]


@pytest.mark.slow  # default run under 10 min on 2 cores; run with -m slow
def test_screen_matches_searches_one_by_one(first_screen, serial_results):
    result, out, _ = first_screen
    assert [e.name for e in result.entries] == ["plain", "strained", "a_origin"]
    assert result.n_workers == 2 and not result.failed
    for name, serial in serial_results.items():
        entry = result[name]
        expected = serial.summary()
        got = result.search(name)
        assert (
            [m["irrep"] for m in got["soft_modes"]]
            == [m["irrep"] for m in expected["soft_modes"]]
            == ["R4+"]
        )
        assert [s for s, _ in _children(got)] == [s for s, _ in _children(expected)]
        np.testing.assert_allclose(
            [g for _, g in _children(got)], [g for _, g in _children(expected)], atol=1e-6
        )
        best = serial.children[0].identification
        assert (
            entry.best_child_space_group == f"{best.space_group_symbol} ({best.space_group_number})"
        )
        assert entry.energy_gain_mev_per_fu == pytest.approx(best.energy_gain_mev_per_fu, abs=1e-6)
        assert entry.unstable_irreps == ("R4+",) and entry.parent_space_group == "Pm-3m (221)"
        assert entry.formula == "SrTiO3" and entry.attempts == 1
    # the planted minimum: R-3c gains 3 well depths per formula unit
    assert result["plain"].best_child_space_group == "R-3c (167)"
    assert result["plain"].energy_gain_mev_per_fu == pytest.approx(
        3000 * PlantedTiltModel().well_depth, abs=0.02
    )


def test_model_loaded_once_per_worker(first_screen):
    result, _, _ = first_screen
    assert len(result.model_loads) == 2
    for loads in result.model_loads.values():  # many tasks ran on each worker, one load each
        assert loads == {repr(TOY): 1}


def test_summary_files_and_progress(first_screen):
    result, out, calls = first_screen
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == ["plain", "strained", "a_origin"]
    assert list(rows[0]) == list(SUMMARY_COLUMNS)
    assert all(r["status"] == "done" and r["unstable_irreps"] == "R4+" for r in rows)
    data = json.loads((out / "summary.json").read_text())
    assert data["model"]["model"] == TOY.model and data["settings"]["max_children"] == 3
    assert [r["best_child_space_group"] for r in data["structures"]] == [
        e.best_child_space_group for e in result.entries
    ]
    assert calls[-1][:2] == (3, 3) and calls[-1][2] == calls[-1][3] > 0
    done = [c[0] for c in calls]
    assert done == sorted(done)  # monotone progress
    for name in ("plain", "strained", "a_origin"):
        assert (out / name / "screen.json").exists() and (out / name / "05_child_00.json").exists()
    assert not list(out.rglob(".*.tmp"))


def test_rerun_skips_finished_structures(first_screen, client):
    result, out, _ = first_screen
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "summary.json"}
    again = screen(_structures(), _settings(), TOY, out_dir=out, client=client)
    assert all(e.loaded and e.attempts == 0 for e in again.entries)
    assert [e.energy_gain_mev_per_fu for e in again.entries] == [
        e.energy_gain_mev_per_fu for e in result.entries
    ]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten


def test_bad_structures_fail_alone(client, tmp_path):
    structures = _structures()
    folder = tmp_path / "in"
    folder.mkdir()
    from ase.io import write

    write(folder / "good.cif", structures["plain"])
    p1 = structures["plain"].copy()
    p1.rattle(0.05, seed=2)
    write(folder / "rattled.cif", p1)
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a oops\n")
    overlap = structures["plain"].copy()
    overlap.positions[2] = overlap.positions[1] + 0.1
    write(folder / "overlap.vasp", overlap, format="vasp")
    ba = structures["plain"].copy()
    ba.symbols[0] = "Ba"  # not an element of the toy model: fails on the worker, not retried
    write(folder / "barium.cif", ba)
    result = screen([folder], _settings(), TOY, out_dir=tmp_path / "out", client=client)
    by_name = {e.name: e for e in result.entries}
    assert sorted(by_name) == ["barium", "broken", "good", "overlap", "rattled"]
    assert by_name["good"].ok and by_name["good"].best_child_space_group == "R-3c (167)"
    assert "P1" in by_name["rattled"].error and by_name["rattled"].attempts == 0
    assert "cannot read" in by_name["broken"].error
    assert "overlapping atoms" in by_name["overlap"].error
    assert "ValueError" in by_name["barium"].error and "Ba" in by_name["barium"].error
    assert by_name["barium"].attempts == 1  # an error of the input is not retried
    rows = {r["name"]: r for r in csv.DictReader(open(tmp_path / "out" / "summary.csv"))}
    assert rows["good"]["status"] == "done"
    assert all(
        rows[n]["status"] == "failed" and rows[n]["error"]
        for n in ("barium", "broken", "overlap", "rattled")
    )


def test_model_the_workers_cannot_load(client, tmp_path):
    with pytest.raises(
        ValueError,
        match="cannot load model no_such_model on the workers: ValueError: unknown model",
    ):
        screen(_structures(), _settings(), "no_such_model", out_dir=tmp_path, client=client)


@pytest.mark.slow  # default run under 10 min on 2 cores; run with -m slow
def test_failing_task_is_retried_then_reported(client, tmp_path, monkeypatch):
    structures = _structures()
    ba = structures["plain"].copy()
    ba.symbols[0] = "Ba"
    inputs = {"plain": structures["plain"], "flaky": ba}
    counter = tmp_path / "failures_left"
    monkeypatch.setenv("SYMBREAK_FLAKY_FILE", str(counter))
    # the workers were started before this environment variable: give them the same one
    client.run(lambda: __import__("os").environ.__setitem__("SYMBREAK_FLAKY_FILE", str(counter)))
    try:
        counter.write_text("1")  # fails once, then passes
        result = screen(
            inputs, _settings(), FLAKY, out_dir=tmp_path / "once", client=client, retries=2
        )
        assert result["flaky"].ok and result["flaky"].attempts == 2
        assert result["flaky"].best_child_space_group == "R-3c (167)"

        counter.write_text("100")  # fails every time
        out = tmp_path / "always"
        result = screen(inputs, _settings(), FLAKY, out_dir=out, client=client, retries=1)
        assert result["plain"].ok
        assert not result["flaky"].ok and result["flaky"].attempts == 2
        assert result["flaky"].error == "RuntimeError: injected failure"
        assert (
            json.loads((out / "flaky" / "screen.json").read_text())["entry"]["status"] == "failed"
        )

        counter.write_text("0")  # the cause is gone: a rerun completes the failed one only
        stamp = (out / "plain" / "screen.json").stat().st_mtime_ns
        again = screen(inputs, _settings(), FLAKY, out_dir=out, client=client, retries=1)
        assert again["plain"].loaded and (out / "plain" / "screen.json").stat().st_mtime_ns == stamp
        assert again["flaky"].ok and not again["flaky"].loaded
    finally:
        client.run(lambda: __import__("os").environ.pop("SYMBREAK_FLAKY_FILE", None))


def test_killed_screen_resumes(client, tmp_path, first_screen):
    out = tmp_path / "killed"

    def kill(done, total, children_done, children_total):
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        screen(_structures(), _settings(), TOY, out_dir=out, client=client, progress=kill)
    finished = [p.parent.name for p in out.glob("*/screen.json")]
    assert len(finished) == 1
    stamp = (out / finished[0] / "screen.json").stat().st_mtime_ns
    result = screen(_structures(), _settings(), TOY, out_dir=out, client=client)
    assert (
        result[finished[0]].loaded
        and (out / finished[0] / "screen.json").stat().st_mtime_ns == stamp
    )
    assert not result.failed
    reference = first_screen[0]
    for e in result.entries:
        assert e.best_child_space_group == reference[e.name].best_child_space_group
        assert e.energy_gain_mev_per_fu == pytest.approx(
            reference[e.name].energy_gain_mev_per_fu, abs=1e-6
        )


# ------------------------------------------------------------------ inputs, configs, CLI
def test_read_structures_names(tmp_path):
    from ase.io import write

    atoms = PlantedTiltModel().cubic()
    write(tmp_path / "a.cif", atoms)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "a.cif", atoms)
    write(tmp_path / "sub" / "POSCAR", atoms, format="vasp")
    (tmp_path / "sub" / "notes.txt").write_text("not a structure")
    got = read_structures([tmp_path / "a.cif", tmp_path / "sub", atoms])
    assert [i.name for i in got] == ["a", "POSCAR", "a-2", "002_SrTiO3"]
    assert all(i.atoms is not None and not i.error for i in got)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_structures([tmp_path / "missing.cif"])


def test_example_jobqueue_config_builds_a_slurm_job_script():
    pytest.importorskip("dask_jobqueue")
    from ase_symbreak.workflows.screening import jobqueue_cluster

    path = ROOT / "recipes" / "jobqueue_slurm.yaml"
    cfg = load_jobqueue_config(path)
    assert cfg["system"] == "slurm" and cfg["torch_threads"] >= 1
    cluster = jobqueue_cluster(path)  # builds the job script; submits nothing
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert (
        "#SBATCH" in script
        and "--nthreads 1" in script
        and "dask_worker" in script.replace("-", "_")
    )


@pytest.mark.parametrize(
    "text, match",
    [
        ("system: cobalt\n", "must be one of"),
        ("system: slurm\nworkers: 3\n", "unknown key"),
        ("system: slurm\njobs: 2\nadapt: {maximum_jobs: 3}\n", "not both"),
        ("system: [slurm\n", "malformed YAML"),
    ],
)
def test_bad_jobqueue_config(tmp_path, text, match):
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_jobqueue_config(path)


def test_cli_screen(tmp_path):
    from ase.io import write
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "good.cif", PlantedTiltModel().cubic())
    (folder / "broken.cif").write_text("garbage\n")
    out = tmp_path / "out"
    settings = tmp_path / "settings.toml"
    settings.write_text(
        "[search]\nsupercell = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]\nplot = false\nmax_children = 4\n"
    )
    res = CliRunner().invoke(
        app,
        [
            "screen",
            str(folder),
            "--out",
            str(out),
            "--workers",
            "1",
            "--model",
            TOY.model,
            "--allow-code-models",
            "--settings",
            str(settings),
            "--max-children",
            "2",
            "--fmax",
            "1e-3",
        ],
    )
    assert res.exit_code == 1, res.output  # one structure failed
    assert "1 of 2 failed" in res.output
    rows = {r["name"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert (
        rows["good"]["status"] == "done" and rows["good"]["best_child_space_group"] == "R-3c (167)"
    )
    saved = json.loads((out / "summary.json").read_text())["settings"]
    assert (
        saved["max_children"] == 2
        and saved["child_fmax"] == 1e-3
        and saved["supercell"][0] == [0, 1, 1]
    )
    assert rows["broken"]["status"] == "failed" and "cannot read" in rows["broken"]["error"]
    res = CliRunner().invoke(app, ["screen", str(tmp_path / "nothing"), "--out", str(out)])
    assert res.exit_code == 2 and "no such file" in res.output
    res = CliRunner().invoke(
        app, ["screen", str(folder), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert res.exit_code == 2 and "at most one" in res.output


def test_cli_screen_on_a_running_scheduler(client, tmp_path):
    """``--scheduler`` uses the cluster as it is and leaves it running."""
    from ase.io import write
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    write(tmp_path / "sto.cif", PlantedTiltModel().cubic())
    settings = tmp_path / "settings.toml"
    settings.write_text(
        "[search]\nsupercell = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]\nplot = false\nmax_children = 1\n"
    )
    res = CliRunner().invoke(
        app,
        [
            "screen",
            str(tmp_path / "sto.cif"),
            "--out",
            str(tmp_path / "out"),
            "--scheduler",
            client.scheduler.address,
            "--model",
            TOY.model,
            "--allow-code-models",
            "--settings",
            str(settings),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "on 2 workers" in res.output
    assert client.submit(sum, [1, 2]).result() == 3  # the cluster is still there


def test_workflows_screen_is_the_function_not_a_module():
    import types

    import ase_symbreak.workflows.screening  # noqa: F401  (a subpackage must not shadow it)
    from ase_symbreak.workflows import screen

    assert callable(screen) and not isinstance(screen, types.ModuleType)


def test_screen_runs_the_descent_like_the_search(client, tmp_path):
    """Issue 29: the screen drains the same search as ``distortion_search``, descent included,
    so both name the same ground state (the planted R-3c, reached through I4/mcm)."""
    settings = _settings(max_depth=2, child_supercell=(1, 1, 1), time_budget_s=None)
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    serial = distortion_search(toy.cubic(), calc, settings, out_dir=tmp_path / "serial")
    result = screen(
        {"plain": toy.cubic()}, settings, TOY, out_dir=tmp_path / "screen", client=client
    )
    entry = result["plain"]
    gs = serial.predicted_ground_state
    assert entry.ok and gs is not None and gs.space_group_symbol == "R-3c"
    assert entry.ground_state == gs.label
    assert entry.ground_state_gain_mev_per_fu == pytest.approx(gs.energy_gain_mev_per_fu, abs=1e-6)
    got, expected = result.search("plain"), serial.summary()
    assert [n["space_group_symbol"] for n in got["nodes"]] == [
        n["space_group_symbol"] for n in expected["nodes"]
    ]
    assert [n["status"] for n in got["nodes"]] == [n["status"] for n in expected["nodes"]]
    assert got["ground_state_note"] == expected["ground_state_note"]
    for node in got["nodes"][1:]:  # each node's search was written by the screen's tasks
        assert (tmp_path / "screen" / "plain" / node["folder"] / "02_phonons.json").exists()
