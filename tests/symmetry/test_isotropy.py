from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.symmetry import analyze, displacement_modes, isotropy_subgroups, order_parameter_direction


@pytest.mark.parametrize(
    "vector, expected",
    [
        ([0.3, 0, 0], "(a,0,0)"),
        ([0.3, 0.3, 0], "(a,a,0)"),
        ([0.3, -0.3, 0], "(a,-a,0)"),
        ([0.3, 0.1, 0], "(a,b,0)"),
        ([-0.2, -0.2, -0.2], "(a,a,a)"),
        ([0, 0, 0], "(0,0,0)"),
        ([1e-6, 0.5, 0], "(0,a,0)"),
    ],
)
def test_order_parameter_direction(vector, expected):
    assert order_parameter_direction(np.array(vector)) == expected


def _by_direction(subgroups):
    return {h.direction: h for h in subgroups}


def _cart(rot, cell):
    a = np.asarray(cell).T
    return np.einsum("ij,njk,kl->nil", a, rot, np.linalg.inv(a))


@pytest.mark.parametrize(
    "label, expected",
    [
        ("R4+", {"(a,0,0)": 140, "(a,a,0)": 74, "(a,a,a)": 167}),
        ("M3+", {"(a,0,0)": 127, "(a,a,0)": 139, "(a,a,a)": 204}),
        ("GM4-", {"(a,0,0)": 99, "(a,a,0)": 38, "(a,a,a)": 160}),
    ],
)
def test_perovskite_isotropy_subgroups(srtio3_ti_origin_pm3m, label, expected):
    hs = isotropy_subgroups(srtio3_ti_origin_pm3m, label)
    found = {d: h.space_group_number for d, h in _by_direction(hs).items()}
    for d, n in expected.items():
        assert found[d] == n, (label, d, found)
    parent = analyze(srtio3_ti_origin_pm3m)
    n_cells = {"R": 8, "M": 8, "G": 1}[label[0]]
    for h in hs:
        # index = |G : H| counted on the supercell group = spglib's volume/point-group formula
        assert h.index * h.stabilizer_order == parent.n_ops * n_cells
        child = analyze(h.structure)
        # child point-group operations are parent operations (Cartesian)
        pc = {tuple(np.round(r, 6).ravel()) for r in _cart(parent.rotations, srtio3_ti_origin_pm3m.cell[:])}
        cc = {tuple(np.round(r, 6).ravel()) for r in _cart(child.rotations, h.structure.cell[:])}
        assert cc <= pc
        assert np.all(np.abs(h.supercell_matrix - np.round(h.supercell_matrix)) < 1e-6)
        # the realising structure has the OP direction it claims
        assert len(h.vector) == 3


def test_origin_choice_changes_labels_not_subgroups(srtio3_ti_origin_pm3m):
    ti = isotropy_subgroups(srtio3_ti_origin_pm3m, "R4+", origin_index=1)
    sr = isotropy_subgroups(srtio3_ti_origin_pm3m, "R5-", origin_index=0)
    assert sorted(h.space_group_number for h in ti) == sorted(h.space_group_number for h in sr)


def test_coupled_tilts_contain_pnma(srtio3_ti_origin_pm3m):
    hs = isotropy_subgroups(srtio3_ti_origin_pm3m, ["R4+", "M3+"])
    numbers = {h.space_group_number for h in hs}
    assert 62 in numbers  # a-a-c+ (GdFeO3 type)
    pnma = [h for h in hs if h.space_group_number == 62]
    assert all(h.index == 24 for h in pnma)  # 48 x 4 / 8
    # single-irrep subgroups reappear in the coupled list
    assert {140, 74, 167, 127, 139, 204} <= numbers


def test_rocksalt_l_point_one_arm_is_rhombohedral(nacl_rocksalt_fm3m):
    rep = displacement_modes(nacl_rocksalt_fm3m, (2, 2, 2), kpoints=[(0.5, 0.5, 0.5)])
    labels = [m.label for m in rep.irreps]
    assert labels and all(lab.startswith("L") for lab in labels)
    for lab in [m.label for m in rep.irreps if m.dim == 4]:  # 1-dim small irrep x 4 arms
        hs = isotropy_subgroups(nacl_rocksalt_fm3m, lab)
        one_arm = _by_direction(hs)["(a,0,0,0)"]
        assert 143 <= one_arm.space_group_number <= 167  # trigonal: the [111] 3-fold axis survives
        parent = analyze(nacl_rocksalt_fm3m)
        for h in hs:
            assert h.index * h.stabilizer_order == parent.n_ops * 8


def test_rutile_gamma_one_dimensional_irreps_have_index_two(rutile_tio2_p42mnm):
    rep = displacement_modes(rutile_tio2_p42mnm, (1, 1, 1))
    numbers = set()
    for m in rep.irreps:
        if m.dim == 1 and m.irrep.label != "GM1+":
            (h,) = isotropy_subgroups(rutile_tio2_p42mnm, m.label)
            assert h.index == 2 and h.direction == "(a)"
            numbers.add(h.space_group_number)
    assert 58 in numbers  # rutile -> CaCl2-type Pnnm through the B1g soft mode


def test_fluorite_and_hexagonal_invariants(caf2_fluorite_fm3m, nias_p63mmc):
    for atoms, label_prefix, k in [(caf2_fluorite_fm3m, "X", (0.5, 0, 0.5)), (nias_p63mmc, "GM", (0, 0, 0))]:
        sc = (2, 2, 2) if label_prefix == "X" else (1, 1, 1)
        rep = displacement_modes(atoms, sc, kpoints=[k])
        parent = analyze(atoms)
        m = max(rep.irreps, key=lambda m: m.dim)
        hs = isotropy_subgroups(atoms, m.label)
        n_cells = round(np.linalg.det(rep.supercell_matrix))
        assert hs
        for h in hs:
            assert h.index * h.stabilizer_order == parent.n_ops * n_cells
            assert h.space_group_number < parent.number


def test_rejects_unknown_label(srtio3_ti_origin_pm3m):
    with pytest.raises(ValueError):
        isotropy_subgroups(srtio3_ti_origin_pm3m, "Q7+")
    with pytest.raises(ValueError, match="no displacement modes"):
        isotropy_subgroups(srtio3_ti_origin_pm3m, "R2+")
