"""Point-group tools: group-theory invariants, projectors, Neumann's principle."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from ase_symbreak.symmetry.pointgroup import (
    allowed_tensor_components,
    decompose_representation,
    invariant_tensor_basis,
    point_group_irreps,
    point_group_operations,
    projection_operator,
    symmetrize_tensor,
    symmetry_adapted_basis,
    tensor_representation,
)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def srtio3_cubic_pm3m(a: float = 3.9) -> Atoms:
    """Cubic perovskite SrTiO3, Pm-3m (221), Ti at the origin."""
    return Atoms(
        "TiSrO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=np.eye(3) * a,
        pbc=True,
    )


def _rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


@pytest.fixture(scope="module")
def oh():
    return point_group_operations(srtio3_cubic_pm3m())


@pytest.fixture(scope="module")
def oh_irreps(oh):
    return point_group_irreps(oh)


def _table(rotations):
    n = len(rotations)
    prod = np.einsum("iab,jbc->ijac", rotations, rotations)
    return np.array(
        [
            [np.argmin(np.abs(rotations - prod[i, j]).sum(axis=(1, 2))) for j in range(n)]
            for i in range(n)
        ]
    )


def test_oh_has_48_operations_and_mulliken_irreps(oh, oh_irreps):
    assert len(oh) == 48
    labels = sorted(ir.label for ir in oh_irreps)
    assert labels == sorted(["A1g", "A2g", "Eg", "T1g", "T2g", "A1u", "A2u", "Eu", "T1u", "T2u"])
    assert oh_irreps[0].label == "A1g"


def test_irreps_obey_orthogonality_and_multiply_like_the_group(oh, oh_irreps):
    order = len(oh)
    assert sum(ir.dim**2 for ir in oh_irreps) == order
    table = _table(oh)
    chis = np.array([ir.characters for ir in oh_irreps])
    np.testing.assert_allclose(chis @ chis.conj().T / order, np.eye(len(oh_irreps)), atol=1e-10)
    for ir in oh_irreps:
        d = ir.matrices
        np.testing.assert_allclose(np.einsum("iab,jbc->ijac", d, d), d[table], atol=1e-10)


def test_polar_vector_is_t1u_in_oh_and_t2_in_td(oh, oh_irreps):
    assert decompose_representation(oh, oh_irreps) == {"T1u": 1}
    zns = bulk("ZnS", "zincblende", a=5.4)
    td = point_group_operations(zns)
    assert len(td) == 24
    assert decompose_representation(td, point_group_irreps(td)) == {"T2": 1}


def test_projectors_idempotent_hermitian_complete(oh, oh_irreps):
    rep = tensor_representation(oh, 2)  # 9-dim rank-2 tensors
    total = np.zeros((9, 9))
    for ir in oh_irreps:
        p = projection_operator(rep, ir)
        np.testing.assert_allclose(p @ p, p, atol=1e-10)
        np.testing.assert_allclose(p, p.conj().T, atol=1e-10)
        for d in rep:  # commutes with the group action
            np.testing.assert_allclose(d @ p, p @ d, atol=1e-10)
        total = total + p
    np.testing.assert_allclose(total, np.eye(9), atol=1e-10)
    # 3 x 3 = A1g + Eg + T1g + T2g (trace, deviatoric diagonal, antisymmetric, shear)
    assert decompose_representation(rep, oh_irreps) == {"A1g": 1, "Eg": 1, "T1g": 1, "T2g": 1}


def test_complex_irreps_of_c4_give_complete_projectors():
    c4 = np.array([_rot([0, 0, 1], k * np.pi / 2) for k in range(4)])
    for real in (True, False):
        irreps = point_group_irreps(c4, real=real)
        rep = tensor_representation(c4, 1)
        total = sum(projection_operator(rep, ir) for ir in irreps)
        np.testing.assert_allclose(total, np.eye(3), atol=1e-10)
    assert len(point_group_irreps(c4, real=False)) == 4  # four 1-dim complex irreps
    assert sorted(ir.label for ir in point_group_irreps(c4)) == ["A", "B", "E"]


def test_symmetry_adapted_basis_transforms_with_irrep_matrices(oh, oh_irreps):
    rep = tensor_representation(oh, 2)
    t2g = next(ir for ir in oh_irreps if ir.label == "T2g")
    basis = symmetry_adapted_basis(rep, t2g)
    assert basis.shape == (1, 3, 9)
    e = basis[0]
    np.testing.assert_allclose(e @ e.T, np.eye(3), atol=1e-10)
    for d, gamma in zip(rep, t2g.matrices):
        np.testing.assert_allclose(d @ e.T, e.T @ gamma, atol=1e-10)
    # T2g tensors are symmetric and traceless with zero diagonal (pure shear)
    for v in e.reshape(3, 3, 3):
        np.testing.assert_allclose(v, v.T, atol=1e-10)
        np.testing.assert_allclose(np.diag(v), 0, atol=1e-10)


def test_cubic_dielectric_tensor_is_isotropic(oh, rng):
    eps = rng.normal(size=(3, 3))
    eps = eps + eps.T
    sym = symmetrize_tensor(eps, oh)
    np.testing.assert_allclose(sym, np.trace(eps) / 3 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(symmetrize_tensor(sym, oh), sym, atol=1e-12)
    assert allowed_tensor_components(oh, 2, "dielectric") == 1


def test_piezo_vanishes_for_centrosymmetric_groups(oh, rng):
    d = rng.normal(size=(3, 3, 3))
    np.testing.assert_allclose(symmetrize_tensor(d, oh), 0, atol=1e-12)
    assert allowed_tensor_components(oh, 3, "piezoelectric") == 0
    ci = np.array([np.eye(3), -np.eye(3)])
    assert allowed_tensor_components(ci, 3, "piezoelectric") == 0
    td = point_group_operations(bulk("ZnS", "zincblende", a=5.4))
    assert allowed_tensor_components(td, 3, "piezoelectric") == 1  # d14 only


def test_elastic_constants_counts(oh):
    assert allowed_tensor_components(oh, 4, "elastic") == 3  # C11, C12, C44
    hcp = point_group_operations(bulk("Mg", "hcp", a=3.2, c=5.2))
    assert len(hcp) == 24
    assert allowed_tensor_components(hcp, 4, "elastic") == 5  # C11 C12 C13 C33 C44
    assert allowed_tensor_components(np.eye(3)[None], 4, "elastic") == 21  # triclinic
    # the invariant cubic tensors have the cubic pattern C1111 = C2222 = C3333
    for c in invariant_tensor_basis(oh, 4, "elastic"):
        assert c[0, 0, 0, 0] == pytest.approx(c[2, 2, 2, 2], abs=1e-12)
        assert c[0, 0, 0, 1] == pytest.approx(0, abs=1e-12)


def test_axial_vector_allowed_only_along_sixfold_axis_in_6m():
    c6h = [_rot([0, 0, 1], k * np.pi / 3) for k in range(6)]
    c6h = np.array(c6h + [-r for r in c6h])
    basis = invariant_tensor_basis(c6h, 1, axial=True)
    assert basis.shape == (1, 3)
    np.testing.assert_allclose(np.abs(basis[0]), [0, 0, 1], atol=1e-12)
    assert allowed_tensor_components(c6h, 1) == 0  # no polar vector: centrosymmetric


def test_lattice_rotations_need_the_lattice():
    hcp = bulk("Mg", "hcp", a=3.2, c=5.2)
    sixfold = np.array([[[1, -1, 0], [1, 0, 0], [0, 0, 1]]])
    with pytest.raises(ValueError, match="not orthogonal"):
        point_group_operations(sixfold)
    cart = point_group_operations(sixfold, lattice=hcp.cell[:])
    assert np.allclose(cart[0], np.eye(3))
    with pytest.raises(ValueError, match="do not form a group"):
        point_group_irreps(np.array([np.eye(3), _rot([0, 0, 1], np.pi / 2)]))
