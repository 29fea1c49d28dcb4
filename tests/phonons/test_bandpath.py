"""Standard band paths (seekpath / ASE) named as the irrep tables name them, on every point group.

The property that must hold everywhere: at a special point on the supercell's grid, the
frequencies phonopy interpolates along the path are the labelled modes' frequencies at the
q the tables call by the point's name. It checks the primitive/unit-cell basis change, the
naming of points on any arm of the star, and the labels at once. Force constants from the
exact pair potential of :mod:`ase_symbreak.testing` (no torch).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from phonopy import Phonopy

from ase_symbreak.phonons import from_phonopy_atoms, labelled_modes, to_phonopy_atoms
from ase_symbreak.phonons.bandpath import standard_band_path
from ase_symbreak.phonons.bands import band_structure_data, to_pymatgen_band_structure
from ase_symbreak.phonons.plot import plot_band_structure, spread_labels
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.testing import pair_force_constants
from ase_symbreak.testing.crystals import POINT_GROUP_REPRESENTATIVES, crystal, perturbed

THZ_TOL = 1e-6


def _phonon(atoms, n: int = 2) -> Phonopy:
    ph = Phonopy(to_phonopy_atoms(atoms), supercell_matrix=np.eye(3) * n, primitive_matrix="auto")
    ph.force_constants = pair_force_constants(from_phonopy_atoms(ph.supercell))
    return ph


def _distinct(values, tol: float = 1e-4) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > tol:
            out.append(float(v))
    return out


def _check_commensurate_points(atoms, phonon, modes, data) -> int:
    """Frequencies at every commensurate named point equal the labelled modes there."""
    checked = 0
    for (a, b), freq in zip(data.band_path.segments, data.frequencies):
        for name, row in ((a, freq[0]), (b, freq[-1])):
            point = data.band_path.point(name)
            if not point.commensurate or point.table_name is None:
                continue
            labelled = [m.frequency_thz for m in modes.at(point.table_name)]
            assert labelled, f"no labelled modes at {point.describe()}"
            on_path, in_modes = _distinct(row), _distinct(labelled)
            assert len(on_path) == len(in_modes), (point.describe(), on_path, in_modes)
            np.testing.assert_allclose(on_path, in_modes, atol=THZ_TOL)
            checked += 1
    return checked


@pytest.mark.parametrize("number", sorted(set(POINT_GROUP_REPRESENTATIVES.values())))
def test_path_frequencies_equal_labelled_modes(number):
    atoms = crystal(number)
    phonon = _phonon(atoms)
    modes = labelled_modes(atoms, phonon, (2, 2, 2))
    data = band_structure_data(phonon, modes, npoints=5)
    assert _check_commensurate_points(atoms, phonon, modes, data) >= 2
    # every labelled q is drawn: on the standard path or on an added Gamma-q segment
    named = {p.table_name for p in data.band_path.points} | {p.name for p in data.band_path.points}
    for m in modes.modes:
        assert m.q_label in named or any(
            np.allclose(np.asarray(m.q) % 1, np.asarray(p.q) % 1) for p in data.band_path.points
        ), m.q_label
    assert data.band_path.source == "seekpath (HPKOT)"


@pytest.mark.parametrize(
    "atoms, names",
    [
        (cubic_perovskite(3.9), {"GM": "GM", "X": "X", "M": "M", "R": "R"}),
        (bulk("NaCl", "rocksalt", 5.64), {"GM": "GM", "X": "X", "L": "L", "W": "W"}),
        (bulk("Fe", "bcc", 2.87), {"GM": "GM", "H": "H", "N": "N", "P": "P"}),
        (bulk("Mg", "hcp", 3.2), {"GM": "GM", "M": "M", "K": "K", "A": "A", "L": "L", "H": "H"}),
    ],
    ids=["cubic-P", "fcc", "bcc", "hcp"],
)
def test_names_agree_with_tables_where_conventions_agree(atoms, names):
    path = standard_band_path(_phonon(atoms))
    for hpkot, table in names.items():
        assert path.point(hpkot).table_name == table
    assert path.point("GM").q == (0.0, 0.0, 0.0)


def test_conventional_cell_path_in_primitive_basis():
    """An 8-atom conventional NaCl: the path is the fcc primitive cell's, q converted."""
    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    phonon = _phonon(atoms)
    modes = labelled_modes(atoms, phonon, (2, 2, 2))
    data = band_structure_data(phonon, modes, npoints=5)
    x = data.band_path.point("X")
    assert x.table_name == "X"
    # X of fcc, (1/2, 0, 1/2) of the primitive basis, is a face centre (0, 1, 0) of the cube
    q = np.asarray(x.q)
    assert np.isclose(np.sort(np.abs(q)), [0, 0, 1]).all()
    assert _check_commensurate_points(atoms, phonon, modes, data) >= 3


def test_nearly_symmetric_cell_gets_the_same_path():
    atoms = bulk("NaCl", "rocksalt", 5.64)
    ideal = standard_band_path(_phonon(atoms))
    noisy = standard_band_path(_phonon(perturbed(atoms, 1e-5, 1e-5, seed=3)))
    assert noisy.segments == ideal.segments
    for p in ideal.points:
        q = noisy.point(p.name)
        assert q.table_name == p.table_name
        np.testing.assert_allclose(q.q, p.q, atol=1e-4)


def test_ase_path_when_asked():
    atoms = cubic_perovskite(3.9)
    phonon = _phonon(atoms)
    modes = labelled_modes(atoms, phonon, (2, 2, 2))
    path = standard_band_path(phonon, atoms, (2, 2, 2), source="ase")
    assert path.source.startswith("ase")
    assert {p.table_name for p in path.points} == {"GM", "X", "M", "R"}
    data = band_structure_data(phonon, modes, npoints=5, band_path=path)
    assert _check_commensurate_points(atoms, phonon, modes, data) >= 4
    with pytest.raises(ValueError, match="source"):
        standard_band_path(phonon, source="hpkot")


def test_labelled_q_off_the_path_gets_a_segment():
    """A 3x3x3 cubic supercell holds (1/3, 0, 0), on no standard path's vertex."""
    atoms = cubic_perovskite(3.9)
    phonon = _phonon(atoms, n=3)
    modes = labelled_modes(atoms, phonon, (3, 3, 3))
    data = band_structure_data(phonon, modes, npoints=5)
    extra = [p for p in data.band_path.points if p.name not in ("GM", "X", "X_1", "M", "R")]
    assert extra and all(p.commensurate for p in extra)
    assert "added Gamma-q segments" in data.band_path.note
    for p in extra:  # its end of the added segment carries the labelled frequencies
        seg = data.band_path.segments.index(("GM", p.name))
        labelled = _distinct(
            m.frequency_thz for m in modes.modes if m.q_label in (p.name.rstrip("*"),)
        )
        np.testing.assert_allclose(_distinct(data.frequencies[seg][-1]), labelled, atol=THZ_TOL)


def test_pymatgen_band_structure_matches():
    atoms = cubic_perovskite(3.9)
    phonon = _phonon(atoms)
    modes = labelled_modes(atoms, phonon, (2, 2, 2))
    data = band_structure_data(phonon, modes, npoints=7)
    bs = to_pymatgen_band_structure(data, phonon)
    np.testing.assert_allclose(bs.bands, np.concatenate(data.frequencies).T)
    names = [b["name"] for b in bs.branches]
    assert names[:3] == ["Γ-X", "X-M", "M-Γ"]
    assert bs.has_imaginary_freq() == (data.min_frequency_thz < -0.01)
    assert {"Γ", "X", "M", "R"} <= {k.label for k in bs.qpoints if k.label}


def test_plot_writes_png_with_and_without_dos(tmp_path):
    atoms = cubic_perovskite(3.9)
    phonon = _phonon(atoms)
    modes = labelled_modes(atoms, phonon, (2, 2, 2))
    for dos in (False, True):
        out = plot_band_structure(phonon, modes, tmp_path / f"b{dos}.png", npoints=9, dos=dos)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("seed", range(5))
def test_spread_labels_keeps_gap_order_and_centre(seed):
    rng = np.random.default_rng(seed)
    targets = sorted(rng.uniform(-5, 5, size=12).tolist() + [1.0, 1.0, 1.0])
    step = 0.7
    placed = spread_labels(targets, step)
    assert len(placed) == len(targets)
    assert np.all(np.diff(placed) >= step - 1e-9)
    # centred: the mean position of all labels equals the mean of the targets
    assert np.isclose(np.mean(placed), np.mean(targets))
    # uncrowded targets stay where they are
    assert spread_labels([0.0, 10.0], step) == [0.0, 10.0]
