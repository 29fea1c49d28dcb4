"""A second opinion (issue 33): the top structures of a finished search relaxed again with a
second calculator, their gains, space groups and stability compared.

The toy pair: the planted polar rocksalt (:class:`PlantedPolarRocksaltModel`, cubic
anisotropy +0.05: the body diagonal, R3m, lowest) and the same surface with the anisotropy
flipped to -0.02 (the cube axis, I4mm in the rocksalt's cell, lowest). The search with the
first ranks R3m > Imm2 > I4mm, R3m the only stable node; the second ranks them the other way
round and finds I4mm stable, R3m unstable. About a second each.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.cli import app
from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel
from ase_symbreak.workflows.driver import distortion_search
from ase_symbreak.workflows.folder import load_search
from ase_symbreak.workflows.settings import SearchSettings
from ase_symbreak.workflows.verify import VERIFY_FILE, Verification, verify_search

TOY = "ase_symbreak.testing.toy_models:PlantedPolarRocksaltModel"


def flipped() -> SymBreakCalculator:
    """The second opinion of the toy pair: the cube axis lowest (a factory for --model)."""
    return SymBreakCalculator(model=PlantedPolarRocksaltModel(anisotropy=-0.02), dtype="float64")


def same() -> SymBreakCalculator:
    return SymBreakCalculator(model=PlantedPolarRocksaltModel(), dtype="float64")


def _settings(**kw) -> SearchSettings:
    base = dict(
        supercell=(1, 1, 1),
        couple=False,
        plot=False,
        amplitudes=(0.05, 0.1, 0.15, 0.2),
        child_supercell=(1, 1, 1),
        random_trials=0,
        max_depth=1,
    )
    return SearchSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("rocksalt")
    distortion_search(PlantedPolarRocksaltModel().rocksalt(), same(), _settings(), out_dir=out)
    return out


def test_a_disagreeing_model_is_reported(searched):
    check = verify_search(searched, flipped(), top=3)
    names = [(s.name, s.space_group_a) for s in check.structures]
    assert names == [("#1", "R3m (160)"), ("#2", "Imm2 (44)"), ("#3", "I4mm (107)")]
    assert [s.rank_a for s in check.structures] == [1, 2, 3]
    assert [s.rank_b for s in check.structures] == [3, 2, 1]
    assert all(s.same_space_group for s in check.structures)
    assert [s.stable_a for s in check.structures] == [True, False, False]
    assert [s.stable_b for s in check.structures] == [False, False, True]
    assert all(s.gain_b_mev_per_fu > 0 for s in check.structures)
    assert not check.agrees and not check.ranking_agrees
    text = "\n".join(check.disagreements)
    assert "ranking: #1 R3m (160) lies lower than #3 I4mm (107)" in text
    assert "stability: #1 R3m (160) is stable with the search's calculator, unstable" in text
    assert "stability: #3 I4mm (107) is unstable with the search's calculator, stable" in text
    assert check.force_constants_b == "exact hessian"
    # verify.json: the summary and the whole record, which reads back
    data = json.loads((searched / VERIFY_FILE).read_text())
    assert data["agrees"] is False and data["disagreements"] == list(check.disagreements)
    again = Verification.from_dict(data["record"])
    assert again == check and again.structures[0].atoms_b is not None
    assert load_search(searched).out_dir == str(searched)  # the search is untouched


def test_the_same_model_agrees(searched, tmp_path):
    check = verify_search(load_search(searched), same(), top=2, write=False)
    assert check.agrees and check.disagreements == ()
    assert [s.rank_b for s in check.structures] == [1, 2]
    for s in check.structures:
        assert abs(s.gain_a_mev_per_fu - s.gain_b_mev_per_fu) < 0.05
    with pytest.raises(ValueError, match="top must be a positive integer"):
        verify_search(searched, same(), top=0)
    with pytest.raises(FileNotFoundError, match="no search"):
        verify_search(tmp_path, same())


def test_cli_verify_on_a_finished_folder(searched):
    args = ["verify", str(searched), "--model", f"{__name__}:flipped", "--allow-code-models"]
    res = CliRunner().invoke(app, args, terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "the two calculators disagree (5 point(s))" in text, text
    assert "1/3 (!)" in text and "yes/no (!)" in text
    assert f"written: {searched / VERIFY_FILE}" in text
    res = CliRunner().invoke(app, [*args, "--json", "--top", "1"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data["structures"]) == 1 and data["structures"][0]["stable_b"] is False


def test_cli_verify_refuses_bad_input_before_loading_a_model(tmp_path):
    res = CliRunner().invoke(app, ["verify", str(tmp_path), "--model", "x"])
    assert res.exit_code == 2 and "no search in" in res.output
    res = CliRunner().invoke(app, ["verify", str(tmp_path / "nope"), "--model", "x"])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_search_verify_with(tmp_path):
    """``search --verify-with MODEL`` runs the check after the search; a model that cannot be
    loaded is refused before the search starts.
    """
    from ase.io import write

    write(tmp_path / "rocksalt.cif", PlantedPolarRocksaltModel().rocksalt())
    base = ["search", str(tmp_path / "rocksalt.cif"), "--model", TOY, "--allow-code-models"]
    base += ["--supercell", "1", "1", "1", "--no-couple", "--max-depth", "0"]
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [*base, "--out", str(out), "--verify-with", "no_such_model"])
    assert res.exit_code == 2 and "cannot load model no_such_model" in res.output
    assert not out.exists()
    res = CliRunner().invoke(
        app, [*base, "--out", str(out), "--verify-with", f"{__name__}:flipped"], terminal_width=200
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "second opinion" in text and "the two calculators disagree" in text
    assert "ranking: child 1 R3m (160) lies lower than child 3 I4mm (107)" in text, text
    data = json.loads((out / VERIFY_FILE).read_text())
    assert [s["name"] for s in data["structures"]] == ["child 1", "child 2", "child 3"]
    assert data["structures"][0]["stable_a"] is None  # a one-level search checks no child


class _FailsOffTheDiagonal(SymBreakCalculator):
    """Refuses cells whose three lengths differ: Imm2 and I4mm fail, the parent and R3m not."""

    def check_structure(self, atoms) -> None:
        super().check_structure(atoms)
        lengths = atoms.cell.lengths()
        if lengths.max() - lengths.min() > 1e-4:
            raise ValueError("not for this cell")


def test_a_structure_the_second_calculator_fails_on_is_reported(searched):
    calc = _FailsOffTheDiagonal(model=PlantedPolarRocksaltModel(), dtype="float64")
    check = verify_search(searched, calc, top=3, write=False)
    failed = {s.name: s.failed for s in check.structures}
    assert failed["#1"] == "" and "relaxation failed: not for this cell" in failed["#2"]
    assert check.structures[0].rank_b == 1 and check.structures[1].rank_b is None
    assert any(line.startswith("failed: #3 I4mm (107)") for line in check.disagreements)
    assert Verification.from_dict(json.loads(json.dumps(check.to_dict()))) == check
