"""Coloured (compressed) exact Hessians equal the plain rows where the model's locality makes
the colouring exact, fall back to plain rows where the cell is within the receptive field,
and say what they assumed."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from ase import Atoms

from ase_symbreak.autodiff import hessian_rows
from ase_symbreak.models import E3nnPotential, PotentialConfig
from ase_symbreak.sparse_hessian import colour_atoms, coloured_hessian, hessian_sparsity


@pytest.fixture(scope="module")
def local_model() -> E3nnPotential:
    """One message-passing layer, 2.3 A cutoff: force constants reach 2 edges."""
    torch.manual_seed(0)
    config = PotentialConfig(
        species=(6, 8),
        cutoff=2.3,
        num_radial=4,
        hidden_mul=4,
        num_layers=1,
        radial_hidden=8,
        avg_num_neighbors=3.0,
    )
    return E3nnPotential(config, dtype=torch.float64)


def zigzag_chain(n: int, seed: int = 0) -> Atoms:
    """A periodic zigzag chain along x (2.0 A bonds), rattled, two species."""
    x = 1.8 * np.arange(n)
    y = 0.8 * (np.arange(n) % 2)
    atoms = Atoms(
        ["C", "O"] * (n // 2),
        positions=np.c_[x, y, np.zeros(n)] + 5.0 * np.array([0, 1, 1]),
        cell=[1.8 * n, 10.0, 10.0],
        pbc=(True, False, False),
    )
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_coloured_equals_plain_rows_where_exact(local_model):
    atoms = zigzag_chain(24)
    plain = hessian_rows(local_model, atoms, None, torch.float64)
    result = coloured_hessian(local_model, atoms)
    assert result.exact and not result.fell_back
    assert result.n_colours < len(atoms) // 2  # a real compression, so the test can fail
    assert "exact" in result.assumption and "2 edges" in result.assumption
    np.testing.assert_allclose(result.hessian, plain, rtol=0, atol=1e-10)
    batched = coloured_hessian(local_model, atoms, batch_size=4)
    np.testing.assert_allclose(batched.hessian, plain, rtol=0, atol=1e-10)


def test_sparsity_contains_the_true_hessian_support(local_model):
    atoms = zigzag_chain(24, seed=1)
    plain = hessian_rows(local_model, atoms, None, torch.float64).reshape(24, 3, 24, 3)
    support = np.abs(plain).max(axis=(1, 3)) > 1e-12
    pattern = hessian_sparsity(atoms, local_model.cutoff, 2).toarray()
    assert (pattern == pattern.T).all()
    assert not (support & ~pattern).any()
    assert (~pattern).any()  # the pattern is sparse here


def test_cell_within_the_receptive_field_falls_back(local_model):
    atoms = zigzag_chain(4)
    result = coloured_hessian(local_model, atoms)
    assert result.fell_back and result.n_products == 3 * len(atoms)
    np.testing.assert_allclose(
        result.hessian, hessian_rows(local_model, atoms, None, torch.float64), atol=1e-12
    )


def test_radius_is_an_assumption_and_said_so(local_model):
    atoms = zigzag_chain(24, seed=2)
    plain = hessian_rows(local_model, atoms, None, torch.float64)
    short = coloured_hessian(local_model, atoms, radius=2.5)
    assert not short.exact and "2.5 A" in short.assumption and not short.fell_back
    np.testing.assert_allclose(short.hessian, short.hessian.T, atol=1e-14)
    assert np.abs(short.hessian - plain).max() > 1e-8  # too short: it drops real terms
    wide = coloured_hessian(local_model, atoms, radius=100.0)
    assert wide.fell_back
    np.testing.assert_allclose(wide.hessian, plain, atol=1e-12)


def test_colouring_never_shares_a_row():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        dense = rng.random((n, n)) < rng.uniform(0.02, 0.3)
        dense = dense | dense.T | np.eye(n, dtype=bool)
        colours = colour_atoms(sp.csr_matrix(dense))
        for row in dense:
            members = colours[row]
            assert len(members) == len(set(members.tolist()))


def test_model_without_depth_needs_a_radius(local_model):
    class Unknown(torch.nn.Module):
        cutoff = 2.3
        num_interactions = None

    with pytest.raises(ValueError, match="num_interactions"):
        coloured_hessian(Unknown(), zigzag_chain(8))
    with pytest.raises(ValueError, match="radius"):
        coloured_hessian(local_model, zigzag_chain(8), radius=-1.0)


def test_calculator_gives_the_coloured_hessian(local_model):
    from ase_symbreak.calculator import SymBreakCalculator

    atoms = zigzag_chain(24, seed=3)
    calc = SymBreakCalculator(local_model)
    result = calc.get_coloured_hessian(atoms)
    assert result.exact and result.n_colours < 24
    np.testing.assert_allclose(result.hessian, calc.get_hessian(atoms), rtol=0, atol=1e-10)
