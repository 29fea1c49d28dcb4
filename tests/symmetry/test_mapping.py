"""Parent-to-child mapping: supercell, origin, correspondence, strain, displacements."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from scipy.spatial.transform import Rotation

from ase_symbreak.symmetry.mapping import map_to_parent, smith_invariants

A = 3.9
DELTA = 0.08  # Angstrom, O displacement of the tilt


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def srtio3_cubic_pm3m(a: float = A) -> Atoms:
    """Cubic perovskite SrTiO3, Pm-3m (221), Ti at the origin."""
    return Atoms(
        "TiSrO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=np.eye(3) * a,
        pbc=True,
    )


def r4_tilt_pattern(atoms: Atoms, parent_cell: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """Displacements of an out-of-phase (a0a0c-) rotation of TiO6 octahedra about z.

    The O between Ti(n) and Ti(n + x) moves along +-y, the one between Ti(n) and Ti(n + y)
    along -+y, with the sign (-1)^(n1 + n2 + n3) of the octahedron's rotation.
    """
    frac = atoms.get_positions() @ np.linalg.inv(parent_cell)
    u = np.zeros((len(atoms), 3))
    for i, (symbol, f) in enumerate(zip(atoms.get_chemical_symbols(), frac)):
        n = np.floor(f + 1e-6)
        r = f - n
        sign = (-1) ** int(n.sum())
        if symbol == "O" and np.isclose(r[0], 0.5):
            u[i] = [0, delta * sign, 0]
        elif symbol == "O" and np.isclose(r[1], 0.5):
            u[i] = [-delta * sign, 0, 0]
    return u


def tilted_child(p) -> tuple[Atoms, np.ndarray]:
    """Parent supercell ``p`` with the R-point tilt applied; returns (child, displacements)."""
    parent = srtio3_cubic_pm3m()
    child = make_supercell(parent, np.asarray(p))
    u = r4_tilt_pattern(child, parent.cell[:])
    child.positions += u
    return child, u


def resettle(child: Atoms, unimodular, shift, perm, rotation=None, strain=None) -> Atoms:
    """The same child in another setting: basis change, origin, atom order, frame, strain."""
    m = np.asarray(unimodular)
    frac = (child.get_scaled_positions() + shift) @ np.linalg.inv(m)
    cell = m @ child.cell[:]
    if strain is not None:
        cell = cell @ (np.eye(3) + strain)
    if rotation is not None:
        cell = cell @ rotation.T
    out = Atoms(child.numbers, scaled_positions=frac % 1.0, cell=cell, pbc=True)
    return out[perm]


def test_identity_setting_recovers_displacements():
    child, u = tilted_child(2 * np.eye(3))
    m = map_to_parent(srtio3_cubic_pm3m(), child)
    np.testing.assert_array_equal(m.supercell_matrix, 2 * np.eye(3))
    assert m.n_cells == 8
    np.testing.assert_allclose(m.displacements, u - u.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(m.strain, 0, atol=1e-12)
    np.testing.assert_allclose(m.origin_shift, 0, atol=1e-10)
    assert sorted(m.site_index) == list(range(40))
    # reference + displacement reproduces the child modulo the child lattice
    frac = np.linalg.solve(
        m.reference_cell.T, (m.reference_positions + m.displacements - child.positions).T
    ).T
    np.testing.assert_allclose(frac - np.round(frac), 0, atol=1e-10)


def test_shifted_permuted_rebased_rotated_strained_child(rng):
    child, u = tilted_child(2 * np.eye(3))
    perm = rng.permutation(len(child))
    rot = Rotation.from_euler("zyx", [20, 10, 5], degrees=True).as_matrix()
    eps = np.array([[0.005, 0.002, 0.0], [0.002, 0.005, 0.0], [0.0, 0.0, -0.003]])
    shift = np.array([0.25, 0.04, 0.25])  # origin moved onto the Sr site, plus a bit
    other = resettle(child, [[1, 1, 0], [0, 1, 0], [1, 0, 1]], shift, perm, rot, eps)
    m = map_to_parent(srtio3_cubic_pm3m(), other)
    expected = (u - u.mean(axis=0))[perm]
    np.testing.assert_allclose(m.displacements, expected, atol=1e-8)
    np.testing.assert_allclose(m.strain, eps, atol=1e-10)
    np.testing.assert_allclose(m.rotation, rot, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(m.supercell_matrix), 8)
    # the origin shift is the applied one (child cell = 2 A), modulo the parent lattice
    t = m.origin_shift / A - 2 * shift
    np.testing.assert_allclose(t - np.round(t), 0, atol=1e-10)
    f = m.deformation_gradient
    np.testing.assert_allclose(m.green_lagrange_strain, 0.5 * (f.T @ f - np.eye(3)), atol=1e-14)
    # the species are preserved by the correspondence
    parent = srtio3_cubic_pm3m()
    assert list(parent.numbers[m.parent_index]) == list(other.numbers)


def test_root2_cell_in_its_own_frame():
    """The I4/mcm-like sqrt2 x sqrt2 x 2 cell written with a along x (as in a CIF)."""
    p = np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 2]])
    child, u = tilted_child(p)
    rot = Rotation.from_euler("z", -45, degrees=True).as_matrix()
    own = Atoms(
        child.numbers,
        scaled_positions=child.get_scaled_positions(),
        cell=child.cell[:] @ rot.T,
        pbc=True,
    )
    m = map_to_parent(srtio3_cubic_pm3m(), own)
    assert m.n_cells == 4
    assert smith_invariants(m.supercell_matrix) == (1, 2, 2)
    np.testing.assert_allclose(m.strain, 0, atol=1e-12)
    assert m.amplitude == pytest.approx(np.sqrt(np.sum(u**2)), abs=1e-10)
    # the displacement field carried onto the 2x2x2 parent supercell is the tilt pattern
    big = make_supercell(srtio3_cubic_pm3m(), 2 * np.eye(3))
    field = m.displacement_field(big.get_positions() / A)
    ref = r4_tilt_pattern(big, srtio3_cubic_pm3m().cell[:])
    # equal up to a parent symmetry (the chosen setting); compare invariants
    assert np.sum(field**2) == pytest.approx(np.sum(ref**2), abs=1e-10)
    assert np.allclose(np.sort(np.abs(field).ravel()), np.sort(np.abs(ref).ravel()), atol=1e-10)


def test_pymatgen_structure_input():
    from pymatgen.io.ase import AseAtomsAdaptor

    child, u = tilted_child(2 * np.eye(3))
    m = map_to_parent(
        AseAtomsAdaptor.get_structure(srtio3_cubic_pm3m()), AseAtomsAdaptor.get_structure(child)
    )
    assert m.amplitude == pytest.approx(np.sqrt(np.sum(u**2)), abs=1e-8)


def test_wrong_composition_is_rejected():
    child, _ = tilted_child(2 * np.eye(3))
    with pytest.raises(ValueError, match="stoichiometry"):
        map_to_parent(srtio3_cubic_pm3m(), child[:-1])
    ba = child.copy()
    ba.symbols[ba.symbols == "Sr"] = "Ba"
    with pytest.raises(ValueError, match="different species"):
        map_to_parent(srtio3_cubic_pm3m(), ba)


def test_too_large_displacement_is_rejected():
    child, _ = tilted_child(2 * np.eye(3))
    child.positions[1] += [0.6, 0.0, 0.0]  # Sr pushed 0.6 A
    with pytest.raises(ValueError, match="displaced by 0.5"):
        map_to_parent(srtio3_cubic_pm3m(), child, max_displacement=0.5)
    assert map_to_parent(srtio3_cubic_pm3m(), child).max_displacement < 0.6


def test_incommensurate_cells_are_rejected():
    child, _ = tilted_child(2 * np.eye(3))
    stretched = child.copy()
    stretched.set_cell(child.cell[:] * [1.25, 1, 1], scale_atoms=True)
    with pytest.raises(ValueError, match="incommensurate"):
        map_to_parent(srtio3_cubic_pm3m(), stretched)
    # same volume and composition, but the c axis is tilted by a non-lattice vector: at a
    # strict strain limit no lattice correspondence exists (the message names the option) ...
    sheared = child.copy()
    sheared.set_cell(child.cell[:] + [[0, 0, 0], [0, 0, 0], [0.37 * A, 0, 0]], scale_atoms=True)
    with pytest.raises(ValueError, match="not an integer supercell.*--max-strain"):
        map_to_parent(srtio3_cubic_pm3m(), sheared, max_strain=0.05)
    # ... while the default limit takes it as the 10.5 degree monoclinic shear it is
    mapping = map_to_parent(srtio3_cubic_pm3m(), sheared)
    shear = np.linalg.solve(2 * np.eye(3) @ srtio3_cubic_pm3m().cell[:], sheared.cell[:]).T
    w, v = np.linalg.eigh(shear.T @ shear)
    expected = (v * np.sqrt(w)) @ v.T - np.eye(3)
    np.testing.assert_allclose(mapping.strain, expected, atol=1e-9)
    assert abs(round(np.linalg.det(mapping.supercell_matrix))) == 8


def test_empty_and_nan_structures_are_rejected():
    child, _ = tilted_child(2 * np.eye(3))
    child.positions[3, 0] = np.nan
    with pytest.raises(ValueError, match="child: .*NaN"):
        map_to_parent(srtio3_cubic_pm3m(), child)
    with pytest.raises(ValueError, match="parent: .*empty"):
        map_to_parent(Atoms(cell=np.eye(3), pbc=True), child)


def test_smith_invariants():
    assert smith_invariants(np.diag([2, 2, 2])) == (2, 2, 2)
    assert smith_invariants([[1, 1, 0], [-1, 1, 0], [0, 0, 2]]) == (1, 2, 2)
    assert smith_invariants([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) == (1, 1, 2)  # fcc-like
    with pytest.raises(ValueError, match="singular"):
        smith_invariants(np.zeros((3, 3)))
