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
    """An import path runs code: refused on every command unless asked for."""
    args = [command, srtio3, "--model", "os:getcwd"]
    if command != "phonons":
        args += ["--out", tmp_path / "out"]
    res = _run(args)
    assert res.exit_code == 2 and "--allow-code-models" in res.output
    res = _run([*args, "--allow-code-models"])
    assert res.exit_code != 0 and "EnergyModel class" in res.output


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
