"""Stability against strain (issue 31): the relaxed-ion elastic tensor and the Born criteria.

EMT copper as the reference surface: fcc is stable with cubic symmetry; bcc is the saddle
of the Bain path (tetragonal strain); in hcp the atoms relax under strain, and the tensor
from the internal-strain formula equals brute-force stresses of ion-relaxed strained cells.
The exact-Hessian path equals the finite-difference one.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from ase.units import GPa

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.phonons.elastic import _strain_tensor, _strained, elastic_check
from ase_symbreak.testing.toy_models import PlantedTiltModel


def test_fcc_copper_is_stable_with_cubic_symmetry():
    check = elastic_check(bulk("Cu", "fcc", a=3.59), EMT())
    c = check.relaxed_gpa
    assert check.stable and check.eigenvalues_gpa.min() > 10
    c11, c12, c44 = c[0, 0], c[0, 1], c[3, 3]
    np.testing.assert_allclose(np.diag(c)[:3], c11, rtol=1e-6)
    np.testing.assert_allclose(np.diag(c)[3:], c44, rtol=1e-6)
    np.testing.assert_allclose([c[0, 2], c[1, 2]], c12, rtol=1e-6)
    assert np.abs(c[:3, 3:]).max() < 1e-6 and c11 > c12 > 0
    # one atom per cell: nothing relaxes inside, relaxed = clamped
    np.testing.assert_allclose(check.relaxed_gpa, check.clamped_gpa, atol=1e-9)
    # the same crystal in its 4-atom cubic cell has the same tensor
    cubic = elastic_check(bulk("Cu", "fcc", a=3.59, cubic=True), EMT())
    np.testing.assert_allclose(cubic.relaxed_gpa, c, atol=1e-6)


def test_bcc_copper_is_the_saddle_of_the_bain_path():
    check = elastic_check(bulk("Cu", "bcc", a=2.87), EMT())
    assert not check.stable and check.eigenvalues_gpa.min() < -1
    e = check.softest_strain
    assert np.abs(e[3:]).max() < 1e-6  # no shear: a tetragonal / orthorhombic strain
    assert abs(e[:3].sum()) < 1e-6  # at constant volume: C' = (C11 - C12) / 2 < 0
    c = check.relaxed_gpa
    assert c[0, 0] - c[0, 1] < 0
    assert check.summary()["stable"] is False


def test_relaxed_ion_tensor_equals_relaxing_the_ions_under_strain():
    atoms = bulk("Cu", "hcp", a=2.55, c=4.16)
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5)
    check = elastic_check(atoms, EMT())
    reference = np.zeros((6, 6))
    step = 2e-3
    for j in range(6):
        stresses = []
        for sign in (1, -1):
            strained = _strained(atoms, _strain_tensor(j, sign * step))
            strained.calc = EMT()
            BFGS(strained, logfile=None).run(fmax=1e-6)
            stresses.append(strained.get_stress(voigt=True))
        reference[:, j] = (stresses[0] - stresses[1]) / (2 * step) / GPa
    reference = 0.5 * (reference + reference.T)
    np.testing.assert_allclose(check.relaxed_gpa, reference, atol=0.05)
    # the internal relaxation matters here (C66 and C11 - C12 of hcp)
    assert np.abs(check.clamped_gpa - check.relaxed_gpa).max() > 5
    assert check.hessian == "finite displacements" and check.stable


def test_exact_hessian_path_equals_finite_differences():
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    atoms = toy.cubic()
    exact = elastic_check(atoms, calc)

    class ForcesOnly:  # the same calculator without get_hessian
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            if name in ("get_hessian", "get_force_constants"):
                raise AttributeError(name)
            return getattr(self.inner, name)

    fd = elastic_check(atoms, ForcesOnly(calc))
    assert exact.hessian == "exact hessian" and fd.hessian == "finite displacements"
    np.testing.assert_allclose(exact.relaxed_gpa, fd.relaxed_gpa, atol=0.05)


def test_needs_a_periodic_cell():
    from ase import Atoms

    with pytest.raises(ValueError, match="3-D periodic"):
        elastic_check(Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.5]]), EMT())
