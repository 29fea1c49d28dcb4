"""Coordination polyhedra: continuous shape measures against ideal reference polyhedra.

The shape measure follows Pinsky and Avnir (the SHAPE program's ``ML_n`` convention, the
central atom included as a vertex that maps onto the reference's centre)::

    S = 100 * min_{R, s, t, perm} sum_k |q_k - (s R p_perm(k) + t)|^2 / sum_k |q_k - q0|^2

over the central atom and its ``N`` neighbours ``q_k``, the reference's centre and
vertices ``p_k``, proper rotations ``R``, scales ``s``, translations ``t`` and permutations
of the neighbours; ``q0`` is the centroid of the ``q_k``. ``S`` is 0 for the ideal shape
in any orientation, size and vertex order and at most 100. For ``N <= EXACT_MAX`` (8)
every permutation is enumerated, each with its optimal (Kabsch) rotation: the minimum is
exact. Larger polyhedra alternate :func:`scipy.optimize.linear_sum_assignment` with Kabsch
rotations, started from every rotation that takes an ordered pair of reference vertices
onto one of a few fixed pairs of neighbours: exact for ideal shapes, a close upper bound
for strongly distorted ones.

By default neighbours are reduced to unit vectors, so the measure sees bond angles only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from ase_symbreak.validation import check_atoms

__all__ = [
    "REFERENCE_POLYHEDRA",
    "PolyhedronMatch",
    "reference_polyhedron",
    "shape_measure",
    "polyhedron_scores",
    "classify_site",
    "classify_polyhedra",
]

#: Largest coordination number whose shape measure enumerates every permutation (exact);
#: larger ones use :data:`SEARCH_ANCHORS`-fold multi-start alternating optimisation.
EXACT_MAX = 8
SEARCH_ANCHORS = 3

#: Angstrom; default radius within which neighbours are looked for by the gap criterion.
SEARCH_RADIUS = 6.0


def _unit(v: ArrayLike) -> NDArray[np.float64]:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _ring(n: int, z: float = 0.0, phase: float = 0.0) -> NDArray[np.float64]:
    """``n`` unit vectors at polar height ``z``, azimuths ``phase + 2 pi k / n``."""
    phi = phase + 2 * np.pi * np.arange(n) / n
    r = math.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), np.full(n, z)], axis=1)


def _references() -> dict[str, NDArray[np.float64]]:
    poles = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    octahedron = np.vstack([np.eye(3), -np.eye(3)])
    tetrahedron = _unit([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    # Equal edges on the unit sphere: prism r^2 = 4/7; square antiprism h^2 = r^2 sqrt(2) / 4.
    prism_z = math.sqrt(3.0 / 7.0)
    antiprism_z = math.sqrt((math.sqrt(2) / 4) / (1 + math.sqrt(2) / 4))
    cuboctahedron = _unit(
        [
            v
            for v in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T
            if np.count_nonzero(v) == 2
        ]
    )
    axis = _unit([1.0, 1.0, 1.0])
    height = cuboctahedron @ axis
    # Anticuboctahedron (triangular orthobicupola, hcp): the lower triangle of the
    # cuboctahedron viewed along [111] replaced by the mirror image of the upper one.
    upper = cuboctahedron[height > 1e-9]
    anticuboctahedron = np.vstack(
        [cuboctahedron[height >= -1e-9], upper - 2 * np.outer(upper @ axis, axis)]
    )
    golden = (1 + math.sqrt(5)) / 2
    icosahedron = _unit(
        [np.roll([0.0, s1, s2 * golden], k) for k in range(3) for s1 in (1, -1) for s2 in (1, -1)]
    )
    return {
        "linear": poles,
        "trigonal planar": _ring(3),
        "T-shaped": np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]]),
        "trigonal pyramid": tetrahedron[1:],
        "tetrahedron": tetrahedron,
        "square plane": _ring(4),
        "seesaw": np.vstack([poles, _ring(3)[:2]]),
        "trigonal bipyramid": np.vstack([poles, _ring(3)]),
        "square pyramid": octahedron[:5],
        "octahedron": octahedron,
        "trigonal prism": np.vstack([_ring(3, prism_z), _ring(3, -prism_z)]),
        "hexagon": _ring(6),
        "pentagonal bipyramid": np.vstack([poles, _ring(5)]),
        "cube": _unit(np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T),
        "square antiprism": np.vstack([_ring(4, antiprism_z), _ring(4, -antiprism_z, np.pi / 4)]),
        "hexagonal bipyramid": np.vstack([poles, _ring(6)]),
        "cuboctahedron": cuboctahedron,
        "anticuboctahedron": anticuboctahedron,
        "icosahedron": icosahedron,
    }


def _frozen(arrays: dict[str, NDArray[np.float64]]) -> Mapping[str, NDArray[np.float64]]:
    for array in arrays.values():
        array.setflags(write=False)
    return MappingProxyType(arrays)


#: Ideal polyhedra as ``(N, 3)`` unit vectors from the centre, by name.
REFERENCE_POLYHEDRA: Mapping[str, NDArray[np.float64]] = _frozen(_references())


def reference_polyhedron(name: str) -> NDArray[np.float64]:
    """``(N, 3)`` unit vectors of the ideal polyhedron ``name`` (:data:`REFERENCE_POLYHEDRA`)."""
    if name not in REFERENCE_POLYHEDRA:
        raise ValueError(f"unknown polyhedron {name!r}; known: {sorted(REFERENCE_POLYHEDRA)}")
    return REFERENCE_POLYHEDRA[name]


def _references_with(n: int) -> list[str]:
    return [name for name, v in REFERENCE_POLYHEDRA.items() if len(v) == n]


def _frame(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Orthonormal columns: ``a``, the part of ``b`` normal to it, their cross product."""
    e1 = a / np.linalg.norm(a)
    e2 = b - (b @ e1) * e1
    if np.linalg.norm(e2) < 1e-6:  # collinear: any normal direction
        e2 = np.cross(e1, np.eye(3)[np.argmin(np.abs(e1))])
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def _check_vectors(vectors: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"{what} must be an (N, 3) array with N >= 1, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} has non-finite entries")
    if (np.linalg.norm(v, axis=1) < 1e-8).any():
        raise ValueError(f"{what} has a zero vector (a neighbour on top of the centre)")
    return v


def shape_measure(vectors: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
    """Continuous shape measure (0..100) of ``vectors`` against ``reference``.

    Parameters
    ----------
    vectors
        ``(N, 3)`` neighbour positions relative to the central atom (any length unit).
    reference
        ``(N, 3)`` ideal vertices relative to the reference's centre.
    """
    q = _check_vectors(vectors, "vectors")
    p = _check_vectors(reference, "reference")
    if len(q) != len(p):
        raise ValueError(f"{len(q)} neighbours cannot be compared with a {len(p)}-vertex reference")
    q_all = np.vstack([np.zeros(3), q])
    p_all = np.vstack([np.zeros(3), p])
    q_all -= q_all.mean(axis=0)
    p_all -= p_all.mean(axis=0)
    norm = float(np.sum(q_all**2) * np.sum(p_all**2))
    if len(q) <= EXACT_MAX:
        best = _best_overlap_exact(q_all, p_all)
    else:
        best = _best_overlap_search(q, p, q_all, p_all, norm)
    return float(max(0.0, 100.0 * (1.0 - best * best / norm)))


@lru_cache(maxsize=None)
def _permutations(n: int) -> NDArray[np.int64]:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)


def _kabsch_overlaps(h: NDArray[np.float64]) -> NDArray[np.float64]:
    """``max_R trace(R h)`` over proper rotations for a stack ``(..., 3, 3)`` of ``h``."""
    s = np.linalg.svd(h, compute_uv=False)  # det(U V^T) has the sign of det(h)
    return s[..., 0] + s[..., 1] + np.where(np.linalg.det(h) < 0, -1.0, 1.0) * s[..., 2]


def _best_overlap_exact(q: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    """Max of ``sum q_k . R p_perm(k)`` by enumerating every permutation (exact)."""
    perms = _permutations(len(q) - 1)
    h = np.matmul(p[1:][perms].transpose(0, 2, 1), q[1:]) + np.outer(p[0], q[0])
    return float(_kabsch_overlaps(h).max())


def _best_overlap_search(
    q: NDArray[np.float64],
    p: NDArray[np.float64],
    q_all: NDArray[np.float64],
    p_all: NDArray[np.float64],
    norm: float,
) -> float:
    """Alternating assignment / Kabsch from many starts (exact for ideal shapes).

    Starts: every rotation taking an ordered pair of reference vertices ``(p_i, p_j)`` onto
    ``(q_a, q_b)``, for :data:`SEARCH_ANCHORS` anchors ``q_a`` and ``q_b`` the neighbour most
    orthogonal to ``q_a``.
    """
    n = len(q)
    unit = _unit(q)
    frames_p = [_frame(p[i], p[j]) for i in range(n) for j in range(n) if i != j]
    best = -np.inf
    for a in range(min(SEARCH_ANCHORS, n)):
        b = int(np.argmax(np.linalg.norm(np.cross(unit[a], unit), axis=1)))
        start = _frame(q[a], q[b])
        for frame in frames_p:
            best = max(best, _refine(start @ frame.T, q_all, p_all))
            if 1.0 - best * best / norm < 1e-12:
                return best
    return best


def _refine(rotation: NDArray[np.float64], q: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    """Alternate assignment and Kabsch rotation until the assignment repeats; return the
    converged ``sum q_k . R p_perm(k)``.

    ``q`` and ``p`` are ``(N + 1, 3)`` centred, the centre first (never permuted).
    """
    perm = None
    overlap = -np.inf
    for _ in range(50):
        rows, cols = linear_sum_assignment(q[1:] @ (p[1:] @ rotation.T).T, maximize=True)
        new = np.concatenate([[0], 1 + cols[np.argsort(rows)]])
        if perm is not None and np.array_equal(new, perm):
            break
        perm = new
        h = p[perm].T @ q
        u, _, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
        rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
        overlap = float(np.trace(rotation @ h))
    return overlap


def polyhedron_scores(vectors: NDArray[np.float64], unit: bool = True) -> dict[str, float]:
    """Shape measures of ``(N, 3)`` bond vectors against every reference with ``N`` vertices.

    Sorted by ascending score (best first); empty when no reference has ``N`` vertices.
    With ``unit``, the vectors are normalised first (angles only).
    """
    q = _check_vectors(vectors, "vectors")
    if unit:
        q = _unit(q)
    scores = {
        name: shape_measure(q, REFERENCE_POLYHEDRA[name]) for name in _references_with(len(q))
    }
    return dict(sorted(scores.items(), key=lambda item: item[1]))


@dataclass(frozen=True)
class PolyhedronMatch:
    """The coordination polyhedron of one site and its best-matching ideal shape.

    Attributes
    ----------
    index : int
        The central atom.
    coordination : int
        Number of neighbours ``N``.
    best : str | None
        Name of the reference with the lowest shape measure; ``None`` when no reference has
        ``N`` vertices.
    score : float
        Shape measure of ``best`` (0..100; 0 is ideal); NaN when ``best`` is ``None``.
    scores : dict[str, float]
        Shape measure against every reference with ``N`` vertices, best first.
    neighbours : NDArray[int]
        ``(N,)`` atom indices of the neighbours (nearest first).
    offsets : NDArray[int]
        ``(N, 3)`` cell shifts of the neighbours' periodic images.
    vectors : NDArray[float]
        ``(N, 3)`` Angstrom, bond vectors from the central atom.
    gap : float
        ``d_{N+1} / d_N``, next neighbour distance over the farthest neighbour's (inf when
        there is no further atom within the search radius).
    """

    index: int
    coordination: int
    best: str | None
    score: float
    scores: dict[str, float]
    neighbours: NDArray[np.int64]
    offsets: NDArray[np.int64]
    vectors: NDArray[np.float64]
    gap: float


def classify_polyhedra(
    atoms: Atoms,
    indices: Sequence[int] | None = None,
    cutoff: float | None = None,
    n_neighbours: int | None = None,
    search_radius: float = SEARCH_RADIUS,
    unit: bool = True,
    neighbour_symbols: Sequence[str] | None = None,
) -> tuple[PolyhedronMatch, ...]:
    """Classify the coordination polyhedron of every site in ``indices`` (default: all).

    Neighbours (periodic images included along ``atoms.pbc``) are, in order of precedence:
    all atoms within ``cutoff`` Angstrom; the ``n_neighbours`` nearest (``ValueError`` if
    that splits a shell of equidistant atoms); by default the first shell by a gap
    criterion: among the coordination numbers ``N`` of the references, with neighbours
    sorted by distance ``d_1 <= d_2 <= ...`` within ``search_radius``, the ``N`` with the
    largest ratio ``d_{N+1} / d_N`` (``d_{N+1}`` is ``search_radius`` past the last one).
    ``neighbour_symbols``: count only neighbours of these species (e.g. the anions around a
    cation).
    """
    check_atoms(atoms, what="classify_polyhedra: atoms")
    if cutoff is not None and n_neighbours is not None:
        raise ValueError(
            f"give cutoff or n_neighbours, not both (got {cutoff!r} and {n_neighbours!r})"
        )
    radius = _check_length(
        search_radius if cutoff is None else cutoff,
        "search_radius" if cutoff is None else "cutoff",
    )
    if n_neighbours is not None and (
        isinstance(n_neighbours, bool)
        or not isinstance(n_neighbours, (int, np.integer))
        or n_neighbours < 1
    ):
        raise ValueError(f"n_neighbours must be a positive integer, got {n_neighbours!r}")
    if indices is None:
        indices = range(len(atoms))
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < len(atoms)]
    if bad:
        raise ValueError(f"site indices {bad} out of range for {len(atoms)} atoms")
    first, second, shifts, distances, vectors = neighbor_list("ijSdD", atoms, radius)
    if neighbour_symbols is not None:
        keep = np.isin(np.asarray(atoms.get_chemical_symbols())[second], list(neighbour_symbols))
        first, second, shifts, distances, vectors = (
            x[keep] for x in (first, second, shifts, distances, vectors)
        )
    order = np.lexsort((second, distances, first))
    first, second, shifts, distances, vectors = (
        x[order] for x in (first, second, shifts, distances, vectors)
    )
    starts = np.searchsorted(first, np.arange(len(atoms) + 1))
    return tuple(
        _classify(
            i,
            slice(starts[i], starts[i + 1]),
            (second, shifts, distances, vectors),
            cutoff,
            n_neighbours,
            radius,
            unit,
        )
        for i in indices
    )


def _check_length(value: float, name: str) -> float:
    try:
        length = float(value)
    except (TypeError, ValueError):
        length = math.nan
    if not (math.isfinite(length) and length > 0):
        raise ValueError(f"{name} must be a finite length > 0 (Angstrom), got {value!r}")
    return length


def classify_site(atoms: Atoms, index: int, **kwargs) -> PolyhedronMatch:
    """Classify the coordination polyhedron of site ``index`` (see :func:`classify_polyhedra`)."""
    return classify_polyhedra(atoms, [index], **kwargs)[0]


def _classify(
    index: int,
    rows: slice,
    neighbours: tuple[NDArray, ...],
    cutoff: float | None,
    n_neighbours: int | None,
    radius: float,
    unit: bool,
) -> PolyhedronMatch:
    second, shifts, distances, vectors = (x[rows] for x in neighbours)
    found = len(distances)
    if found == 0:
        raise ValueError(f"site {index} has no neighbour within {radius} A")
    padded = np.append(distances, np.inf)
    if cutoff is not None:
        n = found
    elif n_neighbours is not None:
        if n_neighbours > found:
            raise ValueError(
                f"site {index} has only {found} neighbours within {radius} A, "
                f"n_neighbours={n_neighbours}"
            )
        n = n_neighbours
        if padded[n] - padded[n - 1] < 1e-6 * padded[n - 1]:
            raise ValueError(
                f"n_neighbours={n} splits a shell of atoms {padded[n - 1]:.4f} A from site {index}"
            )
    else:
        candidates = sorted({len(v) for v in REFERENCE_POLYHEDRA.values() if len(v) <= found})
        if not candidates:
            raise ValueError(
                f"site {index} has {found} neighbours within {radius} A, fewer than any "
                f"reference polyhedron"
            )
        beyond = np.append(distances, radius)
        n = max(candidates, key=lambda k: beyond[k] / beyond[k - 1])
    scores = polyhedron_scores(vectors[:n], unit=unit)
    best = next(iter(scores), None)
    return PolyhedronMatch(
        index=index,
        coordination=n,
        best=best,
        score=scores[best] if best is not None else math.nan,
        scores=scores,
        neighbours=second[:n].copy(),
        offsets=shifts[:n].copy(),
        vectors=vectors[:n].copy(),
        gap=float(padded[n] / padded[n - 1]),
    )
