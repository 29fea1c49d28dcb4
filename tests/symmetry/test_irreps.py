from __future__ import annotations

import numpy as np
import pytest

from ase_symbreak.symmetry import analyze, commensurate_kpoints, irreps_at_k

CASES = [
    (
        "srtio3_ti_origin_pm3m",
        [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0, 0.5, 0), (0.25, 0, 0)],
    ),
    ("nacl_rocksalt_fm3m", [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0, 0.5)]),
    ("rutile_tio2_p42mnm", [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0, 0, 0.5), (0, 0.5, 0)]),
    ("nias_p63mmc", [(0, 0, 0), (0, 0, 0.5), (0.5, 0, 0), (1 / 3, 1 / 3, 0)]),
]


@pytest.mark.parametrize("name, kpoints", CASES)
def test_small_irreps_satisfy_group_theory(name, kpoints, request):
    atoms = request.getfixturevalue(name)
    order = analyze(atoms).pointgroup_order
    for k in kpoints:
        irs = irreps_at_k(atoms, k)
        n_little = len(irs[0].little_rotations)
        # star size x little co-group = point group (orbit-stabiliser)
        assert len(irs[0].star) * n_little == order
        # sum of squared dimensions of the (projective) small irreps = |little co-group|
        assert sum(i.small_dim**2 for i in irs) == n_little
        for i in irs:
            # orthonormality of characters: sum |chi|^2 = |G_k/T|
            assert np.isclose(np.sum(np.abs(i.characters) ** 2), n_little)
            assert i.dim == i.small_dim * len(i.star)
            assert i.reality in (-1, 0, 1)
        # distinct irreps are orthogonal
        chis = np.array([i.characters for i in irs])
        gram = chis.conj() @ chis.T / n_little
        assert np.allclose(gram, np.eye(len(irs)), atol=1e-8)


def test_cubic_perovskite_standard_labels(srtio3_ti_origin_pm3m):
    r = irreps_at_k(srtio3_ti_origin_pm3m, (0.5, 0.5, 0.5))
    assert [i.label for i in r] == [
        "R1+",
        "R1-",
        "R2+",
        "R2-",
        "R3+",
        "R3-",
        "R4+",
        "R4-",
        "R5+",
        "R5-",
    ]
    assert all(i.standard_label for i in r)
    m = irreps_at_k(srtio3_ti_origin_pm3m, (0, 0.5, 0.5))
    assert all(i.label.startswith("M") and i.dim in (3, 6) for i in m)
    assert len(m[0].star) == 3
    x = irreps_at_k(srtio3_ti_origin_pm3m, (0.5, 0, 0))
    assert {i.label for i in x} >= {"X3+", "X5-"} and x[0].kpoint_label == "X"


def test_non_maximal_k_gets_systematic_label(srtio3_ti_origin_pm3m):
    irs = irreps_at_k(srtio3_ti_origin_pm3m, (0.25, 0, 0))
    assert all(not i.standard_label for i in irs)
    assert irs[0].label.startswith("k(1/4,0,0)_")
    assert len(irs[0].star) == 6


def test_labels_depend_on_origin(srtio3_ti_origin_pm3m):
    """An origin shift t multiplies characters by exp(-2 pi i k.t) for the same operation."""
    ti = irreps_at_k(srtio3_ti_origin_pm3m, (0.5, 0.5, 0.5), origin_index=1)
    sr = irreps_at_k(srtio3_ti_origin_pm3m, (0.5, 0.5, 0.5), origin_index=0)
    # origin moves by t = (1/2,1/2,1/2): (R, t0) -> (R, t0 + t - R t);
    # chi gains exp(-2 pi i k.(t - R t))
    k = np.array([0.5, 0.5, 0.5])
    t = np.array([0.5, 0.5, 0.5])
    r4p = next(i for i in ti if i.label == "R4+")
    shifted = np.array(
        [
            r4p.character(r, tr) * np.exp(-2j * np.pi * k @ (t - r @ t))
            for r, tr in zip(r4p.little_rotations, r4p.little_translations)
        ]
    )
    match = [
        i.label
        for i in sr
        if np.allclose(
            [i.character(r, tr) for r, tr in zip(r4p.little_rotations, r4p.little_translations)],
            shifted,
        )
    ]
    assert match == ["R5-"]


@pytest.mark.parametrize(
    "name, sc, n_stars",
    [
        ("srtio3_ti_origin_pm3m", (2, 2, 2), 4),
        ("nacl_rocksalt_fm3m", (2, 2, 2), 3),
        ("rutile_tio2_p42mnm", (2, 2, 2), 6),
    ],
)
def test_commensurate_kpoints(name, sc, n_stars, request):
    atoms = request.getfixturevalue(name)
    ks = commensurate_kpoints(atoms, sc)
    assert len(ks) == n_stars
    p = np.diag(sc)
    assert np.allclose((p @ ks.T) % 1, 0) or np.allclose(np.abs(((p @ ks.T) + 0.5) % 1 - 0.5), 0)
    # the stars partition all det(P) commensurate k
    total = sum(len(irreps_at_k(atoms, k)[0].star) for k in ks)
    assert total == int(round(np.linalg.det(p)))
