"""Beyond the supercell: the interpolated dispersion checked for instabilities off the grid.

Toy crystals with force constants written by hand (one atom per cell, springs to first and
second neighbours along x) have the analytic lowest branch

    omega^2(q) = [2 k1 (1 - cos 2 pi q1) + 2 k2 (1 - cos 4 pi q1)
                  + 2 t (1 - cos 2 pi q2) + 2 t (1 - cos 2 pi q3)] / m,

whose minimum for k1 = 2 k2 < 0 lies at q1 = 1/3, omega^2 = 9 k2 / m: commensurate with a
6x2x2 supercell, not with a 4x2x2 one. Phonopy's interpolation reproduces omega^2(q) exactly
at every q from either supercell (image pairs at equal distance are averaged), so the check
must find the planted minimum at its analytic frequency from the 4x2x2 force constants and
report nothing from the 6x2x2 ones. The last tests run supercells other than 2x2x2 (3x3x3
and a non-diagonal one) through the labelled-phonon step on a toy model calculator.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from ase import Atoms
from phonopy import Phonopy

from ase_symbreak.phonons import (
    DispersionCheck,
    OffGridInstabilityWarning,
    PhononModes,
    capturing_supercell,
    check_dispersion,
    labelled_modes,
    star_and_inverse,
    supercell_matrix_3x3,
    to_phonopy_atoms,
)

ORTHO = (3.0, 3.5, 4.0)  # Pmmm: the star of (1/3, 0, 0) is {+-(1/3, 0, 0)}
K2 = -0.2  # eV/A^2
K1 = 2 * K2  # the minimum of the lowest branch at q1 = 1/3
T = 1.0  # transverse springs
K_LONG = 2.0  # longitudinal springs along y and z


# ------------------------------------------------------------------ toy force constants
def _springs(k1=K1, k2=K2, t=T, ky=K_LONG, kz=K_LONG, cubic=False) -> dict:
    """Neighbour vector (unit-cell integers) -> 3x3 spring matrix k, Phi(R) = -k."""
    springs = {
        (1, 0, 0): np.diag([k1, t, t]),
        (2, 0, 0): np.diag([k2, 0.0, 0.0]),
        (0, 1, 0): np.diag([t, ky, t]),
        (0, 0, 1): np.diag([t, t, kz]),
    }
    if cubic:  # the same along y and z: full Oh symmetry
        springs[(0, 1, 0)] = np.diag([t, k1, t])
        springs[(0, 0, 1)] = np.diag([t, t, k1])
        springs[(0, 2, 0)] = np.diag([0.0, k2, 0.0])
        springs[(0, 0, 2)] = np.diag([0.0, 0.0, k2])
    return springs


def _toy(supercell, springs: dict, lengths=ORTHO, doubled=False) -> tuple[Atoms, Phonopy]:
    """One Al atom per orthorhombic cell; supercell force constants summed over images.

    ``doubled``: the unit cell is two primitive cells along x, phonopy's primitive matrix
    ``diag(1/2, 1, 1)`` (the supercell is in units of the doubled cell).
    """
    lengths = np.asarray(lengths, dtype=float)
    if doubled:
        unit = Atoms(
            "Al2",
            cell=np.diag(lengths * [2, 1, 1]),
            scaled_positions=[[0, 0, 0], [0.5, 0, 0]],
            pbc=True,
        )
        pmat, per_unit = np.diag([0.5, 1, 1]), np.array([2, 1, 1])
    else:
        unit = Atoms("Al", cell=np.diag(lengths), pbc=True)
        pmat, per_unit = "P", np.array([1, 1, 1])
    ph = Phonopy(to_phonopy_atoms(unit), supercell_matrix=np.diag(supercell), primitive_matrix=pmat)
    sc = np.asarray(supercell) * per_unit  # the supercell in primitive cells
    cells = np.rint(np.asarray(ph.supercell.positions) / lengths).astype(int) % sc
    index = {tuple(c): i for i, c in enumerate(cells)}
    n = len(cells)
    fc = np.zeros((n, n, 3, 3))
    for i, c in enumerate(cells):
        for r, k in springs.items():
            for sign in (1, -1):
                j = index[tuple((c + sign * np.array(r)) % sc)]
                fc[i, j] -= k
                fc[i, i] += k  # acoustic sum rule: on-site = - sum of the others
    np.testing.assert_allclose(fc.sum(axis=1), 0.0, atol=1e-12)
    ph.force_constants = fc
    return unit, ph


def _factor() -> float:
    """sqrt(eV / (A^2 amu)) / 2 pi in THz, from phonopy's physical constants."""
    from phonopy.physical_units import get_physical_units

    u = get_physical_units()
    return math.sqrt(u.EV / u.AMU) / u.Angstrom / (2 * math.pi) / 1e12


def _thz(omega2: float, mass: float) -> float:
    """Signed frequency (imaginary as negative) of omega^2 in eV / (A^2 amu)."""
    w = omega2 / mass
    return float(np.sign(w) * _factor() * math.sqrt(abs(w)))


def _analytic_branches(q, springs: dict, mass: float) -> np.ndarray:
    """The three frequencies (THz) of the toy at q: Phi is diagonal in the Cartesian axes."""
    omega2 = np.zeros(3)
    for r, k in springs.items():
        omega2 += 2 * np.diag(k) * (1 - math.cos(2 * math.pi * np.dot(q, r)))
    return np.sort([_thz(w, mass) for w in omega2])


def _mass(ph: Phonopy) -> float:
    return float(ph.primitive.masses[0])


def _planted_thz(ph: Phonopy) -> float:
    """omega^2 = (2 k1 + 2 k2) 3/2 = 9 k2 at q = (1/3, 0, 0)."""
    return _thz(9 * K2, _mass(ph))


def _same_q(a, b, tol=1e-9) -> bool:
    d = np.asarray(a, float) - np.asarray(b, float)
    return bool(np.abs(d - np.round(d)).max() < tol)


# ------------------------------------------------------------------ (1) the planted minimum
@pytest.mark.parametrize("supercell", [(6, 2, 2), (4, 2, 2)])
def test_toy_dispersion_is_the_analytic_one(supercell, rng):
    """The hand-built force constants give omega(q) of the formula at any q (so the check
    below is tested against exact numbers), and phonopy's factor is the physical one."""
    springs = _springs()
    _, ph = _toy(supercell, springs)
    assert ph.unit_conversion_factor == pytest.approx(_factor(), rel=1e-10)
    qs = np.vstack([[1 / 3, 0, 0], [0.5, 0.5, 0.5], rng.random((4, 3))])
    freqs = ph.run_qpoints(qs).frequencies
    for q, f in zip(qs, freqs):
        np.testing.assert_allclose(np.sort(f), _analytic_branches(q, springs, _mass(ph)), atol=1e-8)


def test_planted_minimum_commensurate_with_the_supercell_is_not_reported():
    """6x2x2 holds q = 1/3: the unstable branch around it is the labelled mode's tail."""
    _, ph = _toy((6, 2, 2), _springs())
    check = check_dispersion(ph, (6, 2, 2))
    assert check.stable_off_grid and check.instabilities == () and check.warning() is None
    # the branch is imaginary all along GM-X, but its minimum is on the grid
    assert check.min_frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    assert check.min_q_commensurate
    assert _same_q(np.abs(check.min_q), [1 / 3, 0, 0])
    assert check.commensurate_min_frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    assert all(n % m == 0 and n >= 2 * m for n, m in zip(check.mesh, (6, 2, 2)))


def test_planted_minimum_off_the_grid_of_4x2x2_is_reported():
    """4x2x2 misses q = 1/3: reported with its analytic frequency and a 3x1x1 supercell."""
    _, ph = _toy((4, 2, 2), _springs())
    check = check_dispersion(ph, (4, 2, 2))
    assert not check.stable_off_grid and len(check.instabilities) == 1
    inst = check.instabilities[0]
    assert _same_q(np.abs(inst.q), [1 / 3, 0, 0])
    assert inst.q_fraction in ("(1/3,0,0)", "(-1/3,0,0)")
    assert inst.frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    assert inst.star_size == 2 and not inst.commensurate  # +-q
    assert inst.on_band_path == "GM-X"
    p = np.array(inst.capturing_supercell)
    assert round(np.linalg.det(p)) == 3 and _same_q(p @ np.array(inst.q), 0)
    assert inst.capturing_supercell == ((3, 0, 0), (0, 1, 0), (0, 0, 1))
    assert inst.symmetric_supercell == ((3, 0, 0), (0, 1, 0), (0, 0, 1))  # Pmmm star +-q
    assert inst.extended_supercell == ((12, 0, 0), (0, 2, 0), (0, 0, 2))  # and 4x2x2's q
    # the labelled modes see 8 k2 at q1 = 1/4 and 1/2, above the planted 9 k2
    assert check.commensurate_min_frequency_thz == pytest.approx(_thz(8 * K2, _mass(ph)), abs=1e-8)
    assert check.min_frequency_thz == pytest.approx(inst.frequency_thz)
    assert not check.min_q_commensurate
    message = check.warning()
    assert "1/3" in message and "12x2x2" in message and "4x2x2" in message
    # the labelled modes of the same force constants: q1 in {0, 1/4, 1/2} only
    unit, _ = _toy((4, 2, 2), _springs())
    modes = labelled_modes(unit, ph, (4, 2, 2))
    assert min(m.frequency_thz for m in modes) == pytest.approx(
        check.commensurate_min_frequency_thz, abs=1e-6
    )
    assert not any(_same_q(np.abs(m.q), [1 / 3, 0, 0], 1e-6) for m in modes)


def test_unit_cell_that_is_not_primitive():
    """The doubled cell (primitive matrix diag(1/2, 1, 1)) with a 2x2x2 supercell is the
    4x2x2 of the primitive one: the same minimum, q = 2/3 in the doubled cell's basis."""
    _, ph = _toy((2, 2, 2), _springs(), doubled=True)
    assert len(ph.primitive) == 1 and len(ph.unitcell) == 2
    check = check_dispersion(ph)
    (inst,) = check.instabilities
    assert _same_q(np.abs(inst.q), [2 / 3, 0, 0]) and inst.q_fraction in ("(2/3,0,0)", "(-2/3,0,0)")
    assert inst.frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    assert inst.capturing_supercell == ((3, 0, 0), (0, 1, 0), (0, 0, 1))  # 6 primitive cells
    assert inst.extended_supercell == ((6, 0, 0), (0, 2, 0), (0, 0, 2))
    assert inst.star_size == 2 and inst.on_band_path == "GM-X"
    assert check.commensurate_min_frequency_thz == pytest.approx(_thz(8 * K2, _mass(ph)), abs=1e-8)


def test_minimum_between_mesh_points_is_refined():
    """A mesh without q1 = 1/3 (8 points) and no symmetry: refinement still lands on it."""
    _, ph = _toy((4, 2, 2), _springs())
    check = check_dispersion(ph, (4, 2, 2), mesh=(8, 4, 4), use_symmetry=False)
    assert check.mesh == (8, 4, 4) and check.n_q >= 8 * 4 * 4
    (inst,) = check.instabilities
    assert _same_q(np.abs(inst.q), [1 / 3, 0, 0])
    assert inst.frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    no_path = check_dispersion(ph, (4, 2, 2), mesh=(8, 4, 4), band_path=False)
    assert no_path.band_path == () and no_path.instabilities[0].on_band_path is None
    assert no_path.instabilities[0].frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)


def test_incommensurate_minimum_is_located_and_left_without_supercell():
    """k1 = k2 < 0: the minimum is at cos(2 pi q1) = -1/4 (q1 = 0.2902..., no fraction with a
    denominator <= 8 within 1e-3), omega^2 = 6.25 k2 / m; the refinement finds both."""
    _, ph = _toy((4, 2, 2), _springs(k1=K2, k2=K2))
    (inst,) = check_dispersion(ph).instabilities
    q1 = math.acos(-0.25) / (2 * math.pi)
    np.testing.assert_allclose(np.abs(inst.q), [q1, 0, 0], atol=1e-5)
    assert inst.frequency_thz == pytest.approx(_thz(6.25 * K2, _mass(ph)), abs=1e-8)
    assert inst.q_fraction is None and inst.capturing_supercell is None
    assert "incommensurate" in inst.note and inst.on_band_path == "GM-X"
    fine = check_dispersion(ph, max_denominator=48).instabilities[0]  # 0.2902 ~ 9/31
    assert fine.q_fraction is not None and fine.capturing_supercell is not None


def test_off_grid_minimum_is_reported_beside_a_deeper_commensurate_one():
    """An unstable y branch at (0, 1/2, 0) (on the grid, deeper) does not hide q = 1/3."""
    springs = _springs(ky=-1.0)
    _, ph = _toy((4, 2, 2), springs)
    check = check_dispersion(ph)  # supercell from the phonopy object
    assert check.supercell_matrix == ((4, 0, 0), (0, 2, 0), (0, 0, 2))
    deep = _thz(4 * -1.0, _mass(ph))
    assert check.commensurate_min_frequency_thz == pytest.approx(deep, abs=1e-8)
    assert check.min_q_commensurate and _same_q(check.min_q, [0, 0.5, 0])
    (inst,) = check.instabilities
    assert _same_q(np.abs(inst.q), [1 / 3, 0, 0])
    assert inst.frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    assert inst.frequency_thz > deep


def test_symmetry_equivalent_minima_are_one_star():
    """Simple cubic (Oh): the six minima +-(1/3,0,0), ... are one entry; its symmetric
    supercell is 3x3x3 and the one with 4x4x4's q too is 12x12x12."""
    springs = _springs(cubic=True)
    _, ph = _toy((4, 4, 4), springs, lengths=(3.0, 3.0, 3.0))
    check = check_dispersion(ph, (4, 4, 4))
    (inst,) = check.instabilities
    assert inst.star_size == 6
    assert sorted(np.abs(inst.q).round(12).tolist()) == [0.0, 0.0, round(1 / 3, 12)]
    assert inst.frequency_thz == pytest.approx(_planted_thz(ph), abs=1e-8)
    p = np.array(inst.capturing_supercell)
    assert round(np.linalg.det(p)) == 3 and _same_q(p @ np.array(inst.q), 0)
    assert inst.symmetric_supercell == ((3, 0, 0), (0, 3, 0), (0, 0, 3))
    assert inst.extended_supercell == ((12, 0, 0), (0, 12, 0), (0, 0, 12))
    assert set(check.band_path) >= {"GM-X", "X-M", "M-GM", "GM-R"}


# ------------------------------------------------------------------ (2) stable
def test_stable_toy_has_no_instability():
    _, ph = _toy((4, 2, 2), _springs(k1=0.4, k2=0.2))
    check = check_dispersion(ph)
    assert check.stable_off_grid and check.warning() is None
    assert check.min_frequency_thz >= -1e-4  # acoustic zero at Gamma, up to rounding
    assert check.min_q_commensurate and _same_q(check.min_q, 0, 1e-6)
    json.dumps(check.summary())


def test_capturing_supercell_and_bad_input():
    assert capturing_supercell([1 / 3, 0, 0]).tolist() == [[3, 0, 0], [0, 1, 0], [0, 0, 1]]
    r = capturing_supercell([0.5, 0.5, 0.5])  # fcc-type lattice of index 2
    assert round(np.linalg.det(r)) == 2 and _same_q(r @ [0.5, 0.5, 0.5], 0)
    m_star = [[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]  # bcc-type lattice of index 4
    p = capturing_supercell(m_star)
    assert round(np.linalg.det(p)) == 4 and _same_q(p @ np.array(m_star).T, 0)
    assert capturing_supercell([0.3, 0.1, 0.0]) is None  # 3/10 > max denominator 8
    p = capturing_supercell([0.3, 0.1, 0.0], max_denominator=10)  # {n : 3 n1 + n2 = 0 mod 10}
    assert round(np.linalg.det(p)) == 10 and _same_q(p @ [0.3, 0.1, 0.0], 0, 1e-12)
    _, ph = _toy((4, 2, 2), _springs())
    with pytest.raises(ValueError, match="threshold_thz"):
        check_dispersion(ph, threshold_thz=0.5)
    with pytest.raises(ValueError, match="mesh"):
        check_dispersion(ph, mesh=(4, 0, 4))
    empty = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix="P")
    with pytest.raises(ValueError, match="force constants"):
        check_dispersion(empty)


# ------------------------------------------------------------------ (3) the record
def test_phonon_modes_keep_the_dispersion_through_json_soft_and_patterns():
    unit, ph = _toy((4, 2, 2), _springs())
    check = check_dispersion(ph, (4, 2, 2))
    assert DispersionCheck.from_dict(json.loads(json.dumps(check.to_dict()))) == check
    bare = labelled_modes(unit, ph, (4, 2, 2))
    assert bare.dispersion is None and "dispersion" not in bare.summary()
    old = bare.to_dict()
    old.pop("dispersion")  # a record written before the field existed
    assert PhononModes.from_dict(old).dispersion is None
    modes = dataclasses.replace(bare, dispersion=check)
    back = PhononModes.from_dict(json.loads(json.dumps(modes.to_dict())))
    assert back.dispersion == check
    assert back.dispersion.instabilities[0].capturing_supercell == ((3, 0, 0), (0, 1, 0), (0, 0, 1))
    assert modes.soft(-0.1).dispersion == check
    assert modes.keep_patterns(below_thz=0.0).dispersion == check
    summary = json.loads(json.dumps(modes.summary()))
    assert summary["dispersion"]["stable_off_grid"] is False
    assert summary["dispersion"]["instabilities"][0]["q_fraction"] in ("(1/3,0,0)", "(-1/3,0,0)")


# ------------------------------------------------------------------ (4) other supercells
CONVENTIONAL = ((-1, 1, 1), (1, -1, 1), (1, 1, -1))  # the cubic cell of the fcc primitive one


@pytest.fixture(scope="module")
def rocksalt():
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel

    toy = PlantedPolarRocksaltModel()
    return toy.rocksalt(), SymBreakCalculator(model=toy, dtype="float64")


@pytest.fixture(scope="module")
def step(rocksalt):
    """The workflow step on the rocksalt toy (2 atoms, fcc primitive), once per supercell."""
    from ase_symbreak.workflows import phonons

    runs: dict[tuple, PhononModes] = {}

    def run(supercell) -> PhononModes:
        key = tuple(np.ravel(supercell))
        if key not in runs:
            atoms, calc = rocksalt
            with warnings.catch_warnings():
                warnings.simplefilter("error", OffGridInstabilityWarning)
                runs[key] = phonons(atoms, calc, supercell)
        return runs[key]

    return run


def _commensurate_q(p) -> np.ndarray:
    """Every q with ``p @ q`` integer, mod 1: ``p^-1 z`` for integer z."""
    p = np.asarray(supercell_matrix_3x3(p), dtype=float)
    det = int(round(abs(np.linalg.det(p))))
    qs = []
    for z in np.ndindex(det, det, det):
        q = np.linalg.solve(p, np.array(z, float)) % 1.0
        q[np.isclose(q, 1.0)] = 0.0
        if not any(_same_q(q, other, 1e-8) for other in qs):
            qs.append(q)
    return np.array(qs)


def _frequencies_at(modes: PhononModes, q) -> np.ndarray:
    """The 3 n_prim frequencies at q: each set counts degeneracy / (its arms) per arm."""
    out = []
    for m in modes:
        arms = star_and_inverse(m.star)
        if any(_same_q(a, q, 1e-8) for a in arms):
            per_arm = m.degeneracy // len(arms)
            assert per_arm * len(arms) == m.degeneracy
            out += [m.frequency_thz] * per_arm
    return np.sort(out)


@pytest.mark.parametrize(
    "supercell", [(3, 3, 3), CONVENTIONAL], ids=["3x3x3", "conventional-cubic"]
)
def test_step_labels_every_commensurate_q_of_other_supercells(rocksalt, step, supercell):
    """3x3x3 and the non-diagonal cubic supercell: 3 N modes, every commensurate q present
    with 3 n_prim labelled modes, and the dispersion check attached (nothing off the grid:
    the toy's only instability, polar GM4-, is softest at Gamma)."""
    from ase_symbreak.symmetry import analyze
    from ase_symbreak.symmetry.lattice import check_supercell_invariant

    atoms, _ = rocksalt
    p = supercell_matrix_3x3(supercell)
    check_supercell_invariant(p, analyze(atoms).rotations)  # Oh-invariant
    modes = step(supercell)
    n_sc = len(atoms) * round(np.linalg.det(p))
    assert len(modes.supercell) == n_sc and modes.n_modes == 3 * n_sc
    np.testing.assert_array_equal(modes.supercell_matrix, p)
    qs = _commensurate_q(p)
    assert len(qs) == round(np.linalg.det(p))
    for q in qs:
        assert len(_frequencies_at(modes, q)) == 3 * len(atoms), q
    assert all(m.irrep and m.q_label for m in modes)
    check = modes.dispersion
    assert check is not None and check.supercell_matrix == tuple(map(tuple, p.tolist()))
    for q in qs:  # every labelled q is on the check's mesh
        assert _same_q(q * np.array(check.mesh), 0, 1e-8)
    assert check.stable_off_grid and check.min_q_commensurate
    assert check.commensurate_min_frequency_thz == pytest.approx(
        min(m.frequency_thz for m in modes), abs=1e-6
    )


def test_commensurate_frequencies_agree_between_supercells(step):
    """The supercell force constants are the crystal's summed over images, so q commensurate
    with two supercells has the same frequencies in both: Gamma everywhere, X (1/2,0,1/2) in
    2x2x2 and the conventional cubic cell, (1/3,1/3,1/3)... only in 3x3x3."""
    runs = {"2": step((2, 2, 2)), "3": step((3, 3, 3)), "conv": step(CONVENTIONAL)}
    gamma = {name: _frequencies_at(m, [0, 0, 0]) for name, m in runs.items()}
    np.testing.assert_allclose(gamma["3"], gamma["2"], atol=1e-6)
    np.testing.assert_allclose(gamma["conv"], gamma["2"], atol=1e-6)
    assert gamma["2"][0] < -1.0  # the planted polar instability
    x = [0.5, 0.0, 0.5]
    np.testing.assert_allclose(
        _frequencies_at(runs["conv"], x), _frequencies_at(runs["2"], x), atol=1e-6
    )
    assert len(_frequencies_at(runs["3"], x)) == 0  # not commensurate with 3x3x3


def test_step_rejects_a_supercell_that_breaks_the_point_group(rocksalt):
    from ase_symbreak.workflows import phonons

    atoms, calc = rocksalt
    with pytest.raises(ValueError, match="not compatible with the parent's point group"):
        phonons(atoms, calc, (2, 1, 1))


class _PairForceConstants:
    """A calculator of exact pair-potential force constants (no torch)."""

    def get_force_constants(self, atoms, strategy="orbits", progress=None):
        from ase_symbreak.testing import pair_force_constants

        return pair_force_constants(atoms)


def test_step_warns_about_an_instability_its_supercell_misses():
    """Cubic SrTiO3 with pair force constants in the fcc supercell (Gamma and R only): the
    interpolation has its softest minimum at M, which the step reports and the suggested
    2x2x2 supercell confirms as a labelled unstable M mode."""
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.workflows import phonons

    fcc = ((0, 1, 1), (1, 0, 1), (1, 1, 0))
    atoms = cubic_perovskite(3.9)
    with pytest.warns(OffGridInstabilityWarning, match=r"\(1/2,1/2,0\).*2x2x2"):
        modes = phonons(atoms, _PairForceConstants(), fcc)
    assert {m.q_label for m in modes} == {"GM", "R"}
    (inst,) = modes.dispersion.instabilities
    assert inst.on_band_path == "M" and inst.star_size == 3
    assert inst.frequency_thz < modes.dispersion.commensurate_min_frequency_thz
    assert inst.extended_supercell == ((2, 0, 0), (0, 2, 0), (0, 0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OffGridInstabilityWarning)
        bigger = phonons(atoms, _PairForceConstants(), inst.extended_supercell)
        unchecked = phonons(atoms, _PairForceConstants(), fcc, check_off_grid=False)
    assert unchecked.dispersion is None and unchecked.irreps == modes.irreps
    assert bigger.dispersion.stable_off_grid
    m_modes = [m for m in bigger.unstable() if m.q_label == "M"]
    assert m_modes and min(m.frequency_thz for m in m_modes) < -1.0
