"""Bad input on the command line ends in a one-line error and a non-zero exit code, never in
a traceback, a hang or a crash (issue 19)."""

from __future__ import annotations

import pytest
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app
from ase_symbreak.structures import cubic_perovskite


@pytest.fixture
def srtio3(tmp_path):
    path = tmp_path / "srtio3.cif"
    write(path, cubic_perovskite(3.9))
    return path


def _run(args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    return res


def test_unknown_element_is_named(tmp_path):
    atoms = cubic_perovskite(3.9)
    atoms.symbols[0] = "Og"
    path = tmp_path / "og.vasp"
    write(path, atoms, format="vasp")
    res = _run(["phonons", path, "--supercell", 1, 1, 1])
    assert res.exit_code != 0 and "does not know element" in res.output and "Og" in res.output


def test_plot_with_an_unknown_format_is_refused_before_any_work(srtio3, tmp_path):
    res = _run(["phonons", srtio3, "--plot", tmp_path / "bands.foo"])
    assert res.exit_code == 2 and "unknown image format .foo" in res.output


@pytest.mark.parametrize("where", ["a_file", "a_file/sub"])
def test_search_out_must_be_a_folder(srtio3, tmp_path, where):
    (tmp_path / "a_file").write_text("not a folder")
    res = _run(["search", srtio3, "--out", tmp_path / where])
    assert res.exit_code == 2 and "is a file, not a folder" in res.output


def test_search_out_that_cannot_be_created(srtio3):
    res = _run(["search", srtio3, "--out", "/proc/no_such/out"])
    assert res.exit_code == 2 and "cannot create it" in res.output


def test_huge_irreps_supercell_is_refused(srtio3):
    res = _run(["irreps", srtio3, "--supercell", 10, 10, 10])
    assert res.exit_code == 2 and "5000 atoms" in res.output


@pytest.mark.parametrize("command", ["irreps", "search"])
def test_bad_symprec_or_threshold(srtio3, tmp_path, command):
    args = [command, srtio3]
    args += ["--symprec", "-1"] if command == "irreps" else ["--threshold", "nan"]
    if command == "search":
        args += ["--out", tmp_path / "out"]
    res = _run(args)
    assert res.exit_code in (1, 2)
    assert "positive length" in res.output or "finite number" in res.output


@pytest.mark.parametrize("command", ["phonons", "search", "screen"])
def test_import_path_models_need_allow_code_models(srtio3, tmp_path, command):
    """An import path runs code: refused on every command unless asked for. Asked for, it is
    a calculator factory (issue 33): one that returns no ASE calculator (``os.getcwd`` gives a
    str) is refused in one line, exit 2.
    """
    args = [command, srtio3, "--model", "os:getcwd"]
    if command != "phonons":
        args += ["--out", tmp_path / "out"]
    res = _run(args)
    assert res.exit_code == 2 and "--allow-code-models" in res.output
    res = _run([*args, "--allow-code-models"])
    assert res.exit_code == 2, res.output
    error = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1, res.output
    assert "cannot load model os:getcwd" in error[0]
    assert "returned a str, not an ASE calculator" in error[0]


def test_search_on_a_folder_in_use_is_refused_before_any_work(srtio3, tmp_path):
    import json
    import os
    import socket

    from ase_symbreak.workflows.storage import LOCK_NAME

    lock = {"pid": os.getppid(), "host": socket.gethostname(), "started": 0.0}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    res = _run(["search", srtio3, "--out", tmp_path])
    assert res.exit_code == 2 and "in use by another run" in res.output
    assert f"process {os.getppid()}" in res.output
    assert not (tmp_path / "01_parent.json").exists()


def _boom(*args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(srtio3, monkeypatch, capsys):
    """The console script (``main``) turns any error nobody anticipated into one line and exit
    code 3; ``--debug`` lets the traceback through, as it does for the anticipated ones."""
    import ase_symbreak.symmetry as symmetry
    from ase_symbreak.cli import main

    monkeypatch.setattr(symmetry, "displacement_modes", _boom)
    with pytest.raises(SystemExit) as exit_info:
        main(["irreps", str(srtio3)])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: boom" in err and "--debug" in err
    assert "second line" not in err and "Traceback" not in err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "irreps", str(srtio3)])


def test_debug_shows_the_traceback_of_a_rejected_input(srtio3):
    res = CliRunner().invoke(app, ["irreps", str(srtio3), "--symprec", "-1"])
    assert res.exit_code == 2 or res.exit_code == 1
    res = CliRunner().invoke(app, ["--debug", "irreps", str(srtio3), "--symprec", "-1"])
    assert isinstance(res.exception, ValueError)


# -- issue 34: the last hostile inputs -----------------------------------------------------


@pytest.mark.parametrize("workers", [0, -1, 100_000])
def test_screen_workers_out_of_range(srtio3, tmp_path, workers):
    res = _run(["screen", srtio3, "--out", tmp_path / "out", "--workers", workers])
    assert res.exit_code == 2 and "--workers must be between 1 and" in res.output


def test_screen_scheduler_that_is_not_an_address(srtio3, tmp_path):
    res = _run(["screen", srtio3, "--out", tmp_path / "out", "--scheduler", "not a url"])
    assert res.exit_code == 2 and "is not a Dask scheduler address" in res.output


def test_screen_settings_with_200000_amplitudes(srtio3, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text("[search]\namplitudes = [" + ", ".join(["0.1"] * 200_000) + "]\n")
    res = _run(["screen", srtio3, "--out", tmp_path / "out", "--settings", settings])
    assert res.exit_code == 2 and "amplitudes has 200000 entries; at most 100" in res.output


def _training_recipe(tmp_path, extra: str = "", data: str = "data.extxyz"):
    from ase.calculators.singlepoint import SinglePointCalculator

    images = []
    for seed in range(2):
        atoms = cubic_perovskite(3.9)
        atoms.rattle(0.01, seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=atoms.positions * 0.0)
        images.append(atoms)
    write(tmp_path / "data.extxyz", images)
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)))
    recipe = tmp_path / "train.toml"
    recipe.write_text(f'out_dir = "run"\n[data]\npath = "{data}"\nval_fraction = 0.5\n{extra}')
    return recipe


@pytest.mark.parametrize(
    ("extra", "data", "code", "message"),
    [
        ("[model]\nnum_layers = 1000000\n", "data.extxyz", 1, "num_layers = 1000000 is above"),
        ('[train]\nlr = "fast"\n', "data.extxyz", 1, "[train] lr must be a finite number"),
        ("[train]\nepochs = 1.5\n", "data.extxyz", 1, "[train] epochs must be an integer"),
        ("", "garbage.bin", 1, "cannot read data file"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "data.extxyz", 2, "5000 deep; at most 32"),
        ("[data.extra]\n", "data.extxyz", 1, "unknown keys"),
    ],
)
def test_bad_training_recipe(tmp_path, extra, data, code, message):
    """Sizes and types of a training recipe are checked before any model is built."""
    recipe = _training_recipe(tmp_path, extra, data)
    res = _run(["train", recipe])
    assert res.exit_code == code and message in " ".join(res.output.split()), res.output
    assert not (tmp_path / "run").exists()


def test_training_recipe_that_is_a_named_pipe(tmp_path):
    import os

    os.mkfifo(tmp_path / "train.toml")
    res = _run(["train", tmp_path / "train.toml"])
    assert res.exit_code == 2 and "not a regular file" in res.output


def test_left_handed_cell_is_read_as_the_same_lattice(tmp_path):
    """phonons and search refused a left-handed cell with an 'unexpected' phonopy error: the
    reader now gives -a, -b, -c (the same crystal) and every command takes it."""
    from ase_symbreak.structures import read_structure

    atoms = cubic_perovskite(3.9)
    atoms.set_cell(atoms.cell[[1, 0, 2]], scale_atoms=False)
    path = tmp_path / "left.vasp"
    write(path, atoms, format="vasp")
    read = read_structure(path)
    assert read.cell.handedness == 1
    assert abs(read.cell.volume - atoms.cell.volume) < 1e-9
    assert abs(read.positions - atoms.positions).max() < 1e-9
    res = _run(["irreps", path, "--json"])
    assert res.exit_code == 0 and "GM4-" in res.output


def test_short_poscar_count_line_warns(tmp_path, caplog):
    from ase_symbreak.structures import read_structure

    path = tmp_path / "POSCAR"
    write(path, cubic_perovskite(3.9), format="vasp")
    lines = path.read_text().splitlines()
    lines[6] = "   1   1   2"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level("WARNING", logger="ase_symbreak"):
        assert len(read_structure(path)) == 4
    assert "more coordinate lines follow" in caplog.text


def test_atoms_out_of_the_models_reach_are_refused(tmp_path):
    """A perovskite typed ten times too large (39 A) was reported dynamically stable."""
    path = tmp_path / "big.vasp"
    write(path, cubic_perovskite(39.0), format="vasp")
    res = _run(["phonons", path, "--supercell", 1, 1, 1])
    assert res.exit_code == 1
    assert "no neighbour within the model's cutoff" in " ".join(res.output.split())
    assert "stable" not in res.output


def _terminate_self(*args, **kwargs):
    import os
    import signal
    import time

    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_signals_stop_with_a_line_and_release_the_lock(
    srtio3, tmp_path, monkeypatch, capsys, signum
):
    """Ctrl-C printed nothing and SIGTERM left the folder lock behind."""
    import os
    import signal
    import time

    import ase_symbreak.cli.search as search_cli
    import ase_symbreak.workflows.driver as driver
    from ase_symbreak.cli import main
    from ase_symbreak.workflows.storage import LOCK_NAME, folder_lock

    def locked_search(atoms, calc, settings, out_dir, **kwargs):
        with folder_lock(out_dir):
            assert (out_dir / LOCK_NAME).exists()
            os.kill(os.getpid(), getattr(signal, signum))
            time.sleep(10)

    monkeypatch.setattr(search_cli, "load_calculator", lambda *args, **kwargs: None)
    monkeypatch.setattr(driver, "distortion_search", locked_search)
    # a process started in the background (nohup, a CI runner) may inherit SIGINT ignored;
    # Ctrl-C in a terminal raises KeyboardInterrupt, which is what this test is about
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stop:
            main(["search", str(srtio3), "--out", str(tmp_path / "out")])
    finally:
        signal.signal(signal.SIGINT, previous_int)
    expected = 143 if signum == "SIGTERM" else 130
    assert stop.value.code == expected
    err = capsys.readouterr().err
    assert ("terminated (SIGTERM)" if signum == "SIGTERM" else "interrupted (Ctrl-C)") in err
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    assert signal.getsignal(signal.SIGTERM) == before
