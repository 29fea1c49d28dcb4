"""The three pretrained SevenNet models of the sevenn wheel, by name, against sevenn's own
ASE calculator; the modality of SevenNet-MF-0 is honoured."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.models.registry import load
from ase_symbreak.structures import cubic_perovskite


def _rattled():
    atoms = cubic_perovskite(3.9)
    atoms.rattle(0.02, seed=1)
    return atoms


def _sevenn_reference(name: str, modal: str | None):
    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SevenNetCalculator(name, device="cpu", **({"modal": modal} if modal else {}))


@pytest.mark.parametrize(
    "name, sevenn_name, modal",
    [
        ("SevenNet-l3i5", "7net-l3i5", None),
        ("7net-mf-0", "7net-mf-0", "R2SCAN"),
        ("7net-mf-0-pbe", "7net-mf-0", "PBE"),
    ],
)
def test_pretrained_by_name_equals_sevenn(name, sevenn_name, modal):
    atoms = _rattled()
    ours = atoms.copy()
    ours.calc = SymBreakCalculator(model=name)
    ref = atoms.copy()
    ref.calc = _sevenn_reference(sevenn_name, modal)
    assert ours.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-4)
    np.testing.assert_allclose(ours.get_forces(), ref.get_forces(), atol=1e-4)
    assert ours.calc.model.modality == modal


def test_modalities_differ_and_survive_float64():
    r2scan, pbe = load("7net-mf-0-r2scan"), load("7net-mf-0-pbe")
    assert r2scan.modalities == ("R2SCAN", "PBE")
    atoms = _rattled()
    energies = []
    for model in (r2scan, pbe):
        a = atoms.copy()
        a.calc = SymBreakCalculator(model=model)
        energies.append(a.get_potential_energy())
    assert abs(energies[0] - energies[1]) > 1.0  # eV: different fidelities, not a relabel
    double = r2scan.with_dtype(torch.float64)
    assert double.modality == "R2SCAN" and double.dtype == torch.float64
    a = atoms.copy()
    a.calc = SymBreakCalculator(model=double)
    assert a.get_potential_energy() == pytest.approx(energies[0], abs=1e-3)
    hessian = a.calc.get_hessian(a)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-8)
    np.testing.assert_allclose(hessian.reshape(5, 3, 5, 3).sum(axis=2), 0.0, atol=1e-6)


def test_unknown_modality_is_named():
    from ase_symbreak.models.sevennet import SevenNetModel

    with pytest.raises(ValueError, match="unknown modality 'HSE'.*R2SCAN"):
        SevenNetModel("7net-mf-0", modality="HSE")


@pytest.mark.parametrize(
    "name",
    [
        "SevenNet-0",
        pytest.param("SevenNet-l3i5", marks=pytest.mark.slow),
        pytest.param("7net-mf-0", marks=pytest.mark.slow),
        pytest.param("7net-mf-0-pbe", marks=pytest.mark.slow),
    ],
)
def test_named_model_forces_and_hessian_are_derivatives(name):
    """float64: forces are -dE/dx and exact Hessian rows are -dF/dx, by central differences."""
    atoms = _rattled()
    atoms.calc = SymBreakCalculator(model=name, dtype="float64")
    forces = atoms.get_forces()
    hessian = atoms.calc.get_hessian(atoms)
    h = 1e-4
    for atom, axis in [(0, 0), (1, 2), (3, 1)]:
        row = 3 * atom + axis
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        plus.calc = minus.calc = atoms.calc
        e_p, f_p = plus.get_potential_energy(), plus.get_forces()
        e_m, f_m = minus.get_potential_energy(), minus.get_forces()
        assert -(e_p - e_m) / (2 * h) == pytest.approx(forces[atom, axis], abs=1e-5)
        np.testing.assert_allclose(hessian[row], -(f_p - f_m).ravel() / (2 * h), atol=1e-4)
