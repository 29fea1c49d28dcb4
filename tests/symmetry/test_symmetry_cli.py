"""The symmetry sub-commands of ``ase-symbreak`` (irreps, decompose, subgroups)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app as ase_symbreak_app

A = 3.9
DELTA = 0.08


@pytest.fixture
def app():
    return ase_symbreak_app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def srtio3_cubic_pm3m() -> Atoms:
    """Cubic perovskite SrTiO3, Pm-3m (221), Ti at the origin."""
    return Atoms(
        "TiSrO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=np.eye(3) * A,
        pbc=True,
    )


def r4_tilted_root2_cell() -> Atoms:
    """sqrt2 x sqrt2 x 2 cell with an out-of-phase tilt about z (I4/mcm, R4+)."""
    child = make_supercell(srtio3_cubic_pm3m(), [[1, 1, 0], [-1, 1, 0], [0, 0, 2]])
    for atom in child:
        f = atom.position / A
        n = np.floor(f + 1e-6)
        sign = (-1) ** int(n.sum())
        if atom.symbol == "O" and np.isclose(f[0] - n[0], 0.5):
            atom.position += [0, DELTA * sign, 0]
        elif atom.symbol == "O" and np.isclose(f[1] - n[1], 0.5):
            atom.position += [-DELTA * sign, 0, 0]
    return child


@pytest.fixture
def files(tmp_path):
    parent, child = tmp_path / "SrTiO3.vasp", tmp_path / "tilted.vasp"
    write(parent, srtio3_cubic_pm3m(), format="vasp")
    write(child, r4_tilted_root2_cell(), format="vasp")
    return parent, child


def test_irreps_json_lists_labelled_irreps_with_multiplicities(app, runner, files):
    parent, _ = files
    res = runner.invoke(app, ["irreps", str(parent), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["irrep"]: r for r in json.loads(res.stdout)["irreps"]}
    # 5 atoms x 3 = 15 = GM4- x 4 + GM5- x 1 (cubic perovskite at Gamma)
    assert rows["GM4-"]["multiplicity"] == 4
    assert rows["GM5-"]["multiplicity"] == 1
    assert sum(r["dim"] * r["multiplicity"] for r in rows.values()) == 15


def test_irreps_table_for_a_supercell(app, runner, files):
    parent, _ = files
    res = runner.invoke(app, ["irreps", str(parent), "--supercell", "2", "2", "2"])
    assert res.exit_code == 0, res.output
    for label in ("GM4-", "R4+", "M3+", "X5-"):
        assert label in res.stdout


def test_decompose_json(app, runner, files):
    parent, child = files
    res = runner.invoke(app, ["decompose", str(parent), str(child), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (r4,) = out["irreps"]
    assert r4["irrep"] == "R4+"
    assert r4["amplitude_angstrom"] == pytest.approx(np.sqrt(2) * DELTA, abs=1e-6)
    assert set(r4) >= {"irrep", "k", "amplitude_angstrom", "direction"}


def test_decompose_table(app, runner, files):
    parent, child = files
    res = runner.invoke(app, ["decompose", str(parent), str(child)])
    assert res.exit_code == 0, res.output
    assert "R4+" in res.stdout and "0.11314" in res.stdout


def test_subgroups_of_r4plus(app, runner, files):
    parent, _ = files
    res = runner.invoke(app, ["subgroups", str(parent), "--irrep", "R4+", "--json"])
    assert res.exit_code == 0, res.output
    groups = json.loads(res.stdout)
    numbers = {g["space_group_number"] for g in groups}
    assert {140, 74, 167} <= numbers  # I4/mcm, Imma, R-3c (Glazer a0a0c-, a0b-b-, a-a-a-)
    assert all({"direction", "space_group_number", "space_group_symbol"} <= set(g) for g in groups)


def test_malformed_file_exits_2_with_name_and_reason(app, runner, tmp_path, files):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 3.9\nthis is not a cif loop\n")
    res = runner.invoke(app, ["irreps", str(bad)])
    assert res.exit_code == 2
    assert "broken.cif" in res.output
    assert "Traceback" not in res.output
    missing = runner.invoke(app, ["decompose", str(files[0]), str(tmp_path / "nope.vasp")])
    assert missing.exit_code == 2 and "nope.vasp" in missing.output


def test_child_of_another_compound_exits_1(app, runner, tmp_path, files):
    parent, _ = files
    other = tmp_path / "BaTiO3.vasp"
    bto = r4_tilted_root2_cell()
    bto.symbols[bto.symbols == "Sr"] = "Ba"
    write(other, bto, format="vasp")
    res = runner.invoke(app, ["decompose", str(parent), str(other)])
    assert res.exit_code == 1
    assert "different species" in res.output


def test_decompose_isodistort_text(app, runner, files, tmp_path):
    """``decompose --isodistort FILE``: ISODISTORT's [k]irrep(direction) As Ap lines, the same
    amplitudes as the JSON."""
    parent, child = files
    path = tmp_path / "modes.txt"
    res = runner.invoke(app, ["decompose", str(parent), str(child), "--isodistort", str(path)])
    assert res.exit_code == 0, res.output
    lines = path.read_text().splitlines()
    (r4,) = [line for line in lines if "R4+" in line]
    label, a_s, a_p = r4.split()
    assert label.startswith("[1/2,1/2,1/2]R4+(")
    assert float(a_p) == pytest.approx(np.sqrt(2) * DELTA, abs=1e-5)
    assert float(a_s) >= float(a_p)  # As over the child cell, Ap per parent cell
    assert any(line.startswith("Overall") for line in lines)
    assert lines[-1].startswith("# strain (Voigt")
