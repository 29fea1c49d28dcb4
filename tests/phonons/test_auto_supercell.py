"""Issue 31, part 3: the default phonon supercell follows the cell's size and shape.

The fewest cells, among superlattices invariant under the point group (non-diagonal ones
included), whose periodic images are at least 7 A apart; checked against superlattices
written by hand for lattices whose answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from ase_symbreak.phonons.supercell import (
    MIN_LENGTH,
    _hermite_forms,
    auto_supercell,
    image_distance,
)
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import analyze
from ase_symbreak.symmetry.lattice import check_supercell_invariant


def _cells(p) -> int:
    return round(abs(np.linalg.det(np.asarray(p, dtype=float))))


@pytest.mark.parametrize(
    ("name", "atoms", "cells"),
    [
        ("SrTiO3 (unchanged: 2x2x2)", cubic_perovskite(3.9), 8),
        (
            "bcc Zr: the 16-atom cube, not 2x2x2 (images 6.2 A) nor 3x3x3",
            bulk("Zr", "bcc", a=3.57),
            16,
        ),
        ("fcc Cu primitive: 3x3x3 (27) before the doubled cube (32)", bulk("Cu", "fcc", a=3.6), 27),
        ("fcc Cu cubic cell: 2x2x2", bulk("Cu", "fcc", a=3.6, cubic=True), 8),
        ("fluorite ZrO2 primitive: 2x2x2, 24 atoms", bulk("ZrO2", "fluorite", a=5.1), 8),
    ],
)
def test_the_fewest_symmetric_cells_that_are_long_enough(name, atoms, cells):
    p = np.asarray(auto_supercell(atoms))
    info = analyze(atoms)
    check_supercell_invariant(p, info.rotations, info.pointgroup)  # raises if not
    assert _cells(p) == cells, name
    assert image_distance(p @ atoms.cell[:]) >= MIN_LENGTH
    # no invariant superlattice with fewer cells is long enough (brute force over all)
    for n in range(1, cells):
        for q in _hermite_forms(n):
            try:
                check_supercell_invariant(q, info.rotations)
            except ValueError:
                continue
            assert image_distance(q @ atoms.cell[:]) < MIN_LENGTH, (name, q.tolist())


def test_hermite_forms_count_every_superlattice_once():
    """The number of sublattices of index n of Z^3 is sigma_1(n) sigma_2(n)-like: 7 for n=2,
    13 for n=3, 35 for n=4 (OEIS A001001)."""
    assert [len(list(_hermite_forms(n))) for n in (1, 2, 3, 4, 5, 6)] == [1, 7, 13, 35, 31, 91]


def test_hexagonal_cell_gets_a_symmetric_supercell():
    atoms = bulk("Mg", "hcp", a=3.2, c=5.2)
    p = np.asarray(auto_supercell(atoms))
    info = analyze(atoms)
    check_supercell_invariant(p, info.rotations, info.pointgroup)
    assert image_distance(p @ atoms.cell[:]) >= MIN_LENGTH


def test_a_short_limit_or_small_atom_cap_still_gives_an_answer():
    atoms = bulk("Cu", "fcc", a=3.6)
    assert auto_supercell(atoms, min_length=1.0) == ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    capped = np.asarray(auto_supercell(atoms, max_atoms=4))  # none long enough: the longest
    assert _cells(capped) <= 4 and image_distance(capped @ atoms.cell[:]) < MIN_LENGTH


def test_search_settings_resolve_auto_for_the_structure():
    from ase_symbreak.workflows import SearchSettings

    s = SearchSettings()
    assert s.supercell == "auto"
    resolved = s.for_structure(bulk("Zr", "bcc", a=3.57))
    assert _cells(resolved.supercell) == 16
    given = SearchSettings(supercell=(1, 1, 1))
    assert given.for_structure(bulk("Zr", "bcc", a=3.57)) is given
    with pytest.raises(ValueError, match="'auto'"):
        SearchSettings(supercell="big")


def test_the_search_states_the_supercell_it_chose(tmp_path):
    import json

    from ase.calculators.emt import EMT

    from ase_symbreak.workflows import SearchSettings, distortion_search

    result = distortion_search(
        bulk("Cu", "fcc", a=3.6), EMT(), SearchSettings(plot=False), out_dir=tmp_path
    )
    assert result.settings.supercell == ((3, 0, 0), (0, 3, 0), (0, 0, 3))
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["settings"]["supercell"] == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]
    assert result.nodes[0].dynamically_stable is True  # fcc Cu is stable with EMT
