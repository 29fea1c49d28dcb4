from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from ase_symbreak.symmetry import analyze, default_origin_index, shift_origin, to_atoms
from ase_symbreak.symmetry.lattice import atom_permutations


@pytest.mark.parametrize(
    "name, number",
    [
        ("srtio3_ti_origin_pm3m", 221),
        ("srtio3_sr_origin_pm3m", 221),
        ("nacl_rocksalt_fm3m", 225),
        ("nacl_rocksalt_conventional_fm3m", 225),
        ("caf2_fluorite_fm3m", 225),
        ("nias_p63mmc", 194),
        ("rutile_tio2_p42mnm", 136),
    ],
)
def test_space_group_numbers_and_operations_map_crystal(name, number, request):
    atoms = request.getfixturevalue(name)
    info = analyze(atoms)
    assert info.number == number
    # every operation maps sites onto sites of the same species modulo the lattice
    perm = atom_permutations(
        atoms.get_scaled_positions(), atoms.numbers, info.rotations, info.translations
    )
    assert all(sorted(p) == list(range(len(atoms))) for p in perm)
    # point-group order times centring = number of operations in the cell given
    n_cell = len(atoms) / len(info.primitive)
    assert info.n_ops == info.pointgroup_order * n_cell


def test_slightly_distorted_structure_keeps_group_at_loose_tolerance(srtio3_ti_origin_pm3m, rng):
    atoms = srtio3_ti_origin_pm3m.copy()
    atoms.positions += rng.normal(scale=2e-4, size=atoms.positions.shape)
    assert analyze(atoms, symprec=1e-2).number == 221
    assert analyze(atoms, symprec=1e-6).number == 1


def test_to_atoms_validates():
    with pytest.raises(ValueError, match="empty"):
        to_atoms(Atoms(cell=[3, 3, 3], pbc=True))
    bad = Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[3, 3, 3], pbc=True)
    with pytest.raises(ValueError, match="NaN"):
        to_atoms(bad)
    over = Atoms("H2", positions=[[0, 0, 0], [0.1, 0, 0]], cell=[3, 3, 3], pbc=True)
    with pytest.raises(ValueError, match="overlap"):
        to_atoms(over)
    inf_cell = Atoms("H", cell=[[np.inf, 0, 0], [0, 3, 0], [0, 0, 3]], pbc=True)
    with pytest.raises(ValueError, match="non-finite"):
        to_atoms(inf_cell)
    with pytest.raises(TypeError):
        to_atoms("NaCl")


def test_to_atoms_accepts_pymatgen(nacl_rocksalt_fm3m):
    from pymatgen.io.ase import AseAtomsAdaptor

    s = AseAtomsAdaptor.get_structure(nacl_rocksalt_fm3m)
    assert analyze(s).number == 225


def test_shift_origin_puts_atom_at_origin(srtio3_sr_origin_pm3m):
    out = shift_origin(srtio3_sr_origin_pm3m, 1)
    assert np.allclose(out.get_scaled_positions()[1], 0)
    assert analyze(out).number == 221
    with pytest.raises(ValueError):
        shift_origin(srtio3_sr_origin_pm3m, 7)


def test_default_origin_is_perovskite_b_site(srtio3_ti_origin_pm3m, srtio3_sr_origin_pm3m):
    for atoms in (srtio3_ti_origin_pm3m, srtio3_sr_origin_pm3m):
        assert atoms[default_origin_index(atoms)].symbol == "Ti"


def test_default_origin_highest_site_symmetry(rutile_tio2_p42mnm, caf2_fluorite_fm3m):
    # Ti (2a, mmm, order 8) beats O (4f, m.2m, order 4)
    assert rutile_tio2_p42mnm[default_origin_index(rutile_tio2_p42mnm)].symbol == "Ti"
    # Ca (4a, m-3m) beats F (8c, -43m)
    assert caf2_fluorite_fm3m[default_origin_index(caf2_fluorite_fm3m)].symbol == "Ca"


def test_wyckoff_orbits(srtio3_ti_origin_pm3m):
    info = analyze(srtio3_ti_origin_pm3m)
    assert info.wyckoff_orbits(srtio3_ti_origin_pm3m) == ["Sr 1b", "Ti 1a", "O 3d", "O 3d", "O 3d"]
