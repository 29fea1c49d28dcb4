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
import shutil
from pathlib import Path

import pytest
from ase.calculators.calculator import Calculator, all_changes
from typer.testing import CliRunner

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.cli import app
from ase_symbreak.testing.toy_models import PlantedPolarRocksaltModel
from ase_symbreak.workflows.driver import distortion_search
from ase_symbreak.workflows.folder import (
    SUMMARY_FILE,
    load_search,
    verification_block,
    write_search_files,
)
from ase_symbreak.workflows.html_report import REPORT_NAME, write_report
from ase_symbreak.workflows.settings import SearchSettings
from ase_symbreak.workflows.verify import (
    VERIFY_FILE,
    Verification,
    agreement,
    read_verifications,
    verify_models,
    verify_search,
)

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
def pristine(tmp_path_factory):
    """The toy search's folder as the search left it (tests copy it: ``folder``)."""
    out = tmp_path_factory.mktemp("rocksalt")
    distortion_search(PlantedPolarRocksaltModel().rocksalt(), same(), _settings(), out_dir=out)
    return out


@pytest.fixture(scope="module")
def searched(pristine, tmp_path_factory):
    """A copy of the search the module's first tests share (they write verify.json)."""
    return Path(shutil.copytree(pristine, tmp_path_factory.mktemp("shared") / "search"))


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
    assert data["agrees"] is False and data["models"] == [check.label_b]
    entry = data["verifications"][0]
    assert entry["disagreements"] == list(check.disagreements)
    assert [s["disagrees_on"] for s in entry["structures"]] == [
        ["ranking", "stability"],
        ["ranking"],  # Imm2 swaps with both
        ["ranking", "stability"],
    ]
    again = Verification.from_dict(entry["record"])
    assert again == check and again.structures[0].atoms_b is not None
    assert read_verifications(searched) == (check,)
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
    twice = f"{__name__}:flipped,{__name__}:flipped"
    res = CliRunner().invoke(app, [*base, "--out", str(out), "--verify-with", twice])
    assert res.exit_code == 2 and "named twice" in res.output and not out.exists()
    res = CliRunner().invoke(
        app, [*base, "--out", str(out), "--verify-with", f"{__name__}:flipped"], terminal_width=200
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "second opinion" in text and "the two calculators disagree" in text
    assert "ranking: child 1 R3m (160) lies lower than child 3 I4mm (107)" in text, text
    data = json.loads((out / VERIFY_FILE).read_text())["verifications"][0]
    assert [s["name"] for s in data["structures"]] == ["child 1", "child 2", "child 3"]
    assert data["structures"][0]["stable_a"] is None  # a one-level search checks no child
    # the second opinion is in search.json and the report the search wrote
    block = json.loads((out / SUMMARY_FILE).read_text())["verification"]
    assert [x["rank"] for x in block["by_model"][0]["structures"]] == [3, 2, 1]
    assert 'id="second-opinion-1"' in (out / REPORT_NAME).read_text()


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


@pytest.fixture
def folder(pristine, tmp_path):
    """A copy of the search's folder of its own, for a test that writes into it."""
    return Path(shutil.copytree(pristine, tmp_path / "search"))


def _summary(folder) -> dict:
    return json.loads((folder / SUMMARY_FILE).read_text())


def test_search_json_and_report_get_the_second_opinion(folder):
    """verify.json -> search.json's ``verification`` block and the report's 'Second
    opinion' section, both read from the files; a folder without verify.json is unchanged.
    """
    assert not (folder / VERIFY_FILE).exists()
    before = _summary(folder)
    assert "verification" not in before and verification_block(folder) is None
    page = write_report(folder, tree_plot=False).read_text()
    assert "Second opinion" not in page and "second-opinion" not in page

    check = verify_search(folder, flipped(), top=3, name="flipped <toy>")
    after = _summary(folder)
    block = after.pop("verification")
    assert after == before  # nothing else in search.json changes
    assert block["models"] == ["flipped <toy>"] and block["agrees"] is False
    (m,) = block["by_model"]
    assert m["force_constants"] == "exact hessian"
    assert m["parent"]["stable"] is False and m["parent"]["stable_in_search"] is False
    assert m["parent"]["disagrees_on"] == []
    rows = [
        (x["name"], x["space_group"], x["rank"], x["stable"], x["agrees"], x["disagrees_on"])
        for x in m["structures"]
    ]
    assert rows == [
        ("#1", "R3m (160)", 3, False, False, ["ranking", "stability"]),
        ("#2", "Imm2 (44)", 2, False, False, ["ranking"]),
        ("#3", "I4mm (107)", 1, True, False, ["ranking", "stability"]),
    ]
    gains = [x["gain_mev_per_fu"] for x in m["structures"]]
    assert gains == [s.gain_b_mev_per_fu for s in check.structures]
    assert m["disagreements"] == list(check.disagreements)
    assert verification_block(folder) == block  # the same from the files again

    page = write_report(folder, tree_plot=False).read_text()
    assert '<h2 id="second-opinion">Second opinion</h2>' in page
    assert 'id="second-opinion-1"' in page
    assert "flipped &lt;toy&gt;" in page and "<toy>" not in page  # escaped
    assert "disagree: ranking, stability" in page and "disagree: ranking<" in page
    assert '<td class="stable">agree</td>' in page  # the parent
    assert "ranking: #1 R3m (160) lies lower than #3 I4mm (107)" in page

    # a search written again into the folder keeps the block while its result is the same
    write_search_files(load_search(folder))
    assert _summary(folder)["verification"] == block


def test_a_stale_or_damaged_verify_json_is_a_note(folder):
    verify_search(folder, flipped(), top=1)
    data = json.loads((folder / VERIFY_FILE).read_text())
    data["verifications"][0]["structures"][0]["gain_a_mev_per_fu"] += 1.0  # another result
    (folder / VERIFY_FILE).write_text(json.dumps(data))
    block = verification_block(folder)
    assert block["stale"] is True and "run ase-symbreak verify again" in block["note"]
    page = write_report(folder, tree_plot=False).read_text()
    assert "Second opinion" in page and "written for an earlier result" in page
    (folder / VERIFY_FILE).write_text("{not json")
    assert "not read" in verification_block(folder)["note"]
    assert "Second opinion" in write_report(folder, tree_plot=False).read_text()


def test_several_models_and_their_agreement(folder):
    checks = verify_models(folder, {"flipped": flipped(), "same": same()}, top=3)
    assert [c.label_b for c in checks] == ["flipped", "same"]
    assert not checks[0].agrees and checks[1].agrees
    table = agreement(checks)
    assert table.models == ("flipped", "same") and not table.agrees
    first = table.structures[0]
    assert (first.name, first.space_group) == ("#1", "R3m (160)")
    assert [o.model for o in first.opinions][1:] == ["flipped", "same"]
    assert [o.stable for o in first.opinions] == [True, False, True]
    assert [o.rank for o in first.opinions] == [1, 3, 1]
    assert first.disagreements == ("ranking (flipped)", "stability (flipped)")
    assert table.structures[1].disagreements == ("ranking (flipped)",) and table.parent.agrees
    # verify.json keeps each, with the agreement; search.json one block per model
    assert read_verifications(folder) == checks
    data = json.loads((folder / VERIFY_FILE).read_text())
    assert data["models"] == ["flipped", "same"] and len(data["verifications"]) == 2
    assert data["agreement"]["structures"][0]["disagreements"] == list(first.disagreements)
    block = _summary(folder)["verification"]
    assert [m["model"] for m in block["by_model"]] == ["flipped", "same"]
    page = write_report(folder, tree_plot=False).read_text()
    assert 'id="second-opinion-1"' in page and 'id="second-opinion-2"' in page
    # printed: a table per structure; the search's strain-only instability is a note
    import dataclasses

    from rich.console import Console

    from ase_symbreak.cli.verify import print_agreement

    marked = [
        dataclasses.replace(
            c,
            structures=(
                c.structures[0],
                dataclasses.replace(c.structures[1], strain_unstable_a=True),
                *c.structures[2:],
            ),
        )
        for c in checks
    ]
    console = Console(record=True, width=200)
    print_agreement(marked, console)
    text = " ".join(console.export_text().split())
    assert "#2 Imm2 (44)" in text and "flipped: disagrees (5 point(s))" in text, text
    assert "same: agrees with the search" in text
    assert "note: #2 Imm2 (44) is unstable to strain with the search's calculator" in text
    with pytest.raises(ValueError, match="not of one search"):
        agreement([checks[0], verify_search(folder, same(), top=1, write=False)])


def test_cli_verify_models(folder):
    args = ["verify", str(folder), "--allow-code-models", "--top", "2"]
    models = f"{__name__}:flipped,{__name__}:same"
    res = CliRunner().invoke(app, [*args, "--models", models], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "#1 R3m (160)" in text and "#2 Imm2 (44)" in text, text
    flip, same_ = f"{__name__}:flipped", f"{__name__}:same"
    assert f"disagree: ranking ({flip}), stability ({flip})" in text, text
    data = json.loads((folder / VERIFY_FILE).read_text())
    assert data["models"] == [flip, same_]
    res = CliRunner().invoke(app, [*args, "--models", models, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["models"] == [flip, same_] and len(data["verifications"]) == 2
    for bad in (["--models", models, "--model", "x"], []):
        res = CliRunner().invoke(app, [*args, *bad])
        assert res.exit_code == 2 and "one of --model or --models" in res.output, res.output


def test_unstable_to_strain_alone_is_a_note_not_a_disagreement():
    """The search's 'unstable to strain' had stable phonons; the second opinion checks
    phonons only: stable there is no disagreement, unstable is.
    """
    from ase_symbreak.workflows.verify import VerifiedStructure, _notes, disagreements

    def structure(stable_b: bool) -> VerifiedStructure:
        return VerifiedStructure(
            name="#2",
            node=2,
            candidate_index=None,
            space_group_a="Imm2 (44)",
            space_group_b="Imm2 (44)",
            gain_a_mev_per_fu=23.1,
            gain_b_mev_per_fu=25.1,
            rank_a=1,
            rank_b=1,
            stable_a=False,
            stable_b=stable_b,
            softest_b="",
            supercell=((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            converged_b=True,
            strain_unstable_a=True,
        )

    ok = structure(True)
    assert ok.same_stability and disagreements([ok]) == ()
    (note,) = _notes([ok])
    assert "unstable to strain with the search's calculator" in note and note.endswith("stable")
    assert structure(False).same_stability is False
    assert disagreements([structure(False)])[0].startswith("stability: #2 Imm2 (44)")


class _ForcesOnly(Calculator):
    """A stand-in for DFT through ASE: energy, forces and stress of the toy, no Hessian."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self) -> None:
        super().__init__()
        self.inner = same()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.inner
        self.results = {
            "energy": a.get_potential_energy(),
            "free_energy": a.get_potential_energy(),
            "forces": a.get_forces(),
            "stress": a.get_stress(),
        }


def test_a_calculator_without_hessians_is_a_second_opinion(folder):
    """Any ASE calculator (DFT through ASE, here a forces-only stand-in of the same toy):
    finite displacements, the same verdict as the search.
    """
    check = verify_search(folder, _ForcesOnly(), top=3, name="dft stand-in")
    assert check.force_constants_b == "finite displacements"
    assert check.agrees, check.disagreements
    assert [s.stable_b for s in check.structures] == [True, False, False]
    block = _summary(folder)["verification"]
    assert block["models"] == ["dft stand-in"]
    assert block["by_model"][0]["force_constants"] == "finite displacements"
