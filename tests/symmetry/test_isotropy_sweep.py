"""Isotropy subgroups on many parents: every irrep at every k of a 2x2x2 supercell.

Two independent routes must agree for each subgroup: the order of the stabiliser of the
order-parameter subspace (from the irrep matrices) and the index spglib implies for the
realising structure (point-group orders and primitive volumes): ``stabiliser x index =
|G_s|``. A subgroup equal to the parent group (index 1) from a non-trivial irrep would be
a bug; the spglib group of every realising structure is a subgroup of the parent's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import spglib

from ase_symbreak.symmetry import displacement_modes, isotropy_subgroups
from ase_symbreak.testing.crystals import crystal

# tetragonal, trigonal, hexagonal and cubic parents (multi-arm stars, complex irreps), two
# orthorhombic / monoclinic ones, centred cells among them
GROUPS = [
    14,
    62,
    75,
    81,
    83,
    99,
    123,
    136,
    139,
    143,
    147,
    148,
    156,
    162,
    167,
    168,
    174,
    183,
    191,
    194,
    195,
    200,
    215,
    221,
    225,
    229,
]


def _parent_ops_cover(parent_sc, child) -> bool:
    """Every operation of the child structure is an operation of the parent supercell."""
    cell = (parent_sc.cell[:], parent_sc.get_scaled_positions(), parent_sc.numbers)
    parent = spglib.get_symmetry(cell, symprec=1e-5)
    ops = {
        (r.tobytes(), tuple(np.round(t % 1.0, 5) % 1.0))
        for r, t in zip(parent["rotations"], parent["translations"])
    }
    ccell = (child.cell[:], child.get_scaled_positions(), child.numbers)
    sym = spglib.get_symmetry(ccell, symprec=1e-5)
    return all(
        (r.tobytes(), tuple(np.round(t % 1.0, 5) % 1.0)) in ops
        for r, t in zip(sym["rotations"], sym["translations"])
    )


@pytest.mark.parametrize("number", GROUPS)
def test_isotropy_subgroups_of_every_irrep(number):
    atoms = crystal(number, max_atoms=8)
    if atoms is None:
        pytest.skip(f"no crystal of space group {number} with <= 16 atoms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = displacement_modes(atoms, (2, 2, 2))
        n_ops = len(rep.operations)
        labels = [m.label for m in rep.irreps if m.dim > 1 or not m.irrep.label.startswith("GM1")]
        checked = 0
        for label in labels:
            try:
                subs = isotropy_subgroups(atoms, label, supercell_matrix=(2, 2, 2))
            except ValueError as err:  # an irrep whose only displacement is the rigid translation
                assert "only the rigid translation" in str(err)
                acoustic = rep[label].basis
                np.testing.assert_allclose(
                    acoustic, np.broadcast_to(acoustic[:, :, :1], acoustic.shape), atol=1e-8
                )
                continue
            assert subs, label
            directions = [h.direction for h in subs]
            assert len(set(directions)) == len(directions), (label, directions)
            for h in subs:
                assert h.index > 1, (label, h.direction, h.space_group_symbol)
                assert h.stabilizer_order * h.index == n_ops, (
                    label,
                    h.direction,
                    h.stabilizer_order,
                    h.index,
                )
                assert _parent_ops_cover(rep.supercell, h.structure), (label, h.direction)
                checked += 1
    assert checked >= len(labels) - 3
