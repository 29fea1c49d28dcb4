from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.symmetry import analyze, displacement_modes


def _compose_index(ops, p_inv, g, h):
    """Index of the operation g h (g after h) in the supercell operation list."""
    r = ops.rotations[g] @ ops.rotations[h]
    t = ops.rotations[g] @ ops.translations[h] + ops.translations[g]
    same = np.all(ops.rotations == r, axis=(1, 2))
    d = (ops.translations - t) @ p_inv
    same &= np.all(np.abs(d - np.round(d)) < 1e-6, axis=1)
    (idx,) = np.flatnonzero(same)
    return idx


@pytest.fixture
def sto_222(srtio3_ti_origin_modes_222):
    return srtio3_ti_origin_modes_222


def _check_representation(rep, rng, n_pairs=40):
    ops = rep.operations
    n = len(rep.supercell)
    p_inv = np.linalg.inv(rep.supercell_matrix)
    # complete, orthonormal basis of displacement space
    full = np.concatenate([m.basis.reshape(-1, 3 * n) for m in rep.irreps])
    assert full.shape == (3 * n, 3 * n)
    assert np.allclose(full @ full.T, np.eye(3 * n), atol=1e-8)
    assert len(ops) == analyze(rep.parent).n_ops * len(rep.cells)
    for m in rep.irreps:
        d = m.matrices
        # real orthogonal matrices, physically irreducible: sum chi^2 = |G| (1, 2 or 4 times)
        assert np.allclose(d @ d.transpose(0, 2, 1), np.eye(m.dim), atol=1e-8)
        norm = np.sum(m.characters**2) / len(ops)
        assert min(abs(norm - x) for x in (1, 2, 4)) < 1e-6
        # every copy transforms with the same D(g): Gamma(g) e_c = sum_b D_bc e_b
        moved = ops.act(m.basis.transpose(2, 3, 0, 1))  # (G, N, 3, m, d)
        expect = np.einsum("mbna,gbc->gnamc", m.basis, d)
        assert np.allclose(moved, expect, atol=1e-8)
        # homomorphism D(g) D(h) = D(gh)
        for g, h in rng.integers(0, len(ops), size=(n_pairs // len(rep.irreps) + 1, 2)):
            gh = _compose_index(ops, p_inv, g, h)
            assert np.allclose(d[g] @ d[h], d[gh], atol=1e-8)


def test_sto_222_group_theory(sto_222, rng):
    _check_representation(sto_222, rng)
    assert sum(m.multiplicity * m.dim for m in sto_222.irreps) == 3 * 40


def test_sto_gamma_acoustic_and_polar(sto_222):
    gm4m = sto_222["GM4-"]
    assert gm4m.multiplicity == 4 and gm4m.dim == 3  # 3 optic + 1 acoustic vector copies
    assert sto_222["GM5-"].multiplicity == 1 and sto_222["GM5-"].orbits == ["O 3d"]
    # uniform translation along x lies in GM4-
    u = np.zeros((40, 3))
    u[:, 0] = 1 / np.sqrt(40)
    coef = np.einsum("mdna,na->md", gm4m.basis, u)
    assert np.isclose(np.sum(coef**2), 1)


def _tilt_pattern(sc, parent, phase):
    """Rigid rotation of TiO6 octahedra about z with sign phase(L) for the Ti in cell L."""
    syms = np.array(sc.get_chemical_symbols())
    ti = np.flatnonzero(syms == "Ti")
    o = np.flatnonzero(syms == "O")
    u = np.zeros((len(sc), 3))
    cell_of = np.floor(np.linalg.solve(parent.cell[:].T, sc.positions[ti].T).T + 1e-6).astype(int)
    for j in o:
        d = sc.get_distances(j, ti, mic=True, vector=True)
        i = int(np.argmin(np.linalg.norm(d, axis=1)))
        r = -d[i]  # Ti -> O vector
        s = phase(cell_of[i])
        u[j] = s * np.cross([0, 0, 1.0], r)
    return u / np.linalg.norm(u)


@pytest.mark.parametrize("origin, r_label, m_label", [(1, "R4+", "M3+"), (0, "R5-", "M2+")])
def test_octahedral_tilts_have_bilbao_labels(srtio3_ti_origin_pm3m, origin, r_label, m_label):
    """Antiphase tilts are R4+ (M3+ in phase) with Ti at the origin, R5- (M2+) with Sr."""
    rep = displacement_modes(srtio3_ti_origin_pm3m, (2, 2, 2), origin_index=origin)
    for label, phase in [
        (r_label, lambda L: (-1) ** int(L.sum())),
        (m_label, lambda L: (-1) ** int(L[0] + L[1])),
    ]:
        u = _tilt_pattern(rep.supercell, rep.parent, phase)
        m = rep[label]
        coef = np.einsum("mdna,na->md", m.basis, u)
        assert np.isclose(np.sum(coef**2), 1, atol=1e-8), label
        # a tilt about z is one OP component: (0,0,a) in the canonical basis
        assert np.allclose(np.abs(coef[0]) > 1e-6, [False, False, True]) or label.startswith("M")


def test_tilt_about_z_is_third_component(sto_222):
    m = sto_222["R4+"]
    u = _tilt_pattern(sto_222.supercell, sto_222.parent, lambda L: (-1) ** int(L.sum()))
    coef = np.einsum("mdna,na->md", m.basis, u)[0]
    assert np.allclose(np.abs(coef), [0, 0, 1], atol=1e-8)


@pytest.mark.parametrize(
    "name, sc",
    [
        ("nacl_rocksalt_fm3m", (2, 2, 2)),
        ("caf2_fluorite_fm3m", (2, 2, 2)),
        ("rutile_tio2_p42mnm", (1, 1, 2)),
        ("nias_p63mmc", (1, 1, 2)),
    ],
)
def test_other_parents(name, sc, request, rng):
    atoms = request.getfixturevalue(name)
    rep = displacement_modes(atoms, sc)
    _check_representation(rep, rng, n_pairs=20)
    assert all(m.irrep.standard_label for m in rep.irreps)
    assert sum(m.multiplicity * m.dim for m in rep.irreps) == 3 * len(rep.supercell)


def test_centred_cell_equals_primitive_supercell(
    nacl_rocksalt_fm3m, nacl_rocksalt_conventional_fm3m
):
    """The conventional fcc cell is the primitive cell times [[-1,1,1],[1,-1,1],[1,1,-1]]."""
    conv = displacement_modes(nacl_rocksalt_conventional_fm3m)
    prim = displacement_modes(nacl_rocksalt_fm3m, [[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    assert {(m.label, m.multiplicity, m.dim) for m in conv.irreps} == {
        (m.label, m.multiplicity, m.dim) for m in prim.irreps
    }
    assert {m.label[:1] for m in prim.irreps} == {"G", "X"}


def test_rejects_non_invariant_supercell(srtio3_ti_origin_pm3m):
    with pytest.raises(ValueError, match="not invariant"):
        displacement_modes(srtio3_ti_origin_pm3m, (2, 1, 1))
