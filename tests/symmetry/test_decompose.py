"""Mode decomposition: known distortions of cubic SrTiO3 come back as their irreps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from scipy.spatial.transform import Rotation

from ase_symbreak.symmetry.decompose import decompose
from ase_symbreak.symmetry.isotropy import order_parameter_direction

A = 3.9
DELTA = 0.08  # Angstrom


@pytest.fixture
def rng():
    return np.random.default_rng(99)


def srtio3_cubic_pm3m(a: float = A) -> Atoms:
    """Cubic perovskite SrTiO3, Pm-3m (221), Ti at the origin."""
    return Atoms(
        "TiSrO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=np.eye(3) * a,
        pbc=True,
    )


def tilt_pattern(atoms: Atoms, in_phase: bool, delta: float = DELTA) -> np.ndarray:
    """Rigid-octahedron rotation about z, alternating in x and y.

    Out of phase along z (a0a0c-, the R-point tilt R4+) or in phase (a0a0c+, M3+). The O
    between Ti(n) and Ti(n + x) moves by +-delta along y, the one between Ti(n) and
    Ti(n + y) by -+delta along x; apical O do not move.
    """
    frac = atoms.get_positions() / A
    u = np.zeros((len(atoms), 3))
    for i, (symbol, f) in enumerate(zip(atoms.get_chemical_symbols(), frac)):
        n = np.floor(f + 1e-6)
        r = f - n
        sign = (-1) ** int(n[0] + n[1] + (0 if in_phase else n[2]))
        if symbol == "O" and np.isclose(r[0], 0.5):
            u[i] = [0, delta * sign, 0]
        elif symbol == "O" and np.isclose(r[1], 0.5):
            u[i] = [-delta * sign, 0, 0]
    return u


def polar_pattern(atoms: Atoms, d_ti=0.05, d_o=-0.02) -> np.ndarray:
    """Ferroelectric (Slater-like) displacement along z: Ti up, O down."""
    u = np.zeros((len(atoms), 3))
    u[atoms.numbers == 22, 2] = d_ti
    u[atoms.numbers == 8, 2] = d_o
    return u


def child_with(p, *patterns) -> tuple[Atoms, list[np.ndarray]]:
    child = make_supercell(srtio3_cubic_pm3m(), np.asarray(p))
    us = [pattern(child) for pattern in patterns]
    child.positions += sum(us)
    return child, us


def expected_ap(u: np.ndarray, n_cells: int) -> float:
    """ISODISTORT Ap from displacements over a supercell of n_cells parent cells."""
    u = u - u.mean(axis=0)
    return float(np.sqrt(np.sum(u**2) / n_cells))


def out_of_phase(atoms):
    return tilt_pattern(atoms, in_phase=False)


def in_phase(atoms):
    return tilt_pattern(atoms, in_phase=True)


def assert_single_axis(ir, amplitude):
    """The order parameter points along one axis of the irrep space: direction (a,0,0)."""
    op = ir.order_parameter
    assert np.count_nonzero(np.abs(op) > 1e-8) == 1
    assert np.linalg.norm(op) == pytest.approx(amplitude, abs=1e-10)
    assert ir.domain_direction == order_parameter_direction(op / np.linalg.norm(op))
    assert ir.direction == "(a,0,0)"


def test_out_of_phase_tilt_is_pure_r4plus():
    child, (u,) = child_with(2 * np.eye(3), out_of_phase)
    d = decompose(srtio3_cubic_pm3m(), child)
    ap = expected_ap(u, 8)
    assert ap == pytest.approx(np.sqrt(2) * DELTA)  # 16 O moved by delta in 8 cells
    assert [ir.irrep for ir in d.significant(1e-8)] == ["R4+"]
    r4 = d["R4+"]
    assert r4.amplitude == pytest.approx(ap, abs=1e-6)
    np.testing.assert_allclose(r4.k, [0.5, 0.5, 0.5])
    assert_single_axis(r4, ap)
    # completeness: the irreps add up to the whole displacement
    assert d.completeness_residual < 1e-12
    assert d.amplitude == pytest.approx(ap, abs=1e-10)
    # I4/mcm primitive cell = 2 parent cells: As = Ap sqrt(2)
    assert d.volume_ratio == pytest.approx(2.0)
    assert r4.amplitude_supercell == pytest.approx(2 * DELTA, abs=1e-6)
    np.testing.assert_allclose(d.strain, 0, atol=1e-12)


def test_tilt_in_another_setting_decomposes_identically(rng):
    """Origin on Sr, atoms permuted, other basis, rotated frame, 0.5 % strain."""
    child, (u,) = child_with(2 * np.eye(3), out_of_phase)
    m = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    frac = (child.get_scaled_positions() + [0.25, 0.25, 0.25]) @ np.linalg.inv(m)
    eps = np.diag([0.005, 0.005, -0.004])
    rot = Rotation.from_euler("zx", [30, 12], degrees=True).as_matrix()
    cell = m @ child.cell[:] @ (np.eye(3) + eps) @ rot.T
    other = Atoms(child.numbers, scaled_positions=frac % 1, cell=cell, pbc=True)
    other = other[rng.permutation(len(other))]
    d = decompose(srtio3_cubic_pm3m(), other)
    ap = expected_ap(u, 8)
    assert [ir.irrep for ir in d.significant(1e-8)] == ["R4+"]
    assert d["R4+"].amplitude == pytest.approx(ap, abs=1e-6)
    assert_single_axis(d["R4+"], ap)
    np.testing.assert_allclose(d.strain, eps, atol=1e-10)
    # strain split over Oh irreps: volume (A1g) + tetragonal (Eg), parts add up
    assert set(d.strain_parts) == {"A1g", "Eg"}
    np.testing.assert_allclose(sum(d.strain_parts.values()), eps, atol=1e-12)
    np.testing.assert_allclose(d.strain_parts["A1g"], np.trace(eps) / 3 * np.eye(3), atol=1e-12)


def test_root2_cell_needs_only_2x2x2_modes():
    child, (u,) = child_with([[1, 1, 0], [-1, 1, 0], [0, 0, 2]], out_of_phase)
    d = decompose(srtio3_cubic_pm3m(), child)
    assert d.n == 2
    assert d["R4+"].amplitude == pytest.approx(expected_ap(u, 4), abs=1e-6)
    assert d.completeness_residual < 1e-12


def test_in_phase_tilt_is_m3plus_and_tilts_superpose():
    child, (u_m, u_r) = child_with(2 * np.eye(3), in_phase, out_of_phase)
    d = decompose(srtio3_cubic_pm3m(), child)
    assert {ir.irrep for ir in d.significant(1e-8)} == {"M3+", "R4+"}
    assert d["M3+"].amplitude == pytest.approx(expected_ap(u_m, 8), abs=1e-6)
    assert d["R4+"].amplitude == pytest.approx(expected_ap(u_r, 8), abs=1e-6)
    assert d["M3+"].dim == 3 and len(d["M3+"].star) == 3  # three arms of the M star
    assert d.completeness_residual < 1e-12


def test_polar_displacement_is_gm4minus():
    child, (u,) = child_with(np.eye(3), polar_pattern)
    d = decompose(srtio3_cubic_pm3m(), child)
    gm = d.significant(1e-8)
    assert [ir.irrep for ir in gm] == ["GM4-"]
    ap = expected_ap(u, 1)
    assert gm[0].amplitude == pytest.approx(ap, abs=1e-6)
    # several GM4- copies (Ti, Sr, O modes): squares of copy amplitudes add up
    assert gm[0].multiplicity >= 3
    assert np.sum(gm[0].copy_amplitudes ** 2) == pytest.approx(ap**2, abs=1e-12)
    assert_single_axis(gm[0], ap)
    np.testing.assert_allclose(gm[0].k, 0, atol=1e-12)


def test_origin_on_a_site_relabels_the_tilt():
    """With Sr at the origin the out-of-phase tilt is R5- (design.md conventions)."""
    child, (u,) = child_with([[1, 1, 0], [-1, 1, 0], [0, 0, 2]], out_of_phase)
    d = decompose(srtio3_cubic_pm3m(), child, origin_index=1)
    assert [ir.irrep for ir in d.significant(1e-8)] == ["R5-"]
    assert d["R5-"].amplitude == pytest.approx(expected_ap(u, 4), abs=1e-6)


def test_json_output():
    child, (u,) = child_with(2 * np.eye(3), out_of_phase)
    out = json.loads(json.dumps(decompose(srtio3_cubic_pm3m(), child).to_dict()))
    (r4,) = out["irreps"]
    assert {"irrep", "k", "amplitude_angstrom", "direction"} <= set(r4)
    assert r4["irrep"] == "R4+"
    assert r4["amplitude_angstrom"] == pytest.approx(expected_ap(u, 8), abs=1e-6)
    assert out["supercell_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]


def test_bad_children_are_rejected():
    child, _ = child_with(2 * np.eye(3), out_of_phase)
    with pytest.raises(ValueError, match="stoichiometry"):
        decompose(srtio3_cubic_pm3m(), child[1:])
    far = child.copy()
    far.positions[0] += [0.0, 0.0, 0.7]
    with pytest.raises(ValueError, match="max_displacement"):
        decompose(srtio3_cubic_pm3m(), far, max_displacement=0.5)


def test_centred_child_cell_is_decomposed_in_its_primitive_cell():
    """R-3c in its hexagonal cell (30 atoms, Smith invariants 1, 1, 6 against the cubic
    parent) needs the 2x2x2 modes of its rhombohedral cell, not 6x6x6 (refused before).
    """
    import spglib

    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.symmetry import isotropy_subgroups

    parent = cubic_perovskite(3.9)
    rhombohedral = isotropy_subgroups(parent, "R4+", amplitude=0.2)[0].structure  # R-3c
    assert spglib.get_spacegroup(
        (rhombohedral.cell[:], rhombohedral.get_scaled_positions(), rhombohedral.numbers)
    ).startswith("R-3c")
    cell = (rhombohedral.cell[:], rhombohedral.get_scaled_positions(), rhombohedral.numbers)
    lattice, frac, numbers = spglib.standardize_cell(cell, to_primitive=False, no_idealize=True)
    hexagonal = Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True)
    assert len(hexagonal) == 30
    d_hex, d_ref = decompose(parent, hexagonal), decompose(parent, rhombohedral)
    assert d_hex.n == 2
    assert d_hex["R4+"].amplitude == pytest.approx(d_ref["R4+"].amplitude, abs=1e-9)
    assert d_hex["R4+"].direction == "(a,a,a)"
    assert d_hex.amplitude_supercell == pytest.approx(d_ref.amplitude_supercell, abs=1e-9)
