"""Coloured (compressed) Hessians: equal to plain rows where exact, honest where not."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from ase import Atoms
from ase.build import bulk

from ase_symbreak.hessian.autodiff import hessian_rows
from ase_symbreak.hessian.colouring import (
    ColouredHessian,
    colour_atoms,
    coloured_hessian,
    hessian_sparsity,
)
from ase_symbreak.models import E3nnPotential, PotentialConfig
from ase_symbreak.models.base import EnergyModel

CUTOFF = 2.3  # nearest neighbours (2.0 A) only; next nearest are at 2.83 A


@pytest.fixture(scope="module")
def model() -> E3nnPotential:
    """One message-passing layer: force constants vanish beyond 2 hops (read-only)."""
    torch.manual_seed(0)
    config = PotentialConfig(
        species=(11, 17),
        cutoff=CUTOFF,
        num_radial=4,
        lmax=1,
        hidden_mul=4,
        num_layers=1,
        radial_hidden=8,
        avg_num_neighbors=6.0,
    )
    return E3nnPotential(config, dtype=torch.float64)


@pytest.fixture(scope="module")
def crystal() -> Atoms:
    """Rattled rocksalt, 96 atoms in 4 x 8 x 24 A, nearest neighbours 2 A (read-only)."""
    atoms = bulk("NaCl", "rocksalt", a=4.0, cubic=True).repeat((1, 2, 6))
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture(scope="module")
def plain(model: E3nnPotential, crystal: Atoms) -> np.ndarray:
    return hessian_rows(model, crystal)


def test_exact_mode_equals_plain_rows_with_fewer_products(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    calls: list[tuple[int, int]] = []
    result = coloured_hessian(
        model, crystal, progress=lambda done, total: calls.append((done, total))
    )
    n = len(crystal)
    assert isinstance(result, ColouredHessian)
    assert result.exact and not result.fell_back
    assert result.n_atoms == n
    assert result.n_colours < n // 2
    assert result.n_products == 3 * result.n_colours
    assert "exact" in result.assumption and "2 graph hops" in result.assumption
    assert result.hessian.shape == (3 * n, 3 * n)
    np.testing.assert_allclose(result.hessian, plain, rtol=0, atol=1e-10)
    assert calls[-1] == (result.n_products, result.n_products)
    assert [done for done, _ in calls] == list(range(1, result.n_products + 1))


def test_chunked_products_give_the_same_hessian(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    result = coloured_hessian(model, crystal, chunk_size=7)
    np.testing.assert_allclose(result.hessian, plain, rtol=0, atol=1e-10)


def test_sparsity_pattern_is_symmetric_and_holds_the_true_structure(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    n = len(crystal)
    pattern = hessian_sparsity(crystal, model.cutoff, 2 * model.num_interactions)
    assert pattern.shape == (n, n) and pattern.dtype == bool
    assert (pattern != pattern.T).nnz == 0
    assert pattern.diagonal().all()
    dense = pattern.toarray()
    coupled = np.abs(plain.reshape(n, 3, n, 3)).max(axis=(1, 3)) > 1e-12
    assert not (coupled & ~dense).any()  # every nonzero block lies inside the pattern
    assert coupled[dense].mean() > 0.9  # and the pattern is tight (all of it, for this model)
    assert dense.sum() < n * n // 4


def test_hops_zero_is_the_identity_and_hops_grow_the_pattern(crystal: Atoms) -> None:
    n = len(crystal)
    assert (hessian_sparsity(crystal, CUTOFF, 0) != sp.identity(n, dtype=bool)).nnz == 0
    sizes = [hessian_sparsity(crystal, CUTOFF, hops).nnz for hops in range(4)]
    assert sizes == sorted(set(sizes))
    with pytest.raises(ValueError, match="hops"):
        hessian_sparsity(crystal, CUTOFF, -1)


def test_colouring_never_shares_a_colour_within_a_row() -> None:
    rng = np.random.default_rng(7)
    for n, density, compressed in [(60, 0.01, True), (200, 0.005, True), (30, 0.3, False)]:
        upper = sp.random(n, n, density=density, random_state=rng, format="csr") != 0
        pattern = (upper + upper.T + sp.identity(n, dtype=bool)).tocsr()
        colours = colour_atoms(pattern)
        assert colours.shape == (n,)
        assert set(colours.tolist()) == set(range(colours.max() + 1))
        assert (colours.max() + 1 < n) == compressed
        for i in range(n):
            row = colours[pattern.indices[pattern.indptr[i] : pattern.indptr[i + 1]]]
            assert len(set(row.tolist())) == len(row)


def test_colouring_of_a_full_or_diagonal_pattern() -> None:
    np.testing.assert_array_equal(colour_atoms(np.ones((5, 5), dtype=bool)), np.arange(5))
    np.testing.assert_array_equal(colour_atoms(sp.identity(5, dtype=bool)), np.zeros(5))


def test_radius_mode_is_flagged_approximate(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    rough = coloured_hessian(model, crystal, radius=3.0)
    assert not rough.exact and not rough.fell_back
    assert "approximate" in rough.assumption and "3 A" in rough.assumption
    np.testing.assert_array_equal(rough.hessian, rough.hessian.T)
    assert np.abs(rough.hessian - plain).max() > 1e-6  # 2-hop pairs beyond 3 A are dropped
    # 2 hops never reach beyond 2 * cutoff: this radius holds the exact pattern
    covering = coloured_hessian(model, crystal, radius=2 * CUTOFF)
    assert not covering.exact and not covering.fell_back
    assert covering.n_colours < len(crystal)
    np.testing.assert_allclose(covering.hessian, plain, rtol=0, atol=1e-10)


def test_radius_beyond_the_cell_falls_back_to_plain_rows(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    diagonal = float(np.linalg.norm(crystal.cell.array.sum(axis=0)))
    result = coloured_hessian(model, crystal, radius=diagonal + 1.0)
    assert result.fell_back and result.exact
    assert result.n_colours == len(crystal) and result.n_products == 3 * len(crystal)
    assert "fell back to plain rows" in result.assumption
    np.testing.assert_array_equal(result.colours, np.arange(len(crystal)))
    np.testing.assert_allclose(result.hessian, plain, rtol=0, atol=1e-12)


@pytest.mark.parametrize("repeat", [(1, 1, 1), None])
def test_cell_smaller_than_the_receptive_field_falls_back(
    model: E3nnPotential, repeat: tuple[int, int, int] | None
) -> None:
    if repeat is None:  # 2-atom primitive cell
        atoms = bulk("NaCl", "rocksalt", a=4.0)
    else:  # 8-atom cubic cell
        atoms = bulk("NaCl", "rocksalt", a=4.0, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=2)
    result = coloured_hessian(model, atoms)
    assert result.fell_back and result.exact and result.n_colours == len(atoms)
    assert "fell back to plain rows" in result.assumption
    np.testing.assert_allclose(result.hessian, hessian_rows(model, atoms), rtol=0, atol=1e-12)


class _PairModel(EnergyModel):
    """Morse-like pair energies: not a message-passing model, depth unknown."""

    cutoff = CUTOFF

    def forward(
        self,
        numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vec: torch.Tensor,
    ) -> torch.Tensor:
        r = torch.linalg.vector_norm(edge_vec, dim=-1)
        pair = (1.0 - torch.exp(-(r - 2.0))) ** 2 * (1.0 - r / self.cutoff) ** 3
        return torch.zeros(len(numbers), dtype=edge_vec.dtype).index_add(0, edge_src, 0.5 * pair)


def test_unknown_depth_needs_a_radius(crystal: Atoms) -> None:
    model = _PairModel()
    assert model.num_interactions is None
    with pytest.raises(ValueError, match="num_interactions"):
        coloured_hessian(model, crystal)
    result = coloured_hessian(model, crystal, radius=2 * CUTOFF)
    assert not result.exact and not result.fell_back
    np.testing.assert_allclose(result.hessian, hessian_rows(model, crystal), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="radius"):
        coloured_hessian(model, crystal, radius=0.0)


def test_calculator_gives_the_coloured_hessian(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    from ase_symbreak.calculator import SymBreakCalculator

    result = SymBreakCalculator(model).get_coloured_hessian(crystal)
    assert result.exact and not result.fell_back and result.n_colours < len(crystal)
    np.testing.assert_allclose(result.hessian, plain, rtol=0, atol=1e-10)


def test_coloured_strategy_gives_the_full_force_constants(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    """``get_force_constants(strategy="coloured")``: the exact coloured Hessian in phonopy's
    layout, with 3 products per colour; a model of unknown depth is refused."""
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.hessian.forceconstants import hessian_to_force_constants

    calls: list[int] = []
    calc = SymBreakCalculator(model, dtype="float64")
    fc = calc.get_force_constants(
        crystal, strategy="coloured", progress=lambda done, total: calls.append(total)
    )
    np.testing.assert_allclose(fc, hessian_to_force_constants(plain), rtol=0, atol=1e-10)
    assert calls[-1] < len(crystal)  # 3 x colours, not 3N rows
    with pytest.raises(ValueError, match="strategy='coloured' needs .*num_interactions"):
        SymBreakCalculator(_PairModel()).get_force_constants(crystal, strategy="coloured")


def test_too_short_a_radius_drops_real_terms(
    model: E3nnPotential, crystal: Atoms, plain: np.ndarray
) -> None:
    """The radius is an assumption: below the model's reach it changes the Hessian."""
    short = coloured_hessian(model, crystal, radius=2.5)
    assert not short.exact and "2.5" in short.assumption
    assert np.abs(short.hessian - plain).max() > 1e-6
