"""Recomputed edge chunks: same values as the plain graph, first and second derivatives,
and bounded memory (a Hessian-vector product under an address-space cap the plain graph
exceeds)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ase_symbreak.hessian import autodiff
from ase_symbreak.models.recompute import EdgeChunkedConvolution, recomputed
from ase_symbreak.structures import cubic_perovskite


def _fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sin(x[:, None] * y[None, :]).sum(1) + x**3


def test_recomputed_matches_first_and_second_derivatives():
    """gradcheck and gradgradcheck of the recomputed function (float64)."""
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: recomputed(_fn, a, b), (x, y))
    assert torch.autograd.gradgradcheck(lambda a, b: recomputed(_fn, a, b), (x, y))
    # Hessian-vector product through recomputation equals the plain one
    u = torch.randn(5, dtype=torch.float64)
    hvps = []
    for f in (_fn, lambda a, b: recomputed(_fn, a, b)):
        (g,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
        (hu,) = torch.autograd.grad(g, x, u)
        hvps.append(hu)
    torch.testing.assert_close(hvps[0], hvps[1], rtol=0, atol=1e-13)


def _chunked(model, chunk: int):
    for module in model.network.modules():
        if isinstance(module, EdgeChunkedConvolution):
            module.chunk, module.min_edges = chunk, 0
    return model


@pytest.fixture(scope="module")
def models():
    from ase_symbreak.models.sevennet import SevenNetModel

    plain = SevenNetModel(dtype=torch.float64, edge_chunk=None)
    chunked = _chunked(SevenNetModel(dtype=torch.float64, edge_chunk=64), 64)
    return plain, chunked


def test_edge_chunks_give_the_plain_energy_forces_stress_and_hessian(models):
    plain, chunked = models
    atoms = cubic_perovskite(3.9)
    atoms.rattle(0.05, seed=3)
    atoms.cell[0, 1] += 0.1
    n_edges = len(autodiff.neighbor_list(atoms, plain.cutoff).edge_src)
    assert n_edges > 3 * 64  # several chunks, so the test can fail
    a = autodiff.energy_forces_stress(plain, atoms, torch.float64)
    b = autodiff.energy_forces_stress(chunked, atoms, torch.float64)
    assert abs(a.energy - b.energy) < 1e-10
    np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.stress, a.stress, rtol=0, atol=1e-10)
    rows_a = autodiff.hessian_rows(plain, atoms, [0, 3])
    rows_b = autodiff.hessian_rows(chunked, atoms, [0, 3])
    np.testing.assert_allclose(rows_b, rows_a, rtol=0, atol=1e-10)
    u = np.random.default_rng(0).normal(size=(2, len(atoms), 3))
    ref = autodiff.hessian_vector_products(plain, atoms, u)
    for method in autodiff.HVP_METHODS:  # forward mode falls back to the plain graph
        hu = autodiff.hessian_vector_products(chunked, atoms, u, method=method)
        np.testing.assert_allclose(hu, ref, rtol=0, atol=1e-10)
    batched = autodiff.hessian_vector_products(chunked, atoms, u, batch_size=2)
    np.testing.assert_allclose(batched, ref, rtol=0, atol=1e-10)


def test_unchunked_small_graphs_give_sevenns_values(models):
    """Below ``min_edges`` the wrapper sums messages by ``index_add`` instead of sevenn's
    ``scatter_reduce_`` (faster backward); values are sevenn's to 1e-10, Hessian included."""
    from ase_symbreak.models.recompute import EdgeChunkedConvolution
    from ase_symbreak.models.sevennet import SevenNetModel

    plain = models[0]
    default = SevenNetModel(dtype=torch.float64)
    assert any(isinstance(m, EdgeChunkedConvolution) for m in default.network.modules())
    atoms = cubic_perovskite(3.9).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=4)
    a = autodiff.energy_forces_stress(plain, atoms, torch.float64)
    b = autodiff.energy_forces_stress(default, atoms, torch.float64)
    assert abs(a.energy - b.energy) < 1e-10
    np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.stress, a.stress, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        autodiff.hessian_rows(default, atoms, [1, 6]),
        autodiff.hessian_rows(plain, atoms, [1, 6]),
        rtol=0,
        atol=1e-10,
    )


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, torch
    from ase_symbreak.hessian import autodiff
    from ase_symbreak.models.recompute import EdgeChunkedConvolution
    from ase_symbreak.models.sevennet import SevenNetModel
    from ase_symbreak.structures import cubic_perovskite

    chunk = None if sys.argv[1] == "none" else int(sys.argv[1])
    cap_gb = float(sys.argv[2])
    model = SevenNetModel(dtype=torch.float64, edge_chunk=chunk)
    for module in model.network.modules():
        if isinstance(module, EdgeChunkedConvolution):
            module.min_edges = 0
    atoms = cubic_perovskite(3.9).repeat(2)
    atoms.rattle(0.03, seed=7)
    u = np.ones((1, len(atoms), 3))
    small = cubic_perovskite(3.9)
    autodiff.hessian_vector_products(model, small, np.ones((1, 5, 3)))  # warm up
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    limit = size + int(cap_gb * 1e9)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        autodiff.hessian_vector_products(model, atoms, u)
    except (MemoryError, RuntimeError) as err:
        print("OUT OF MEMORY", type(err).__name__)
        sys.exit(3)
    print("OK")
    """
)


def test_hvp_fits_a_memory_cap_that_the_plain_graph_exceeds(tmp_path):
    """One float64 HVP of a 40-atom cell: chunked under +0.6 GB of address space; the
    plain graph (about 1.4 GB measured) is refused by the same cap."""
    script = tmp_path / "hvp_memory.py"
    script.write_text(_MEMORY_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    runs = {
        chunk: subprocess.run(
            [sys.executable, str(script), chunk, "0.6"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        for chunk in ("256", "none")
    }
    assert runs["256"].returncode == 0, runs["256"].stdout + runs["256"].stderr[-2000:]
    assert runs["none"].returncode == 3, runs["none"].stdout + runs["none"].stderr[-2000:]
