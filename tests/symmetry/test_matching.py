"""The atom matchers of symmetry/matching.py: nearest sites, minimum-image sites, permutations."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from ase_symbreak.symmetry import lattice, matching
from ase_symbreak.symmetry.matching import (
    atom_permutations,
    displacements_from,
    minimum_image_sites,
    nearest_sites,
)
from ase_symbreak.symmetry.spacegroup import analyze


def test_doctests_of_matching():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(matching):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


def test_minimum_image_sites_recovers_a_shuffled_copy(rutile_tio2_p42mnm, rng):
    atoms = rutile_tio2_p42mnm
    frac = atoms.get_scaled_positions()
    order = rng.permutation(len(atoms))
    shift = rng.integers(-2, 3, size=(len(atoms), 3))  # other lattice images
    moved = frac[order] + shift + rng.normal(scale=1e-4, size=frac.shape)
    index, distance = minimum_image_sites(
        moved, atoms.numbers[order], frac, atoms.numbers, atoms.cell[:]
    )
    assert index.tolist() == order.tolist()
    assert distance.max() < 1e-2
    assert index.dtype == np.int64


def test_minimum_image_sites_only_matches_the_same_species(srtio3_ti_origin_pm3m):
    atoms = srtio3_ti_origin_pm3m
    frac = atoms.get_scaled_positions()
    # a Sr atom put on the Ti site (the origin) goes to the Sr site, 0.87 * a away
    sr = int(np.flatnonzero(atoms.numbers == 38)[0])
    index, distance = minimum_image_sites([[0.0, 0.0, 0.0]], [38], frac, atoms.numbers, atoms.cell)
    assert index.tolist() == [sr]
    assert distance[0] == pytest.approx(np.sqrt(3) / 2 * atoms.cell[0, 0])
    # no site of that species: distance inf
    _, distance = minimum_image_sites([[0.0, 0.0, 0.0]], [1], frac, atoms.numbers, atoms.cell)
    assert distance.tolist() == [np.inf]


@pytest.mark.parametrize("name", ["nacl_rocksalt_conventional_fm3m", "nias_p63mmc"])
def test_matchers_agree_on_the_permutations_of_the_space_group(name, request):
    atoms = request.getfixturevalue(name)
    info = analyze(atoms)
    frac = atoms.get_scaled_positions()
    perms = atom_permutations(frac, atoms.numbers, info.rotations, info.translations)
    for perm, r, t in zip(perms, info.rotations, info.translations):
        images = frac @ r.T + t
        index, distance = minimum_image_sites(
            images, atoms.numbers, frac, atoms.numbers, atoms.cell
        )
        assert index.tolist() == perm.tolist()
        assert distance.max() < 1e-8
        # the 27-image search of nearest_sites names the same site
        assert nearest_sites(images, atoms.numbers, atoms).index.tolist() == perm.tolist()
        assert sorted(perm.tolist()) == list(range(len(atoms)))


def test_atom_permutations_keeps_its_old_home():
    assert lattice.atom_permutations is atom_permutations


def test_atom_permutations_rejects_an_operation_that_is_not_a_symmetry(nias_p63mmc):
    atoms = nias_p63mmc
    frac = atoms.get_scaled_positions()
    with pytest.raises(ValueError, match="operation 0 does not map the structure onto itself"):
        atom_permutations(frac, atoms.numbers, np.eye(3, dtype=int)[None], [[0.1, 0.0, 0.0]])


def test_nearest_sites_takes_the_nearest_image_in_a_skewed_cell(rng):
    from ase import Atoms

    cell = np.array([[4.0, 0, 0], [3.9, 1.0, 0], [0, 0, 4.0]])  # very oblique a, b
    ref = Atoms("H", cell=cell, scaled_positions=[[0, 0, 0]], pbc=True)
    frac = rng.uniform(-1, 1, size=(50, 3))
    match = nearest_sites(frac, np.ones(50, dtype=int), ref)
    images = np.array(np.meshgrid(*[range(-4, 5)] * 3)).reshape(3, -1).T
    brute = np.linalg.norm((frac[:, None, :] - images[None]) @ cell, axis=-1).min(axis=1)
    np.testing.assert_allclose(match.distance, brute, atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm((frac - match.translation) @ cell, axis=1), brute, atol=1e-12
    )
    assert match.second_distance.tolist() == [np.inf] * 50
    # rounding the fractional difference is not always the nearest image there
    _, rounded = minimum_image_sites(frac, np.ones(50), [[0, 0, 0]], [1], cell)
    assert np.all(rounded >= brute - 1e-12) and np.any(rounded > brute + 1e-3)


def test_displacements_from_is_in_reference_order(srtio3_ti_origin_pm3m, rng):
    ref = srtio3_ti_origin_pm3m
    u = rng.normal(scale=0.05, size=(len(ref), 3))
    moved = ref.copy()
    moved.positions += u
    order = rng.permutation(len(ref))
    np.testing.assert_allclose(displacements_from(moved[order], ref), u, atol=1e-12)
    with pytest.raises(ValueError, match="more than 0.01 A"):
        displacements_from(moved, ref, max_distance=0.01)
    with pytest.raises(ValueError, match="different cells"):
        displacements_from(moved.repeat((2, 1, 1)), ref)
