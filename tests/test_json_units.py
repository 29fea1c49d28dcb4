"""Every number the package writes as JSON says its unit in its key name.

Walks the JSON of a search (``search.json``, descent included), of ``phonons --json
--thermal``, ``decompose --json``, ``environments --json``, ``irreps --json`` and
``subgroups --json``: a key holding a real number (or numbers) must end in a unit
(``_thz``, ``_ev``, ``_mev_per_fu``, ``_angstrom``, ``_deg``, ``_s``, ``_k``, ...) or be one of
the dimensionless quantities listed below with what it is. Integers (counts, indices,
supercell matrices) and booleans need no unit. The search's ``settings`` echo the keyword
arguments of :class:`~ase_symbreak.workflows.SearchSettings` (the names recipes use, with
their units in its docstring, as ASE's ``fmax`` and spglib's ``symprec``) and are left out.
"""

from __future__ import annotations

import json
import numbers
import re

import numpy as np
import pytest
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.cli import app
from ase_symbreak.environments.tilted import tilted_perovskite
from ase_symbreak.models import save_model
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.testing import small_e3nn_potential
from ase_symbreak.testing.toy_models import PlantedTiltModel
from ase_symbreak.workflows import SearchSettings, distortion_search

UNIT = re.compile(
    r"(_(thz|ev|mev|angstrom|angstrom2|deg|degrees|s|k|gb|gpa|states|kj_per_mol|j_per_k_mol)"
    r"(_per_[a-z0-9_]+)?|seconds)$"
)

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")

#: Dimensionless numbers, by key: what they are.
DIMENSIONLESS = {
    "q": "fractional, reciprocal basis",
    "k": "fractional, reciprocal basis",
    "q_primitive": "fractional, reciprocal basis of the primitive cell",
    "min_q": "fractional, reciprocal basis",
    "star": "fractional, reciprocal basis",
    "origin_shift": "fractional, cell basis",
    "point_fractional": "fractional, cell basis (the origin the irrep labels refer to)",
    "direction_vector": "unit order-parameter direction",
    "strain": "strain tensor",
    "max_strain": "largest strain component",
    "strain_parts": "strain tensor parts",
    "strain_amplitude": "Frobenius norm of a strain part",
    "principal_strains": "eigenvalues of the Biot strain",
    "softest_strain_voigt": "unit Voigt strain of the softest elastic eigenvector",
    "strain_voigt": "strain (Voigt)",
    "volume_ratio": "child volume / parent volume",
    "completeness_residual": "relative norm",
    "symmetry_residual": "relative norm",
    "bispectrum": "invariants of a normalised density",
    "power_spectrum": "invariants of a normalised density",
    "bond_spread": "Baur distortion index (relative)",
    "child_bond_spread": "Baur distortion index (relative)",
    "parent_bond_spread": "Baur distortion index (relative)",
    "b_bond_distortion_index": "Baur distortion index (relative)",
    "quadratic_elongation": "ratio of lengths squared",
    "child_scores": "continuous shape measures (0-100)",
    "parent_score": "continuous shape measure (0-100)",
    "score": "continuous shape measure (0-100)",
    "scores": "continuous shape measures (0-100)",
    "shape_measure": "continuous shape measure (0-100)",
    "weight": "q-point weight",
    "fraction": "fraction",
    "ir_intensity": "relative",
    "order_parameter_direction": "unit direction",
}

#: Blocks that are inputs echoed back, not results (see the module docstring).
SKIPPED_BLOCKS = {"settings"}


def _violations(data, path: str = "") -> list[str]:
    """Paths of numbers whose key names no unit (a key with a unit covers what is under it,
    e.g. ``amplitudes_angstrom: {"R4+": 0.1}``)."""
    out: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            key = str(key)
            if key in SKIPPED_BLOCKS or key in DIMENSIONLESS or UNIT.search(key):
                continue
            if _is_numbers(value):
                out.append(f"{path}/{key}")
            else:
                out.extend(_violations(value, f"{path}/{key}"))
    elif isinstance(data, list):
        for value in data:
            out.extend(_violations(value, path + "[]"))
    return sorted(set(out))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral)


def _is_numbers(value) -> bool:
    """A real, or a list / name-keyed dict of reals (nested lists included)."""
    if _is_real(value):
        return True
    if isinstance(value, list):
        return any(_is_numbers(v) for v in value if not isinstance(v, dict))
    if isinstance(value, dict):
        # a mapping from names (irreps 'R4+', elements 'Sr') to numbers, not a record
        names = all(not IDENTIFIER.match(str(k)) for k in value)
        flat = [v for v in value.values() if not isinstance(v, dict)]
        return names and len(flat) == len(value) and any(_is_numbers(v) for v in flat)
    return False


@pytest.fixture(scope="module")
def search_json(tmp_path_factory):
    toy = PlantedTiltModel()
    out = tmp_path_factory.mktemp("units")
    settings = SearchSettings(
        supercell=((0, 1, 1), (1, 0, 1), (1, 1, 0)),
        child_fmax=2e-4,
        parent_fmax=1e-4,
        amplitudes=(0.1, 0.2, 0.3),
        plot=False,
        child_supercell=(1, 1, 1),
        max_depth=1,
    )
    calc = SymBreakCalculator(model=toy, dtype="float64")
    distortion_search(toy.cubic(), calc, settings, out_dir=out)
    return json.loads((out / "search.json").read_text())


def test_search_json_names_its_units(search_json):
    assert search_json["children"] and search_json["nodes"]
    assert _violations(search_json) == []


def _cli_json(args) -> dict:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_phonons_json_names_its_units(tmp_path):
    model = save_model(small_e3nn_potential(), tmp_path / "own.safetensors")
    write(tmp_path / "p.vasp", cubic_perovskite(3.9), format="vasp")
    args = ["phonons", str(tmp_path / "p.vasp"), "--model", str(model), "--thermal"]
    data = _cli_json([*args, "--out", str(tmp_path / "out")])  # not into the working folder
    assert data["modes"] and data["thermal"]["table"]
    assert _violations(data) == []


def test_symmetry_and_environment_json_names_their_units(tmp_path):
    parent = cubic_perovskite(3.9)
    child = tilted_perovskite("a0a0c-", (0.0, 0.0, 6.0))
    write(tmp_path / "parent.vasp", parent, format="vasp")
    write(tmp_path / "child.cif", child)
    outputs = {
        "decompose": _cli_json(
            ["decompose", str(tmp_path / "parent.vasp"), str(tmp_path / "child.cif")]
        ),
        "irreps": _cli_json(["irreps", str(tmp_path / "parent.vasp")]),
        "subgroups": _cli_json(["subgroups", str(tmp_path / "parent.vasp"), "--irrep", "R4+"]),
        "environments": _cli_json(
            ["environments", str(tmp_path / "child.cif"), "--parent", str(tmp_path / "parent.vasp")]
        ),
    }
    assert outputs["decompose"]["irreps"]
    assert {name: _violations(d) for name, d in outputs.items()} == {n: [] for n in outputs}


def test_the_audit_catches_a_unitless_number():
    assert _violations({"energy": 1.0, "frequency_thz": 2.0}) == ["/energy"]
    assert _violations({"amplitudes": {"R4+": 0.1}}) == ["/amplitudes"]
    assert _violations({"amplitudes_angstrom": {"R4+": 0.1}, "n": 3}) == []
    assert _violations({"modes": [{"q": [0.5, 0, 0], "x": [np.float64(1.0)]}]}) == ["/modes[]/x"]
