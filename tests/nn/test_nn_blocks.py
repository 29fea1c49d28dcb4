"""Equivariance, smoothness and differentiability of the e3nn building blocks (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3

from ase_symbreak.nn import (
    BesselBasis,
    EquivariantConvolution,
    InteractionBlock,
    PolynomialCutoff,
    RadialEmbedding,
    SpeciesEmbedding,
)
from ase_symbreak.nn.convolution import uvu_instructions

DTYPE = torch.float64
CUTOFF = 4.0
IRREPS_SH = o3.Irreps.spherical_harmonics(2)
IRREPS_NODE = o3.Irreps("3x0e+2x0o+3x1o+2x1e+2x2e+1x2o")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture(autouse=True)
def _float64_and_seed():
    """Build blocks in float64 (their Clebsch-Gordan constants too) with a fixed seed."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    torch.manual_seed(7)
    yield
    torch.set_default_dtype(old)


def random_graph(rng: np.random.Generator, num_nodes: int = 6, num_edges: int = 20):
    """Random directed edges with vectors of length in (0.8, 0.95 cutoff), float64."""
    src = torch.as_tensor(rng.integers(0, num_nodes, num_edges))
    dst = torch.as_tensor((src.numpy() + rng.integers(1, num_nodes, num_edges)) % num_nodes)
    direction = rng.normal(size=(num_edges, 3))
    length = rng.uniform(0.8, 0.95 * CUTOFF, size=(num_edges, 1))
    vec = torch.as_tensor(
        direction / np.linalg.norm(direction, axis=1, keepdims=True) * length, dtype=DTYPE
    )
    return src, dst, vec


def orthogonal_matrices() -> list[torch.Tensor]:
    """A random proper rotation and a random improper one (rotation times inversion)."""
    rotation = o3.rand_matrix(dtype=DTYPE)
    return [rotation, -o3.rand_matrix(dtype=DTYPE)]


def edge_inputs(vec: torch.Tensor, radial: RadialEmbedding) -> tuple[torch.Tensor, torch.Tensor]:
    sh = o3.spherical_harmonics(IRREPS_SH, vec, normalize=True, normalization="component")
    return sh, radial(vec.norm(dim=-1))


def assert_block_equivariant(block: torch.nn.Module, rng: np.random.Generator) -> None:
    """block(D_in x, R vec) == D_out block(x, vec) for a proper and an improper R."""
    src, dst, vec = random_graph(rng)
    radial = RadialEmbedding(CUTOFF, 6)
    x = torch.as_tensor(rng.normal(size=(6, block.irreps_in.dim)), dtype=DTYPE)
    out = block(x, src, dst, *edge_inputs(vec, radial))
    assert out.shape == (6, block.irreps_out.dim)
    assert out.abs().max() > 1e-3  # not trivially zero
    for matrix in orthogonal_matrices():
        x_rot = x @ block.irreps_in.D_from_matrix(matrix).T
        out_rot = block(x_rot, src, dst, *edge_inputs(vec @ matrix.T, radial))
        expected = out @ block.irreps_out.D_from_matrix(matrix).T
        torch.testing.assert_close(out_rot, expected, atol=1e-10, rtol=1e-10)


# --- radial -----------------------------------------------------------------------


def test_polynomial_cutoff_is_c2_at_cutoff() -> None:
    envelope = PolynomialCutoff(CUTOFF, p=6)
    r = torch.tensor([0.0, CUTOFF, CUTOFF + 0.3], dtype=DTYPE, requires_grad=True)
    u = envelope(r)
    (du,) = torch.autograd.grad(u.sum(), r, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), r)
    torch.testing.assert_close(u.detach(), torch.tensor([1.0, 0.0, 0.0], dtype=DTYPE))
    torch.testing.assert_close(du[1:].detach(), torch.zeros(2, dtype=DTYPE), atol=1e-12, rtol=0)
    torch.testing.assert_close(d2u[1:], torch.zeros(2, dtype=DTYPE), atol=1e-12, rtol=0)


@pytest.mark.parametrize("p", [1, 0])
def test_polynomial_cutoff_rejects_low_order(p: int) -> None:
    with pytest.raises(ValueError, match="p must be >= 2"):
        PolynomialCutoff(CUTOFF, p=p)


def test_radial_embedding_shape_irreps_and_smooth_cutoff() -> None:
    radial = RadialEmbedding(CUTOFF, num_radial=8)
    assert radial.irreps_out == o3.Irreps("8x0e")
    r = torch.tensor([1.0, CUTOFF - 1e-4, CUTOFF + 1e-4], dtype=DTYPE, requires_grad=True)
    basis = radial(r)
    assert basis.shape == (3, 8)
    (d1,) = torch.autograd.grad(basis.sum(), r, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), r)
    assert basis[0].abs().max() > 0.1
    # near the cutoff: value ~ delta^3, first derivative ~ delta^2, second ~ delta
    assert basis[1].abs().max() < 1e-9 and abs(d1[1]) < 1e-5 and abs(d2[1]) < 5e-2
    assert basis[2].abs().max() == 0 and d1[2] == 0 and d2[2] == 0


def test_bessel_basis_matches_formula() -> None:
    bessel = BesselBasis(CUTOFF, num_radial=3)
    r = torch.tensor([0.7, 2.1], dtype=DTYPE)
    n = torch.arange(1, 4, dtype=DTYPE)
    expected = (2 / CUTOFF) ** 0.5 * torch.sin(n * torch.pi * r[:, None] / CUTOFF) / r[:, None]
    torch.testing.assert_close(bessel(r), expected)


# --- embedding --------------------------------------------------------------------


def test_species_embedding_one_hot_and_unknown_species() -> None:
    emb = SpeciesEmbedding([8, 22, 38]).to(DTYPE)
    assert emb.irreps_out == o3.Irreps("3x0e")
    out = emb(torch.tensor([38, 8, 22, 8]))
    assert out.dtype == DTYPE
    torch.testing.assert_close(out, torch.eye(3, dtype=DTYPE)[[2, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"\[1, 26\]"):
        emb(torch.tensor([8, 26, 1]))
    with pytest.raises(ValueError, match="unique"):
        SpeciesEmbedding([8, 8])


# --- convolution and interaction block -------------------------------------------


def test_uvu_instructions_only_reach_wanted_irreps() -> None:
    irreps_mid, instructions = uvu_instructions(IRREPS_NODE, IRREPS_SH, o3.Irreps("4x0e+4x1o"))
    assert {ir for _, ir in irreps_mid} == {o3.Irrep("0e"), o3.Irrep("1o")}
    for i1, i2, k, mode, _ in instructions:
        assert mode == "uvu"
        assert irreps_mid[k].ir in IRREPS_NODE[i1].ir * IRREPS_SH[i2].ir
        assert irreps_mid[k].mul == IRREPS_NODE[i1].mul


def test_convolution_is_equivariant_under_rotation_and_inversion(rng: np.random.Generator) -> None:
    conv = EquivariantConvolution(
        IRREPS_NODE,
        IRREPS_SH,
        "4x0e+2x0o+3x1o+2x1e+2x2e+2x2o",
        num_radial=6,
        radial_hidden=8,
        avg_num_neighbors=3.0,
    ).to(DTYPE)
    assert conv.irreps_in == IRREPS_NODE
    assert_block_equivariant(conv, rng)


def test_interaction_block_is_equivariant_under_rotation_and_inversion(
    rng: np.random.Generator,
) -> None:
    block = InteractionBlock(
        IRREPS_NODE,
        IRREPS_SH,
        "4x0e+4x0o+4x1o+4x1e+2x2e+2x2o",
        num_radial=6,
        radial_hidden=8,
        avg_num_neighbors=3.0,
    ).to(DTYPE)
    # both parities survive the gate
    assert {ir.p for _, ir in block.irreps_out} == {1, -1}
    assert_block_equivariant(block, rng)


def test_interaction_block_drops_unreachable_irreps() -> None:
    block = InteractionBlock("4x0e", IRREPS_SH, "4x0e+4x0o+4x1o+4x1e", num_radial=4)
    assert block.irreps_out == o3.Irreps("4x0e+4x1o")


class _DoubledFilterConvolution(EquivariantConvolution):
    """A subclass that appends a second (scaled) copy of the harmonics to the filter."""

    def __init__(
        self,
        irreps_node_in,
        irreps_edge_attr,
        irreps_out,
        num_radial,
        radial_hidden,
        avg_num_neighbors,
    ):
        edge = o3.Irreps(irreps_edge_attr)
        super().__init__(
            irreps_node_in,
            edge,
            irreps_out,
            num_radial,
            radial_hidden,
            avg_num_neighbors,
            irreps_filter=edge + edge,
        )
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def edge_filter(self, edge_attr: torch.Tensor) -> torch.Tensor:
        return torch.cat([edge_attr, self.scale * edge_attr], dim=-1)


def test_convolution_subclass_can_extend_the_filter(rng: np.random.Generator) -> None:
    block = InteractionBlock(
        IRREPS_NODE,
        IRREPS_SH,
        "4x0e+2x1o+2x1e",
        num_radial=6,
        radial_hidden=8,
        convolution_cls=_DoubledFilterConvolution,
    ).to(DTYPE)
    assert block.conv.irreps_filter == IRREPS_SH + IRREPS_SH
    assert_block_equivariant(block, rng)


def test_convolution_supports_double_backward(rng: np.random.Generator) -> None:
    conv = EquivariantConvolution(
        "1x0e+1x1o", IRREPS_SH, "1x0e+1x1o+1x1e", num_radial=3, radial_hidden=3
    ).to(DTYPE)
    radial = RadialEmbedding(CUTOFF, 3)
    src, dst, vec = random_graph(rng, num_nodes=3, num_edges=3)
    x = torch.as_tensor(rng.normal(size=(3, conv.irreps_in.dim)), dtype=DTYPE)

    def scalar_of_vec(v: torch.Tensor) -> torch.Tensor:
        return conv(x, src, dst, *edge_inputs(v, radial)).pow(2).sum()

    vec = vec.clone().requires_grad_(True)
    assert torch.autograd.gradgradcheck(scalar_of_vec, (vec,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blocks_follow_module_dtype(dtype: torch.dtype, rng: np.random.Generator) -> None:
    block = InteractionBlock(IRREPS_NODE, IRREPS_SH, "4x0e+2x1o", num_radial=6, radial_hidden=8).to(
        dtype
    )
    radial = RadialEmbedding(CUTOFF, 6)
    src, dst, vec = random_graph(rng)
    x = torch.as_tensor(rng.normal(size=(6, IRREPS_NODE.dim)), dtype=dtype)
    out = block(x, src, dst, *edge_inputs(vec.to(dtype), radial))
    assert out.dtype == dtype and torch.isfinite(out).all()
