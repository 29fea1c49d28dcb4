"""What the commands print reads as crystallographers write it."""

from __future__ import annotations

import pytest
from ase.build import bulk

from ase_symbreak.cli.search import conventional_lattice_text


@pytest.mark.parametrize(
    "atoms, text",
    [
        (bulk("ZrO2", "fluorite", a=5.15), "a = 5.1500 A"),  # fcc: not the 3.64 A primitive
        (bulk("Cu", "fcc", a=3.6), "a = 3.6000 A"),
        (bulk("Fe", "bcc", a=2.87), "a = 2.8700 A"),
        (bulk("Mg", "hcp", a=3.2, c=5.2), "a = 3.2000 A, c = 5.2000 A"),
    ],
)
def test_lattice_of_the_conventional_cell(atoms, text):
    assert conventional_lattice_text(atoms, 1e-3) == text
