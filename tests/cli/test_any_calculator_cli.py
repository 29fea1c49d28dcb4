"""Calculators by name and by file (issue 33): ``--model package.module:factory`` builds any
ASE calculator behind ``--allow-code-models``; optional packages that are missing give a
one-line error naming the package (exit 2, before any work).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import app
from ase_symbreak.workflows.calcspec import (
    CalculatorSpec,
    MissingPackageError,
    other_calculator,
)

EMT_PATH = "ase.calculators.emt:EMT"


@pytest.fixture
def copper(tmp_path):
    path = tmp_path / "cu.cif"
    write(path, bulk("Cu", "fcc", a=3.6))
    return path


def test_phonons_of_a_calculator_factory(copper):
    args = ["phonons", str(copper), "--model", EMT_PATH, "--allow-code-models", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["force_constants"] == "finite displacements"
    assert out["model"] == {"calculator": "EMT"}
    assert min(m["frequency_thz"] for m in out["modes"]) > -0.01


def test_search_with_a_calculator_factory(copper, tmp_path):
    """``search`` (and so ``run``) builds any ASE calculator ``--model`` names, as ``phonons``
    does: EMT's fcc Cu is a stable parent, through finite displacements.
    """
    out = tmp_path / "out"
    args = ["search", str(copper), "--model", EMT_PATH, "--allow-code-models", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "the parent is dynamically stable" in res.output
    summary = json.loads((out / "search.json").read_text())
    assert summary["model"] == {"calculator": "EMT"}
    assert summary["parent"]["space_group_number"] == 225 and summary["children"] == []
    assert summary["ground_state"]["elastic"]["hessian"] == "finite displacements"
    parent = json.loads((out / "02_phonons.json").read_text())
    assert '"force_constants_method": "finite displacements"' in json.dumps(parent)


def test_a_factory_needs_the_opt_in(copper):
    res = CliRunner().invoke(app, ["phonons", str(copper), "--model", EMT_PATH])
    assert res.exit_code == 2
    assert "--allow-code-models" in res.output


@pytest.mark.parametrize(
    "model, package",
    [
        ("mace.calculators:mace_mp", "mace-torch"),
        ("fairchem.core:FAIRChemCalculator", "fairchem-core"),
        ("no_such_package_xyz.calc:Calculator", "no_such_package_xyz"),
    ],
)
def test_missing_packages_are_named_in_one_line(copper, model, package):
    if importlib.util.find_spec(model.partition(".")[0]) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(MissingPackageError, match=f"needs the package '{package}'"):
        other_calculator(model)
    args = ["phonons", str(copper), "--model", model, "--allow-code-models"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and package in lines[0] and "not installed" in lines[0], res.output


def test_a_mace_model_file_without_mace_names_the_package(copper, tmp_path):
    if importlib.util.find_spec("mace") is not None:
        pytest.skip("mace-torch is installed")
    model = tmp_path / "small.model"
    model.write_bytes(b"not a model")
    with pytest.raises(MissingPackageError, match="MACE model file .* 'mace-torch'"):
        other_calculator(model)
    res = CliRunner().invoke(app, ["phonons", str(copper), "--model", str(model)])
    assert res.exit_code == 2 and "mace-torch" in res.output


@pytest.mark.parametrize(
    "model, error, match",
    [
        ("numpy:pi", TypeError, "not a calculator factory"),
        ("ase.calculators.emt:NoSuch", ValueError, "no attribute"),
        ("ase_symbreak.testing.toy_models:rigid_tilt_i4mcm", TypeError, "without arguments"),
        ("collections:OrderedDict", TypeError, "not an ASE calculator"),
    ],
)
def test_what_is_not_a_calculator_factory_is_refused(model, error, match):
    with pytest.raises(error, match=match):
        other_calculator(model)


def test_our_models_are_left_to_symbreakcalculator():
    assert other_calculator(None) is None
    assert other_calculator("7net-0") is None
    assert other_calculator("ase_symbreak.testing.toy_models:PlantedTiltModel") is None


def test_a_spec_builds_any_calculator():
    spec = CalculatorSpec(model=EMT_PATH)
    assert isinstance(spec.build(), EMT)
    assert CalculatorSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
