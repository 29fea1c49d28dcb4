"""``--device``: the phonons and search commands take a torch device; without a GPU,
``cuda`` is a clear error (exit 2) before any work."""

from __future__ import annotations

import pytest
import torch
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app
from ase_symbreak.structures import cubic_perovskite


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", ["phonons", "search"])
def test_cuda_without_a_gpu_exits_with_a_message(command, tmp_path):
    path = tmp_path / "srtio3.cif"
    write(path, cubic_perovskite(3.9))
    args = [command, str(path), "--device", "cuda"]
    if command == "search":
        args += ["--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "no CUDA GPU" in res.output
    assert not (tmp_path / "out").exists()
