"""Power spectrum and bispectrum: invariance, parity, counts, smoothness, periodic cells."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import spglib
import torch
from ase import Atoms
from e3nn import o3
from scipy.spatial.transform import Rotation

from ase_symbreak.environments.invariants import (
    MAX_LMAX,
    bispectrum,
    bispectrum_couplings,
    cosine_cutoff,
    environment_distance,
    environment_distance_matrix,
    neighbour_projection,
    power_spectrum,
)
from ase_symbreak.environments.polyhedra import REFERENCE_POLYHEDRA
from ase_symbreak.structures import cubic_perovskite


def cluster(vectors, centre: str = "Ti", ligands: str | None = None, bond: float = 2.0) -> Atoms:
    """A centre at the origin with neighbours at ``bond * vectors`` (not periodic)."""
    vectors = np.asarray(vectors, dtype=float)
    ligands = ligands or "O" * len(vectors)
    return Atoms(centre + ligands, positions=np.vstack([np.zeros(3), bond * vectors]))


def descriptors(atoms: Atoms, cutoff: float = 3.0, lmax: int = 4, **kwargs) -> np.ndarray:
    """Normalised power spectrum and bispectrum side by side, ``(n_atoms, n_columns)``."""
    projection = neighbour_projection(atoms, cutoff, lmax, **kwargs)
    return np.hstack([power_spectrum(projection).normalized(), bispectrum(projection).normalized()])


@pytest.fixture
def chiral_cluster(rng) -> Atoms:
    """A randomly distorted octahedron with two ligand species: no symmetry at all."""
    vectors = np.vstack([np.eye(3), -np.eye(3)]) + rng.normal(scale=0.2, size=(6, 3))
    vectors *= rng.uniform(0.9, 1.1, size=(6, 1)) / np.linalg.norm(vectors, axis=1, keepdims=True)
    return cluster(vectors, ligands="OOOONN")


@pytest.fixture
def rattled_srtio3(rng) -> Atoms:
    atoms = cubic_perovskite().repeat((2, 1, 1))
    atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
    return atoms


def rotated(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    atoms.positions = atoms.positions @ rotation.T
    return atoms


# --- counts ----------------------------------------------------------------------------------


def _character(l: int, theta: np.ndarray) -> np.ndarray:
    """SO(3) character of irrep ``l`` at rotation angle ``theta``: ``1 + 2 sum cos(m theta)``."""
    return 1.0 + 2.0 * sum(np.cos(m * theta) for m in range(1, l + 1))


def molien_invariant_counts(lmax: int) -> tuple[int, int]:
    """Numbers of ``0e`` and ``0o`` in ``Sym^3(0e + 1o + ... + lmax)`` under O(3).

    ``chi_Sym3(g) = (chi(g)^3 + 3 chi(g^2) chi(g) + 2 chi(g^3)) / 6``, averaged over
    SO(3) (class functions of the angle, Haar weight ``(1 - cos theta) / pi``) and over the
    inversion coset ``-R`` (where ``chi(-R) = sum (-1)^l chi_l`` and ``(-R)^2 = R^2``).
    """
    x, w = np.polynomial.legendre.leggauss(200)
    theta = 0.5 * np.pi * (x + 1.0)
    weight = 0.5 * w * (1.0 - np.cos(theta))  # (1/pi) dtheta * (pi/2) from the change of variable

    def chi(k: int, improper: bool) -> np.ndarray:
        sign = (lambda l: (-1) ** l) if improper else (lambda l: 1)
        return sum(sign(l) * _character(l, k * theta) for l in range(lmax + 1))

    def average(improper: bool) -> float:
        c1, c2, c3 = chi(1, improper), chi(2, False), chi(3, improper)
        return float(np.sum(weight * (c1**3 + 3 * c2 * c1 + 2 * c3) / 6))

    proper, improper = average(False), average(True)
    scalars, pseudoscalars = (proper + improper) / 2, (proper - improper) / 2
    assert abs(scalars - round(scalars)) < 1e-8 and abs(pseudoscalars - round(pseudoscalars)) < 1e-8
    return round(scalars), round(pseudoscalars)


def test_lmax4_single_channel_has_14_scalars_and_one_pseudoscalar(chiral_cluster):
    b = bispectrum(neighbour_projection(chiral_cluster, 3.0, 4))
    assert b.values.shape == (len(chiral_cluster), 15)
    assert b.parities.count("0e") == 14 and b.parities.count("0o") == 1
    assert [col for col, p in zip(b.columns, b.parities) if p == "0o"] == [("all", (2, 3, 4))]
    assert o3.Irreps(b.irreps).count(o3.Irrep("0e")) == 14
    # independent derivations: invariants of the symmetric cube of the spherical harmonics
    # (Molien series over O(3)), and e3nn's coupling paths with the exchange symmetry
    assert molien_invariant_counts(4) == (14, 1)
    assert coupling_path_invariants(4) == (14, 1)


@pytest.mark.parametrize("lmax", range(MAX_LMAX + 1))
def test_coupling_count_matches_molien_series(lmax):
    triples = bispectrum_couplings(lmax)
    odd = sum((l1 + l2 + l3) % 2 for l1, l2, l3 in triples)
    assert (len(triples) - odd, odd) == molien_invariant_counts(lmax)


def coupling_path_invariants(lmax: int) -> tuple[int, int]:
    """Numbers of ``0e`` / ``0o`` from e3nn's coupling paths ``ir1 x ir2 -> ir`` (the paths
    of ``o3.FullTensorProduct(sh, sh)``, from ``Irrep.__mul__``).

    Each path, contracted with ``c_L`` (``ir = (L, p)``, ``L <= lmax``), gives one invariant
    of the multiset ``{l1, l2, L}`` with parity ``p (-1)^L``; a multiset is counted once,
    through its pair of equal ``l`` if it has one, else through its two smallest. A pair of
    equal ``l`` (one vector twice) keeps only the paths symmetric under exchange,
    ``(-1)^(2l - L) = +1``: those whose output is itself a spherical harmonic's irrep.
    """
    sh = [ir for _, ir in o3.Irreps.spherical_harmonics(lmax)]
    counts = {"0e": 0, "0o": 0}
    for ir1 in sh:
        for ir2 in sh:
            for out in ir1 * ir2:
                if ir1.l > ir2.l or out.l > lmax:
                    continue
                multiset = sorted((ir1.l, ir2.l, out.l))
                equal = [l for l in multiset if multiset.count(l) >= 2]
                canonical = [equal[0]] * 2 if equal else multiset[:2]
                if [ir1.l, ir2.l] != canonical or (equal and out not in sh):
                    continue
                counts["0e" if out.p == (-1) ** out.l else "0o"] += 1
    return counts["0e"], counts["0o"]


def test_coupling_count_matches_e3nn_coupling_paths():
    assert coupling_path_invariants(4) == (14, 1)
    for lmax in range(MAX_LMAX + 1):
        triples = bispectrum_couplings(lmax)
        odd = sum((l1 + l2 + l3) % 2 for l1, l2, l3 in triples)
        assert coupling_path_invariants(lmax) == (len(triples) - odd, odd)


def test_coupling_count_matches_e3nn_reduced_tensor_products():
    """e3nn's fully symmetric ``ijk=jik=ikj`` products of the harmonics up to l = 1 (larger
    ``lmax`` take minutes)."""
    rtp = o3.ReducedTensorProducts("ijk=jik=ikj", i=o3.Irreps.spherical_harmonics(1))
    assert rtp.irreps_out.count(o3.Irrep("0e")) == len(bispectrum_couplings(1)) == 2
    assert rtp.irreps_out.count(o3.Irrep("0o")) == 0


def test_excluded_couplings_vanish_identically_and_kept_ones_do_not(rng):
    lmax = 4
    kept = set(bispectrum_couplings(lmax))
    c = {l: rng.normal(size=2 * l + 1) for l in range(lmax + 1)}
    for l1 in range(lmax + 1):
        for l2 in range(l1, lmax + 1):
            for l3 in range(l2, min(l1 + l2, lmax) + 1):
                w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
                value = np.einsum("abc,a,b,c->", w3j, c[l1], c[l2], c[l3])
                if (l1, l2, l3) in kept:
                    assert abs(value) > 1e-3, (l1, l2, l3)
                else:
                    assert abs(value) < 1e-12, (l1, l2, l3)


# --- invariance and parity ---------------------------------------------------------------------


def test_invariant_under_rotation_translation_and_permutation(rattled_srtio3, rng):
    kwargs = dict(cutoff=4.2, lmax=4, species_channels=True)
    reference = descriptors(rattled_srtio3, **kwargs)
    scale = np.abs(reference).max()
    for seed in range(3):
        turned = rotated(rattled_srtio3, Rotation.random(random_state=seed).as_matrix())
        np.testing.assert_allclose(descriptors(turned, **kwargs), reference, atol=1e-12 * scale)
    shifted = rattled_srtio3.copy()
    shifted.positions += rng.normal(size=3) * 3.0
    np.testing.assert_allclose(descriptors(shifted, **kwargs), reference, atol=1e-12 * scale)
    order = rng.permutation(len(rattled_srtio3))
    np.testing.assert_allclose(
        descriptors(rattled_srtio3[order], **kwargs), reference[order], atol=1e-12 * scale
    )


def test_permuting_ligands_of_one_species_leaves_centre_unchanged(chiral_cluster):
    swapped = chiral_cluster[[0, 3, 1, 4, 2, 6, 5]]  # O ligands reordered, N ligands swapped
    np.testing.assert_allclose(descriptors(swapped)[0], descriptors(chiral_cluster)[0], atol=1e-14)


def test_pseudoscalar_flips_under_inversion_scalars_do_not(chiral_cluster):
    def centre_bispectrum(atoms):
        return bispectrum(neighbour_projection(atoms, 3.0, 4))

    b = centre_bispectrum(chiral_cluster)
    inverted = chiral_cluster.copy()
    inverted.positions = -inverted.positions
    b_inv = centre_bispectrum(inverted)
    odd = np.array([p == "0o" for p in b.parities])
    pseudo = b.normalized()[0, odd]
    assert np.all(np.abs(pseudo) > 1e-3)  # chiral: the pseudoscalar is far from zero
    np.testing.assert_allclose(b_inv.values[:, odd], -b.values[:, odd], atol=1e-14)
    np.testing.assert_allclose(b_inv.values[:, ~odd], b.values[:, ~odd], atol=1e-14)
    # a proper rotation keeps the sign
    turned = rotated(chiral_cluster, Rotation.random(random_state=7).as_matrix())
    np.testing.assert_allclose(centre_bispectrum(turned).values, b.values, atol=1e-13)
    np.testing.assert_allclose(
        power_spectrum(neighbour_projection(inverted, 3.0, 4)).values,
        power_spectrum(neighbour_projection(chiral_cluster, 3.0, 4)).values,
        atol=1e-14,
    )


def test_irreps_of_projection_and_parity_of_harmonics(chiral_cluster):
    projection = neighbour_projection(chiral_cluster, 3.0, 4)
    assert str(projection.irreps) == "1x0e+1x1o+1x2e+1x3o+1x4e"
    assert projection.coefficients.shape == (len(chiral_cluster), 1, 25)
    inverted = chiral_cluster.copy()
    inverted.positions = -inverted.positions
    flipped = neighbour_projection(inverted, 3.0, 4)
    for l in range(5):
        np.testing.assert_allclose(flipped.block(l), (-1) ** l * projection.block(l), atol=1e-14)


# --- telling shapes apart ----------------------------------------------------------------------


def twisted_octahedron() -> tuple[np.ndarray, np.ndarray]:
    """An octahedron viewed along [111] and its Bailar twist: the trigonal prism with the same
    bond lengths and the same polar angles (the lower triangle eclipsing the upper one)."""
    octahedron = np.vstack([np.eye(3), -np.eye(3)])
    align = Rotation.align_vectors([[0.0, 0.0, 1.0]], [[1.0, 1.0, 1.0]])[0].as_matrix()
    octahedron = octahedron @ align.T
    prism = octahedron.copy()
    prism[prism[:, 2] < 0] *= [-1.0, -1.0, 1.0]  # turn the lower triangle by 180 = 60 deg
    return octahedron, prism


def test_octahedron_and_trigonal_prism_told_apart_by_bispectrum_not_low_l_power():
    """Same bonds, same polar angles: p_0, p_1, p_2 coincide (both have zero l = 1, 2
    moments), p_3 differs (0 for the centrosymmetric octahedron) and so does the bispectrum."""
    octahedron, prism = twisted_octahedron()
    p_oct, p_prism = (
        power_spectrum(neighbour_projection(cluster(v), 3.0, 4)) for v in (octahedron, prism)
    )
    ls = np.array([col[0] for col in p_oct.columns])
    np.testing.assert_allclose(p_oct.values[0, ls <= 2], p_prism.values[0, ls <= 2], atol=1e-12)
    assert abs(p_oct.values[0, ls == 3]).max() < 1e-12 < 1e-2 < p_prism.values[0, ls == 3].min()
    b_oct, b_prism = (
        bispectrum(neighbour_projection(cluster(v), 3.0, 4)).normalized()[0]
        for v in (octahedron, prism)
    )
    assert environment_distance(b_oct, b_prism) > 1e-2  # noise is ~1e-15


def test_reference_polyhedra_of_equal_coordination_have_distinct_bispectra():
    spectra = {
        name: bispectrum(neighbour_projection(cluster(v), 3.0, 4)).normalized()[0]
        for name, v in REFERENCE_POLYHEDRA.items()
    }
    for a, va in REFERENCE_POLYHEDRA.items():
        for b, vb in REFERENCE_POLYHEDRA.items():
            if a < b and len(va) == len(vb):
                assert environment_distance(spectra[a], spectra[b]) > 1e-3, (a, b)


# --- smoothness --------------------------------------------------------------------------------


def test_descriptors_change_smoothly_with_displacement(chiral_cluster, rng):
    direction = rng.normal(size=chiral_cluster.positions.shape)
    direction /= np.linalg.norm(direction)
    base = descriptors(chiral_cluster)

    def slope(eps: float) -> float:
        moved = chiral_cluster.copy()
        moved.positions += eps * direction
        return np.linalg.norm(descriptors(moved) - base) / eps

    slopes = np.array([slope(eps) for eps in (1e-3, 1e-4, 1e-5)])
    assert np.all(slopes < 10.0)  # dimensionless descriptors, bonds ~2 A: O(1) per A
    assert abs(slopes[1] - slopes[2]) < 1e-3 * slopes[2]
    assert abs(slopes[0] - slopes[2]) < 2e-2 * slopes[2]


def test_neighbour_crossing_the_cutoff_changes_descriptors_continuously(chiral_cluster):
    cutoff = 3.0
    direction = np.array([0.6, 0.0, 0.8])

    def with_extra_neighbour(r: float) -> np.ndarray:
        atoms = chiral_cluster.copy()
        atoms.append("O")
        atoms.positions[-1] = r * direction
        return descriptors(atoms, cutoff=cutoff)[0]

    without = descriptors(chiral_cluster, cutoff=cutoff)[0]
    np.testing.assert_allclose(with_extra_neighbour(cutoff + 1e-3), without, atol=1e-15)
    jumps = [np.linalg.norm(with_extra_neighbour(cutoff - d) - without) for d in (1e-2, 1e-3)]
    # zero value and slope at the cutoff: the change goes as d**2
    assert jumps[1] < 1e-5 and jumps[0] / jumps[1] == pytest.approx(100, rel=0.05)


def test_cosine_cutoff():
    r = np.array([0.0, 1.5, 3.0, 4.0])
    np.testing.assert_allclose(cosine_cutoff(r, 3.0), [1.0, 0.5, 0.0, 0.0], atol=1e-15)
    h = 1e-6
    assert abs(cosine_cutoff(3.0 - h, 3.0) - cosine_cutoff(3.0 - 2 * h, 3.0)) / h < 1e-5


# --- periodic cells ----------------------------------------------------------------------------


def test_srtio3_sites_of_one_wyckoff_orbit_share_descriptors():
    atoms = cubic_perovskite().repeat((2, 2, 2))
    orbits = spglib.get_symmetry_dataset(
        (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    ).equivalent_atoms
    values = descriptors(atoms, cutoff=4.5, species_channels=True)
    for orbit in np.unique(orbits):
        members = values[orbits == orbit]
        np.testing.assert_allclose(members, np.broadcast_to(members[0], members.shape), atol=1e-12)
    firsts = values[np.unique(orbits)]
    assert (
        min(np.linalg.norm(firsts[i] - firsts[j]) for i in range(3) for j in range(i + 1, 3)) > 1e-2
    )


def test_distance_matrix_between_structures(rattled_srtio3):
    parent = cubic_perovskite().repeat((2, 1, 1))
    turned = rotated(parent, Rotation.random(random_state=3).as_matrix())
    d = environment_distance_matrix(parent, turned, cutoff=4.2, species_channels=True)
    assert d.shape == (10, 10)
    same = parent.numbers[:, None] == parent.numbers[None, :]
    assert d[same].max() < 1e-10 and d[~same].min() > 1e-2
    d_rattled = environment_distance_matrix(
        parent, rattled_srtio3, cutoff=4.2, kind="power_spectrum"
    )
    assert np.all(np.diag(d_rattled) > 1e-6)


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("cutoff", [0.0, -1.0, math.nan, math.inf, "far"])
def test_bad_cutoff_is_named(chiral_cluster, cutoff):
    with pytest.raises(ValueError, match=f"cutoff .* got {re.escape(repr(cutoff))}"):
        neighbour_projection(chiral_cluster, cutoff=cutoff)


@pytest.mark.parametrize("lmax", [-1, MAX_LMAX + 1, 2.5, True])
def test_bad_lmax_is_named(chiral_cluster, lmax):
    with pytest.raises(ValueError, match=f"lmax .* got {re.escape(repr(lmax))}"):
        neighbour_projection(chiral_cluster, lmax=lmax)


def test_missing_species_channel_is_named(chiral_cluster):
    with pytest.raises(ValueError, match=r"\['N'\]"):
        neighbour_projection(chiral_cluster, species_channels=True, species=["Ti", "O"])


def test_atom_without_neighbours_gets_zeros(chiral_cluster):
    atoms = chiral_cluster.copy()
    atoms.append("Xe")
    atoms.positions[-1] = [20.0, 0.0, 0.0]
    projection = neighbour_projection(atoms, 3.0, 4)
    assert projection.weights[-1] == 0.0 and not projection.coefficients[-1].any()
    for invariants in (power_spectrum(projection), bispectrum(projection)):
        assert not invariants.values[-1].any() and not invariants.normalized()[-1].any()
