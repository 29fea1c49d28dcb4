"""What a child does to its parent's sites: polyhedra per parent orbit, Glazer tilts checked
against the irreps that the mode decomposition finds (R4+ out of phase, M3+ in phase)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ase_symbreak.environments.sites import environment_changes, environment_report
from ase_symbreak.environments.tilted import tilted_perovskite
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import decompose

pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")

SYSTEMS = {"a0a0c-": (0, 0, 7), "a-a-a-": (5, 5, 5), "a+b-b-": (8, 6, 6), "a+a+a+": (6, 6, 6)}


def _parent_of(child):
    volume = child.get_volume() / (len(child) / 5)
    return cubic_perovskite(volume ** (1 / 3))


def _amplitudes(parent, child):
    return {ir.irrep: ir.amplitude for ir in decompose(parent, child).irreps}


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_glazer_agrees_with_the_decomposition(system):
    child = tilted_perovskite(system, SYSTEMS[system])
    parent = _parent_of(child)
    report = environment_report(parent, child, _amplitudes(parent, child))
    tilt = report["perovskite"]
    assert tilt["glazer"] == system
    assert tilt["tilt_irreps_consistent"] is True
    assert sorted(tilt["tilt_angles_deg"]) == pytest.approx(sorted(SYSTEMS[system]), abs=0.01)


def test_a_wrong_decomposition_is_flagged():
    child = tilted_perovskite("a0a0c-", (0, 0, 7))
    parent = _parent_of(child)
    report = environment_report(parent, child, {"M3+": 0.3})
    assert report["perovskite"]["tilt_irreps_consistent"] is False


def test_sites_per_parent_orbit():
    child = tilted_perovskite("a+b-b-", SYSTEMS["a+b-b-"])
    parent = _parent_of(child)
    changes = {c.symbol: c for c in environment_changes(parent, child)}
    assert set(changes) == {"Sr", "Ti", "O"}
    assert changes["Ti"].parent_polyhedron == "octahedron" and changes["Ti"].coordination == 6
    assert max(changes["Ti"].child_scores) < 1e-6  # rigid tilts keep regular octahedra
    assert changes["Sr"].parent_polyhedron == "cuboctahedron"
    assert changes["Sr"].coordination == 12 and min(changes["Sr"].child_scores) > 0.1
    assert changes["Sr"].child_bond_spread > 0.01  # the A site is what tilts distort
    assert len(changes["O"].child_scores) == 2  # O splits into two orbits in Pnma


def test_report_does_not_depend_on_the_setting_of_the_child():
    child = tilted_perovskite("a-a-a-", SYSTEMS["a-a-a-"])
    parent = _parent_of(child)
    first = environment_report(parent, child)
    moved = child.copy()
    rng = np.random.default_rng(4)
    order = rng.permutation(len(moved))
    moved = moved[order]
    moved.translate([0.3, -0.2, 0.7])
    moved.wrap()
    rot = Rotation.random(random_state=5).as_matrix()
    moved.set_cell(moved.cell[:] @ rot.T, scale_atoms=True)
    second = environment_report(parent, moved)
    assert second["perovskite"]["glazer"] == first["perovskite"]["glazer"] == "a-a-a-"
    for a, b in zip(first["sites"], second["sites"]):
        assert a["child_scores"] == pytest.approx(b["child_scores"], abs=2e-3)


def test_polar_child_has_off_centring_and_no_tilt():
    parent = cubic_perovskite(3.9)
    child = parent.copy()
    child.positions[1, 2] += 0.1
    report = environment_report(parent, child, _amplitudes(parent, child))
    assert report["perovskite"]["glazer"] == "a0a0a0"
    assert report["perovskite"]["b_off_centring_angstrom"] == pytest.approx(0.1, abs=1e-6)
    ti = next(s for s in report["sites"] if s["symbol"] == "Ti")
    assert ti["child_bond_spread"] > 0.01 and ti["child_scores"][0] > 0


def test_unrelated_child_is_an_error_entry_not_a_crash():
    from ase.build import bulk

    report = environment_report(cubic_perovskite(3.9), bulk("Cu", cubic=True))
    assert set(report) == {"error"}


def test_environments_command(tmp_path):
    import json

    from ase.io import write
    from typer.testing import CliRunner

    from ase_symbreak.cli import app

    child = tilted_perovskite("a0a0c-", SYSTEMS["a0a0c-"])
    write(tmp_path / "child.cif", child)
    write(tmp_path / "parent.cif", _parent_of(child))
    res = CliRunner().invoke(
        app, ["environments", str(tmp_path / "child.cif"), "--parent", str(tmp_path / "parent.cif")]
    )
    assert res.exit_code == 0, res.output
    assert "a0a0c-" in res.output and "octahedron" in res.output
    assert "cuboctahedron" in res.output  # Sr keeps its 12 O, distorted
    res = CliRunner().invoke(app, ["environments", str(tmp_path / "child.cif"), "--json"])
    data = json.loads(res.output)
    assert data["perovskite"]["glazer"] == "a0a0c-"
    assert len(data["bispectrum_columns"]) == 15
    assert [c["parity"] for c in data["bispectrum_columns"]].count("0o") == 1
    assert all(len(s["bispectrum"]) == 15 for s in data["sites"])
    res = CliRunner().invoke(app, ["environments", str(tmp_path / "child.cif"), "--lmax", "-1"])
    assert res.exit_code == 1 and "lmax" in res.output


def test_molecule_sites_are_their_own_orbits():
    from ase.build import molecule

    from ase_symbreak.environments.sites import structure_environments

    report = structure_environments(molecule("CH4"), cutoff=3.0)
    carbon = next(s for s in report["sites"] if s["symbol"] == "C")
    assert carbon["polyhedron"] == "tetrahedron" and carbon["score"] < 1e-3
    assert len(report["sites"]) == 5 and report["perovskite"] is None
