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


def test_search_origin_option_changes_the_labels(tmp_path):
    """``search --origin``: with the A site at the origin the tilts are R5- (not R4+), as in
    ISOTROPY; an atom index out of range is refused with a message."""
    import json

    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    write(tmp_path / "toy.cif", PlantedTiltModel().cubic())
    base = ["search", str(tmp_path / "toy.cif"), "--model", TOY, "--allow-code-models"]
    base += ["--max-depth", "0", "--no-couple", "--fmax", "0.01", "--supercell", "2", "2", "2"]
    labels = {}
    for origin in (None, 0):
        out = tmp_path / f"out_{origin}"
        extra = [] if origin is None else ["--origin", str(origin)]
        res = CliRunner().invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        data = json.loads((out / "search.json").read_text())
        labels[origin] = {m["irrep"] for m in data["soft_modes"]}
    assert "R4+" in labels[None] and "M3+" in labels[None]
    assert "R5-" in labels[0] and "M2+" in labels[0]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--origin", "99"])
    assert res.exit_code in (1, 2) and "99" in res.output
