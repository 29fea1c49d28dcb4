"""The training example of the README runs as written: its data ship with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from ase_symbreak.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "recipes" / "training" / "train_example.toml"


def test_train_example_runs_offline(tmp_path):
    recipe = tomllib.loads(EXAMPLE.read_text())
    data = (EXAMPLE.parent / recipe["data"]["path"]).resolve()
    assert data.exists(), f"{data} is missing: run recipes/training/make_emt_data.py"
    assert recipe["out_dir"].startswith("results/")  # inside its folder, not tracked by git
    short = EXAMPLE.read_text().replace("epochs = 100", "epochs = 2")
    short = short.replace(f'"{recipe["data"]["path"]}"', f'"{data}"')
    (tmp_path / "example.toml").write_text(short)
    res = CliRunner().invoke(
        app, ["train", str(tmp_path / "example.toml"), "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "model_best.safetensors").exists()
