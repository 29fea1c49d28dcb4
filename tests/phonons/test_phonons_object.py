"""The :class:`~ase_symbreak.phonons.Phonons` object: the function chain behind one front door.

Fast: the planted polar rocksalt toy (:class:`PlantedPolarRocksaltModel`, Fm-3m, 2 atoms in
the fcc primitive cell, a GM4- instability of the cation) in a 2x2x2 supercell of 16 atoms,
exact Hessian in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.phonons import (
    Phonons,
    check_dispersion,
    labelled_modes,
    phonopy_from_calculator,
)

SUPERCELL = (2, 2, 2)


@pytest.fixture(scope="module")
def toy():
    """(parent, calculator) of the rocksalt toy with the polar instability."""
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel

    model = PlantedPolarRocksaltModel()
    return model.rocksalt(), SymBreakCalculator(model=model, dtype="float64")


@pytest.fixture(scope="module")
def calculation(toy) -> Phonons:
    atoms, calc = toy
    return Phonons(atoms, calc, SUPERCELL).run()


def _frequencies_at_gamma(phonon) -> np.ndarray:
    return np.sort(np.asarray(phonon.run_qpoints([[0, 0, 0]]).frequencies[0]))


def _same_modes(a, b, atol: float = 1e-8) -> None:
    assert [(m.q_label, m.irrep, m.degeneracy) for m in a] == [
        (m.q_label, m.irrep, m.degeneracy) for m in b
    ]
    np.testing.assert_allclose(
        [m.frequency_thz for m in a], [m.frequency_thz for m in b], atol=atol
    )
    assert a.origin_index == b.origin_index


def test_same_force_constants_frequencies_and_labels_as_the_function_chain(toy, calculation):
    """phonopy_from_calculator -> labelled_modes -> check_dispersion, as the step and the
    command line chained them, gives what the object gives."""
    atoms, calc = toy
    phonon = phonopy_from_calculator(atoms, calc, SUPERCELL)
    np.testing.assert_allclose(calculation.force_constants, phonon.force_constants, atol=1e-10)
    chain = labelled_modes(atoms, phonon, SUPERCELL)
    modes = calculation.modes
    _same_modes(modes, chain)
    assert modes.n_modes == 3 * 16
    assert calculation.labelled_modes() is modes  # kept, not recomputed
    check = calculation.dispersion_check()
    assert check.summary() == check_dispersion(phonon, SUPERCELL).summary()
    assert calculation.dispersion_check() is check
    assert calculation.n_cells == 8


def test_soft_modes_are_the_imaginary_ones(calculation):
    modes = calculation.modes
    soft = calculation.soft_modes()
    assert soft.threshold_thz == -0.1 and len(soft) > 0
    assert all(m.frequency_thz < -0.1 for m in soft)
    assert {m.irrep for m in soft} == {m.irrep for m in modes if m.frequency_thz < -0.1}
    assert ("GM", "GM4-") in {(m.q_label, m.irrep) for m in soft}  # the planted instability
    assert all(m.displacements is not None for m in soft)
    assert len(calculation.soft_modes(threshold_thz=-1e3)) == 0


def test_acoustic_sum_rule_at_gamma(calculation):
    """Three zero frequencies at Gamma (translations), labelled GM4- like the polar mode."""
    freqs = _frequencies_at_gamma(calculation.phonopy)
    assert np.sum(np.abs(freqs) < 1e-6) == 3, freqs
    acoustic = [m for m in calculation.modes.at("GM") if abs(m.frequency_thz) < 1e-6]
    assert [(m.irrep, m.degeneracy) for m in acoustic] == [("GM4-", 3)]


def test_save_and_load_round_trip(calculation, tmp_path):
    """The file is phonopy's (phonopy.load reads it); Phonons.load gives the same force
    constants, frequencies and labels without a calculator, and keeps a non-default origin."""
    import phonopy

    path = calculation.save(tmp_path / "sub" / "phonopy_params.yaml")
    loaded = Phonons.load(path)
    assert loaded.calc is None  # nothing recomputed
    np.testing.assert_allclose(loaded.force_constants, calculation.force_constants, atol=1e-9)
    np.testing.assert_array_equal(loaded.supercell_matrix, calculation.supercell_matrix)
    _same_modes(loaded.modes, calculation.modes, atol=1e-6)
    np.testing.assert_allclose(
        _frequencies_at_gamma(loaded.phonopy), _frequencies_at_gamma(calculation.phonopy), atol=1e-6
    )
    plain = phonopy.load(str(path), is_compact_fc=False)
    np.testing.assert_allclose(plain.force_constants, calculation.force_constants, atol=1e-9)

    anion = Phonons.from_phonopy(calculation.phonopy, origin_index=1)
    assert anion.modes.origin_index == 1
    again = Phonons.load(anion.save(tmp_path / "anion.yaml"))
    assert again.origin_index == 1
    _same_modes(again.modes, anion.modes, atol=1e-6)


def test_band_structure_dos_thermal_and_plot(calculation, tmp_path):
    data = calculation.band_structure(npoints=5)
    assert data.tick_labels[0] == "Γ" and data.min_frequency_thz < -0.1
    assert calculation.band_path().text().startswith("GM")
    dos = calculation.dos(mesh=(6, 6, 6))
    assert dos.integral() == pytest.approx(6.0, rel=0.05)  # 3 n_prim
    thermo = calculation.thermal_properties(temperatures_k=[0.0, 300.0], mesh=(6, 6, 6))
    assert thermo.n_imaginary > 0 and thermo.entropy_j_per_k_mol[1] > 0
    out = calculation.plot(tmp_path / "bands.png", npoints=5, dos=dos)
    assert out.read_bytes()[:4] == b"\x89PNG"


class _NoHessian:
    """A calculator that must not be asked: input errors come before the Hessian."""

    def get_force_constants(self, *args, **kwargs):
        raise AssertionError("the Hessian was computed for a rejected input")


def test_bad_input_is_rejected_before_the_hessian(toy):
    atoms, _ = toy
    with pytest.raises(ValueError, match="not compatible with the parent's point group"):
        Phonons(atoms, _NoHessian(), (2, 1, 1))
    with pytest.raises(ValueError, match="origin index 5 out of range for 2 atoms"):
        Phonons(atoms, _NoHessian(), origin_index=5)
    with pytest.raises(ValueError, match="singular"):
        Phonons(atoms, _NoHessian(), (2, 0, 2))
    molecule = atoms.copy()
    molecule.pbc = False
    with pytest.raises(ValueError, match="3-D periodic"):
        Phonons(molecule, _NoHessian())
    fresh = Phonons(atoms, _NoHessian())
    with pytest.raises(RuntimeError, match=r"run\(\) first"):
        fresh.modes
    assert "not run" in repr(fresh)


def test_importing_the_package_stays_light():
    """``import ase_symbreak.phonons`` pulls in neither torch, phonopy nor matplotlib."""
    import subprocess
    import sys

    code = (
        "import sys, ase_symbreak.phonons; "
        "print([m for m in ('torch', 'phonopy', 'matplotlib', 'ase_symbreak.calculator') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_band_plot_point_labels_are_typeset():
    from ase_symbreak.phonons.bands import point_label

    assert [point_label(x) for x in ("GM", "GAMMA", "SIGMA_0", "DELTA_1", "X_1", "R", "A_0")] == [
        "Γ",
        "Γ",
        "Σ₀",
        "Δ₁",
        "X₁",
        "R",
        "A₀",
    ]


def test_close_band_ticks_are_staggered():
    from ase_symbreak.phonons.plot import _staggered

    labels = _staggered([0.0, 1.0, 1.02, 1.03, 2.0], ["Γ", "Y", "C₀", "Σ₀", "Z"])
    assert labels == ["Γ", "Y", "\nC₀", "Σ₀", "Z"]  # alternate rows in a run of close ticks
