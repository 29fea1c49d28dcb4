"""Nearly symmetric inputs: idealisation to the group found at symprec, same results as the
ideal cell.

Cells as files and relaxations give them (lengths and angles off by 1e-4 to 1e-6, positions
rattled below symprec) must give the same labels, isotropy subgroups and decompositions
as the ideal structure.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import spglib
from ase import Atoms

from ase_symbreak.symmetry import decompose, displacement_modes, isotropy_subgroups
from ase_symbreak.symmetry.idealize import SymmetryToleranceWarning, idealize
from ase_symbreak.testing.crystals import crystal, perturbed
from tests.phonons.test_phonon_sweep import DEFAULT_GROUPS

# (relative cell perturbation, rattle in A, symprec in A): spglib finds the ideal group at symprec
PERTURBATIONS = [(1e-4, 2e-4, 5e-3), (1e-5, 2e-4, 1e-3), (1e-6, 1e-4, 1e-3)]


def _number(atoms: Atoms, symprec: float) -> int:
    return spglib.get_symmetry_dataset(
        (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec
    ).number


def _parents(request) -> dict[str, Atoms]:
    return {
        "cubic": request.getfixturevalue("srtio3_ti_origin_pm3m"),
        "tetragonal": request.getfixturevalue("rutile_tio2_p42mnm"),
        "hexagonal": request.getfixturevalue("nias_p63mmc"),
        "trigonal": crystal(166),
    }


@pytest.mark.parametrize("number", DEFAULT_GROUPS)
def test_idealised_structure_is_exactly_symmetric(number):
    """For every crystal of the sweep: perturbed, then idealised -> spglib finds the group at
    1e-8 A."""
    atoms = crystal(number)
    if atoms is None:
        pytest.skip(f"no crystal of space group {number}")
    noisy = perturbed(atoms, 1e-6, 2e-5, seed=number)
    ideal = idealize(noisy, symprec=1e-3)
    assert ideal.number == number
    assert _number(ideal.atoms, 1e-8) == number
    assert ideal.max_displacement < 1e-4 and ideal.max_strain < 1e-5
    np.testing.assert_array_equal(ideal.atoms.numbers, atoms.numbers)


def test_message_names_both_groups(srtio3_ti_origin_pm3m):
    cell = srtio3_ti_origin_pm3m.copy()
    a = cell.cell.lengths()[0]
    # angles written as 1.57080 rad (90.0002 degrees), b = a + 1e-6
    gamma = np.degrees(1.57080)
    cell.set_cell([a, a + 1e-6, a, 90, 90, gamma], scale_atoms=True)
    ideal = idealize(cell, symprec=1e-3)
    assert ideal.raised_symmetry and ideal.number == 221 and ideal.exact_number != 221
    assert "Pm-3m (221)" in ideal.message() and ideal.exact_symbol in ideal.message()
    with pytest.warns(SymmetryToleranceWarning, match="Pm-3m"):
        rep = displacement_modes(cell, (1, 1, 1))
    assert rep.idealization.number == 221
    assert _number(rep.parent, 1e-8) == 221


@pytest.mark.parametrize("strain, rattle, symprec", PERTURBATIONS)
def test_perturbed_parents_give_the_same_labels_and_subgroups(request, strain, rattle, symprec):
    for name, parent in _parents(request).items():
        noisy = perturbed(parent, strain, rattle, seed=3)
        assert _number(noisy, 1e-5) != _number(parent, 1e-5), name  # really perturbed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymmetryToleranceWarning)
            ideal_rep = displacement_modes(parent, (2, 2, 2))
            noisy_rep = displacement_modes(noisy, (2, 2, 2), symprec=symprec)
            assert noisy_rep.labels == ideal_rep.labels, name
            gamma = displacement_modes(parent, (1, 1, 1))
            # multi-dimensional irreps with optical modes (not only the rigid translation)
            multi = [
                m.label for m in gamma.irreps if m.dim > 1 and np.ptp(m.basis, axis=2).max() > 1e-8
            ]
            for label in multi[:3]:
                want = [
                    (h.direction, h.space_group_number) for h in isotropy_subgroups(parent, label)
                ]
                have = [
                    (h.direction, h.space_group_number)
                    for h in isotropy_subgroups(noisy, label, symprec=symprec)
                ]
                assert have == want, (name, label)


@pytest.mark.parametrize("strain, rattle, symprec", PERTURBATIONS)
def test_perturbed_cubic_parent_gives_the_same_decomposition(
    srtio3_ti_origin_pm3m, strain, rattle, symprec
):
    parent = srtio3_ti_origin_pm3m
    child = isotropy_subgroups(parent, ["R4+", "M3+"])[3].structure
    child.rattle(0.01, seed=1)
    ref = decompose(parent, child)
    with pytest.warns(SymmetryToleranceWarning):
        noisy = decompose(perturbed(parent, strain, rattle, seed=5), child, symprec=symprec)
    assert [ir.irrep for ir in noisy.irreps] == [ir.irrep for ir in ref.irreps]
    np.testing.assert_allclose(
        [ir.amplitude for ir in noisy.irreps], [ir.amplitude for ir in ref.irreps], atol=1e-5
    )
    assert [ir.direction for ir in noisy.significant(1e-2)] == [
        ir.direction for ir in ref.significant(1e-2)
    ]
    assert noisy.parent_idealization.number == 221
