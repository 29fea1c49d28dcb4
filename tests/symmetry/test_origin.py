"""Issue 30 (part 2): labels refer to the origin ISOTROPY / ISODISTORT / Bilbao use.

The check is independent of how :mod:`ase_symbreak.symmetry.origin` chooses: each labelled
irrep's characters, on its little-group operations written in the file's own frame (the
file is in the ITA standard setting, origin choice 2, its origin a standard origin), must
equal the characters the Bilbao table (``irreptables``) gives that label. Before this
change the parents below got permuted labels (X2 <-> X3, M3 <-> M4, R1 <-> R2, S+ <-> S-,
N1+ <-> N2- ...): their most symmetric atom sits on no standard origin, or on an origin
other than the file's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase.spacegroup import crystal as ase_crystal

from ase_symbreak.symmetry import (
    default_origin_index,
    displacement_modes,
    irreps_at_k,
    isotropy_subgroups,
)
from ase_symbreak.symmetry.labels import load_table
from ase_symbreak.symmetry.lattice import centering_vectors, is_lattice_vector
from ase_symbreak.symmetry.origin import label_origin, table_hall_number
from ase_symbreak.symmetry.spacegroup import spglib_dataset


def _p23_6h_4e():
    """P23: Si on 6h (x, 1/2, 0), O on 4e (x, x, x); nothing on 1a or 1b."""
    return ase_crystal(
        ["Si", "O"],
        basis=[(0.21, 0.5, 0.0), (0.17, 0.17, 0.17)],
        spacegroup=195,
        cellpar=[5, 5, 5, 90, 90, 90],
    )


def _p4232_6f_4c():
    """P4_232: Si on 6f (1/4, 1/2, 0), O on 4c (3/4, 3/4, 3/4); 2a empty."""
    return ase_crystal(
        ["Si", "O"],
        basis=[(0.25, 0.5, 0.0), (0.75, 0.75, 0.75)],
        spacegroup=208,
        cellpar=[5, 5, 5, 90, 90, 90],
    )


def _imma_4b_4e():
    """Imma: Si on 4b (0, 0, 1/2), a 2/m centre that is also a standard origin, O on
    4e (0, 1/4, z); the file's origin 4a is empty. The old default put Si at the origin."""
    return ase_crystal(
        ["Si", "O"],
        basis=[(0.0, 0.0, 0.5), (0.0, 0.25, 0.18)],
        spacegroup=74,
        cellpar=[5.0, 5.6, 7.1, 90, 90, 90],
        primitive_cell=True,
    )


def _anatase():
    """I4_1/amd, origin choice 2: Ti on 4a, O on 8e; no atom on a 2/m centre."""
    return ase_crystal(
        ["Ti", "O"],
        basis=[(0.0, 0.75, 0.125), (0.0, 0.25, 0.0833)],
        spacegroup=141,
        setting=2,
        cellpar=[3.78, 3.78, 9.5, 90, 90, 90],
        primitive_cell=True,
    )


def _p42nnm():
    """P4_2/nnm, origin choice 2: O on the 2/m centres (1/2,1/2,1/2)-class, Si on -42m
    sites; the file's origin, a centre of the other class, is empty (labels differ between
    all four centres of the cell)."""
    from ase import Atoms

    frac = [
        [0.5, 0.5, 0.5],
        [0.0, 0.0, 0.5],
        [0.0, 0.5, 0.0],
        [0.5, 0.0, 0.0],
        [0.75, 0.25, 0.25],
        [0.25, 0.75, 0.75],
    ]
    return Atoms("O4Si2", cell=[4.1, 4.1, 5.3], scaled_positions=frac, pbc=True)


def _pyxtal(number):
    from ase_symbreak.testing.crystals import crystal

    return lambda: crystal(number, max_atoms=8)


PARENTS = {
    "P23 6h+4e": (_p23_6h_4e, 195),
    # pyxtal crystals of the sweeps, written at the standard origin (the old default missed
    # it: X1 <-> X3 in P4_232, A1 <-> A2 in P4_2/n, N1+ <-> N2- in I4_1/amd)
    "P4_232 pyxtal": (_pyxtal(208), 208),
    "P4_2/n pyxtal": (_pyxtal(86), 86),
    "I4_1/amd pyxtal": (_pyxtal(141), 141),
    "P4_232 6f+4c": (_p4232_6f_4c, 208),
    "Imma 4b+4e": (_imma_4b_4e, 74),
    "P4_2/nnm": (_p42nnm, 134),
    "I4_1/amd anatase": (_anatase, 141),
}


def _table_characters(atoms, number):
    """label -> (k in our reciprocal basis, function (R, t) -> table character), with the
    operations (R, t) fractional in the file's own cell and frame."""
    import spglib

    hall = table_hall_number(number)
    ds = spglib_dataset(atoms, 1e-5, hall_number=hall)
    assert ds.number == number
    P = np.asarray(ds.transformation_matrix, dtype=float)
    sym = spglib.get_symmetry_from_database(hall)
    cent_std = centering_vectors(np.asarray(sym["rotations"]), np.asarray(sym["translations"]))
    # that the file's own origin is a standard origin is checked operation by operation
    table = load_table(number)
    assert table is not None
    out = {}
    for name, (k_std, isym) in table.kpoints.items():
        pos = {int(j): n for n, j in enumerate(isym)}
        for label, _, chars in table.irreps[name]:

            def chi(r, t, chars=chars, k_std=k_std, pos=pos):
                rs = np.round(P @ r @ np.linalg.inv(P)).astype(int)
                j = next(j for j, rt in enumerate(table.rotations) if np.array_equal(rt, rs))
                delta = P @ t - table.translations[j]
                assert is_lattice_vector(delta, cent_std, 1e-6)
                return chars[pos[j]] * np.exp(-2j * np.pi * k_std @ delta)

            out[label] = (P.T @ k_std, chi)
    return out


def _assert_labels_at_file_origin(atoms, number, origin_index=None):
    """Every standard label at every table k: our characters = the table's at the file's
    origin (operations moved from our origin-shifted frame back into the file's)."""
    table = _table_characters(atoms, number)
    origin = label_origin(atoms, origin_index)
    c = origin.offset  # our coordinate zero (atom origin.index) in the file's frame
    checked = 0
    seen_k = set()
    for k, _ in table.values():
        key = tuple(np.round(k % 1, 6))
        if key in seen_k:
            continue
        seen_k.add(key)
        for irrep in irreps_at_k(atoms, k, origin_index=origin_index):
            if not irrep.standard_label or irrep.label not in table:
                continue  # a sum of table irreps ('W1W2'), checked through its parts
            _, chi = table[irrep.label]
            for r, t, mine in zip(
                irrep.little_rotations, irrep.little_translations, irrep.characters
            ):
                t_file = np.asarray(t) - (np.asarray(r) - np.eye(3)) @ c
                # irrep.k may be another arm than the table's; both are the same k mod G
                np.testing.assert_allclose(mine, chi(r, t_file), atol=1e-6, err_msg=irrep.label)
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("name", list(PARENTS))
def test_default_labels_are_those_at_the_standard_origin_of_the_file(name):
    build, number = PARENTS[name]
    atoms = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_labels_at_file_origin(atoms, number)


def test_the_origin_point_is_the_files_and_stated():
    atoms = _p23_6h_4e()
    origin = label_origin(atoms)
    np.testing.assert_allclose(origin.point, 0, atol=1e-9)
    assert origin.site is None and origin.rule == "origin of the cell"
    text = origin.describe(atoms)
    assert text.startswith("origin (0, 0, 0): the cell's own origin") and "coordinates from" in text


def test_without_a_standard_file_origin_spglib_places_it():
    """Moved by a vector that is no normaliser translation, the P23 file's origin is no
    standard origin and no atom sits on one: spglib's standard origin, which is the
    original file's origin, so the labels are the original file's."""
    atoms = _p23_6h_4e()
    shift = np.array([0.13, 0.29, 0.41])
    moved = atoms.copy()
    moved.translate(atoms.cell.cartesian_positions(shift))
    moved.wrap()
    origin = label_origin(moved)
    assert origin.rule == "standard setting"
    d = origin.point - shift
    np.testing.assert_allclose(d - np.round(d), 0, atol=1e-6)
    labels = {m.label: m.multiplicity for m in displacement_modes(atoms, (2, 2, 2)).irreps}
    again = {m.label: m.multiplicity for m in displacement_modes(moved, (2, 2, 2)).irreps}
    assert labels == again


def test_default_index_passed_back_gives_the_same_labels():
    """The search passes its phonons' origin_index on to the isotropy subgroups and the
    decomposition: the origin must not move (here it is an empty point)."""
    atoms = _p42nnm()
    index = default_origin_index(atoms)
    assert atoms[index].symbol == "Si"  # off the standard origins: the point stays
    by_default = displacement_modes(atoms, (2, 2, 2))
    explicit = displacement_modes(atoms, (2, 2, 2), origin_index=index)
    assert by_default.origin_index == index
    assert by_default.labels == explicit.labels
    for m, n in zip(by_default.irreps, explicit.irreps):
        np.testing.assert_allclose(m.basis, n.basis, atol=1e-8)
    # isotropy_subgroups passes its shifted parent on with the same origin
    label = next(m.label for m in by_default.irreps if m.label.startswith("A"))
    assert isotropy_subgroups(atoms, label, origin_index=index)


def test_origin_override_on_a_standard_origin_and_off_it(srtio3_ti_origin_pm3m):
    sto = srtio3_ti_origin_pm3m  # Sr atom 0, Ti atom 1, O 2-4
    r = (0.5, 0.5, 0.5)
    assert "R4+" in [i.label for i in irreps_at_k(sto, r)]
    assert "R5-" in [i.label for i in irreps_at_k(sto, r, origin_index=0)]  # Sr: 1b
    # O sits on no standard origin: the labels stay at the default (Ti), and say so
    on_o = label_origin(sto, 2)
    assert on_o.index == 2 and on_o.site == 1 and "atom 2 sits on no origin" in on_o.note
    assert "R4+" in [i.label for i in irreps_at_k(sto, r, origin_index=2)]


def test_perovskite_labels_unchanged(srtio3_sr_origin_pm3m):
    """B site at the origin whatever the file's origin: R4+, M3+, GM4-."""
    rep = displacement_modes(srtio3_sr_origin_pm3m, (2, 2, 2))
    assert {"R4+", "M3+", "GM4-"} <= set(rep.labels)
    assert rep.origin is not None and rep.origin.rule == "perovskite B site"
    assert srtio3_sr_origin_pm3m[rep.origin_index].symbol == "Ti"
    assert "perovskite B site" in rep.origin.describe(srtio3_sr_origin_pm3m)


def test_enantiomorphs_follow_the_child_structure():
    """I4_1/amd -> P4_12_12 (92) for M4 (a,a) and X2 (a,0,a,0), as ISOTROPY lists them for
    anatase at its standard origin; the number is that of the structure returned: its 4-fold
    screw along +c turns by +90 degrees with +c/4 (4_1) in a right-handed frame."""
    atoms = _anatase()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, direction in (("M4", "(a,a)"), ("X2", "(a,0,a,0)")):
            sub = next(s for s in isotropy_subgroups(atoms, label) if s.direction == direction)
            assert sub.space_group_number == 92
            assert _screw_quarter_turns(sub.structure) == 1  # 4_1, not 4_3


def _screw_quarter_turns(atoms) -> int:
    """n of the 4_n screw along the 4-fold axis of the conventional cell (Cartesian,
    right-handed sense of rotation, translation over the c period)."""
    import spglib
    from ase import Atoms

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    lat, frac, numbers = spglib.standardize_cell(cell, no_idealize=True, symprec=1e-4)
    conv = Atoms(numbers=numbers, cell=lat, scaled_positions=frac, pbc=True)
    ds = spglib_dataset(conv, 1e-4)
    lat = conv.cell[:]
    for r, t in zip(ds.rotations, ds.translations):
        rot = lat.T @ r @ np.linalg.inv(lat.T)
        if not (np.isclose(np.linalg.det(rot), 1) and np.isclose(np.trace(rot), 1)):
            continue
        axis = lat[2] / np.linalg.norm(lat[2])  # the 4-fold axis is c
        perp = lat[0] / np.linalg.norm(lat[0])
        if np.dot(np.cross(perp, rot @ perp), axis) < 0:
            continue  # the -90 degree rotation
        return int(round(4 * (t[2] % 1.0))) % 4
    raise AssertionError("no 4-fold rotation")
