"""``ase-symbreak phonons`` keeps its force constants (issue 33): phonopy_params.yaml goes into
an output folder by default (``--out``; default ``STEM_phonons`` in the current directory,
a new ``STEM_phonons_N`` when that exists), the output says where, ``--phonopy-yaml`` still
names a file, ``--no-files`` writes none. EMT's fcc Cu through finite displacements: fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import phonopy
import pytest
from ase.build import bulk
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app

EMT = ["--model", "ase.calculators.emt:EMT", "--allow-code-models"]


@pytest.fixture
def copper(tmp_path):
    path = tmp_path / "inputs" / "Cu fcc.cif"  # a space: the folder name is sanitised
    path.parent.mkdir()
    write(path, bulk("Cu", "fcc", a=3.6))
    return path


def _phonons(*args) -> str:
    res = CliRunner().invoke(app, ["phonons", *map(str, args), *EMT])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_force_constants_are_written_by_default_and_never_replaced(copper, tmp_path):
    text = _phonons(copper)
    first = Path("Cu_fcc_phonons") / "phonopy_params.yaml"
    assert Path.cwd() == tmp_path and first.is_file()
    assert f"written: {first} (force constants; phonopy.load reads it)" in text, text
    loaded = phonopy.load(str(first))
    assert loaded.force_constants is not None and np.abs(loaded.force_constants).max() > 0.1
    before = first.read_bytes()
    again = _phonons(copper)
    second = Path("Cu_fcc_phonons_2") / "phonopy_params.yaml"
    assert f"written: {second}" in again and second.is_file()
    assert first.read_bytes() == before  # the first run's file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Cu_fcc_phonons",
        "Cu_fcc_phonons_2",
        "inputs",
    ]


def test_out_names_the_folder_and_says_when_it_replaces(copper, tmp_path):
    out = tmp_path / "mine" / "cu"
    text = _phonons(copper, "-o", out)
    assert f"written: {out / 'phonopy_params.yaml'}" in text and "replaced" not in text
    text = _phonons(copper, "--out", out)
    assert "replaced the file of an earlier run" in text, text
    assert not Path("Cu_fcc_phonons").exists()


def test_json_lists_the_file(copper):
    res = CliRunner().invoke(app, ["phonons", str(copper), *EMT, "--json"])
    assert res.exit_code == 0, res.output
    files = json.loads(res.stdout)["files"]
    assert files == {"phonopy_yaml": str(Path("Cu_fcc_phonons") / "phonopy_params.yaml")}


def test_phonopy_yaml_and_no_files(copper, tmp_path):
    yaml = tmp_path / "elsewhere" / "fc.yaml"
    text = _phonons(copper, "--phonopy-yaml", yaml)
    assert f"written: {yaml}" in text and yaml.is_file()
    assert not Path("Cu_fcc_phonons").exists()  # no folder beside an explicit file
    text = _phonons(copper, "--no-files")
    assert "written" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "inputs"]
    res = CliRunner().invoke(app, ["phonons", str(copper), *EMT, "--no-files", "-o", "x"])
    assert res.exit_code == 2 and "--no-files" in res.output


def test_an_out_that_is_a_file_is_refused_before_any_work(copper, tmp_path):
    (tmp_path / "taken").write_text("mine")
    res = CliRunner().invoke(app, ["phonons", str(copper), *EMT, "--out", "taken"])
    assert res.exit_code == 2 and "is a file, not a folder" in res.output
    assert (tmp_path / "taken").read_text() == "mine"
