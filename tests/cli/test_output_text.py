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


def test_phonons_names_the_origin_of_its_labels(tmp_path, monkeypatch):
    """``phonons`` states the origin its labels refer to and why, as ``irreps`` does."""
    from ase.io import write
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    write("cu.cif", bulk("Cu", "fcc", a=3.6))
    args = ["phonons", "cu.cif", "--supercell", "2", "2", "2", "--no-files"]
    model = ["--model", "ase.calculators.emt:EMT", "--allow-code-models"]
    result = CliRunner().invoke(app, args + model)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "labels at origin (0, 0, 0) = atom 0 (Cu)" in text
    assert "the atom asked for" not in text  # no --origin was given
    asked = CliRunner().invoke(app, args + model + ["--origin", "0"])
    assert "the atom asked for" in " ".join(asked.output.split())
