"""Continuous shape measures and coordination-polyhedron classification."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, mx2
from scipy.spatial.transform import Rotation

from ase_symbreak.environments.invariants import (
    bispectrum,
    environment_distance,
    neighbour_projection,
)
from ase_symbreak.environments.polyhedra import (
    REFERENCE_POLYHEDRA,
    classify_polyhedra,
    classify_site,
    polyhedron_scores,
    reference_polyhedron,
    shape_measure,
)
from ase_symbreak.structures import cubic_perovskite

#: the central atom maps onto the centre; every vertex may go anywhere
OCTAHEDRON = np.vstack([np.eye(3), -np.eye(3)])


def scrambled(vectors: np.ndarray, seed: int, scale: float = 2.3) -> np.ndarray:
    """``vectors`` rotated (random proper rotation), permuted and scaled."""
    rotation = Rotation.random(random_state=seed).as_matrix()
    order = np.random.default_rng(seed).permutation(len(vectors))
    return scale * (vectors @ rotation.T)[order]


def cluster(vectors, bond: float = 2.0) -> Atoms:
    vectors = np.asarray(vectors, dtype=float)
    return Atoms("Ti" + "O" * len(vectors), positions=np.vstack([np.zeros(3), bond * vectors]))


@pytest.mark.parametrize("name", sorted(REFERENCE_POLYHEDRA))
def test_ideal_polyhedron_scores_zero_in_any_orientation_order_and_size(name):
    reference = reference_polyhedron(name)
    for seed in range(2):
        scores = polyhedron_scores(scrambled(reference, seed))
        assert next(iter(scores)) == name
        assert scores[name] < 1e-8
        others = [s for n, s in scores.items() if n != name]
        assert all(s > 1.0 for s in others)


def test_shape_measures_agree_with_published_values_and_are_symmetric():
    """SHAPE (Alvarez et al.): octahedron / trigonal prism 16.737, tetrahedron / square 33.333."""
    assert shape_measure(OCTAHEDRON, reference_polyhedron("trigonal prism")) == pytest.approx(
        16.737, abs=1e-3
    )
    tetrahedron, square = reference_polyhedron("tetrahedron"), reference_polyhedron("square plane")
    assert shape_measure(tetrahedron, square) == pytest.approx(100 / 3, abs=1e-6)
    for a, b in [("cube", "square antiprism"), ("icosahedron", "cuboctahedron")]:
        pa, pb = reference_polyhedron(a), reference_polyhedron(b)
        assert shape_measure(pa, pb) == pytest.approx(shape_measure(pb, pa), abs=1e-6)


def test_distorted_octahedron_score_is_small_and_grows_with_distortion(rng):
    pattern = rng.normal(size=(6, 3))
    scores = []
    for amplitude in (0.0, 0.01, 0.02, 0.05, 0.1):
        vectors = scrambled(OCTAHEDRON + amplitude * pattern, seed=4)
        match = polyhedron_scores(vectors)
        assert next(iter(match)) == "octahedron"
        scores.append(match["octahedron"])
    assert scores[0] < 1e-8 and 0 < scores[1] < 0.1
    assert np.all(np.diff(scores) > 0)
    assert scores[2] / scores[1] == pytest.approx(4, rel=0.1)  # quadratic for small distortions


def test_large_polyhedra_search_is_orientation_independent(rng):
    """N = 12 uses multi-start alternation, not enumeration: a distorted icosahedron must get
    the same score in every orientation and vertex order."""
    vectors = reference_polyhedron("icosahedron") + rng.normal(scale=0.05, size=(12, 3))
    for name in ("icosahedron", "cuboctahedron"):
        scores = [
            shape_measure(scrambled(vectors, seed), reference_polyhedron(name)) for seed in range(4)
        ]
        np.testing.assert_allclose(scores, scores[0], atol=1e-8)


def test_trigonal_prism_recognised_in_any_orientation():
    prism = reference_polyhedron("trigonal prism")
    for seed in range(4):
        match = classify_site(cluster(scrambled(prism, seed, scale=1.0)), 0)
        assert (match.coordination, match.best) == (6, "trigonal prism")
        assert match.score < 1e-8


def test_mos2_molybdenum_is_trigonal_prismatic():
    match = classify_site(mx2("MoS2", kind="2H"), 0)
    assert (match.coordination, match.best) == (6, "trigonal prism")
    assert match.score < 0.01 and match.scores["octahedron"] > 10


def test_srtio3_sites():
    atoms = cubic_perovskite()
    sr, ti, *oxygens = classify_polyhedra(atoms)
    assert (ti.coordination, ti.best) == (6, "octahedron") and ti.score < 1e-8
    assert sorted(atoms.get_chemical_symbols()[i] for i in ti.neighbours) == ["O"] * 6
    np.testing.assert_allclose(np.linalg.norm(ti.vectors, axis=1), 3.9 / 2)
    assert ti.gap == pytest.approx(np.sqrt(3))
    assert (sr.coordination, sr.best) == (12, "cuboctahedron") and sr.score < 1e-8
    for o in oxygens:
        assert (o.coordination, o.best) == (2, "linear") and o.score < 1e-8


def test_rattled_srtio3_titanium_stays_a_slightly_distorted_octahedron(rng):
    atoms = cubic_perovskite()
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    ti = classify_site(atoms, 1)
    assert ti.best == "octahedron" and 0 < ti.score < 1.0


@pytest.mark.parametrize(
    ("atoms", "coordination", "best"),
    [
        (bulk("Si"), 4, "tetrahedron"),
        (bulk("Cu"), 12, "cuboctahedron"),
        (bulk("Fe"), 8, "cube"),
        (bulk("Mg"), 12, "anticuboctahedron"),
    ],
    ids=["Si-diamond", "Cu-fcc", "Fe-bcc", "Mg-hcp"],
)
def test_elemental_crystals(atoms, coordination, best):
    for match in classify_polyhedra(atoms):
        assert (match.coordination, match.best) == (coordination, best)
        assert match.score < 1e-2


def test_neighbour_selection_options():
    iron = bulk("Fe", cubic=True)
    assert classify_site(iron, 0, n_neighbours=8).best == "cube"
    assert classify_site(iron, 0, cutoff=2.6).coordination == 8
    wide = classify_site(iron, 0, cutoff=2.95)  # first and second shell: 14, no reference
    assert wide.coordination == 14 and wide.best is None and np.isnan(wide.score)
    with pytest.raises(ValueError, match="n_neighbours=6 splits a shell"):
        classify_site(iron, 0, n_neighbours=6)
    with pytest.raises(ValueError, match="not both"):
        classify_site(iron, 0, cutoff=3.0, n_neighbours=8)
    with pytest.raises(ValueError, match=re.escape("got -1.0")):
        classify_site(iron, 0, cutoff=-1.0)
    with pytest.raises(ValueError, match=r"site indices \[5\]"):
        classify_polyhedra(iron, [5])
    with pytest.raises(ValueError, match="unknown polyhedron 'dodecahedron'"):
        reference_polyhedron("dodecahedron")
    with pytest.raises(ValueError, match="6 neighbours cannot be compared with a 4-vertex"):
        shape_measure(OCTAHEDRON, reference_polyhedron("tetrahedron"))


def test_bispectrum_cross_check_nearest_reference_matches_shape_measure(rng):
    """The nearest reference by bispectrum distance is the best match by shape measure, for
    slightly distorted, scrambled copies of every reference."""

    def spectrum(vectors):
        return bispectrum(neighbour_projection(cluster(vectors), 3.0, 6)).normalized()[0]

    spectra = {name: spectrum(v) for name, v in REFERENCE_POLYHEDRA.items()}
    for seed, (name, vectors) in enumerate(REFERENCE_POLYHEDRA.items()):
        distorted = scrambled(vectors + rng.normal(scale=0.02, size=vectors.shape), seed, 1.0)
        distorted /= np.linalg.norm(distorted, axis=1, keepdims=True)
        candidates = [n for n, v in REFERENCE_POLYHEDRA.items() if len(v) == len(vectors)]
        by_spectrum = min(
            candidates, key=lambda n: environment_distance(spectrum(distorted), spectra[n])
        )
        assert by_spectrum == next(iter(polyhedron_scores(distorted))) == name
