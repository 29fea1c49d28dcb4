"""Phonons from the exact Hessian: phonopy objects, labelled modes, IR/Raman, CLI.

Fast tests use the package's own seeded random E3nnPotential (exactly E(3)-equivariant,
float64) on cubic SrTiO3 (Pm-3m, Ti at the origin); the SevenNet-0 check is ``slow``.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from ase.io import write
from phonopy import Phonopy
from typer.testing import CliRunner

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.phonons import (
    PhononModes,
    labelled_modes,
    phonopy_from_calculator,
    plot_band_structure,
    supercell_matrix_3x3,
)
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import displacement_modes, irreps_at_k
from ase_symbreak.testing import small_e3nn_potential

A = 3.9
SUPERCELL = (2, 2, 2)
N_PRIM = 5
N_SC = N_PRIM * 8


def srtio3_cubic_pm3m():
    """Cubic SrTiO3, Pm-3m (221), a = 3.9 A, Ti at the origin (atom 1)."""
    return cubic_perovskite(A)


@pytest.fixture(scope="module")
def calc() -> SymBreakCalculator:
    return SymBreakCalculator(small_e3nn_potential(), dtype="float64")


@pytest.fixture(scope="module")
def phonon(calc) -> Phonopy:
    """2x2x2 force constants from the exact Hessian, phonopy-symmetrised."""
    return phonopy_from_calculator(srtio3_cubic_pm3m(), calc, SUPERCELL)


@pytest.fixture(scope="module")
def rep():
    """The symmetry core's displacement representation (B site at the origin)."""
    return displacement_modes(srtio3_cubic_pm3m(), SUPERCELL)


@pytest.fixture(scope="module")
def modes(phonon, rep) -> PhononModes:
    return labelled_modes(srtio3_cubic_pm3m(), phonon, SUPERCELL, representation=rep)


def _frequencies(phonon, q) -> np.ndarray:
    return np.asarray(phonon.run_qpoints([q]).frequencies[0])


def _dynamical_matrix(phonon, q) -> np.ndarray:
    return np.asarray(phonon.run_qpoints([q], with_dynamical_matrices=True).dynamical_matrices[0])


def _finite_difference_phonon(calc, distance: float, supercell) -> Phonopy:
    """phonopy's own route: +/- displacements, forces from the calculator, fitted FCs."""
    from ase_symbreak.phonons import from_phonopy_atoms, to_phonopy_atoms

    ph = Phonopy(to_phonopy_atoms(srtio3_cubic_pm3m()), supercell_matrix=np.diag(supercell))
    ph.generate_displacements(distance=distance, is_plusminus=True)
    forces = []
    for cell in ph.supercells_with_displacements:
        atoms = from_phonopy_atoms(cell)
        atoms.calc = calc
        forces.append(atoms.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    return ph


QPOINTS = np.array([[0, 0, 0], [0, 0.5, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5], [0.25, 0.1, 0.0]])


# ------------------------------------------------------------------ force constants
def test_force_constants_agree_with_phonopy_finite_displacements(calc):
    """Exact-Hessian FCs == phonopy's central differences up to the O(h^2) truncation error.

    Central differences of forces have error (h^2 / 6) d^4E/dx^4 + O(h^4). Rather than a
    tolerance guessed for this random model, we check that (i) the difference to the exact
    force constants shrinks by 4 when h is halved (it IS the truncation error), and (ii) the
    Richardson extrapolation (4 FC(h/2) - FC(h)) / 3, which cancels the h^2 term, agrees with
    the exact force constants far better (O(h^4) plus float64 force noise / h).
    A 1x1x1 cell (5 atoms, each coupled to its own images) keeps it fast.
    """
    cell = (1, 1, 1)
    exact = phonopy_from_calculator(srtio3_cubic_pm3m(), calc, cell, symmetrize=False)
    fc = exact.force_constants.copy()
    fd = {h: _finite_difference_phonon(calc, h, cell) for h in (0.02, 0.01)}
    err = {h: np.abs(ph.force_constants - fc).max() for h, ph in fd.items()}
    scale = np.abs(fc).max()
    assert err[0.01] < 1e-2 * scale, (err, scale)
    assert 3.5 < err[0.02] / err[0.01] < 4.5, f"FD error should scale as h^2: {err}"
    richardson = (4 * fd[0.01].force_constants - fd[0.02].force_constants) / 3
    assert np.abs(richardson - fc).max() < 0.05 * err[0.01], (np.abs(richardson - fc).max(), err)
    # the phonopy objects give the same frequencies both ways, at and between the special q
    exact.symmetrize_force_constants(use_symfc_projector=True, show_drift=False)
    for q in QPOINTS:
        # FD error 1e-2 relative in the FCs -> <~ 1% in omega^2; 0.05 THz covers it here
        np.testing.assert_allclose(_frequencies(fd[0.01], q), _frequencies(exact, q), atol=0.05)


# ------------------------------------------------------------------ labels
def _phonopy_frequencies_over_star(phonon, star) -> np.ndarray:
    return np.sort(np.concatenate([_frequencies(phonon, np.asarray(k, float)) for k in star]))


def test_labels_add_up_to_displacement_representation(modes, rep):
    """Degeneracies per q and per irrep add up to the supercell's displacement representation."""
    parent = srtio3_cubic_pm3m()
    assert modes.n_modes == 3 * N_SC
    per_q = Counter()
    for m in modes.modes:
        per_q[m.q_label] += m.degeneracy
    arms = {"GM": 1, "X": 3, "M": 3, "R": 1}
    assert per_q == {q: 3 * N_PRIM * n for q, n in arms.items()}
    assert sum(m.degeneracy for m in modes.at("GM")) == 15
    want = Counter({ir.irrep.label: ir.multiplicity * ir.dim for ir in rep.irreps})
    have = Counter()
    for m in modes.modes:
        have[m.irrep] += m.degeneracy
    assert have == want
    allowed_at: dict[str, set[str]] = {}
    for m in modes.modes:
        if m.q_label not in allowed_at:
            allowed_at[m.q_label] = {ir.label for ir in irreps_at_k(parent, m.q)}
        allowed = allowed_at[m.q_label]
        assert m.irrep in allowed, (m.q_label, m.irrep, allowed)
        assert m.degeneracy % len(m.star) == 0
        assert m.displacements.shape == (m.degeneracy, N_SC, 3)
        np.testing.assert_allclose(
            np.linalg.norm(m.displacements.reshape(m.degeneracy, -1), axis=1), 1.0
        )


def test_labelled_frequencies_equal_phonopy(modes, phonon):
    """The multiset of labelled frequencies (x degeneracy) equals phonopy's over each star."""
    by_q: dict[str, list] = {}
    for m in modes.modes:
        by_q.setdefault(m.q_label, []).append(m)
    for label, sets in by_q.items():
        ours = np.sort(np.concatenate([np.full(m.degeneracy, m.frequency_thz) for m in sets]))
        theirs = _phonopy_frequencies_over_star(phonon, sets[0].star)
        assert len(theirs) == 3 * N_PRIM * len(sets[0].star)
        np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=label)


def test_eigenvectors_are_phonopys(modes, phonon):
    """Each eigenvector column is an eigenvector of phonopy's D(q) at its arm, eigenvalue
    omega^2."""
    factor = phonon.unit_conversion_factor
    for m in modes.modes:
        assert m.eigenvectors.shape == (3 * N_PRIM, m.degeneracy)
        w2 = np.sign(m.frequency_thz) * (m.frequency_thz / factor) ** 2
        for col, q in zip(m.eigenvectors.T, m.eigenvector_q):
            dm = _dynamical_matrix(phonon, q)
            np.testing.assert_allclose(dm @ col, w2 * col, atol=1e-7)
        gram = m.eigenvectors.conj().T @ m.eigenvectors
        for q in np.unique(m.eigenvector_q, axis=0):  # orthonormal within each arm
            sel = np.all(np.isclose(m.eigenvector_q, q), axis=1)
            np.testing.assert_allclose(gram[np.ix_(sel, sel)], np.eye(sel.sum()), atol=1e-8)


def test_displacements_are_supercell_normal_modes(modes, phonon, rep):
    """M^1/2 u is an eigenvector of the supercell dynamical matrix (symmetry-core atom order)."""
    from ase_symbreak.phonons.labelling import _map_to_phonopy

    perm = _map_to_phonopy(rep, srtio3_cubic_pm3m(), phonon)
    fc = (
        phonon.force_constants[np.ix_(perm, perm)].transpose(0, 2, 1, 3).reshape(3 * N_SC, 3 * N_SC)
    )
    sqrt_m = np.repeat(np.sqrt(rep.supercell.get_masses()), 3)
    dyn = fc / np.outer(sqrt_m, sqrt_m)
    factor = phonon.unit_conversion_factor
    for m in modes.modes:
        e = m.displacements.reshape(m.degeneracy, -1) * sqrt_m
        w2 = np.sign(m.frequency_thz) * (m.frequency_thz / factor) ** 2
        np.testing.assert_allclose(e @ dyn, w2 * e, atol=1e-7 * np.abs(dyn).max())


def test_acoustic_modes_are_gm4_minus_at_zero(modes):
    zero = [m for m in modes.modes if abs(m.frequency_thz) < 1e-2]
    assert len(zero) == 1
    assert zero[0].irrep == "GM4-" and zero[0].q_label == "GM" and zero[0].degeneracy == 3
    # rigid translations: every atom moves the same way
    u = zero[0].displacements
    np.testing.assert_allclose(u, np.broadcast_to(u[:, :1], u.shape), atol=1e-6)


def test_ir_raman_at_gamma(modes):
    """Pm-3m perovskite: GM4- (T1u) IR-active, not Raman (centrosymmetric); GM5- (T2u) silent."""
    gamma = modes.at("GM")
    assert {m.irrep for m in gamma} == {"GM4-", "GM5-"}
    for m in gamma:
        if m.irrep == "GM4-":
            assert m.ir_active is True and m.raman_active is False
        else:
            assert m.ir_active is False and m.raman_active is False
    for m in modes.modes:
        if m.q_label != "GM":
            assert m.ir_active is None and m.raman_active is None


def test_raman_active_irrep_from_characters():
    """A Raman-active, IR-silent case: GM3+ (Eg) and GM1+ (A1g) of Oh via the same character
    rule."""
    from ase_symbreak.phonons.labelling import _optical_activity

    irreps = {ir.label: ir for ir in irreps_at_k(srtio3_cubic_pm3m(), [0, 0, 0])}
    assert _optical_activity(irreps["GM1+"]) == (False, True)
    assert _optical_activity(irreps["GM3+"]) == (False, True)
    assert _optical_activity(irreps["GM5+"]) == (False, True)
    assert _optical_activity(irreps["GM4+"]) == (False, False)
    assert _optical_activity(irreps["GM4-"]) == (True, False)


def test_origin_at_a_site_changes_labels(phonon, modes):
    """Labels depend on the origin; frequencies do not (Sr at the origin: R4+ <-> R5-)."""
    b_site = modes
    a_site = labelled_modes(srtio3_cubic_pm3m(), phonon, SUPERCELL, origin_index=0)
    assert a_site.origin_index == 0 and b_site.origin_index == 1
    # atol: sqrt() turns rounding noise of the zero acoustic eigenvalue into ~1e-8 THz
    np.testing.assert_allclose(
        [m.frequency_thz for m in a_site.modes], [m.frequency_thz for m in b_site.modes], atol=1e-6
    )
    b_labels = {m.irrep for m in b_site.at("R")}
    a_labels = {m.irrep for m in a_site.at("R")}
    assert "R4+" in b_labels and "R5-" in a_labels


def test_record_round_trip_and_table(modes):
    back = PhononModes.from_dict(json.loads(json.dumps(modes.to_dict())))
    assert back.irreps == modes.irreps and back.origin_index == modes.origin_index
    for a, b in zip(back.modes, modes.modes):
        assert a.frequency_thz == b.frequency_thz and a.reality == b.reality
        np.testing.assert_array_equal(a.eigenvectors, b.eigenvectors)
        np.testing.assert_array_equal(a.displacements, b.displacements)
    np.testing.assert_array_equal(back.supercell.positions, modes.supercell.positions)
    np.testing.assert_allclose(back.unitcell.get_masses(), modes.unitcell.get_masses())
    light = modes.keep_patterns(below_thz=0.0)
    assert all((m.displacements is None) == (m.frequency_thz >= 0.0) for m in light.modes)
    d = json.loads(json.dumps(modes.summary()))
    assert len(d["modes"]) == len(modes.modes)
    assert set(d["modes"][0]) == {
        "q",
        "q_label",
        "irrep",
        "frequency_thz",
        "degeneracy",
        "ir_active",
        "raman_active",
        "reality",
        "paired_irreps",
    }
    assert modes.unstable(threshold_thz=-1e9) == []
    assert all(m.frequency_thz < -0.1 for m in modes.unstable())
    from rich.console import Console

    from ase_symbreak.cli._tables import phonon_modes_table

    console = Console(record=True, width=120)
    console.print(phonon_modes_table(modes))
    assert "GM4-" in console.export_text()


def test_symmetry_breaking_force_constants_warn(phonon, rep, rng):
    """Unsymmetrised noise in the force constants is detected (labels would be approximate)."""
    noisy = Phonopy(phonon.unitcell, supercell_matrix=phonon.supercell_matrix)
    fc = phonon.force_constants.copy()
    noise = rng.normal(scale=1e-2, size=fc.shape)
    noisy.force_constants = fc + 0.5 * (noise + noise.transpose(1, 0, 3, 2))
    with pytest.warns(UserWarning, match="break the parent symmetry"):
        labelled_modes(srtio3_cubic_pm3m(), noisy, SUPERCELL, representation=rep)


def test_plot_band_structure(phonon, modes, tmp_path):
    out = plot_band_structure(phonon, modes, tmp_path / "bands.png")
    assert out.exists() and out.read_bytes()[:4] == b"\x89PNG"
    pdf = plot_band_structure(phonon, modes, tmp_path / "bands.pdf", npoints=11)
    assert pdf.read_bytes()[:4] == b"%PDF"


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "matrix, match",
    [
        ([[1, 0, 0], [0, 1, 0], [1, 0, 0]], "singular"),
        ((2, 0, 2), "singular"),
        ((2, 2.5, 2), "integer"),
        ([[1, 0], [0, 1]], "3 integers or an integer 3x3"),
        ((-1, 1, 1), "positive determinant"),
        ("abc", "3 integers"),
    ],
)
def test_bad_supercell_matrix(matrix, match, calc):
    with pytest.raises(ValueError, match=match):
        supercell_matrix_3x3(matrix)
    with pytest.raises(ValueError, match=match):
        phonopy_from_calculator(srtio3_cubic_pm3m(), calc, matrix)


def test_mismatched_phonopy_and_bad_arguments(phonon, rep):
    with pytest.raises(ValueError, match="supercell matrix"):
        labelled_modes(srtio3_cubic_pm3m(), phonon, (1, 1, 1))
    with pytest.raises(ValueError, match="representation was built"):
        labelled_modes(srtio3_cubic_pm3m(), phonon, SUPERCELL, origin_index=0, representation=rep)
    with pytest.raises(TypeError, match="calc_or_phonopy"):
        labelled_modes(srtio3_cubic_pm3m(), object(), SUPERCELL)
    molecule = srtio3_cubic_pm3m()
    molecule.pbc = False
    with pytest.raises(ValueError, match="3-D periodic"):
        labelled_modes(molecule, phonon, SUPERCELL)


# ------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def app():
    from ase_symbreak.cli import app

    return app


def test_cli_json_with_own_model(app, tmp_path, monkeypatch):
    from ase_symbreak.models import save_model

    monkeypatch.chdir(tmp_path)  # the default output folder goes here
    model_path = save_model(small_e3nn_potential(), tmp_path / "own.safetensors")
    poscar = tmp_path / "POSCAR"
    write(poscar, srtio3_cubic_pm3m(), format="vasp")
    result = CliRunner().invoke(
        app,
        [
            "phonons",
            str(poscar),
            "--supercell",
            "1",
            "1",
            "1",
            "--model",
            str(model_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sum(m["degeneracy"] for m in data["modes"]) == 3 * N_PRIM  # Gamma only
    assert data["origin_index"] == 1
    table = CliRunner().invoke(
        app, ["phonons", str(poscar), "--supercell", "1", "1", "1", "--model", str(model_path)]
    )
    assert table.exit_code == 0, table.output
    assert "GM4-" in table.stdout and "GM5-" in table.stdout


def test_cli_unreadable_file(app, tmp_path):
    bad = tmp_path / "garbage.cif"
    bad.write_text("this is not a crystal structure\n")
    result = CliRunner().invoke(app, ["phonons", str(bad)])
    assert result.exit_code == 2
    assert "cannot read" in result.output
    missing = CliRunner().invoke(app, ["phonons", str(tmp_path / "nope.vasp")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_cli_bad_supercell_and_model(app, tmp_path):
    poscar = tmp_path / "POSCAR"
    write(poscar, srtio3_cubic_pm3m(), format="vasp")
    result = CliRunner().invoke(app, ["phonons", str(poscar), "--supercell", "0", "2", "2"])
    assert result.exit_code == 2 and "positive" in result.output
    result = CliRunner().invoke(
        app, ["phonons", str(poscar), "--model", str(tmp_path / "missing.safetensors")]
    )
    assert result.exit_code == 2 and "cannot load model" in result.output


# ------------------------------------------------------------------ SevenNet-0
@pytest.mark.slow
def test_sevennet_srtio3_soft_modes():
    """SevenNet-0, a = 3.9 A, 2x2x2: R4+ (triple, ~2.5i THz) and M3+ (~1.4i THz) unstable,
    Gamma stable."""
    calc = SymBreakCalculator()
    parent = srtio3_cubic_pm3m()
    phonon = phonopy_from_calculator(parent, calc, SUPERCELL)
    modes = labelled_modes(parent, phonon, SUPERCELL)
    assert modes.symmetry_residual < 1e-6  # symmetrised
    soft = {(m.q_label, m.irrep): m for m in modes.unstable()}
    r4 = soft[("R", "R4+")]
    assert r4.degeneracy == 3 and -3.0 < r4.frequency_thz < -2.0
    m3 = soft[("M", "M3+")]
    assert m3.degeneracy == 3 and -1.9 < m3.frequency_thz < -0.9
    assert modes.unstable()[0] is r4
    gamma = modes.at("GM")
    assert min(m.frequency_thz for m in gamma) > -0.05  # acoustic ~0, optic real
    assert not any(m.q_label == "GM" for m in modes.unstable())


def test_cli_writes_files_phonopy_loads_with_the_same_frequencies(app, tmp_path, monkeypatch):
    """``phonons --phonopy-yaml`` / ``--force-constants``: phonopy reads them back and gives
    the frequencies the command printed; the output says the input was not relaxed."""
    import phonopy
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    from ase_symbreak.models import save_model

    monkeypatch.chdir(tmp_path)  # the default output folder goes here
    model_path = save_model(small_e3nn_potential(), tmp_path / "own.safetensors")
    poscar = tmp_path / "POSCAR"
    write(poscar, srtio3_cubic_pm3m(), format="vasp")
    yaml, fc = tmp_path / "out" / "phonopy_params.yaml", tmp_path / "out" / "FORCE_CONSTANTS"
    args = ["phonons", str(poscar), "--supercell", "2", "2", "2", "--model", str(model_path)]
    result = CliRunner().invoke(
        app, [*args, "--phonopy-yaml", str(yaml), "--force-constants", str(fc), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["relaxed"] is False and data["max_force_ev_per_angstrom"] >= 0
    assert data["files"] == {"phonopy_yaml": str(yaml), "force_constants": str(fc)}
    loaded = phonopy.load(str(yaml), is_compact_fc=False)
    assert np.abs(parse_FORCE_CONSTANTS(str(fc)) - loaded.force_constants).max() < 1e-8
    for mode in data["modes"]:
        loaded.run_qpoints([mode["q"]])
        freqs = loaded.qpoints.frequencies[0]
        assert np.min(np.abs(freqs - mode["frequency_thz"])) < 1e-6, mode
    table = CliRunner().invoke(app, args)
    assert "structure used as given" in table.stdout


def test_cli_band_path_thermal_and_pymatgen_files(app, tmp_path, monkeypatch):
    """``phonons --plot --thermal --pymatgen``: the plot, the thermal table and pymatgen's
    objects come from the same force constants (pymatgen's bands at the path's commensurate
    points are the printed mode frequencies; its DOS integrates to 3 N)."""
    from monty.json import MontyDecoder

    from ase_symbreak.models import save_model

    monkeypatch.chdir(tmp_path)  # the default output folder goes here
    model_path = save_model(small_e3nn_potential(), tmp_path / "own.safetensors")
    poscar = tmp_path / "POSCAR"
    write(poscar, srtio3_cubic_pm3m(), format="vasp")
    out = tmp_path / "out"
    args = ["phonons", str(poscar), "--model", str(model_path), "--thermal"]
    extra = ["--plot", str(out / "bands.png"), "--pymatgen", str(out / "pmg.json")]
    result = CliRunner().invoke(app, [*args, *extra, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["band_path"]["path"] == "GM-X-M-GM-R-X|R-M"
    assert {p["table_name"] for p in data["band_path"]["points"]} == {"GM", "X", "M", "R"}
    table = data["thermal"]["table"]
    assert table[0]["temperature_k"] == 0 and table[0]["entropy_j_per_k_mol"] == 0
    assert all(
        a["entropy_j_per_k_mol"] < b["entropy_j_per_k_mol"] for a, b in zip(table[1:], table[2:])
    )
    assert (out / "bands.png").read_bytes()[:4] == b"\x89PNG"
    loaded = json.loads((out / "pmg.json").read_text(), cls=MontyDecoder)
    bs, dos = loaded["band_structure"], loaded["dos"]
    assert np.isclose(np.trapezoid(dos.densities, dos.frequencies), 15.0, rtol=0.02)
    r_point = next(i for i, k in enumerate(bs.qpoints) if k.label == "R")
    at_r = [m["frequency_thz"] for m in data["modes"] if m["q_label"] == "R"]
    for f in bs.bands[:, r_point]:
        assert np.min(np.abs(np.asarray(at_r) - f)) < 1e-6
    text = CliRunner().invoke(app, [*args])
    assert "harmonic thermal properties" in text.stdout and "standard path" in text.stdout
