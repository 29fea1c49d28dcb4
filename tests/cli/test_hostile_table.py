"""Every command on a table of bad structure files: a one-line error and exit code 1 or 2, never
a traceback, a hang or a crash (issues 19 and 34). Bad input must be refused before the model
loads, so the whole table runs in seconds.
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


def _occupied(path: Path, *replace: tuple[str, str]) -> None:
    write(path, cubic_perovskite(3.9), format="cif")
    text = path.read_text()
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)


def _mixed_site(path: Path) -> None:  # Sr 0.5 / Ba 0.5 on the A site
    line = "Sr  Sr1       1.0  0.5  0.5  0.5  1.0000"
    mixed = "Sr  Sr1       1.0  0.5  0.5  0.5  0.5000\n  Ba  Ba1       1.0  0.5  0.5  0.5  0.5000"
    _occupied(path, (line, mixed))


def _vacancy(path: Path) -> None:  # one O site 90 % occupied
    _occupied(
        path, ("O3        1.0  0.0  0.0  0.5  1.0000", "O3        1.0  0.0  0.0  0.5  0.9000")
    )


def _tiny_cell(path: Path) -> None:  # a perovskite of 0.004 A: the neighbour search hung
    write(path, cubic_perovskite(0.004), format="vasp")


def _huge_count(path: Path) -> None:  # POSCAR count line of 999999999 atoms
    write(path, cubic_perovskite(3.9), format="vasp")
    lines = path.read_text().splitlines()
    lines[6] = "   1   1   999999999"
    path.write_text("\n".join(lines) + "\n")


def _many_atoms(path: Path) -> None:  # 10,080 atoms: phonons hung without a word
    write(path, cubic_perovskite(3.9).repeat((12, 12, 14)), format="extxyz")


def _named_pipe(path: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path) -> None:
    path.mkdir()


def _link_loop(path: Path) -> None:
    os.symlink(path.name, path)


def _unknown_format(path: Path) -> None:
    path.write_bytes(bytes(range(256)))


#: case: (file name, writer, a fragment every command's message holds or None)
BAD_FILES = {
    "NaN positions": ("bad.vasp", _nan_positions, None),
    "NaN cell": ("bad.vasp", _nan_cell, None),
    "overlapping atoms": ("bad.vasp", _overlapping, "overlapping atoms"),
    "unknown element": ("bad.extxyz", _unknown_element, None),
    "zero atoms": ("bad.extxyz", _zero_atoms, None),
    "binary garbage": ("bad.cif", _binary, None),
    "empty file": ("bad.cif", _empty, None),
    "truncated CIF": ("bad.cif", _truncated_cif, None),
    "no periodic cell": ("bad.xyz", _molecule, None),
    "singular cell": ("bad.extxyz", _flat_cell, None),
    "missing file": ("missing.cif", None, "no such file"),
    "mixed occupancy": ("bad.cif", _mixed_site, "holds Sr 0.5 + Ba 0.5"),
    "vacancy": ("bad.cif", _vacancy, "partial occupancy on 1 site(s): atom 4"),
    "0.004 A cell": ("bad.vasp", _tiny_cell, "from its own periodic image"),
    "count of 999999999": ("POSCAR", _huge_count, "asks for 1000000001 atoms"),
    "10,080 atoms": ("bad.extxyz", _many_atoms, "has 10080 atoms; the limit is 5000"),
    "named pipe": ("bad.cif", _named_pipe, "is a named pipe"),
    "folder": ("bad.cif", _folder, "is a folder, not a structure file"),
    "symlink loop": ("bad.cif", _link_loop, "symbolic link loop"),
    "unknown format": ("bad.bin", _unknown_format, "unknown file format .bin"),
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
    name, make, fragment = BAD_FILES[case]
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
    assert fragment is None or fragment in " ".join(text.split()), text
    assert not (tmp_path / "out" / "01_parent.json").exists()


GOOD_RECIPE = """
name = "srtio3"
[structure]
builtin = "cubic_perovskite"
a = 3.9
[search]
supercell = [2, 2, 2]
[output]
dir = "out"
"""


def _search_key(line: str) -> str:
    return GOOD_RECIPE.replace("[search]", f"[search]\n{line}")


#: case: (recipe text, None for random bytes, or "pipe"; a fragment of the message or None)
BAD_RECIPES = {
    "binary": (None, "not a text (TOML) file"),
    "invalid TOML": ("name = \n[structure", "malformed TOML"),
    "a missing structure file": ('[structure]\nfile = "missing.cif"\n', "no such file"),
    "a binary structure file": ('[structure]\nfile = "garbage.cif"\n', None),
    "an unknown section": (GOOD_RECIPE + "\n[extra]\nx = 1\n", "unknown section"),
    "an unknown search key": (_search_key("threshold = -0.1"), None),
    "a string boolean": (_search_key('relax_parent = "no"'), None),
    "a string integer": (_search_key('max_params = "two"'), None),
    "a NaN threshold": (_search_key("threshold_thz = nan"), None),
    "an infinite fmax": (_search_key("child_fmax = inf"), None),
    "a negative supercell": (GOOD_RECIPE.replace("[2, 2, 2]", "[2, -2, 2]"), "positive"),
    "a non-string output dir": (GOOD_RECIPE.replace('dir = "out"', "dir = 3"), "must be a string"),
    "a non-string model name": (GOOD_RECIPE + "\n[model]\nname = 1\n", None),
    "an import-path model": (GOOD_RECIPE + '\n[model]\nname = "os:getcwd"\n', "import path"),
    "a negative structure index": ('[structure]\nfile = "good.cif"\nindex = -5\n', "out of range"),
    "a P1 structure": ('[structure]\nfile = "p1.extxyz"\n', None),
    # issue 34
    "a partially occupied site": ('[structure]\nfile = "mixed.cif"\n', "partial occupancy"),
    "a negative lattice parameter": (GOOD_RECIPE.replace("a = 3.9", "a = -3.9"), "got -3.9"),
    "a string lattice parameter": (GOOD_RECIPE.replace("a = 3.9", 'a = "big"'), "lattice"),
    "a float supercell": (
        GOOD_RECIPE.replace("[2, 2, 2]", "[1e6, 1e6, 1e6]"),
        "supercell must be 3 integers or a 3x3 integer matrix",
    ),
    "a boolean supercell": (GOOD_RECIPE.replace("[2, 2, 2]", "[true, true, true]"), "3 integers"),
    "a huge supercell": (
        GOOD_RECIPE.replace("[2, 2, 2]", "[1000000, 1000000, 1000000]"),
        "the limit is 5000",
    ),
    "a huge supercell matrix": (
        GOOD_RECIPE.replace("[2, 2, 2]", "[[100, 0, 0], [0, 100, 0], [0, 0, 100]]"),
        "has 5000000 atoms",
    ),
    "200,000 amplitudes": (
        _search_key("amplitudes = [" + ", ".join(["0.1"] * 200_000) + "]"),
        "amplitudes has 200000 entries; at most 100",
    ),
    "an amplitude of 1e300": (_search_key("amplitudes = [0.1, 1e300]"), "got 1e+300"),
    "a million steps": (_search_key("max_steps = 100000000"), "above the limit 100000"),
    "an array nested 5,000 deep": (
        GOOD_RECIPE + "\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        "5000 deep; at most 32",
    ),
    "a dotted key of 100,000 parts": (
        "a" + ".a" * 100_000 + " = 1\n" + GOOD_RECIPE,
        "100000 deep",
    ),
    "an absolute output dir": (GOOD_RECIPE.replace('dir = "out"', 'dir = "/tmp/x"'), "absolute"),
    "an output dir outside": (GOOD_RECIPE.replace('dir = "out"', 'dir = "a/../../x"'), "'..'"),
    "a name with nothing to name": (
        GOOD_RECIPE.replace('"srtio3"', '"../.."').split("[output]")[0],
        "no letters",
    ),
    "a named pipe": ("pipe", "not a regular file"),
}


def _no_search(*args, **kwargs):
    raise AssertionError("the recipe was accepted and a search started")


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_bad_recipe(tmp_path, good, case, monkeypatch):
    import shutil

    import ase_symbreak.cli.search as search_cli

    monkeypatch.setattr(search_cli, "search_and_print", _no_search)
    monkeypatch.chdir(tmp_path)
    shutil.copy(good, tmp_path / "good.cif")
    (tmp_path / "garbage.cif").write_bytes(os.urandom(200))
    _mixed_site(tmp_path / "mixed.cif")
    p1 = cubic_perovskite(3.9)
    p1.rattle(0.05, seed=3)
    write(tmp_path / "p1.extxyz", p1)
    recipe = tmp_path / "recipe.toml"
    text, fragment = BAD_RECIPES[case]
    if text is None:
        recipe.write_bytes(b"\xff\xfe" + os.urandom(300))
    elif text == "pipe":
        os.mkfifo(recipe)
    else:
        recipe.write_text(text)
    out = [] if "output dir" in case or "name" in case else ["--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, ["run", str(recipe), *out])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"{case}: {type(res.exception).__name__}: {res.exception}\n{res.output}"
    )
    assert res.exit_code in (1, 2), (res.exit_code, res.output)
    assert res.output.strip().startswith("error:"), res.output
    assert fragment is None or fragment in " ".join(res.output.split()), res.output
    assert not (tmp_path / "out" / "01_parent.json").exists()


def test_a_recipe_cannot_write_outside_its_folder(tmp_path, monkeypatch):
    """A shared recipe's name is one folder under results/: '../../escape' neither writes,
    replaces nor removes anything outside the working directory (issue 34).
    """
    import ase_symbreak.cli.search as search_cli
    import ase_symbreak.workflows.driver as driver

    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    outside = tmp_path / "escape"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    recipe = work / "shared.toml"
    recipe.write_text(GOOD_RECIPE.replace('"srtio3"', '"../../../escape"').split("[output]")[0])
    used = []

    def fake_search(atoms, calc, settings, out_dir, **kwargs):
        used.append(Path(out_dir))
        raise ValueError("stopped here")

    monkeypatch.setattr(search_cli, "load_calculator", lambda *args, **kwargs: None)
    monkeypatch.setattr(driver, "distortion_search", fake_search)
    res = CliRunner().invoke(app, ["run", str(recipe)])
    assert res.exit_code == 1 and "stopped here" in res.output, res.output
    (out_dir,) = used
    assert out_dir.resolve().is_relative_to(work / "results"), out_dir
    assert out_dir.name == "_.._.._escape"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "escape"]


EMT = ["--model", "ase.calculators.emt:EMT", "--allow-code-models"]

#: case: arguments after the structure file (a one-atom fcc Cu cell), issue 34 item 5
ONE_ATOM = {
    "phonons, exact Hessian": ["phonons", "--supercell", 1, 1, 1],
    "phonons, finite displacements": ["phonons", "--supercell", 1, 1, 1, *EMT],
    "search": ["search", "--supercell", 1, 1, 1, *EMT, "--max-depth", 0],
}


@pytest.mark.filterwarnings("error:band-structure plot failed")
@pytest.mark.parametrize("case", list(ONE_ATOM))
def test_one_atom_cell_with_a_1x1x1_supercell(tmp_path, case):
    """A valid input: its force constants are zero (the acoustic sum rule), its three modes
    are the acoustic GM4- at 0 THz (was 'vectors must be (K, 1, 3) or (K, 3), got (0,)' on
    the exact path, symfc's AssertionError on finite displacements, and a DOS of no width
    that failed the search's band plot).
    """
    from ase.build import bulk

    copper = tmp_path / "cu.cif"
    write(copper, bulk("Cu", "fcc", a=3.6))
    command, *rest = ONE_ATOM[case]
    out = ["--out", tmp_path / "out"] if command == "search" else []
    res = CliRunner().invoke(app, [str(a) for a in [command, copper, *rest, *out]])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code == 0, res.output
    if command == "phonons":
        assert "GM4-" in res.output and "0.000" in res.output
    else:
        assert "the parent is dynamically stable" in res.output


@pytest.mark.parametrize("command", ["phonons", "search"])
def test_a_huge_supercell_is_refused_before_any_work(tmp_path, good, command, monkeypatch):
    """--supercell 100 100 100 (5,000,000 atoms) is refused at once naming the limit, as
    irreps does, before the model loads (issue 34).
    """
    import importlib

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(
        importlib.import_module(f"ase_symbreak.cli.{command}"), "load_calculator", no_model
    )
    args = [command, good, "--supercell", 100, 100, 100]
    if command == "search":
        args += ["--out", tmp_path / "out"]
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith("error:") and "100 100 100 has 5000000 atoms" in text, text
    assert "the limit is 5000" in text and "ASE_SYMBREAK_MAX_ATOMS" in text, text
    assert not (tmp_path / "out").exists()


# -- issue 34: training outputs, report links, full disks, free atoms in the Python API ------


def _training_recipe(folder: Path, out_dir: str) -> Path:
    from ase.calculators.singlepoint import SinglePointCalculator

    images = []
    for seed in range(2):
        atoms = cubic_perovskite(3.9)
        atoms.rattle(0.01, seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=atoms.positions * 0.0)
        images.append(atoms)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "data.extxyz", images)
    recipe = folder / "train.toml"
    recipe.write_text(f'out_dir = "{out_dir}"\n[data]\npath = "data.extxyz"\nval_fraction = 0.5\n')
    return recipe


#: case: (out_dir of the recipe, with OUTSIDE for a folder beside the recipe's; fragment)
TRAINING_OUT_DIRS = {
    "..": ("..", "is a path with '..'"),
    "a sibling folder": ("../outside/run", "is a path with '..'"),
    "an absolute path": ("OUTSIDE/run", "is an absolute path"),
    "the recipe's folder": (".", "is the recipe's folder itself"),
    "a link out": ("link/run", "is a link out of the recipe's folder"),
    "a home path": ("~/run", "is an absolute path"),
}


@pytest.mark.parametrize("case", list(TRAINING_OUT_DIRS))
def test_a_training_recipe_cannot_write_outside_its_folder(tmp_path, case, monkeypatch):
    """A shared training recipe's out_dir stays inside the recipe's folder: '..', absolute
    paths and links out are refused in one line (exit 2) before any data is read or model
    built, and nothing appears outside (issue 34).
    """
    import ase_symbreak.training.config as config

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(config, "_load_data", no_training)
    outside = tmp_path / "outside"
    outside.mkdir()
    value, fragment = TRAINING_OUT_DIRS[case]
    recipe = _training_recipe(tmp_path / "recipes", value.replace("OUTSIDE", str(outside)))
    (tmp_path / "recipes" / "link").symlink_to(outside)
    res = CliRunner().invoke(app, ["train", str(recipe)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith("error: out_dir") and fragment in text and "--out" in text, text
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "recipes"]


def test_train_from_config_keeps_its_outputs_in_the_recipes_folder(tmp_path):
    from ase_symbreak.training.config import recipe_out_dir, train_from_config

    recipe = _training_recipe(tmp_path / "recipes", "../escape")
    with pytest.raises(ValueError, match="is a path with '..'"):
        train_from_config(recipe, log=None)
    assert not (tmp_path / "escape").exists()
    base = tmp_path / "recipes"
    assert recipe_out_dir("runs/a", base) == base / "runs" / "a"


@pytest.fixture(scope="module")
def search_folder(tmp_path_factory):
    """A finished search (EMT fcc Cu, stable: one level, its plots and report)."""
    from ase.build import bulk

    folder = tmp_path_factory.mktemp("cu")
    write(folder / "cu.cif", bulk("Cu", "fcc", a=3.6))
    args = ["search", folder / "cu.cif", *EMT, "--max-depth", 0, "--out", folder / "run"]
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return folder / "run"


def _loop(path: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    os.symlink(path.name, path)


#: case: what is a symbolic link to itself, and the message's fragment
REPORT_LOOPS = {
    "the folder": (None, "is a symbolic link loop"),
    "search.json": ("search.json", "search.json is a symbolic link loop"),
    "the phonon bands picture": ("phonon_bands.png", "symbolic link loop at"),
}


@pytest.mark.parametrize("case", list(REPORT_LOOPS))
def test_a_symlink_loop_in_a_report_folder(search_folder, tmp_path, case):
    """``report`` on a folder with a symbolic link loop: one line, exit 2 (was 'unexpected
    RuntimeError: Symlink loop from ...', exit 3).
    """
    import shutil

    name, fragment = REPORT_LOOPS[case]
    folder = tmp_path / "run"
    if name is None:
        _loop(folder)
    else:
        shutil.copytree(search_folder, folder)
        _loop(folder / name)
    res = CliRunner().invoke(app, ["report", str(folder)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith("error:") and fragment in text and "unexpected" not in text, text


def _disk_fills_after(monkeypatch, writes: int) -> list[str]:
    """The atomic writer runs out of space after ``writes`` files: it writes half of the next
    one, then raises ENOSPC (as a full disk does); returns the files written whole.
    """
    import errno

    from ase_symbreak.workflows import storage

    real = storage.atomic_write
    done: list[str] = []

    def full_disk(path, write):
        if len(done) >= writes:

            def half(tmp: str) -> None:
                write(tmp)
                size = os.path.getsize(tmp)
                with open(tmp, "r+b") as handle:
                    handle.truncate(size // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

            return real(path, half)
        done.append(str(path))
        return real(path, write)

    monkeypatch.setattr(storage, "atomic_write", full_disk)
    return done


def _every_file_whole(folder: Path) -> None:
    import json

    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())  # no half-written JSON


def test_a_full_disk_during_a_search(tmp_path, monkeypatch, capsys):
    """ENOSPC while the search writes its results: one line and exit 2 from the console
    script (was 'unexpected OSError', exit 3), no half-written file, and a rerun with
    space again finishes from the files written (issue 34).
    """
    from ase.build import bulk

    from ase_symbreak.cli import _common, main

    monkeypatch.setattr(_common, "_CONSOLE_SCRIPT", False)  # main() sets it; restored after
    write(tmp_path / "cu.cif", bulk("Cu", "fcc", a=3.6))
    out = tmp_path / "out"
    args = ["search", str(tmp_path / "cu.cif"), *EMT, "--max-depth", "0", "--out", str(out)]
    done = _disk_fills_after(monkeypatch, writes=2)
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: no space left on the device writing"), err
    assert "nothing was left half-written" in err and "unexpected" not in err, err
    assert len(done) == 2 and all(Path(p).is_file() for p in done)
    _every_file_whole(out)
    monkeypatch.undo()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "the parent is dynamically stable" in res.output, res.output
    _every_file_whole(out)


def test_a_full_disk_while_phonons_writes_its_files(tmp_path, monkeypatch):
    from ase.build import bulk

    write(tmp_path / "cu.cif", bulk("Cu", "fcc", a=3.6))
    _disk_fills_after(monkeypatch, writes=0)
    res = CliRunner().invoke(app, ["phonons", str(tmp_path / "cu.cif"), *EMT, "-o", "fc"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "cannot write the output files" in text and "No space left on device" in text, text
    assert list((tmp_path / "fc").iterdir()) == []  # no half-written phonopy_params.yaml


def test_free_atoms_are_refused_by_the_python_api(tmp_path):
    """A perovskite typed ten times too large (39 A) has atoms out of the model's reach:
    Phonons and distortion_search raise a ValueError saying so, never 'stable' (issue 34;
    the commands already refused it).
    """
    from ase_symbreak import Phonons, distortion_search
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.testing.toy_models import PlantedTiltModel

    calc = SymBreakCalculator(model=PlantedTiltModel(), dtype="float64")
    big = cubic_perovskite(39.0)
    message = "no neighbour within the model's cutoff 3.1 A"
    with pytest.raises(ValueError, match=message):
        Phonons(big, calc, (1, 1, 1)).run()
    with pytest.raises(ValueError, match=message):
        distortion_search(big, calc, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "01_parent.json").exists()
    Phonons(cubic_perovskite(3.9), calc, (1, 1, 1)).run()  # in reach: computed
