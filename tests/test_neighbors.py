"""The package's neighbour pairs (vesin) are ASE's pairs, in a canonical order."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import primitive_neighbor_list

from ase_symbreak.neighbors import pairs_within


def _cases():
    rng = np.random.default_rng(3)
    skewed = bulk("NaCl", "rocksalt", a=5.6) * (2, 1, 1)
    skewed.set_cell(skewed.cell[:] @ (np.eye(3) + 0.08 * rng.normal(size=(3, 3))), scale_atoms=True)
    skewed.positions += rng.normal(scale=1.5, size=skewed.positions.shape)  # outside the cell
    thin = Atoms(
        "Si2",
        scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]],
        cell=[[3.0, 0, 0], [2.9, 0.8, 0], [0.3, 0.2, 4.0]],
        pbc=True,
    )
    slab = Atoms(
        "H2", positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[1.2, 1.3, 10.0], pbc=[True, True, False]
    )
    return [(skewed, 5.0), (thin, 5.0), (slab, 3.0)]


@pytest.mark.parametrize("atoms, cutoff", _cases())
def test_pairs_are_ases_pairs(atoms, cutoff):
    i, j, shifts, d = pairs_within(atoms.positions, atoms.cell[:], atoms.pbc, cutoff, True)
    ai, aj, ashifts, ad = primitive_neighbor_list(
        "ijSd", atoms.pbc, atoms.cell[:], atoms.positions, cutoff, self_interaction=False
    )
    ours = {(a, b, tuple(s)): x for a, b, s, x in zip(i, j, shifts.tolist(), d)}
    ases = {(a, b, tuple(s)): x for a, b, s, x in zip(ai, aj, ashifts.tolist(), ad)}
    assert len(ours) == len(i) and ours.keys() == ases.keys() and len(i) > 0
    assert np.allclose([ours[k] for k in ases], [ases[k] for k in ases], atol=1e-10)
    vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell[:]
    assert np.allclose(np.linalg.norm(vectors, axis=1), d, atol=1e-10)
    key = np.column_stack([i, j, shifts])
    assert (np.lexsort(key.T[::-1]) == np.arange(len(i))).all()  # sorted by i, j, shift
