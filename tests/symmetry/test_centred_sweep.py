"""Issue 30: isotropy subgroups on centred lattices, at every special k of the tables.

One parent per centring type and crystal system (C, A, I, F, R): for every k point of its
irreps table and every irrep there that the parent's displacements carry, the isotropy
subgroups are computed in the default supercell without error, and each passes the two
independent checks of the 2x2x2 sweep: ``stabiliser x index = |G_s|`` (irrep matrices
against spglib's groups of the realising structures) and every operation of a realising
structure is an operation of the parent supercell.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import spglib

from ase_symbreak.symmetry import isotropy_subgroups
from ase_symbreak.symmetry.irreps import prepare_parent
from ase_symbreak.symmetry.isotropy import (
    _default_supercell,
    _parse_label_k,
    commensurate_superlattice,
)
from ase_symbreak.symmetry.labels import load_table
from ase_symbreak.testing.crystals import crystal

from .test_isotropy_sweep import _parent_ops_cover

#: centring -> groups: monoclinic/orthorhombic C and A, I and F in every system that has
#: them, R (rhombohedral)
CENTRED = {
    "C": [5, 12, 63, 65],
    "A": [38, 40],
    "I": [44, 71, 74, 79, 87, 121, 139, 141, 197, 217, 229],
    "F": [22, 42, 43, 69, 70, 196, 202, 203, 209, 216, 225, 227],
    "R": [146, 148, 155, 160, 166, 167],
}
#: cubic and tetragonal I groups take 10-120 s each (many irreps, large stars): slow run
SLOW = {79, 87, 121, 139, 141, 196, 197, 202, 203, 209, 216, 217, 225, 227, 229}
GROUPS = [
    pytest.param(c, n, id=f"{c}{n}", marks=[pytest.mark.slow] if n in SLOW else [])
    for c, numbers in CENTRED.items()
    for n in numbers
]


def _labels_by_k(number: int) -> dict[str, list[str]]:
    table = load_table(number)
    assert table is not None, number
    return {name: [label for label, _, _ in irreps] for name, irreps in table.irreps.items()}


def _supercell_parent(atoms, p):
    from ase.build import make_supercell

    return make_supercell(atoms, np.asarray(p))


@pytest.mark.parametrize(("centring", "number"), GROUPS)
def test_isotropy_subgroups_at_every_special_k(centring, number):
    atoms = crystal(number, max_atoms=8)
    if atoms is None:
        pytest.skip(f"no crystal of space group {number} with <= 16 atoms")
    _, _, ctx = prepare_parent(atoms, None, 1e-3)
    n_pg = len(ctx.rotations)
    checked, skipped = 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k_name, labels in _labels_by_k(number).items():
            for label in labels:
                try:
                    subs = isotropy_subgroups(atoms, label)
                except ValueError as err:  # not carried by these atoms, or only a translation
                    text = str(err)
                    assert (
                        "no displacement modes" in text
                        or "only the rigid translation" in text
                        or "not a label" in text
                        or "no irrep" in text
                    ), (label, text)
                    skipped.append(label)
                    continue
                assert subs, label
                # the working supercell: its operations are the parent's point group times
                # its translations
                p = np.asarray(_default_supercell(ctx, [_parse_label_k(ctx, label)]))
                n_ops = n_pg * round(abs(np.linalg.det(p)))
                for h in subs:
                    assert h.stabilizer_order * h.index == n_ops, (label, h.direction)
                    assert h.index > 1 or label.startswith("GM1"), (label, h.direction)
                    parent_sc = _supercell_parent(ctx.atoms, p)
                    assert _parent_ops_cover(parent_sc, h.structure), (label, h.direction)
                    checked += 1
    assert checked > 0, f"nothing checked; skipped {skipped}"


def test_f_orthorhombic_t_point_needs_a_non_diagonal_superlattice():
    """The crash of issue 30: T of F222 in the primitive basis has denominators (1, 2, 2);
    that diagonal cell is not invariant, the smallest commensurate superlattice is."""
    atoms = crystal(22, max_atoms=8)
    subs = isotropy_subgroups(atoms, "T1")
    assert [h.space_group_symbol for h in subs] == ["C222"]
    _, _, ctx = prepare_parent(atoms, None, 1e-3)
    p = np.asarray(_default_supercell(ctx, [_parse_label_k(ctx, "T1")]))
    assert round(abs(np.linalg.det(p))) == 2
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    rotations = spglib.get_symmetry(cell, symprec=1e-5)["rotations"]
    for r in rotations:  # the superlattice is mapped onto itself
        m = np.linalg.inv(p).T @ r @ p.T
        np.testing.assert_allclose(m, np.round(m), atol=1e-9)


def test_commensurate_superlattice_is_the_kernel_of_the_star():
    arms = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])  # X of cubic P
    p = commensurate_superlattice(arms, np.eye(3))
    assert round(np.linalg.det(p)) == 8
    phases = p @ arms.T
    np.testing.assert_allclose(phases, np.round(phases), atol=1e-12)
    m = commensurate_superlattice(np.array([[1 / 3, 1 / 3, 0]]), np.eye(3))  # K-like
    assert round(np.linalg.det(m)) == 3
