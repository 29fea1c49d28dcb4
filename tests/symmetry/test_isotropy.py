from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.symmetry import (
    analyze,
    displacement_modes,
    isotropy_subgroups,
    order_parameter_direction,
)


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
        pc = {
            tuple(np.round(r, 6).ravel())
            for r in _cart(parent.rotations, srtio3_ti_origin_pm3m.cell[:])
        }
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
    for atoms, label_prefix, k in [
        (caf2_fluorite_fm3m, "X", (0.5, 0, 0.5)),
        (nias_p63mmc, "GM", (0, 0, 0)),
    ]:
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


# ---------------------------------------------------------------- ISOTROPY's directions, any cell
def _listing(subgroups) -> list[tuple[str, int]]:
    return [(h.direction, h.space_group_number) for h in subgroups]


def _pm3m_6e():
    """Pm-3m with Ti at 1a and O at 6e (x,0,0): it has GM3+ (Eg) displacement modes."""
    from ase.spacegroup import crystal

    return crystal(
        ["Ti", "O"], basis=[(0, 0, 0), (0.22, 0, 0)], spacegroup=221, cellpar=[4, 4, 4, 90, 90, 90]
    )


def _p4mmm():
    from ase.spacegroup import crystal

    return crystal(
        ["Ti", "O"],
        basis=[(0, 0, 0), (0.5, 0.5, 0.3)],
        spacegroup=123,
        cellpar=[3.9, 3.9, 4.2, 90, 90, 90],
    )


# ISOTROPY (Stokes & Hatch) / Howard & Stokes (1998) listings: every isotropy subgroup with its
# direction
ISOTROPY_LISTINGS = {
    ("perovskite", "R4+"): {
        ("(a,0,0)", 140),
        ("(a,a,0)", 74),
        ("(a,a,a)", 167),
        ("(a,b,0)", 12),
        ("(a,a,b)", 15),
        ("(a,b,c)", 2),
    },
    ("perovskite", "M3+"): {("(a,0,0)", 127), ("(a,a,0)", 139), ("(a,a,a)", 204), ("(a,b,c)", 71)},
    ("perovskite", "GM4-"): {
        ("(a,0,0)", 99),
        ("(a,a,0)", 38),
        ("(a,a,a)", 160),
        ("(a,b,0)", 6),
        ("(a,a,b)", 8),
        ("(a,b,c)", 1),
    },
    ("pm3m_6e", "GM3+"): {("(a,0)", 123), ("(a,b)", 47)},
    ("p4mmm", "GM5-"): {("(a,0)", 25), ("(a,a)", 38), ("(a,b)", 6)},
}


@pytest.mark.parametrize("parent, label", sorted(ISOTROPY_LISTINGS))
def test_directions_follow_isotropy(parent, label, srtio3_ti_origin_pm3m):
    atoms = {"perovskite": srtio3_ti_origin_pm3m, "pm3m_6e": _pm3m_6e(), "p4mmm": _p4mmm()}[parent]
    assert set(_listing(isotropy_subgroups(atoms, label))) == ISOTROPY_LISTINGS[(parent, label)]


def _cells_of(atoms):
    """The same crystal as primitive, conventional, rotated, axis-permuted and origin-shifted
    cells."""
    import spglib
    from ase import Atoms

    from ase_symbreak.testing import random_rotation, transformed

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    conv = spglib.standardize_cell(cell, to_primitive=False, symprec=1e-5)
    prim = spglib.standardize_cell(cell, to_primitive=True, symprec=1e-5)
    out = {
        "given": atoms,
        "conventional": Atoms(numbers=conv[2], cell=conv[0], scaled_positions=conv[1], pbc=True),
        "primitive": Atoms(numbers=prim[2], cell=prim[0], scaled_positions=prim[1], pbc=True),
        "rotated": transformed(atoms, random_rotation(np.random.default_rng(3))),
    }
    perm = atoms.copy()
    perm.set_cell(atoms.cell[[1, 2, 0]], scale_atoms=False)
    perm.set_scaled_positions(atoms.get_scaled_positions()[:, [1, 2, 0]])
    out["permuted axes"] = perm
    shifted = atoms.copy()
    shifted.translate(atoms.cell.cartesian_positions([0.13, 0.29, 0.41]))
    shifted.wrap()
    out["origin shifted"] = shifted[::-1]  # and atoms reordered
    return out


def _wurtzite():
    from ase.build import bulk

    return bulk("ZnO", "wurtzite", a=3.25, c=5.2, u=0.38)


PARENT_IRREPS = [
    ("rocksalt", "GM4-"),
    ("rocksalt", "L2-"),
    ("fluorite", "GM5+"),
    ("zincblende", "GM4"),
    ("wurtzite", "GM5"),
    ("wurtzite", "GM6"),
    ("nias", "GM5+"),
    ("nias", "GM6-"),
]


@pytest.mark.parametrize("parent, label", PARENT_IRREPS)
def test_subgroups_and_directions_do_not_depend_on_the_cell(parent, label, request):
    from ase.build import bulk

    atoms = {
        "rocksalt": lambda: bulk("SnTe", "rocksalt", a=6.3),
        "fluorite": lambda: request.getfixturevalue("caf2_fluorite_fm3m"),
        "zincblende": lambda: bulk("GaAs", "zincblende", a=5.65),
        "wurtzite": _wurtzite,
        "nias": lambda: request.getfixturevalue("nias_p63mmc"),
    }[parent]()
    listings = {}
    for name, cell in _cells_of(atoms).items():
        subs = isotropy_subgroups(cell, label)
        assert subs and all(h.index > 1 for h in subs), name  # never the parent group itself
        listings[name] = sorted(_listing(subs))
    ref = listings["given"]
    for name, got in listings.items():
        assert got == ref, (name, got, ref)


def test_rocksalt_polar_instability_gives_r3m_and_never_the_parent():
    from ase.build import bulk

    snte = bulk("SnTe", "rocksalt", a=6.3)
    found = dict(_listing(isotropy_subgroups(snte, "GM4-")))
    assert found["(a,a,a)"] == 160 and found["(a,0,0)"] == 107 and found["(a,a,0)"] == 44
    assert 225 not in found.values()


def test_corundum_l1_three_arm_star(tmp_path):
    """R-3c corundum, L1 (3 arms): the 18 isotropy subgroups of ISOTROPY's table, 146, 148,
    155 among them."""
    from ase.spacegroup import crystal

    cor = crystal(
        ["Al", "O"],
        basis=[(0, 0, 0.352), (0.306, 0, 0.25)],
        spacegroup=167,
        cellpar=[4.76, 4.76, 12.99, 90, 90, 120],
        primitive_cell=True,
    )
    subs = isotropy_subgroups(cor, "L1")
    assert len(subs) == 18
    numbers = {h.space_group_number for h in subs}
    assert {146, 148, 155} <= numbers and 167 not in numbers
    n_ops = 12 * 8  # point group -3m x 2x2x2 cells
    assert all(h.index * h.stabilizer_order == n_ops for h in subs)
