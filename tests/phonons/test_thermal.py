"""Phonon DOS and harmonic thermal properties: sum rules, limits, thermodynamic identities.

Force constants come from :func:`ase_symbreak.testing.pair_force_constants` (exact, no
torch) on 2x2x2 supercells: fcc Cu and the L1_2 ordering Cu3Au with nearest-neighbour
pairs (stable), and rocksalt NaCl with the default 4 A cutoff, which the all-repulsive pair
potential makes unstable (its transverse stiffness is negative).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from phonopy import Phonopy
from pymatgen.phonon.dos import CompletePhononDos, PhononDos

from ase_symbreak.phonons import from_phonopy_atoms, to_phonopy_atoms
from ase_symbreak.phonons.thermal import (
    DEFAULT_MESH_LENGTH,
    IMAGINARY_THRESHOLD_THZ,
    PhononDOS,
    ThermalProperties,
    phonon_dos,
    thermal_properties,
    to_pymatgen_dos,
)
from ase_symbreak.testing import pair_force_constants

R = units._k * units._Nav  # J/(K mol)
KJ_PER_MOL_PER_EV = units.mol / units.kJ
THZ_TO_EV = units._hplanck / units._e * 1e12
PROJECTED_MESH = (8, 8, 8)  # the projected DOS runs the full mesh with eigenvectors


def _phonopy(atoms, cutoff: float, scale: float = 1.0) -> Phonopy:
    ph = Phonopy(
        to_phonopy_atoms(atoms), supercell_matrix=np.diag([2, 2, 2]), primitive_matrix="auto"
    )
    ph.force_constants = scale * pair_force_constants(from_phonopy_atoms(ph.supercell), cutoff)
    return ph


def _cu3au():
    atoms = bulk("Cu", "fcc", 3.61, cubic=True)
    atoms.symbols[0] = "Au"
    return atoms


@pytest.fixture(scope="module")
def cu() -> Phonopy:
    return _phonopy(bulk("Cu", "fcc", 3.61), cutoff=3.5)


@pytest.fixture(scope="module")
def cu3au() -> Phonopy:
    return _phonopy(_cu3au(), cutoff=3.5)


@pytest.fixture(scope="module")
def nacl() -> Phonopy:
    return _phonopy(bulk("NaCl", "rocksalt", 5.64), cutoff=4.0)


@pytest.fixture(scope="module", params=["cu", "cu3au"])
def stable(request) -> Phonopy:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def stable_tp(stable) -> ThermalProperties:
    return thermal_properties(stable, temperatures_k=np.arange(0.0, 1001.0, 1.0))


def _mesh_modes(phonon: Phonopy) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (n_q, n_bands), THz, and weights of the mesh phonopy last ran."""
    return np.asarray(phonon.mesh.frequencies), np.asarray(phonon.mesh.weights)


# ----------------------------------------------------------------------------- DOS
@pytest.mark.parametrize("sigma", [None, 0.1])
@pytest.mark.parametrize("name", ["cu", "cu3au", "nacl"])
def test_dos_integrates_to_three_n(request, name, sigma):
    phonon = request.getfixturevalue(name)
    dos = phonon_dos(phonon, sigma=sigma)
    n = len(phonon.primitive)
    assert dos.n_atoms == n
    assert dos.integral() == pytest.approx(3 * n, rel=0.01)
    assert dos.sigma_thz == sigma
    assert dos.method == ("tetrahedron" if sigma is None else "smearing (Normal, sigma=0.1 THz)")
    assert dos.frequencies_thz.shape == dos.dos_states_per_thz.shape
    assert np.all(np.diff(dos.frequencies_thz) > 0)
    assert dos.dos_states_per_thz.min() >= -1e-9
    assert dos.projected_dos_states_per_thz is None
    # the frequency range holds every mesh frequency
    freqs, _ = _mesh_modes(phonon)
    assert dos.frequencies_thz[0] < freqs.min() and dos.frequencies_thz[-1] > freqs.max()


def test_default_mesh_follows_phonopy_length(cu, nacl, cu3au):
    assert phonon_dos(cu).mesh == (24, 24, 24)  # rint(50 * sqrt(3) / 3.61)
    assert phonon_dos(nacl).mesh == (15, 15, 15)  # rint(50 * sqrt(3) / 5.64)
    assert phonon_dos(cu3au).mesh == (14, 14, 14)  # rint(50 / 3.61)
    assert phonon_dos(cu, mesh=DEFAULT_MESH_LENGTH / 2).mesh == (12, 12, 12)
    assert phonon_dos(cu, mesh=[6, 6, 6]).mesh == (6, 6, 6)


@pytest.mark.parametrize("name", ["cu3au", "nacl"])
def test_projected_dos_sums_to_total(request, name):
    phonon = request.getfixturevalue(name)
    dos = phonon_dos(phonon, mesh=PROJECTED_MESH, projected=True)
    symbols = [str(s) for s in phonon.primitive.symbols]
    pdos = dos.projected_dos_states_per_thz
    assert set(pdos) == set(symbols)
    total = sum(pdos.values())
    assert np.allclose(total, dos.dos_states_per_thz, atol=1e-8 * dos.dos_states_per_thz.max())
    # per atom: three states each, per element the atoms of that element
    assert dos.atom_projected_dos_states_per_thz.shape == (len(symbols), dos.frequencies_thz.size)
    for symbol, integral in dos.projected_integrals().items():
        assert integral == pytest.approx(3 * symbols.count(symbol), rel=0.02)
    # the same mesh and method without projection gives the same total
    plain = phonon_dos(phonon, mesh=PROJECTED_MESH)
    assert plain.integral() == pytest.approx(dos.integral(), rel=0.01)


def test_dos_record_round_trip_and_summary(cu3au):
    dos = phonon_dos(cu3au, mesh=PROJECTED_MESH, projected=True, sigma=0.2)
    back = PhononDOS.from_dict(json.loads(json.dumps(dos.to_dict())))
    assert np.array_equal(back.frequencies_thz, dos.frequencies_thz)
    assert np.array_equal(back.dos_states_per_thz, dos.dos_states_per_thz)
    assert back.mesh == dos.mesh and back.sigma_thz == 0.2
    assert back.primitive_symbols == dos.primitive_symbols
    for el, d in dos.projected_dos_states_per_thz.items():
        assert np.array_equal(back.projected_dos_states_per_thz[el], d)
    summary = json.loads(json.dumps(dos.summary()))
    assert summary["expected_states"] == 12
    assert summary["integral_states"] == pytest.approx(12, rel=1e-3)
    assert summary["mesh"] == [8, 8, 8] and summary["n_imaginary"] == 0
    assert set(summary["projected_integral_states"]) == {"Cu", "Au"}


# ----------------------------------------------------------------------------- thermal
def test_heat_capacity_limits(stable):
    n = len(stable.primitive)
    tp = thermal_properties(stable, temperatures_k=[0, 2, 300, 5000, 20000])
    cv = tp.heat_capacity_j_per_k_mol
    assert cv[0] == 0 and cv[1] < 1e-3 * 3 * n * R  # frozen out as T -> 0
    assert cv[3] == pytest.approx(3 * n * R, rel=1e-3)  # Dulong-Petit, per mole of cells
    # exactly: the three acoustic modes at Gamma are left out of the 3 n n_q modes
    limit = 3 * n * R * (1 - 1 / (n * np.prod(tp.mesh)))
    assert cv[4] == pytest.approx(limit, rel=3e-5)
    assert np.all(cv <= limit * (1 + 1e-9))
    assert tp.n_atoms == n and tp.n_imaginary == 0
    assert tp.n_modes == 3 * n * int(np.prod(tp.mesh))


def test_entropy_and_heat_capacity_increase(stable_tp):
    s = stable_tp.entropy_j_per_k_mol
    cv = stable_tp.heat_capacity_j_per_k_mol
    assert s[0] == pytest.approx(0, abs=1e-9)
    assert np.all(np.diff(s) > 0)
    assert np.all(np.diff(cv) >= -1e-9)
    assert np.all(np.diff(stable_tp.free_energy_kj_per_mol) < 0)  # dF/dT = -S < 0


def test_free_energy_at_zero_is_zero_point_energy(stable, stable_tp):
    stable.run_mesh(stable_tp.mesh, is_gamma_center=True)  # other tests ran other meshes
    freqs, weights = _mesh_modes(stable)
    positive = np.where(freqs > 1e-6, freqs, 0.0)  # the acoustic modes at Gamma are ~0
    zpe_ev = (positive.sum(axis=1) * weights).sum() / weights.sum() * THZ_TO_EV / 2
    assert stable_tp.temperatures_k[0] == 0
    assert stable_tp.free_energy_kj_per_mol[0] == pytest.approx(
        zpe_ev * KJ_PER_MOL_PER_EV, rel=1e-5
    )
    assert stable_tp.free_energy_ev_per_cell[0] == pytest.approx(zpe_ev, rel=1e-5)
    assert stable_tp.zero_point_energy_kj_per_mol == pytest.approx(
        stable_tp.free_energy_kj_per_mol[0], rel=1e-12
    )


def test_entropy_is_minus_dF_dT_and_cv_is_T_dS_dT(stable_tp):
    t = stable_tp.temperatures_k
    f_j = stable_tp.free_energy_kj_per_mol * 1000
    s = stable_tp.entropy_j_per_k_mol
    inner = slice(50, -1)  # from 50 K: central differences, step 1 K
    s_fd = -np.gradient(f_j, t)
    assert np.allclose(s_fd[inner], s[inner], rtol=1e-4)
    cv_fd = t * np.gradient(s, t)
    assert np.allclose(cv_fd[inner], stable_tp.heat_capacity_j_per_k_mol[inner], rtol=1e-3)


def test_free_energy_units_and_interpolation(stable_tp):
    # ase's CODATA eV-to-kJ/mol differs from phonopy's by 6e-7
    assert np.allclose(
        stable_tp.free_energy_ev_per_cell * KJ_PER_MOL_PER_EV,
        stable_tp.free_energy_kj_per_mol,
        rtol=1e-5,
        atol=1e-9,
    )
    i = int(np.searchsorted(stable_tp.temperatures_k, 300.0))
    at = stable_tp.at(300)
    assert at["free_energy_kj_per_mol"] == stable_tp.free_energy_kj_per_mol[i]
    assert at["entropy_j_per_k_mol"] == stable_tp.entropy_j_per_k_mol[i]
    mid = stable_tp.at(300.5)
    assert mid["heat_capacity_j_per_k_mol"] == pytest.approx(
        stable_tp.heat_capacity_j_per_k_mol[i : i + 2].mean(), rel=1e-12
    )
    with pytest.raises(ValueError, match="outside the computed range"):
        stable_tp.at(1001)
    summary = json.loads(json.dumps(stable_tp.summary()))
    assert summary["at_300_k"]["temperature_k"] == 300.0
    assert summary["temperature_range_k"] == [0.0, 1000.0]
    back = ThermalProperties.from_dict(json.loads(json.dumps(stable_tp.to_dict())))
    assert np.array_equal(back.entropy_j_per_k_mol, stable_tp.entropy_j_per_k_mol)
    assert back.mesh == stable_tp.mesh


def test_default_temperatures(cu):
    tp = thermal_properties(cu, mesh=(8, 8, 8))
    assert np.array_equal(tp.temperatures_k, np.arange(0, 1001, 10.0))
    assert tp.mesh == (8, 8, 8)


def test_positive_cutoff_counts_skipped_modes(cu):
    tp = thermal_properties(cu, temperatures_k=[300], mesh=(8, 8, 8), cutoff_frequency_thz=1.5)
    freqs, weights = _mesh_modes(cu)
    skipped = int(((freqs <= 1.5).sum(axis=1) * weights).sum()) - 3  # not the Gamma acoustic
    assert tp.n_imaginary == skipped > 0
    assert tp.cutoff_frequency_thz == 1.5
    full = thermal_properties(cu, temperatures_k=[300], mesh=(8, 8, 8))
    assert full.n_imaginary == 0
    assert tp.heat_capacity_j_per_k_mol[0] < full.heat_capacity_j_per_k_mol[0]


# ----------------------------------------------------------------------------- pymatgen
def test_pymatgen_dos_matches(stable):
    dos = phonon_dos(stable)
    tp = thermal_properties(stable, temperatures_k=[100, 300])
    pmg = to_pymatgen_dos(dos)
    assert type(pmg) is PhononDos
    assert np.array_equal(pmg.frequencies, dos.frequencies_thz)
    assert np.array_equal(pmg.densities, dos.dos_states_per_thz)
    # pymatgen integrates the DOS: J/(K mol-cell), per mole of the DOS's (primitive) cells
    for t in (100, 300):
        ours = tp.at(t)
        assert pmg.cv(t) == pytest.approx(ours["heat_capacity_j_per_k_mol"], rel=0.02)
        assert pmg.entropy(t) == pytest.approx(ours["entropy_j_per_k_mol"], rel=0.02)
    # and its energies are J/mol, not kJ/mol
    assert pmg.zero_point_energy() / 1000 == pytest.approx(
        tp.zero_point_energy_kj_per_mol, rel=0.01
    )


def test_pymatgen_complete_dos(cu3au):
    dos = phonon_dos(cu3au, mesh=PROJECTED_MESH, projected=True)
    for cell in (cu3au.primitive, from_phonopy_atoms(cu3au.primitive)):
        pmg = to_pymatgen_dos(dos, cell)
        assert isinstance(pmg, CompletePhononDos)
        assert len(pmg.pdos) == 4
        assert np.allclose(sum(pmg.pdos.values()), pmg.densities, atol=1e-8)
        by_element = {str(el): d.densities for el, d in pmg.get_element_dos().items()}
        assert set(by_element) == {"Cu", "Au"}
        for el, d in by_element.items():
            assert np.allclose(d, dos.projected_dos_states_per_thz[el])
    # without projections a structure is not needed: the plain DOS
    assert type(to_pymatgen_dos(phonon_dos(cu3au, mesh=(6, 6, 6)), cu3au.primitive)) is PhononDos
    wrong = from_phonopy_atoms(cu3au.primitive)[[1, 0, 2, 3]]
    with pytest.raises(ValueError, match="pass phonon.primitive"):
        to_pymatgen_dos(dos, wrong)


# ----------------------------------------------------------------------------- instability
def test_unstable_rocksalt_reports_imaginary_modes(nacl):
    dos = phonon_dos(nacl)
    freqs, weights = _mesh_modes(nacl)
    below = int(((freqs < IMAGINARY_THRESHOLD_THZ).sum(axis=1) * weights).sum())
    assert dos.n_imaginary == below > 0
    negative = dos.frequencies_thz < 0
    weight_negative = np.trapezoid(dos.dos_states_per_thz[negative], dos.frequencies_thz[negative])
    assert weight_negative == pytest.approx(below / weights.sum(), rel=0.1, abs=0.05)

    tp = thermal_properties(nacl, temperatures_k=[0, 300])
    freqs, weights = _mesh_modes(nacl)
    non_positive = int(((freqs <= 0).sum(axis=1) * weights).sum())
    assert tp.n_imaginary == non_positive - 3 >= dos.n_imaginary
    assert np.all(np.isfinite(tp.free_energy_kj_per_mol))


def test_negated_force_constants_are_all_imaginary():
    phonon = _phonopy(bulk("Cu", "fcc", 3.61), cutoff=3.5, scale=-1.0)
    dos = phonon_dos(phonon, mesh=(8, 8, 8))
    assert dos.n_imaginary == 3 * 8**3 - 3  # all but the acoustic modes at Gamma
    assert dos.frequencies_thz[-1] < 1.0
    tp = thermal_properties(phonon, temperatures_k=[300], mesh=(8, 8, 8))
    assert tp.n_imaginary == tp.n_modes - 3
    assert tp.heat_capacity_j_per_k_mol[0] == 0
    assert tp.free_energy_kj_per_mol[0] == 0


# ----------------------------------------------------------------------------- errors
def test_errors(cu):
    empty = Phonopy(
        to_phonopy_atoms(bulk("Cu", "fcc", 3.61)),
        supercell_matrix=np.diag([2, 2, 2]),
        primitive_matrix="auto",
    )
    for call in (phonon_dos, thermal_properties):
        with pytest.raises(ValueError, match="no force constants"):
            call(empty)
    for mesh in ([0, 8, 8], (8, -1, 8), (8, 8), (8.5, 8, 8), 0.0, -10.0):
        with pytest.raises(ValueError, match="mesh"):
            phonon_dos(cu, mesh=mesh)
        with pytest.raises(ValueError, match="mesh"):
            thermal_properties(cu, mesh=mesh)
    with pytest.raises(ValueError, match=r"must be >= 0 K"):
        thermal_properties(cu, temperatures_k=[-10, 0, 100])
    with pytest.raises(ValueError, match="strictly increasing"):
        thermal_properties(cu, temperatures_k=[300, 100])
    with pytest.raises(ValueError, match="cutoff_frequency_thz"):
        thermal_properties(cu, cutoff_frequency_thz=-0.1)
    with pytest.raises(ValueError, match="sigma"):
        phonon_dos(cu, sigma=0.0)
