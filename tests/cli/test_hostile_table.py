"""Every command on a table of bad structure files: a one-line error and exit code 1 or 2, never
a traceback, a hang or a crash (issue 19). Bad input must be refused before the model loads,
so the whole table runs in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app
from ase_symbreak.structures import cubic_perovskite


def _nan_positions(path: Path) -> None:
    atoms = cubic_perovskite(3.9)
    atoms.positions[1, 0] = np.nan
    write(path, atoms, format="vasp")


def _nan_cell(path: Path) -> None:
    atoms = cubic_perovskite(3.9)
    cell = atoms.cell[:].copy()
    cell[0, 0] = np.nan
    atoms.set_cell(cell)
    write(path, atoms, format="vasp")


def _overlapping(path: Path) -> None:
    atoms = cubic_perovskite(3.9)
    atoms.positions[2] = atoms.positions[1] + [0.01, 0, 0]
    write(path, atoms, format="vasp")


def _unknown_element(path: Path) -> None:
    atoms = cubic_perovskite(3.9)
    atoms.symbols[0] = "X"  # ASE's dummy element, Z = 0
    write(path, atoms, format="extxyz")


def _zero_atoms(path: Path) -> None:
    write(path, Atoms(cell=[3, 3, 3], pbc=True), format="extxyz")


def _binary(path: Path) -> None:
    path.write_bytes(os.urandom(256))


def _empty(path: Path) -> None:
    path.write_text("")


def _truncated_cif(path: Path) -> None:
    write(path, cubic_perovskite(3.9), format="cif")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def _molecule(path: Path) -> None:  # no periodic cell
    write(path, Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), "xyz")


def _flat_cell(path: Path) -> None:  # singular cell
    atoms = cubic_perovskite(3.9)
    cell = atoms.cell[:].copy()
    cell[2] = cell[0]
    atoms.set_cell(cell)
    write(path, atoms, format="extxyz")


BAD_FILES = {
    "NaN positions": ("bad.vasp", _nan_positions),
    "NaN cell": ("bad.vasp", _nan_cell),
    "overlapping atoms": ("bad.vasp", _overlapping),
    "unknown element": ("bad.extxyz", _unknown_element),
    "zero atoms": ("bad.extxyz", _zero_atoms),
    "binary garbage": ("bad.cif", _binary),
    "empty file": ("bad.cif", _empty),
    "truncated CIF": ("bad.cif", _truncated_cif),
    "no periodic cell": ("bad.xyz", _molecule),
    "singular cell": ("bad.extxyz", _flat_cell),
    "missing file": ("missing.cif", None),
}


def _commands(bad: Path, good: Path, tmp: Path) -> dict[str, list]:
    return {
        "irreps": ["irreps", bad],
        "decompose parent": ["decompose", bad, good],
        "decompose child": ["decompose", good, bad],
        "subgroups": ["subgroups", bad, "--irrep", "R4+"],
        "environments": ["environments", bad],
        "environments parent": ["environments", good, "--parent", bad],
        "phonons": ["phonons", bad],
        "search": ["search", bad, "--out", tmp / "out"],
    }


COMMANDS = list(_commands(Path("a"), Path("b"), Path("c")))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "srtio3.cif"
    write(path, cubic_perovskite(3.9))
    return path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_structure_file(tmp_path, good, case, command):
    name, make = BAD_FILES[case]
    if case == "no periodic cell" and command == "environments":
        pytest.skip("a molecule's environments are a valid question (test_sites.py)")
    bad = tmp_path / name
    if make is not None:
        make(bad)
    args = _commands(bad, good, tmp_path)[command]
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"{case} / {command}: {type(res.exception).__name__}: {res.exception}\n{res.output}"
    )
    assert res.exit_code in (1, 2), (res.exit_code, res.output)
    text = res.output.strip()
    assert text.startswith("error:"), text
    assert "Traceback" not in text
    assert not (tmp_path / "out" / "01_parent.json").exists()


GOOD_RECIPE = """
name = "srtio3"
[structure]
builtin = "cubic_perovskite"
a = 3.9
[search]
supercell = [2, 2, 2]
[output]
dir = "OUT"
"""

BAD_RECIPES = {
    "binary": None,
    "invalid TOML": "name = \n[structure",
    "a missing structure file": '[structure]\nfile = "missing.cif"\n',
    "a binary structure file": '[structure]\nfile = "garbage.cif"\n',
    "an unknown section": GOOD_RECIPE + "\n[extra]\nx = 1\n",
    "an unknown search key": GOOD_RECIPE.replace("[search]", "[search]\nthreshold = -0.1"),
    "a string boolean": GOOD_RECIPE.replace("[search]", '[search]\nrelax_parent = "no"'),
    "a string integer": GOOD_RECIPE.replace("[search]", '[search]\nmax_params = "two"'),
    "a NaN threshold": GOOD_RECIPE.replace("[search]", "[search]\nthreshold_thz = nan"),
    "an infinite fmax": GOOD_RECIPE.replace("[search]", "[search]\nchild_fmax = inf"),
    "a negative supercell": GOOD_RECIPE.replace("[2, 2, 2]", "[2, -2, 2]"),
    "a non-string output dir": GOOD_RECIPE.replace('dir = "OUT"', "dir = 3"),
    "a non-string model name": GOOD_RECIPE + "\n[model]\nname = 1\n",
    "an import-path model": GOOD_RECIPE + '\n[model]\nname = "os:getcwd"\n',
    "a negative structure index": '[structure]\nfile = "good.cif"\nindex = -5\n',
    "a P1 structure": '[structure]\nfile = "p1.extxyz"\n',
}


def _no_search(*args, **kwargs):
    raise AssertionError("the recipe was accepted and a search started")


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_bad_recipe(tmp_path, good, case, monkeypatch):
    import shutil

    import ase_symbreak.cli.search as search_cli

    monkeypatch.setattr(search_cli, "search_and_print", _no_search)
    shutil.copy(good, tmp_path / "good.cif")
    (tmp_path / "garbage.cif").write_bytes(os.urandom(200))
    p1 = cubic_perovskite(3.9)
    p1.rattle(0.05, seed=3)
    write(tmp_path / "p1.extxyz", p1)
    recipe = tmp_path / "recipe.toml"
    text = BAD_RECIPES[case]
    if text is None:
        recipe.write_bytes(os.urandom(300))
    else:
        recipe.write_text(text.replace("OUT", str(tmp_path / "out")))
    res = CliRunner().invoke(app, ["run", str(recipe), "--out", str(tmp_path / "out")])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"{case}: {type(res.exception).__name__}: {res.exception}\n{res.output}"
    )
    assert res.exit_code in (1, 2), (res.exit_code, res.output)
    assert res.output.strip().startswith("error:"), res.output
    assert not (tmp_path / "out" / "01_parent.json").exists()
