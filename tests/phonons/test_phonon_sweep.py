"""Labelled phonons on every space group: frequencies equal phonopy's, characters match the tables.

Force constants come from :func:`ase_symbreak.testing.pair_force_constants` (exact, full
space-group symmetry, no torch) on the small crystals of :mod:`ase_symbreak.testing.crystals`. The
default run covers the 32 point groups and a symmorphic and non-symmorphic spread of every
lattice system at 2x2x2 plus a 3x3x3 case; ``-m slow`` sweeps all space groups.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from phonopy import Phonopy

from ase_symbreak.phonons import (
    PhononModes,
    from_phonopy_atoms,
    labelled_modes,
    star_and_inverse,
    to_phonopy_atoms,
)
from ase_symbreak.symmetry import displacement_modes
from ase_symbreak.symmetry.irreps import prepare_parent
from ase_symbreak.testing import pair_force_constants
from ase_symbreak.testing.crystals import POINT_GROUP_REPRESENTATIVES, crystal

# complex irreps (C4, S4, C3, C6, C3h, T, Th ...), centred cells, screw axes, glides
EXTRA_GROUPS = [
    4,
    7,
    9,
    14,
    19,
    33,
    38,
    43,
    62,
    70,
    74,
    80,
    82,
    84,
    86,
    88,
    92,
    122,
    136,
    141,
    142,
    144,
    146,
    148,
    152,
    157,
    159,
    161,
    167,
    169,
    173,
    176,
    182,
    186,
    194,
    198,
    199,
    205,
    206,
    212,
    220,
    225,
    227,
    229,
]
DEFAULT_GROUPS = sorted(set(POINT_GROUP_REPRESENTATIVES.values()) | set(EXTRA_GROUPS))
SLOW_GROUPS = [n for n in range(1, 231) if n not in DEFAULT_GROUPS]
THZ_TOL = 1e-6


def _phonopy(atoms, supercell) -> Phonopy:
    ph = Phonopy(to_phonopy_atoms(atoms), supercell_matrix=np.diag(supercell), primitive_matrix="P")
    ph.force_constants = pair_force_constants(from_phonopy_atoms(ph.supercell))
    return ph


def _phonopy_frequencies(ph: Phonopy, star) -> np.ndarray:
    return np.sort(
        np.concatenate(
            [np.asarray(ph.run_qpoints([np.asarray(k, float)]).frequencies[0]) for k in star]
        )
    )


def _table_characters(frame, k, label: str, rotations, translations) -> np.ndarray:
    """Sum of the table characters of the irreps named in ``label`` ('GM3GM4' -> GM3 + GM4)."""
    name = frame.kpoint_name(k)
    _, isym = frame.table.kpoints[name]
    pos = {int(j): n for n, j in enumerate(isym)}
    ks = frame.k_to_std(k)
    chars = {lab: ch for lab, _dim, ch in frame.table.irreps[name]}
    total = np.zeros(len(rotations), dtype=complex)
    for part in re.findall(rf"{name}[0-9]+[+-]?", label):
        for n, (r, t) in enumerate(zip(rotations, translations)):
            j, delta = frame.locate(r, t)
            total[n] += chars[part][pos[j]] * np.exp(-2j * np.pi * ks @ delta)
    return total


def _check_characters(atoms, rep) -> int:
    """Characters of every labelled block on its table arm equal the tabulated ones."""
    _, _, ctx = prepare_parent(atoms, rep.origin_index, 1e-3)
    ops = rep.operations
    pure = np.flatnonzero(np.all(ops.rotations == np.eye(3, dtype=int), axis=(1, 2)))
    p_inv = np.linalg.inv(rep.supercell_matrix)
    checked = 0
    for im in rep.irreps:
        irr = im.irrep
        if not irr.standard_label:
            continue
        k = irr.k
        proj = np.einsum(
            "g,gij->ij", np.exp(2j * np.pi * ops.translations[pure] @ k), im.matrices[pure]
        ) / len(pure)
        ours = []
        for r, t in zip(irr.little_rotations, irr.little_translations):
            same = np.all(ops.rotations == r, axis=(1, 2))
            d = (ops.translations - t) @ p_inv
            g = int(np.flatnonzero(same & np.all(np.abs(d - np.round(d)) < 1e-6, axis=1))[0])
            ours.append(np.trace(proj @ im.matrices[g]))
        ref = _table_characters(
            ctx.frame, k, irr.label, irr.little_rotations, irr.little_translations
        )
        np.testing.assert_allclose(np.array(ours), ref, atol=1e-6, err_msg=irr.label)
        checked += 1
    return checked


def _check_against_phonopy(atoms, supercell) -> PhononModes:
    ph = _phonopy(atoms, supercell)
    rep = displacement_modes(atoms, supercell)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # symmetric force constants: no symmetry-breaking warning
        modes = labelled_modes(atoms, ph, supercell, representation=rep, degeneracy_tol=1e-9)
    n_sc = len(atoms) * int(np.prod(supercell))
    assert modes.n_modes == 3 * n_sc
    assert sum(im.multiplicity * im.dim for im in rep.irreps) == 3 * n_sc
    assert modes.symmetry_residual < 1e-10
    by_q: dict[tuple, list] = {}
    for m in modes.modes:
        by_q.setdefault(tuple(np.round(m.q, 8)), []).append(m)
    for sets in by_q.values():
        ours = np.sort(np.concatenate([np.full(m.degeneracy, m.frequency_thz) for m in sets]))
        arms = star_and_inverse(sets[0].star)  # a real mode at k is also one at -k
        theirs = _phonopy_frequencies(ph, arms)
        assert len(ours) == len(theirs) == 3 * len(atoms) * len(arms), sets[0].q_label
        np.testing.assert_allclose(
            ours, theirs, atol=THZ_TOL, err_msg=f"{sets[0].q_label} {[m.irrep for m in sets]}"
        )
    # acoustic sum rule: the rigid translations are zero modes at Gamma (a pair potential with a
    # short cutoff may leave extra floppy modes in molecular crystals)
    zero = [m for m in modes.modes if m.is_gamma and abs(m.frequency_thz) < 1e-5]
    span = np.concatenate([m.displacements.reshape(m.degeneracy, -1) for m in zero])
    q, _ = np.linalg.qr(span.T)
    translations = np.kron(np.ones((n_sc, 1)), np.eye(3)).T / np.sqrt(n_sc)
    np.testing.assert_allclose(np.linalg.norm(translations @ q, axis=1), 1.0, atol=1e-6)
    for m in modes.modes:  # eigenvectors are phonopy's
        for col, q in zip(m.eigenvectors.T, m.eigenvector_q):
            dm = np.asarray(ph.run_qpoints([q], with_dynamical_matrices=True).dynamical_matrices[0])
            w2 = np.sign(m.frequency_thz) * (m.frequency_thz / ph.unit_conversion_factor) ** 2
            np.testing.assert_allclose(dm @ col, w2 * col, atol=1e-6 * max(1.0, np.abs(dm).max()))
    assert _check_characters(atoms, rep) > 0
    return modes


def _crystal_or_fail(number: int):
    atoms = crystal(number)
    if atoms is None:
        pytest.skip(f"no small pyxtal crystal of space group {number}")
    return atoms


@pytest.mark.parametrize("number", DEFAULT_GROUPS)
def test_labelled_modes_equal_phonopy_222(number):
    _check_against_phonopy(_crystal_or_fail(number), (2, 2, 2))


@pytest.mark.slow
@pytest.mark.parametrize("number", SLOW_GROUPS)
def test_labelled_modes_equal_phonopy_222_all_groups(number):
    _check_against_phonopy(_crystal_or_fail(number), (2, 2, 2))


@pytest.mark.parametrize("number", [81, 168])
def test_labelled_modes_equal_phonopy_333(number):
    """P-4 and P6 (complex E irreps at Gamma and along the axis) at every q of a 3x3x3 supercell."""
    modes = _check_against_phonopy(_crystal_or_fail(number), (3, 3, 3))
    assert any(m.reality == "complex" and len(m.paired_irreps) == 2 for m in modes.modes)


def test_every_point_group_has_a_crystal():
    """The sweep really covers the 32 point groups (no silent skips there)."""
    import spglib

    for pg, number in POINT_GROUP_REPRESENTATIVES.items():
        atoms = crystal(number)
        assert atoms is not None, number
        ds = spglib.get_symmetry_dataset(
            (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=1e-5
        )
        assert ds.number == number and ds.pointgroup == pg


def test_complex_pair_at_gamma_of_p4bar_is_labelled_and_paired():
    """P-4: the E modes at Gamma are the physically irreducible pair GM3GM4 (2E + 3E)."""
    atoms = _crystal_or_fail(81)
    modes = labelled_modes(atoms, _phonopy(atoms, (1, 1, 1)), (1, 1, 1))
    pairs = [m for m in modes.modes if m.reality == "complex"]
    assert pairs and all(m.degeneracy == 2 and m.paired_irreps == ("GM3", "GM4") for m in pairs)
    assert all(m.reality == "real" and m.paired_irreps == () for m in modes.modes if m not in pairs)


def test_labelled_modes_of_a_nearly_symmetric_cell():
    """A cubic perovskite written with 1e-5 noise: same labels as the ideal cell, frequencies
    close."""
    from ase_symbreak.structures import cubic_perovskite
    from ase_symbreak.symmetry.idealize import SymmetryToleranceWarning
    from ase_symbreak.testing.crystals import perturbed

    ideal = cubic_perovskite(3.9)
    noisy = perturbed(ideal, 1e-5, 1e-4, seed=2)
    ref = labelled_modes(ideal, _phonopy(ideal, (2, 2, 2)), (2, 2, 2))
    with pytest.warns(SymmetryToleranceWarning, match="Pm-3m"):
        got = labelled_modes(noisy, _phonopy(noisy, (2, 2, 2)), (2, 2, 2))
    key = lambda m: (m.q_label, m.irrep, round(m.frequency_thz, 2))  # noqa: E731
    assert [(m.q_label, m.irrep, m.degeneracy) for m in sorted(got.modes, key=key)] == [
        (m.q_label, m.irrep, m.degeneracy) for m in sorted(ref.modes, key=key)
    ]
    np.testing.assert_allclose(
        sorted(m.frequency_thz for m in got.modes),
        sorted(m.frequency_thz for m in ref.modes),
        atol=5e-3,
    )
    assert got.symmetry_residual < 1e-3  # the noisy force constants are symmetric to O(noise)
