"""Progress reaches a pipe while the run goes on, as plain lines (issue 17): a search in a
subprocess with stdout piped, read line by line as the lines come."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ase.io import write

from ase_symbreak.testing.toy_models import PlantedTiltModel

TOY = "ase_symbreak.testing.toy_models:PlantedTiltModel"


def test_progress_lines_arrive_before_the_run_ends(tmp_path):
    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    script = Path(sys.executable).with_name("ase-symbreak")
    args = [str(script), "search", str(tmp_path / "toy.cif"), "--model", TOY]
    args += ["--allow-code-models", "--out", str(tmp_path / "out"), "--max-depth", "0"]
    args += ["--no-couple", "--fmax", "0.01"]
    env = {**os.environ, "ASE_SYMBREAK_THREADS": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    )
    lines = []
    for line in proc.stdout:
        lines.append((time.monotonic(), line.rstrip()))
    proc.wait(timeout=600)
    end = time.monotonic()
    assert proc.returncode == 0, "\n".join(text for _, text in lines)
    progress = [(t, text) for t, text in lines if text.startswith("relax children: ")]
    assert progress, "\n".join(text for _, text in lines)
    assert end - progress[0][0] > 0.5  # the first child line came well before the end
    steps = [text.split(":")[0] for _, text in lines if ": " in text and "/" in text]
    for step in ("relax parent", "phonons", "soft modes", "condense", "relax children"):
        assert step in steps
    assert not any("\x1b[" in text for _, text in lines)  # plain text, no terminal codes
    assert not any("Warning" in text for _, text in lines)  # dependencies kept quiet


def test_quiet_prints_no_progress(tmp_path):
    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    script = Path(sys.executable).with_name("ase-symbreak")
    out = subprocess.run(
        [
            str(script),
            "--quiet",
            "phonons",
            str(tmp_path / "toy.cif"),
            "--model",
            TOY,
            "--allow-code-models",
            "--supercell",
            "1",
            "1",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "exact Hessian rows" not in out.stderr and "GM" in out.stdout


def test_search_origin_option_reaches_the_settings(tmp_path, monkeypatch):
    """``search --origin N`` sets ``SearchSettings.origin_index`` (the labels then follow
    that origin: tests/phonons); without it the default origin is kept."""
    from typer.testing import CliRunner

    import ase_symbreak.cli.search as search_cli
    from ase_symbreak.cli import app

    seen = []
    monkeypatch.setattr(
        search_cli, "_search", lambda atoms, model, settings, *a, **k: seen.append(settings)
    )
    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    for extra in ([], ["--origin", "0"]):
        res = CliRunner().invoke(app, ["search", str(tmp_path / "toy.cif"), *extra])
        assert res.exit_code == 0, res.output
    assert [s.origin_index for s in seen] == [None, 0]


def test_the_phonons_bar_names_the_work_it_counts(tmp_path):
    """A calculator without Hessians: the bar counts displaced-cell force calls, not
    'exact Hessian rows'."""
    from ase.build import bulk

    write(tmp_path / "cu.cif", bulk("Cu", "fcc", a=3.6))
    script = Path(sys.executable).with_name("ase-symbreak")
    args = [str(script), "phonons", str(tmp_path / "cu.cif")]
    args += ["--model", "ase.calculators.emt:EMT", "--allow-code-models"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout + res.stderr
    assert "displaced-cell force calls: " in text
    assert "exact Hessian rows" not in text
