"""Gradient-of-input order parameters (papers/000): physics, Curie's principle, equivariance,
errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from ase_symbreak.orderparams import (
    find_order_parameter,
    perovskite_b_sites,
    pseudovector_irreps,
    rigid_unit_displacements,
)
from ase_symbreak.orderparams.analysis import feature_stabiliser_mask, parent_operations
from ase_symbreak.orderparams.targets import irreps_to_symmetric, match_atoms, symmetric_to_irreps
from ase_symbreak.structures import cubic_perovskite


# --------------------------------------------------------------------------- structures
def square_d4h() -> Atoms:
    return Atoms("H4", positions=[[1, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]], pbc=False)


def rectangle_d2h() -> Atoms:
    return Atoms(
        "H4", positions=[[1.2, 0.8, 0], [-1.2, 0.8, 0], [-1.2, -0.8, 0], [1.2, -0.8, 0]], pbc=False
    )


def cube_oh() -> Atoms:
    return Atoms("H8", positions=list(itertools.product((-1.0, 1.0), repeat=3)), pbc=False)


def prism_d4h() -> Atoms:
    return Atoms(
        "H8",
        positions=np.array(list(itertools.product((-1.0, 1.0), repeat=3))) * [1, 1, 1.25],
        pbc=False,
    )


def perovskite_pm3m_2x2x2() -> Atoms:
    return cubic_perovskite(3.9).repeat(2)


def glazer_pnma(parent: Atoms) -> tuple[Atoms, np.ndarray]:
    """a+b-b- tilts: in-phase about x, equal anti-phase about y and z (radians)."""
    b = perovskite_b_sites(parent)
    ijk = np.rint(parent.positions[b] / 3.9).astype(int)
    omega = np.stack(
        [
            0.10 * (-1.0) ** (ijk[:, 1] + ijk[:, 2]),
            0.07 * (-1.0) ** ijk.sum(1),
            0.07 * (-1.0) ** ijk.sum(1),
        ],
        axis=1,
    )
    child = parent.copy()
    child.positions += rigid_unit_displacements(parent, b, omega)
    return child, omega


FAST = dict(lmax=2, steps=150, seed=0)


# --------------------------------------------------------------------------- point clouds
@pytest.fixture(scope="module")
def square_result():
    return find_order_parameter(square_d4h(), rectangle_d2h(), tie_sites="all", **FAST)


def test_square_to_rectangle_is_2e_b1g(square_result):
    r = square_result
    assert r.dominant_irrep == "2e"
    assert r.o3_shares["2e"] > 0.95
    assert sum(r.o3_shares.values()) == pytest.approx(1.0)
    m = r.m_components("2e")  # z pole: |m| = 2 cos term = x^2 - y^2
    assert abs(m[4]) > 0.99 * np.linalg.norm(m)
    assert r.final_loss < 1e-3 < r.symmetric_loss


def test_square_curie(square_result):
    s = square_result.symmetry
    assert (s.parent_group, s.child_group, s.kept_group) == (
        "D4h (4/mmm)",
        "D2h (mmm)",
        "D2h (mmm)",
    )
    assert (s.n_parent, s.n_child, s.n_kept) == (16, 8, 8)
    assert s.contains_child and s.equals_child and s.breaks_parent


def test_gradient_keeps_child_symmetry(square_result):
    """Eq. 6-8 of the paper: the raw input gradient already has Sym(parent) ∩ Sym(child)."""
    r = square_result
    ops = parent_operations(square_d4h())
    irreps = o3.Irreps(r.irreps)
    kept = feature_stabiliser_mask(ops, r.gradient, irreps, tol=1e-6)
    assert kept.sum() == 8 and np.abs(r.gradient).max() > 0


def test_cube_to_prism_is_2e_m0():
    r = find_order_parameter(cube_oh(), prism_d4h(), tie_sites="all", **FAST)
    assert r.dominant_irrep == "2e" and r.o3_shares["2e"] > 0.9
    m = r.m_components("2e")
    assert abs(m[2]) > 0.99 * np.linalg.norm(m)  # m = 0 only: tetragonal
    s = r.symmetry
    assert (s.parent_group, s.child_group, s.kept_group) == (
        "Oh (m-3m)",
        "D4h (4/mmm)",
        "D4h (4/mmm)",
    )
    assert s.contains_child and s.equals_child


@pytest.mark.parametrize("improper", [False, True])
def test_equivariance_rotating_parent_and_child(rng, improper):
    """Rotating parent and child together rotates the learned order parameter by D(R)."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q)) * (-1 if improper else 1)
    kw = dict(lmax=2, steps=40, seed=3, tie_sites="all")
    ref = find_order_parameter(square_d4h(), rectangle_d2h(), **kw)
    parent, child = square_d4h(), rectangle_d2h()
    parent.positions = parent.positions @ q.T
    child.positions = child.positions @ q.T
    rot = find_order_parameter(parent, child, **kw)
    d = o3.Irreps(ref.irreps).D_from_matrix(torch.as_tensor(q)).numpy()
    scale = np.abs(ref.features).max()
    assert scale > 0.1
    np.testing.assert_allclose(rot.features, ref.features @ d.T, atol=1e-6 * scale)
    # Adam turns rounding noise on weights with zero gradient into +-lr steps, so the two
    # runs' (equally equivariant) networks differ at ~1e-7 relative
    np.testing.assert_allclose(
        rot.gradient, ref.gradient @ d.T, atol=1e-5 * np.abs(ref.gradient).max()
    )
    assert rot.o3_shares == pytest.approx(ref.o3_shares, abs=1e-8)


@pytest.mark.slow
def test_square_cell_shape_target():
    r = find_order_parameter(
        square_d4h(), rectangle_d2h(), target="cell_shape", tie_sites="all", **FAST
    )
    assert r.dominant_irrep == "2e"
    assert r.symmetry.kept_group == "D2h (mmm)"


def test_symmetric_tensor_roundtrip(rng):
    a = rng.normal(size=(3, 3))
    s = a + a.T
    c = symmetric_to_irreps(s)
    np.testing.assert_allclose(irreps_to_symmetric(c), s, atol=1e-12)
    assert np.linalg.norm(c) == pytest.approx(np.linalg.norm(s))  # orthonormal basis


# --------------------------------------------------------------------------- perovskite
def test_pnma_tilts_are_b_site_pseudovectors():
    parent = perovskite_pm3m_2x2x2()
    child, omega = glazer_pnma(parent)
    b = perovskite_b_sites(parent)
    r = find_order_parameter(parent, child, sites=b, lmax=1, steps=80, space_group_analysis=False)
    assert r.dominant_irrep == "1e" and r.o3_shares["1e"] > 0.95
    w = r.irrep_block("1e")[b]
    cos = np.sum(w * omega) / (np.linalg.norm(w) * np.linalg.norm(omega))
    assert (
        abs(cos) > 0.99
    )  # the a+b-b- pattern (either domain sign) itself (M3+ about x, R4+ about y and z)
    norms = r.site_norms["1e"][b]
    assert np.ptp(norms) < 1e-6 * norms.max()  # equal magnitude on every B site
    s = r.symmetry
    assert (s.parent_group, s.child_group, s.kept_group) == (
        "Pm-3m (221)",
        "Pnma (62)",
        "Pnma (62)",
    )
    assert s.contains_child and s.equals_child


@pytest.mark.slow
def test_pnma_projects_onto_m3_and_r4():
    parent = perovskite_pm3m_2x2x2()
    child, omega = glazer_pnma(parent)
    b = perovskite_b_sites(parent)
    r = find_order_parameter(parent, child, sites=b, lmax=2, steps=200)
    assert set(r.space_group_irreps) == {"M3+", "R4+"}
    assert set(r.child_space_group_irreps) == {"M3+", "R4+"}


@pytest.mark.slow
def test_imma_from_constrained_pnma_features():
    parent = perovskite_pm3m_2x2x2()
    child, _ = glazer_pnma(parent)
    b = perovskite_b_sites(parent)
    parity = np.rint(parent.positions[b] / 3.9).astype(int).sum(1) % 2
    r = find_order_parameter(
        parent,
        child,
        sites=b,
        lmax=2,
        steps=200,
        tie_sites=[b[parity == 0], b[parity == 1]],
        zero_components={"1e": "x"},
    )
    s = r.symmetry
    assert s.kept_group == "Imma (74)" and s.contains_child and not s.equals_child
    assert r.space_group_irreps == ("R4+",)


@pytest.mark.slow
def test_pseudovector_labels_of_single_tilts():
    """A pure in-phase pattern is M3+, a pure anti-phase one R4+ (B site at the origin)."""
    parent = perovskite_pm3m_2x2x2()
    b = perovskite_b_sites(parent)
    ijk = np.rint(parent.positions[b] / 3.9).astype(int)
    irreps = o3.Irreps("0e+1e")
    feats = np.zeros((len(parent), 4))
    feats[b, 3] = (-1.0) ** ijk.sum(1)  # anti-phase about z
    assert list(pseudovector_irreps(parent, feats, irreps)) == ["R4+"]
    feats[b, 3] = (-1.0) ** (ijk[:, 0] + ijk[:, 1])  # in-phase about z
    assert list(pseudovector_irreps(parent, feats, irreps)) == ["M3+"]


# --------------------------------------------------------------------------- errors
def test_different_number_of_atoms():
    with pytest.raises(ValueError, match="same number of atoms"):
        find_order_parameter(square_d4h(), cube_oh())


def test_ambiguous_correspondence():
    child = square_d4h()
    child.positions[0] = [0.0, 1.0, 0.0]  # midway between two parent corners
    with pytest.raises(ValueError, match="ambiguous"):
        match_atoms(square_d4h(), child)


def test_no_one_to_one_correspondence():
    child = square_d4h()
    child.positions[1] = [1.3, 1.0, 0.0]  # two atoms 0.6 A apart, both nearest parent atom 0
    child.positions[0] = [0.7, 1.0, 0.0]
    with pytest.raises(ValueError, match="ambiguous|one-to-one"):
        match_atoms(square_d4h(), child)


def test_mixed_periodicity_and_composition():
    parent = perovskite_pm3m_2x2x2()
    child = parent.copy()
    child.pbc = False
    with pytest.raises(ValueError, match="periodic"):
        find_order_parameter(parent, child)
    other = square_d4h()
    other.symbols[0] = "He"
    with pytest.raises(ValueError, match="composition"):
        find_order_parameter(square_d4h(), other)


def test_child_in_another_cell():
    parent = perovskite_pm3m_2x2x2()
    child = cubic_perovskite(3.9).repeat((4, 2, 1))
    with pytest.raises(ValueError, match="max_strain"):
        find_order_parameter(parent, child)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target="energy"), "target must be"),
        (dict(tie_sites=[[0, 1], [1, 2]]), "two tie groups"),
        (dict(sites=[0, 1], tie_sites=[[2, 3]]), "do not carry features"),
        (dict(sites=[7]), "sites must be indices"),
        (dict(allowed_irreps=["5e"]), "allowed_irreps"),
        (dict(zero_components={"2e": "x"}), "axis letters"),
        (dict(allowed_irreps=["0e"]), "no learnable"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        find_order_parameter(square_d4h(), rectangle_d2h(), lmax=2, steps=10, **kwargs)
