"""Issue 36: decompositions of strongly strained children.

Round trips: known modes condensed into a parent, then a large shear and volume change
applied; the decomposition recovers the amplitudes (displacements are measured in the
parent's metric) and the applied strain, split into the parent's irreps at Gamma. Monoclinic
zirconia (baddeleyite) decomposes against fluorite with the same irreps from any cell of
either.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import make_supercell
from ase.spacegroup import crystal

from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import decompose, isotropy_subgroups, map_to_parent
from ase_symbreak.symmetry.mapping import DEFAULT_MAX_STRAIN


def fluorite(a: float = 5.07):
    return crystal(
        ["Zr", "O"],
        [(0, 0, 0), (0.25, 0.25, 0.25)],
        spacegroup=225,
        cellpar=[a, a, a, 90, 90, 90],
        primitive_cell=True,
    )


def baddeleyite():
    """Monoclinic ZrO2, P2_1/c (literature cell and sites), beta = 99.2 degrees."""
    return crystal(
        ["Zr", "O", "O"],
        [(0.2754, 0.0395, 0.2083), (0.0700, 0.3317, 0.3447), (0.4416, 0.7569, 0.4792)],
        spacegroup=14,
        cellpar=[5.1505, 5.2116, 5.3173, 90, 99.23, 90],
    )


def monoclinic_deformation(beta_deg: float, volume_ratio: float) -> np.ndarray:
    """Cartesian F: the z axis tilted towards x so that beta(x, z) = ``beta_deg``, then the
    volume scaled by ``volume_ratio``."""
    beta = np.radians(beta_deg)
    shear = np.array([[1.0, 0.0, np.cos(beta)], [0.0, 1.0, 0.0], [0.0, 0.0, np.sin(beta)]])
    return volume_ratio ** (1 / 3) * shear / np.linalg.det(shear) ** (1 / 3)


def deformed(atoms, f: np.ndarray):
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ f.T, scale_atoms=True)
    return out


def biot(f: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(f.T @ f)
    return (v * np.sqrt(w)) @ v.T - np.eye(3)


def amplitudes(dec, threshold: float = 1e-4) -> dict[str, float]:
    return {ir.irrep: ir.amplitude for ir in dec.significant(threshold)}


def supercell_amplitudes(dec, threshold: float = 1e-4) -> dict[str, float]:
    """``As`` over the child's primitive cell: the same whichever parent cell is given
    (``Ap`` is per parent cell as given: doubled for the 4-cell conventional fluorite)."""
    return {ir.irrep: ir.amplitude_supercell for ir in dec.significant(threshold)}


def strain_amplitudes(dec) -> dict[str, float]:
    return {m.irrep: m.amplitude for m in dec.strain_modes}


@pytest.mark.parametrize("beta", [100.0, 80.0])
def test_fluorite_modes_survive_a_large_shear_and_volume_change(beta):
    parent = fluorite()
    child = isotropy_subgroups(parent, "X2-", amplitude=0.3)[1].structure  # P4_2/nmc
    reference = decompose(parent, child)
    f = monoclinic_deformation(beta, 1.05)
    strained = decompose(parent, deformed(child, f))
    # the displacive amplitudes are those of the unstrained child: the parent's metric
    assert amplitudes(strained) == pytest.approx(amplitudes(reference), abs=1e-8)
    assert set(amplitudes(strained)) == {"X2-"}
    # the strain is the one applied (rotation removed), and its irreps add up to it
    np.testing.assert_allclose(strained.strain, biot(f), atol=1e-9)
    parts = sum(m.tensor for m in strained.strain_modes)
    np.testing.assert_allclose(parts, strained.strain, atol=1e-12)
    modes = strain_amplitudes(strained)
    assert set(modes) == {"GM1+", "GM3+", "GM5+"}
    volume = np.trace(biot(f)) / 3
    assert modes["GM1+"] == pytest.approx(np.sqrt(3) * abs(volume), rel=1e-9)
    assert modes["GM5+"] > modes["GM3+"]  # a shear is mostly T2g
    assert max(abs(strained.principal_strains)) > 0.05  # beyond the old 0.05 limit


def test_perovskite_polar_mode_with_a_large_tetragonal_strain():
    parent = cubic_perovskite(3.9)
    child = isotropy_subgroups(parent, "GM4-", amplitude=0.3)[1].structure  # P4mm
    reference = decompose(parent, child)
    c_over_a, volume = 1.06, 1.04  # PbTiO3-like
    a = (volume / c_over_a) ** (1 / 3)
    f = np.diag([a, a, a * c_over_a])
    strained = decompose(parent, deformed(child, f))
    assert amplitudes(strained) == pytest.approx(amplitudes(reference), abs=1e-8)
    np.testing.assert_allclose(strained.strain, f - np.eye(3), atol=1e-9)
    modes = strain_amplitudes(strained)
    assert set(modes) == {"GM1+", "GM3+"}  # volume and tetragonality, no shear
    e = np.diag(f) - 1
    assert modes["GM1+"] == pytest.approx(abs(e.sum()) / np.sqrt(3), rel=1e-9)
    assert modes["GM3+"] == pytest.approx(np.linalg.norm(e - e.mean()), rel=1e-9)


def test_the_least_strained_correspondence_is_chosen():
    """A 2x1x1 perovskite cell squeezed along a: the correspondence keeps the doubled axis
    where it is (principal strains of a few percent), not a sheared alternative."""
    parent = cubic_perovskite(3.9)
    child = make_supercell(parent, np.diag([2, 1, 1]))
    child.set_cell(child.cell[:] @ np.diag([0.97, 1.0, 1.02]), scale_atoms=True)
    mapping = map_to_parent(parent, child)
    assert np.abs(np.linalg.eigvalsh(mapping.strain)).max() == pytest.approx(0.03, abs=1e-9)
    assert sorted(np.abs(np.diag(mapping.supercell_matrix)).tolist()) == [1, 1, 2]


def test_a_strain_beyond_the_limit_names_the_option():
    parent = fluorite()
    with pytest.raises(ValueError, match="--max-strain"):
        decompose(parent, baddeleyite(), max_strain=0.1)
    assert DEFAULT_MAX_STRAIN >= 0.15


def _reoriented(atoms, seed: int = 3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ q.T, scale_atoms=True)
    return out


def _other_cell(atoms):
    """The same crystal in another (unimodular) cell, atoms in another order."""
    out = make_supercell(atoms, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    return out[np.random.default_rng(5).permutation(len(out))]


def test_baddeleyite_against_fluorite_from_any_cell():
    primitive = fluorite(5.09)
    conventional = crystal(
        ["Zr", "O"], [(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225, cellpar=[5.09] * 3 + [90] * 3
    )
    child = baddeleyite()
    reference = decompose(primitive, child)
    found = amplitudes(reference, 0.05)
    # the primary and secondary modes of the monoclinic phase (As = 2 Ap here)
    assert set(found) == {"X5+", "X2-", "X5-", "GM5+", "X3-"}
    assert found["X5+"] == pytest.approx(0.669, abs=0.005)
    assert found["X2-"] == pytest.approx(0.634, abs=0.005)
    as_found = supercell_amplitudes(reference, 0.05)
    for parent in (primitive, conventional, _reoriented(primitive)):
        for other in (child, _other_cell(child), _reoriented(child)):
            dec = decompose(parent, other)
            assert supercell_amplitudes(dec, 0.05) == pytest.approx(as_found, abs=1e-6)
            if len(parent) == len(primitive):
                assert amplitudes(dec, 0.05) == pytest.approx(found, abs=1e-6)
            assert strain_amplitudes(dec) == pytest.approx(strain_amplitudes(reference), abs=1e-8)
    assert set(strain_amplitudes(reference)) == {"GM1+", "GM3+", "GM5+"}


@pytest.mark.slow  # two SevenNet-0 relaxations (about a minute)
def test_relaxed_baddeleyite_decomposes_against_relaxed_fluorite():
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.workflows.steps import relax

    calc = SymBreakCalculator()
    parent = relax(fluorite(5.09), calc, fmax=1e-3, keep_symmetry=True).atoms
    child = relax(baddeleyite(), calc, fmax=1e-3, keep_symmetry=True).atoms
    dec = decompose(parent, child)
    found = amplitudes(dec, 0.05)
    assert {"X5+", "X2-", "X5-"} <= set(found)
    assert 90 < child.cell.cellpar()[4] < 105
    again = decompose(_reoriented(parent), _other_cell(child))
    assert amplitudes(again, 0.05) == pytest.approx(found, abs=1e-6)


def test_command_line_defaults_match_the_library():
    """The CLI writes the strain limit as a literal (it starts without numpy): keep it equal."""
    import inspect

    from ase_symbreak.cli.search import search_command
    from ase_symbreak.cli.symmetry import decompose_command
    from ase_symbreak.workflows import SearchSettings

    for command in (search_command, decompose_command):
        default = inspect.signature(command).parameters["max_strain"].default
        assert default == DEFAULT_MAX_STRAIN == SearchSettings().max_strain


def test_the_search_identifies_a_strongly_strained_child():
    """The search's identify step decomposes baddeleyite against fluorite with the default
    limits, and says which option to raise when a limit is hit."""
    from ase_symbreak.workflows.steps import identify

    kw = dict(condensed=("X2-",), child_energy=0.0, parent_energy=0.0)
    idn = identify(baddeleyite(), fluorite(5.09), **kw)
    assert idn.error is None and idn.space_group_symbol == "P2_1/c"
    assert [ir.irrep for ir in idn.primary] == ["X2-"]
    assert {"X5+", "X5-"} <= {ir.irrep for ir in idn.secondary}
    strict = identify(baddeleyite(), fluorite(5.09), max_strain=0.05, **kw)
    assert strict.error is not None and "--max-strain" in strict.error and not strict.irreps
