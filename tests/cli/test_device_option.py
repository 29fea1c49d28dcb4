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


def test_hessian_dtype_option(tmp_path):
    """``--hessian-dtype float32`` gives the float64 frequencies to float32 precision and says
    so in the JSON; anything else exits 2 before any work."""
    import json

    from ase_symbreak.models import save_model
    from ase_symbreak.testing.samples import small_e3nn_potential

    model = save_model(small_e3nn_potential(), tmp_path / "own.safetensors")
    path = tmp_path / "POSCAR"
    write(path, cubic_perovskite(3.9), format="vasp")
    base = ["phonons", str(path), "--supercell", "1", "1", "1", "--model", str(model), "--json"]
    runs = {}
    for dtype in ("float64", "float32"):
        res = CliRunner().invoke(app, base + ["--hessian-dtype", dtype])
        assert res.exit_code == 0, res.output
        runs[dtype] = json.loads(res.stdout)
        assert runs[dtype]["model"]["hessian_dtype"] == dtype
    f64, f32 = ([m["frequency_thz"] for m in runs[d]["modes"]] for d in ("float64", "float32"))
    assert f32 != f64  # really computed in float32
    assert max(abs(a - b) for a, b in zip(f32, f64)) < 1e-3
    res = CliRunner().invoke(app, base + ["--hessian-dtype", "float16"])
    assert res.exit_code == 2 and "--hessian-dtype must be" in res.output
