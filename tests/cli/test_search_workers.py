"""``ase-symbreak search --workers N`` (issue 32): the child relaxations in N local processes
give the ground state and files of the serial search; a GPU run refuses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ase.io import write

from ase_symbreak.testing.toy_models import PlantedTiltModel

TOY = "ase_symbreak.testing.toy_models:PlantedTiltModel"


def _search(tmp_path: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("ase-symbreak")
    args = [str(script), "search", str(tmp_path / "toy.cif"), "--model", TOY]
    args += ["--allow-code-models", "--out", str(tmp_path / out), "--max-depth", "1"]
    args += ["--no-couple", "--time-budget", "0", "--fmax", "0.01", *extra]
    env = {**os.environ, "ASE_SYMBREAK_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)


def test_workers_give_the_serial_answer(tmp_path):
    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    serial = _search(tmp_path, "serial")
    parallel = _search(tmp_path, "parallel", "--workers", "2")
    assert serial.returncode == 0, serial.stdout + serial.stderr
    assert parallel.returncode == 0, parallel.stdout + parallel.stderr
    a = json.loads((tmp_path / "serial" / "search.json").read_text())
    b = json.loads((tmp_path / "parallel" / "search.json").read_text())
    assert a["ground_state_note"] == b["ground_state_note"]
    assert [n["space_group_symbol"] for n in a["nodes"]] == [
        n["space_group_symbol"] for n in b["nodes"]
    ]
    files = sorted(p.name for p in (tmp_path / "serial").glob("05_child_*.json"))
    assert files and files == sorted(p.name for p in (tmp_path / "parallel").glob("05_child_*"))
    assert "relax children" in parallel.stdout  # progress still shown


def test_workers_refused_on_a_gpu(tmp_path):
    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    res = _search(tmp_path, "gpu", "--workers", "2", "--device", "cuda")
    assert res.returncode != 0 and "--workers" in res.stdout + res.stderr
