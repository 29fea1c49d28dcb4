"""jobflow integration: the search as a Flow gives the same search.json as distortion_search."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest

jobflow = pytest.importorskip("jobflow")

from ase_symbreak.codec import atoms_to_dict  # noqa: E402
from ase_symbreak.testing.toy_models import PlantedTiltModel  # noqa: E402
from ase_symbreak.workflows import SearchSettings, distortion_search  # noqa: E402
from ase_symbreak.workflows.calcspec import CalculatorSpec, calculator_for  # noqa: E402
from ase_symbreak.workflows.flows import (  # noqa: E402
    condense_job,
    identify_job,
    phonons_job,
    relax_job,
    search_flow,
    search_output,
    soft_modes_job,
)

# jobflow's run_locally uses monty's deprecated ``cd``
pytestmark = pytest.mark.filterwarnings("ignore:cd is deprecated:FutureWarning")

FCC = ((0, 1, 1), (1, 0, 1), (1, 1, 0))
SPEC = CalculatorSpec(model="ase_symbreak.testing.toy_models:PlantedTiltModel", dtype="float64")


def _settings(**kw):
    base = dict(
        supercell=FCC,
        child_fmax=2e-4,
        parent_fmax=1e-4,
        amplitudes=(0.1, 0.2, 0.3),
        plot=False,
        child_supercell=(1, 1, 1),
    )
    return SearchSettings(**{**base, **kw})


def _run(flow):
    return jobflow.run_locally(flow, log=False, create_folders=False, ensure_success=True)


@pytest.fixture(scope="module")
def toy():
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def direct(toy):
    return distortion_search(toy.cubic(), calculator_for(SPEC), _settings()).summary()


@pytest.fixture(scope="module")
def flow_run(toy):
    flow = search_flow(toy.cubic(), _settings(), SPEC)
    responses = _run(flow)
    return flow, responses


def _close(a, b, path="", tol=1e-8):
    """Recursive equality, floats to ``tol``."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}/{k}", tol)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}/{i}", tol)
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b == pytest.approx(a, abs=tol), path
    else:
        assert a == b, path


@pytest.mark.slow  # default run under 10 min on 2 cores; run with -m slow
def test_search_flow_matches_distortion_search(flow_run, direct):
    flow, responses = flow_run
    out = search_output(flow, responses)
    assert [c["space_group_symbol"] for c in out["children"]] == [
        c["space_group_symbol"] for c in direct["children"]
    ]
    assert {c["space_group_symbol"] for c in out["children"]} >= {"R-3c", "I4/mcm", "Imma"}
    np.testing.assert_allclose(
        [c["energy_gain_mev_per_fu"] for c in out["children"]],
        [c["energy_gain_mev_per_fu"] for c in direct["children"]],
        rtol=0,
        atol=1e-8,
    )
    assert (
        [m["irrep"] for m in out["soft_modes"]]
        == [m["irrep"] for m in direct["soft_modes"]]
        == ["R4+"]
    )
    # everything else too, timings aside
    _close(
        {k: v for k, v in direct.items() if k != "timings"},
        {k: v for k, v in out.items() if k != "timings"},
    )
    # one child job per chosen candidate, then finish; plan + children + store = 3 more
    n_children = len(out["children"]) + len(out["duplicates"])
    assert len(responses) == n_children + 3


def test_flow_outputs_are_json(flow_run):
    """Every job's output is plain JSON (jobflow stores outputs with strict ``jsanitize``)."""
    from jobflow import OutputReference
    from monty.json import jsanitize

    flow, responses = flow_run
    n_refs = 0
    for uuid, by_index in responses.items():
        for response in by_index.values():
            if isinstance(response.output, OutputReference):
                # the job children_job was replaced by stores a reference to finish_job's output
                assert uuid == flow.output.uuid
                n_refs += 1
                continue
            json.dumps(response.output, allow_nan=False)
            assert jsanitize(response.output, strict=True) == response.output
    assert n_refs == 1


def test_search_flow_output_in_store(toy, tmp_path):
    """The flow's output reference resolves from the job store (as a workflow manager would),
    and with ``out_dir`` the jobs write the same files as :func:`distortion_search`."""
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    store = JobStore(MemoryStore())
    flow = search_flow(
        toy.cubic(), _settings(max_children=1, couple=False, max_depth=0), SPEC, out_dir=tmp_path
    )
    jobflow.run_locally(flow, log=False, store=store, create_folders=False, ensure_success=True)
    out = search_output(flow, store=store)
    assert out == flow.output.resolve(store)
    # max_children budgets coupled pairs only: every single-irrep R4+ child is relaxed
    assert [c["space_group_symbol"] for c in out["children"]] == ["R-3c", "Imma", "I4/mcm"]
    assert json.loads((tmp_path / "search.json").read_text()) == out
    for name in ("01_parent", "02_phonons", "03_soft_modes", "04_condense", "05_child_00"):
        assert (tmp_path / f"{name}.json").exists()
    assert (tmp_path / out["children"][0]["cif"]).exists()


def test_missing_jobflow_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "jobflow", None)
    monkeypatch.delitem(sys.modules, "ase_symbreak.workflows.flows")
    with pytest.raises(ImportError, match=r"pip install 'ase-symbreak\[jobflow\]'"):
        importlib.import_module("ase_symbreak.workflows.flows")


def test_step_jobs_compose(toy):
    spec = SPEC.to_dict()
    rel = relax_job(atoms_to_dict(toy.cubic()), spec, fmax=1e-4, keep_symmetry=True)
    ph = phonons_job(rel.output["atoms"], spec, supercell=FCC)
    soft = soft_modes_job(ph.output, threshold_thz=-0.1)
    cond = condense_job(rel.output, soft.output, spec, amplitudes=(0.1, 0.2, 0.3), couple=False)
    same = identify_job(rel.output, rel.output)
    flow = jobflow.Flow([rel, ph, soft, cond, same])
    responses = _run(flow)
    out = {j.uuid: responses[j.uuid][1].output for j in (rel, ph, soft, cond, same)}
    for d in out.values():
        json.dumps(d, allow_nan=False)
    assert out[rel.uuid]["converged"] and out[rel.uuid]["space_group_symbol"] == "Pm-3m"
    assert [m["irrep"] for m in out[soft.uuid]["modes"]] == ["R4+"]
    assert out[soft.uuid]["modes"][0]["frequency_thz"] < -1.0
    assert {"I4/mcm", "Imma", "R-3c"} <= {
        c["space_group_symbol"] for c in out[cond.uuid]["candidates"]
    }
    assert out[same.uuid]["space_group_symbol"] == "Pm-3m"
    assert out[same.uuid]["energy_gain_mev_per_fu"] == pytest.approx(0.0, abs=1e-9)
