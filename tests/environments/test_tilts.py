"""Octahedral tilts in Glazer notation and BX6 distortions, on structures of known tilt."""

from __future__ import annotations

import itertools
import json
from functools import lru_cache

import numpy as np
import pytest
import spglib
from ase import Atoms
from ase.build import make_supercell
from scipy.spatial.transform import Rotation

from ase_symbreak.environments.tilted import tilted_perovskite
from ase_symbreak.environments.tilts import (
    TiltAnalysis,
    _canonical_order,
    _letters,
    bond_distortion,
    expected_irreps,
    octahedral_tilts,
)
from ase_symbreak.structures import cubic_perovskite

pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")

#: system (axes x, y, z): angles (degrees), spglib space-group number at symprec 1e-3
KNOWN = {
    "a0a0c-": ((0.0, 0.0, 7.0), 140),  # I4/mcm
    "a0a0c+": ((0.0, 0.0, 7.0), 127),  # P4/mbm
    "a-a-a-": ((6.0, 6.0, 6.0), 167),  # R-3c
    "a0b-b-": ((0.0, 5.0, 5.0), 74),  # Imma
    "a+b-b-": ((8.0, 6.0, 6.0), 62),  # Pnma
    "a+a+a+": ((6.0, 6.0, 6.0), 204),  # Im-3
}
#: systems whose octahedra turn by exactly +-angles[i] (one axis, or all tilts of one phase)
EXACT = {"a0a0c-", "a0a0c+", "a-a-a-", "a0b-b-", "a+a+a+"}
GLAZER_23 = (
    "a+b+c+ a+b+b+ a+a+a+ a+b+c- a+a+c- a+b+b- a+a+a- a+b-c- a+a-c- a+b-b- a+a-a- a-b-c- "
    "a-b-b- a-a-a- a0b+c+ a0b+b+ a0b+c- a0b+b- a0b-c- a0b-b- a0a0c+ a0a0c- a0a0a0"
).split()
CELLS = np.array(list(itertools.product((0, 1), repeat=3)))  # the builder's cell order


@lru_cache(maxsize=None)
def _built(system: str, sign: float = 1.0) -> Atoms:
    return tilted_perovskite(system, sign * np.array(KNOWN[system][0]))


def built(system: str, sign: float = 1.0) -> Atoms:
    return _built(system, sign).copy()


def cell_of(atoms: Atoms) -> tuple:
    return atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers


def sign_pattern(system: str, angles) -> np.ndarray:
    """(8, 3) degrees: s_i(n) angles[i] of the builder's cells."""
    phases = system[1::2]
    out = np.zeros((8, 3))
    for i, phase in enumerate(phases):
        if phase == "-":
            out[:, i] = (-1.0) ** CELLS.sum(axis=1) * angles[i]
        elif phase == "+":
            out[:, i] = (-1.0) ** (CELLS.sum(axis=1) - CELLS[:, i]) * angles[i]
    return out


def z_tilt_stack(senses, theta: float = 6.0, a: float = 3.9) -> Atoms:
    """2 x 2 x len(senses) cells, rigid tilts about z, sense of layer l: senses[l]."""
    d, c = a / 2, np.cos(np.radians(theta))
    nz = len(senses)
    symbols, positions = [], []
    for i, j, k in itertools.product(range(2), range(2), range(nz)):
        angle = np.radians(senses[k] * theta) * (-1) ** (i + j)
        rot = Rotation.from_rotvec([0, 0, angle]).as_matrix()
        b = np.array([i * a * c, j * a * c, k * a])
        symbols += ["Sr", "Ti", "O", "O", "O"]
        positions += [b + [a * c / 2, a * c / 2, a / 2], b, b + d * rot[:, 0], b + d * rot[:, 1]]
        positions.append(b + [0, 0, d])
    return Atoms(symbols, positions=positions, cell=np.diag([2 * a * c, 2 * a * c, nz * a]), pbc=1)


# ----------------------------------------------------------------------------- builder


@pytest.mark.parametrize("system", sorted(KNOWN))
def test_builder_gives_the_space_group_and_regular_octahedra(system):
    atoms = built(system)
    number = KNOWN[system][1]
    assert spglib.get_symmetry_dataset(cell_of(atoms), symprec=1e-3).number == number
    dist = bond_distortion(atoms)
    assert list(dist.b_indices) == list(range(1, 40, 5))
    np.testing.assert_allclose(dist.bond_lengths, 3.9 / 2, atol=1e-10)
    np.testing.assert_allclose(dist.distortion_index, 0, atol=1e-12)
    np.testing.assert_allclose(dist.quadratic_elongation, 1, atol=1e-12)
    np.testing.assert_allclose(dist.bond_angle_variance, 0, atol=1e-9)
    np.testing.assert_allclose(dist.off_centring_norm, 0, atol=1e-12)


def test_builder_rejects_bad_input():
    with pytest.raises(ValueError, match="like 'a\\+b-b-'"):
        tilted_perovskite("a+b-", 5)
    with pytest.raises(ValueError, match="phase '0' but angle 5"):
        tilted_perovskite("a0a0c-", [5, 0, 5])
    with pytest.raises(ValueError, match="phase '-' but angle 0"):
        tilted_perovskite("a0a0c-", [0, 0, 0])
    with pytest.raises(ValueError, match="share letter 'b'"):
        tilted_perovskite("a+b-b-", [8, 6, 5])
    with pytest.raises(ValueError, match="below 30"):
        tilted_perovskite("a0a0c-", 35)
    with pytest.raises(ValueError, match="irregular"):
        tilted_perovskite("a0a0c?", 5)
    with pytest.raises(ValueError, match="rigid=False"):
        tilted_perovskite("a+a+c-", [5, 5, 6])


def test_non_rigid_systems_build_approximately():
    atoms = tilted_perovskite("a+a+c-", [5, 5, 6], rigid=False)
    tilt = octahedral_tilts(atoms)
    assert tilt.glazer == "a+a+c-" and tilt.regular
    np.testing.assert_allclose(tilt.magnitudes, [5, 5, 6], atol=0.1)
    assert bond_distortion(atoms).distortion_index.max() > 1e-6  # no regular octahedra


@pytest.mark.parametrize("system", GLAZER_23)
def test_all_23_glazer_systems_round_trip(system):
    size = {"a": 4.0, "b": 5.0, "c": 6.0}
    angles = [0.0 if p == "0" else size[l] for l, p in zip(system[0::2], system[1::2])]
    try:
        atoms = tilted_perovskite(system, angles)
    except ValueError:  # Woodward's systems without regular octahedra
        atoms = tilted_perovskite(system, angles, rigid=False)
    tilt = octahedral_tilts(atoms)
    assert tilt.glazer == system and tilt.glazer_axes == system and tilt.regular
    tilted = np.array(angles) != 0
    np.testing.assert_allclose(tilt.magnitudes[tilted], np.array(angles)[tilted], atol=0.1)


# ----------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("system", sorted(KNOWN))
def test_recovers_system_and_angles(system, sign):
    angles = sign * np.array(KNOWN[system][0])
    tilt = octahedral_tilts(built(system, sign))
    assert tilt.glazer == system and tilt.glazer_axes == system
    assert tilt.regular and tilt.notes == ()
    assert tilt.phases == tuple(system[1::2])
    np.testing.assert_allclose(tilt.axes, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(tilt.magnitudes, np.abs(angles), atol=1e-9)
    assert sorted(expected_irreps(tilt)) == sorted(
        {"-": "R4+", "+": "M3+"}[p] for p in set(system[1::2]) - {"0"}
    )
    expected = sign_pattern(system, angles)
    if system in EXACT:
        np.testing.assert_allclose(tilt.angles, expected, atol=1e-9)
        np.testing.assert_allclose(tilt.spread, 0, atol=1e-9)
    else:  # Pnma: y and z turns of one octahedron differ at second order, their mean is exact
        assert np.abs(tilt.angles - expected).max() < 1.0
        np.testing.assert_allclose(tilt.angles[:, 1:].mean(axis=1), expected[:, 1], atol=1e-9)
        np.testing.assert_allclose(tilt.angles[:, 0], expected[:, 0], atol=1e-9)


@pytest.mark.parametrize("system", sorted(KNOWN))
def test_negated_angles_negate_the_octahedra(system):
    plus, minus = (octahedral_tilts(built(system, s)) for s in (1.0, -1.0))
    assert plus.glazer == minus.glazer
    np.testing.assert_allclose(minus.magnitudes, plus.magnitudes, atol=1e-9)
    if system in EXACT:
        np.testing.assert_allclose(minus.angles, -plus.angles, atol=1e-9)
    else:  # finite rotations do not commute: the equal pair (y, z) trades places
        np.testing.assert_allclose(minus.angles, -plus.angles[:, [0, 2, 1]], atol=1e-9)


def test_single_axis_tilt_is_the_crystallographic_angle():
    for system in ("a0a0c-", "a0a0c+"):
        tilt = octahedral_tilts(built(system))
        np.testing.assert_allclose(np.abs(tilt.projected_angles[:, 2]), 7.0, atol=1e-9)
        np.testing.assert_allclose(tilt.projected_angles, tilt.angles, atol=1e-9)
    tilt = octahedral_tilts(built("a-a-a-"))  # several axes: second-order difference
    np.testing.assert_allclose(np.abs(tilt.projected_angles), 6.0, atol=0.05)


def test_canonical_order_of_permuted_axes():
    tilt = octahedral_tilts(tilted_perovskite("a-a-c+", [6, 6, 8]))  # in phase about z
    assert tilt.glazer == "a+b-b-" and tilt.glazer_axes == "a-a-c+"
    assert tilt.axis_order == (2, 0, 1) and tilt.phases == ("-", "-", "+")
    pnma = tilted_perovskite("a-a-c+", [6, 6, 8])
    assert spglib.get_symmetry_dataset(cell_of(pnma), symprec=1e-3).number == 62
    tilt = octahedral_tilts(tilted_perovskite("a-b0b0", [7, 0, 0]))
    assert tilt.glazer == "a0a0c-" and tilt.glazer_axes == "a-b0b0"


@pytest.mark.parametrize("system", GLAZER_23)
def test_canonical_symbol_does_not_depend_on_axis_order(system):
    size = {"a": 4.0, "b": 5.0, "c": 6.0}
    phases = system[1::2]
    mags = np.array([0.0 if p == "0" else size[l] for l, p in zip(system[0::2], phases)])
    for perm in itertools.permutations(range(3)):
        ph, mg = [phases[i] for i in perm], mags[list(perm)]
        order = _canonical_order(ph, mg, 0.5)
        assert _letters([ph[i] for i in order], mg[order], 0.5) == system


# ----------------------------------------------------------------------------- settings


def _by_b(tilt: TiltAnalysis, old_index=None) -> dict:
    index = tilt.b_indices if old_index is None else old_index[tilt.b_indices]
    return {int(b): a for b, a in zip(index, tilt.angles)}


@pytest.mark.parametrize("system", sorted(KNOWN))
def test_same_tilts_in_equivalent_cells(system, rng):
    atoms = built(system)
    ref = octahedral_tilts(atoms)
    ref_angles = _by_b(ref)

    def same_system(tilt):
        assert tilt.glazer == ref.glazer and tilt.regular
        np.testing.assert_allclose(np.sort(tilt.magnitudes), np.sort(ref.magnitudes), atol=1e-8)

    rot = Rotation.random(random_state=rng).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell[:] @ rot.T, scale_atoms=True)
    same_system(octahedral_tilts(rotated))
    given = octahedral_tilts(rotated, axes=rot.T)  # axes of the parent, mapped
    for b, a in _by_b(given).items():
        np.testing.assert_allclose(a, ref_angles[b], atol=1e-8)

    perm = rng.permutation(len(atoms))
    shuffled = atoms[perm]
    shuffled.translate(rng.uniform(-3, 3, 3))  # and any origin
    shuffled.wrap()
    tilt = octahedral_tilts(shuffled)
    same_system(tilt)
    for b, a in _by_b(tilt, old_index=perm).items():
        np.testing.assert_allclose(a, ref_angles[b], atol=1e-8)

    same_system(octahedral_tilts(make_supercell(atoms, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])))
    for primitive in (False, True):
        lattice, scaled, numbers = spglib.standardize_cell(
            cell_of(atoms), to_primitive=primitive, symprec=1e-3
        )
        standard = Atoms(numbers=numbers, cell=lattice, scaled_positions=scaled, pbc=True)
        same_system(octahedral_tilts(standard))


def test_axes_are_validated():
    atoms = built("a0a0c-")
    with pytest.raises(ValueError, match="right-handed"):
        octahedral_tilts(atoms, axes=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="\\(3, 3\\)"):
        octahedral_tilts(atoms, axes=np.eye(2))
    with pytest.raises(ValueError, match="linearly dependent"):
        octahedral_tilts(atoms, axes=[[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match="tol"):
        octahedral_tilts(atoms, tol=0)


# ----------------------------------------------------------------------------- untilted, polar


@pytest.mark.parametrize("repeat", [1, 2])
def test_cubic_parent_is_untilted(repeat):
    atoms = cubic_perovskite().repeat(repeat)
    tilt = octahedral_tilts(atoms)
    assert tilt.glazer == "a0a0a0" and tilt.regular
    assert tilt.angles.shape == (repeat**3, 3)
    np.testing.assert_allclose(tilt.angles, 0, atol=1e-10)
    assert expected_irreps(tilt) == frozenset()


def test_polar_child_is_off_centred_not_tilted():
    atoms = cubic_perovskite().repeat(2)
    ti = [a.index for a in atoms if a.symbol == "Ti"]
    atoms.positions[ti, 2] += 0.1
    dist = bond_distortion(atoms)
    np.testing.assert_allclose(dist.off_centring, np.tile([0, 0, 0.1], (8, 1)), atol=1e-12)
    np.testing.assert_allclose(dist.off_centring_norm, 0.1, atol=1e-12)
    assert (dist.distortion_index > 1e-3).all()
    tilt = octahedral_tilts(atoms)
    assert tilt.glazer == "a0a0a0"
    np.testing.assert_allclose(tilt.angles, 0, atol=1e-10)


# ----------------------------------------------------------------------------- distortion


def test_bond_distortion_of_an_elongated_octahedron():
    a, c = 3.9, 4.2
    atoms = cubic_perovskite(a)
    atoms.set_cell([a, a, c], scale_atoms=True)
    dist = bond_distortion(atoms)
    lengths = np.array([a, a, a, a, c, c]) / 2
    mean = lengths.mean()
    np.testing.assert_allclose(np.sort(dist.bond_lengths[0]), lengths, atol=1e-12)
    np.testing.assert_allclose(dist.mean_bond_length, mean)
    np.testing.assert_allclose(dist.distortion_index, np.abs(lengths - mean).mean() / mean)
    volume = a * a * c / 6  # the octahedron inscribed in an a x a x c box
    np.testing.assert_allclose(dist.volume, volume)
    l0 = (3 * volume / 4) ** (1 / 3)
    np.testing.assert_allclose(dist.quadratic_elongation, np.mean((lengths / l0) ** 2))
    assert dist.quadratic_elongation[0] > 1
    np.testing.assert_allclose(dist.bond_angle_variance, 0, atol=1e-9)  # right angles stay
    ideal = bond_distortion(cubic_perovskite(a))
    np.testing.assert_allclose(ideal.distortion_index, 0, atol=1e-15)
    np.testing.assert_allclose(ideal.quadratic_elongation, 1, atol=1e-12)


def test_no_octahedra_raise():
    cscl = Atoms("CsCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[4.1] * 3, pbc=True)
    with pytest.raises(ValueError, match="no BX6 octahedra found"):
        octahedral_tilts(cscl, x_symbols="Cl")
    with pytest.raises(ValueError, match="no BX6 octahedra found"):
        bond_distortion(cscl, x_symbols="Cl")
    with pytest.raises(ValueError, match="equally numerous"):
        bond_distortion(cscl)
    with pytest.raises(ValueError, match="b_symbols"):
        bond_distortion(cubic_perovskite(), b_symbols="Sr")
    with pytest.raises(ValueError, match="not in the structure"):
        bond_distortion(cubic_perovskite(), x_symbols="F")
    nacl = Atoms("Na4Cl4", cell=[5.64] * 3, pbc=True, scaled_positions=[
        [0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0],
        [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5],
    ])  # fmt: skip
    np.testing.assert_allclose(bond_distortion(nacl, x_symbols="Cl").distortion_index, 0)
    with pytest.raises(ValueError, match="corner-sharing"):  # edge-sharing octahedra
        octahedral_tilts(nacl, x_symbols="Cl")


# ----------------------------------------------------------------------------- irregular


def test_layers_tilted_out_of_step_are_irregular():
    assert octahedral_tilts(z_tilt_stack([1, -1])).glazer == "a0a0c-"
    assert octahedral_tilts(z_tilt_stack([1, 1])).glazer == "a0a0c+"
    tilt = octahedral_tilts(z_tilt_stack([1, 1, -1, -1]))
    assert tilt.glazer == "a0a0c?" and not tilt.regular
    assert tilt.phases == ("0", "0", "?") and "neither all in nor all out" in tilt.notes[0]
    np.testing.assert_allclose(tilt.magnitudes, [0, 0, 6], atol=1e-9)
    with pytest.raises(ValueError, match="irregular"):
        expected_irreps(tilt)
    json.dumps(tilt.to_dict())


# ----------------------------------------------------------------------------- irreps


def test_expected_irreps_of_symbols():
    assert expected_irreps("a0a0c-") == {"R4+"}
    assert expected_irreps("a-a-a-") == {"R4+"}
    assert expected_irreps("a+b-b-") == {"M3+", "R4+"}
    assert expected_irreps("a+a+a+") == {"M3+"}
    assert expected_irreps("a0a0a0") == frozenset()
    with pytest.raises(ValueError, match="like 'a\\+b-b-'"):
        expected_irreps("a-a-")


@pytest.mark.parametrize("system", ["a0a0c-", "a+b-b-", "a+a+a+"])
def test_expected_irreps_match_the_mode_decomposition(system):
    from ase_symbreak.symmetry import decompose

    dec = decompose(cubic_perovskite(), built(system))
    largest = max(irrep.amplitude for irrep in dec.irreps)
    strong = {irrep.irrep for irrep in dec.irreps if irrep.amplitude > 0.25 * largest}
    assert strong == expected_irreps(octahedral_tilts(built(system)))
