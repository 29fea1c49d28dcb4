"""Octahedral tilts of perovskite-derived structures in Glazer notation, and B-site distortions.

Each B cation with six X anions at the shortest distance is an octahedron; octahedra that
share an X are neighbours and their B-B vectors give the pseudo-cubic axes. Every
octahedron's rotation is the Kabsch fit of an ideal octahedron along those axes to its six
X (taken from their centroid, so B off-centring does not count as a tilt).

Angle convention
----------------
``angles[n, i]`` is component ``i`` of the octahedron's **rotation vector** (axis times
angle, right-handed) in the pseudo-cubic frame, in degrees. For a tilt about a single axis
it is exactly the angle by which the four X in the plane perpendicular to that axis turn;
inverting the rotation negates all three components. ``projected_angles`` gives that
crystallographic angle (the mean turn of the four X perpendicular to each axis) for every
axis. For tilts about several axes the two differ at second order in the angles.

Glazer symbol
-------------
About axis ``i``: ``0`` when no octahedron turns by ``tol`` or more, ``+`` when neighbours
along ``i`` turn the same way (in phase), ``-`` when they turn opposite ways (out of phase),
``?`` when neither holds for every pair (``TiltAnalysis.notes`` says why). Axes with equal
magnitudes (within ``equal_tol``; all zero axes are equal) share a letter, otherwise axis
``k`` of the written symbol has letter ``"abc"[k]`` (``a0a0c-``, ``a+b-b-``). The
canonical symbol writes zero axes first, then in-phase, then out-of-phase axes; within a
phase, single magnitudes before equal pairs, and an in-phase axis equal to an out-of-phase
one last among the in-phase axes (first among the out-of-phase), which gives Glazer's 23
symbols as he wrote them (``a+b+b+``, ``a+b+b-``, ``a+a-c-``, ``a-b-b-``, ...).

References: A. M. Glazer, Acta Cryst. B28, 3384 (1972); P. M. Woodward, Acta Cryst. B53,
32 (1997); W. H. Baur, Acta Cryst. B30, 1195 (1974); K. Robinson, G. V. Gibbs and
P. H. Ribbe, Science 172, 567 (1971).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence, cast

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from ase_symbreak.validation import check_atoms

__all__ = [
    "BondDistortion",
    "TiltAnalysis",
    "bond_distortion",
    "expected_irreps",
    "octahedral_tilts",
]

#: Irreps of Pm-3m (B at the origin, Bilbao/ISOTROPY labels) of the two kinds of tilt.
TILT_IRREPS = {"-": "R4+", "+": "M3+"}

#: An octahedron's seventh-nearest X must be this much farther than its sixth.
_MIN_GAP = 1.1
#: Default B: the octahedral species with the shortest bonds and any within this factor
#: (B and B' of double perovskites; the A site's sixth X is ~40% farther).
_B_SPREAD = 1.15
_PHASE_RANK = {"0": 0, "+": 1, "-": 2, "?": 3}
_GLAZER = re.compile(r"^([abc])([0+\-?])([abc])([0+\-?])([abc])([0+\-?])$")
#: Ideal octahedron: +x, -x, +y, -y, +z, -z.
_IDEAL = np.concatenate([np.eye(3), -np.eye(3)])[[0, 3, 1, 4, 2, 5]]


@dataclass(frozen=True)
class _Octahedra:
    b_indices: NDArray  # (n,), int
    x_indices: NDArray  # (n, 6), int, nearest first
    vectors: NDArray  # (n, 6, 3), Angstrom, B -> X (periodic images resolved)


@dataclass(frozen=True)
class TiltAnalysis:
    """Octahedral tilts of a perovskite-derived structure.

    Attributes
    ----------
    glazer : str
        Canonical Glazer symbol, e.g. ``"a+b-b-"`` (axes reordered, see module docs).
    glazer_axes : str
        The symbol with the pseudo-cubic axes in the order of ``axes`` (not reordered).
    axis_order : tuple[int, int, int]
        Index into ``axes`` of the axis written at each position of ``glazer``.
    phases : tuple[str, str, str]
        Per pseudo-cubic axis: ``"+"``, ``"-"``, ``"0"`` or ``"?"`` (irregular).
    magnitudes : NDArray[float]
        ``(3,)`` degrees, mean over octahedra of ``|angles[:, i]|``.
    spread : NDArray[float]
        ``(3,)`` degrees, max minus min over octahedra of ``|angles[:, i]|``.
    angles : NDArray[float]
        ``(n_octahedra, 3)`` degrees, rotation-vector components in the pseudo-cubic frame.
    projected_angles : NDArray[float]
        ``(n_octahedra, 3)`` degrees, mean turn about each axis of the four X perpendicular
        to it (the angle crystallographers quote).
    rotations : NDArray[float]
        ``(n_octahedra, 3, 3)`` fitted rotations in the pseudo-cubic frame.
    b_indices : NDArray[int]
        ``(n_octahedra,)`` index of each octahedron's B atom.
    axes : NDArray[float]
        ``(3, 3)`` rows: the right-handed orthonormal pseudo-cubic axes, Cartesian.
    regular : bool
        True when every phase is ``+``, ``-`` or ``0``.
    notes : tuple[str, ...]
        Why a phase is ``?``; empty when ``regular``.
    tol : float
        Degrees; rotations below it count as none.
    """

    glazer: str
    glazer_axes: str
    axis_order: tuple[int, int, int]
    phases: tuple[str, str, str]
    magnitudes: NDArray  # (3,), degrees
    spread: NDArray  # (3,), degrees
    angles: NDArray = field(repr=False)  # (n_octahedra, 3), degrees
    projected_angles: NDArray = field(repr=False)  # (n_octahedra, 3), degrees
    rotations: NDArray = field(repr=False)  # (n_octahedra, 3, 3)
    b_indices: NDArray = field(repr=False)  # (n_octahedra,), int
    axes: NDArray = field(repr=False)  # (3, 3), rows, Cartesian
    regular: bool = True
    notes: tuple[str, ...] = ()
    tol: float = 0.5

    def to_dict(self) -> dict:
        """JSON-serialisable dict; angles in degrees."""
        return {
            "glazer": self.glazer,
            "glazer_axes": self.glazer_axes,
            "axis_order": list(self.axis_order),
            "phases": list(self.phases),
            "magnitudes": self.magnitudes.tolist(),
            "spread": self.spread.tolist(),
            "angles": self.angles.tolist(),
            "projected_angles": self.projected_angles.tolist(),
            "b_indices": self.b_indices.tolist(),
            "axes": self.axes.tolist(),
            "regular": self.regular,
            "notes": list(self.notes),
            "tol": self.tol,
        }


@dataclass(frozen=True)
class BondDistortion:
    """Distortion of each BX6 octahedron.

    Attributes
    ----------
    b_indices : NDArray[int]
        ``(n,)`` index of each octahedron's B atom.
    x_indices : NDArray[int]
        ``(n, 6)`` indices of its X atoms, nearest first.
    bond_lengths : NDArray[float]
        ``(n, 6)`` Angstrom, B-X distances, nearest first.
    mean_bond_length : NDArray[float]
        ``(n,)`` Angstrom.
    distortion_index : NDArray[float]
        ``(n,)`` Baur's ``mean |l_i - l_avg| / l_avg``; 0 for a regular octahedron.
    quadratic_elongation : NDArray[float]
        ``(n,)`` Robinson's ``mean (l_i / l_0)^2``, ``l_0`` the centre-vertex distance of
        the regular octahedron of the same volume; 1 for a regular octahedron.
    bond_angle_variance : NDArray[float]
        ``(n,)`` degrees^2, Robinson's ``sum (theta_cis - 90)^2 / 11`` over the 12 cis
        X-B-X angles.
    volume : NDArray[float]
        ``(n,)`` Angstrom^3, volume of the octahedron (convex hull of its X).
    off_centring : NDArray[float]
        ``(n, 3)`` Angstrom, B position minus the centroid of its six X (Cartesian).
    off_centring_norm : NDArray[float]
        ``(n,)`` Angstrom.
    """

    b_indices: NDArray  # (n,), int
    x_indices: NDArray  # (n, 6), int
    bond_lengths: NDArray  # (n, 6), Angstrom
    mean_bond_length: NDArray  # (n,), Angstrom
    distortion_index: NDArray  # (n,)
    quadratic_elongation: NDArray  # (n,)
    bond_angle_variance: NDArray  # (n,), degrees^2
    volume: NDArray  # (n,), Angstrom^3
    off_centring: NDArray  # (n, 3), Angstrom
    off_centring_norm: NDArray  # (n,), Angstrom


# ----------------------------------------------------------------------------- octahedra


def _x_species(symbols: NDArray, x_symbols: Sequence[str] | str | None) -> list[str]:
    if x_symbols is None:
        counts = Counter(symbols.tolist()).most_common()
        if len(counts) < 2:
            raise ValueError(f"need at least two species for BX6 octahedra, got {counts}")
        if counts[0][1] == counts[1][1]:
            raise ValueError(
                f"cannot tell the anion X: {counts[0][0]} and {counts[1][0]} are equally "
                f"numerous ({counts[0][1]}); pass x_symbols"
            )
        return [counts[0][0]]
    x = [x_symbols] if isinstance(x_symbols, str) else list(x_symbols)
    missing = sorted(set(x) - set(symbols.tolist()))
    if missing or not x:
        raise ValueError(f"x_symbols {x} not in the structure's species {sorted(set(symbols))}")
    return x


def _find_octahedra(
    atoms: Atoms, b_symbols: Sequence[str] | str | None, x_symbols: Sequence[str] | str | None
) -> _Octahedra:
    check_atoms(atoms, what="structure for octahedra")
    symbols = np.array(atoms.get_chemical_symbols())
    x_species = _x_species(symbols, x_symbols)
    is_x = np.isin(symbols, x_species)
    if is_x.all():
        raise ValueError(f"no cations: every atom is one of x_symbols {x_species}")
    cutoff, pairs = 3.0, None
    while cutoff <= 24.0:  # shortest cation-X distance sets the search radius
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        pairs = ~is_x[i] & is_x[j]
        if pairs.any():
            break
        cutoff *= 2
    if pairs is None or not pairs.any():
        raise ValueError(f"no BX6 octahedra found: no X ({x_species}) near any cation")
    cutoff = 2.0 * d[pairs].min()
    i, j, d, vec = neighbor_list("ijdD", atoms, cutoff)
    keep = ~is_x[i] & is_x[j]
    i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]

    sort = np.lexsort((d, i))  # by cation, nearest X first
    i, j, d, vec = i[sort], j[sort], d[sort], vec[sort]
    nearest: dict[int, tuple[NDArray, NDArray, NDArray]] = {}
    gaps: dict[str, list[tuple[float, float]]] = {}
    for a in np.flatnonzero(~is_x):
        order = np.arange(*np.searchsorted(i, [a, a + 1]))
        d6 = d[order[5]] if order.size >= 6 else np.inf
        d7 = d[order[6]] if order.size >= 7 else cutoff  # a lower bound
        gaps.setdefault(str(symbols[a]), []).append((d6, d7))
        if order.size >= 6 and d7 >= _MIN_GAP * d6:
            nearest[int(a)] = (j[order[:6]], vec[order[:6]], d[order[:6]])

    def report() -> str:
        return ", ".join(
            f"{s}: 6th {np.mean([g[0] for g in v]):.3g} A, 7th {np.mean([g[1] for g in v]):.3g} A"
            for s, v in gaps.items()
        )

    octahedral = {s for s in gaps if all(int(a) in nearest for a in np.flatnonzero(symbols == s))}
    if b_symbols is None:
        if not octahedral:
            raise ValueError(
                f"no BX6 octahedra found (X = {x_species}): no cation species has 6 X "
                f"nearer than its 7th by {_MIN_GAP}x ({report()})"
            )
        d6 = {s: np.mean([g[0] for g in gaps[s]]) for s in octahedral}
        shortest = min(d6.values())
        b_species = sorted(s for s in octahedral if d6[s] <= _B_SPREAD * shortest)
    else:
        b_species = [b_symbols] if isinstance(b_symbols, str) else list(b_symbols)
        bad = [s for s in b_species if s not in octahedral]
        if bad or not b_species:
            raise ValueError(
                f"no BX6 octahedra around b_symbols {bad or b_species} (X = {x_species}): "
                f"6 X nearer than the 7th by {_MIN_GAP}x are needed ({report()})"
            )
    b = np.array(sorted(a for a in nearest if symbols[a] in b_species), dtype=int)
    return _Octahedra(
        b_indices=b,
        x_indices=np.array([nearest[a][0] for a in b], dtype=int).reshape(-1, 6),
        vectors=np.array([nearest[a][1] for a in b], dtype=float).reshape(-1, 6, 3),
    )


# ----------------------------------------------------------------------------- distortion


def bond_distortion(
    atoms: Atoms,
    b_symbols: Sequence[str] | str | None = None,
    x_symbols: Sequence[str] | str | None = None,
) -> BondDistortion:
    """Bond lengths, distortion indices and off-centring of every BX6 octahedron.

    Parameters
    ----------
    atoms : ase.Atoms
        Any structure with BX6 octahedra (periodic or not).
    b_symbols, x_symbols : str or sequence of str, optional
        Species of the centres and of the anions. Default: X the most numerous species;
        B the cation species whose atoms all have six X nearer than the seventh by 10%,
        with the shortest sixth B-X distance (and any such species within 15% of it).

    Returns
    -------
    BondDistortion

    Raises
    ------
    ValueError
        If no octahedra are found (the message gives each cation's 6th and 7th X distance).
    """
    octa = _find_octahedra(atoms, b_symbols, x_symbols)
    vec = octa.vectors
    lengths = np.linalg.norm(vec, axis=2)
    mean = lengths.mean(axis=1)
    unit = vec / lengths[..., None]
    cos = np.einsum("nki,nli->nkl", unit, unit)
    rows, cols = np.triu_indices(6, 1)
    pair_angles = np.degrees(np.arccos(np.clip(cos[:, rows, cols], -1, 1)))  # (n, 15)
    cis = np.sort(pair_angles, axis=1)[:, :12]  # the three trans angles are the largest
    volume = np.array([ConvexHull(v).volume for v in vec])
    l0 = (3 * volume / 4) ** (1 / 3)
    centre = -vec.mean(axis=1)
    return BondDistortion(
        b_indices=octa.b_indices,
        x_indices=octa.x_indices,
        bond_lengths=lengths,
        mean_bond_length=mean,
        distortion_index=np.abs(lengths - mean[:, None]).mean(axis=1) / mean,
        quadratic_elongation=((lengths / l0[:, None]) ** 2).mean(axis=1),
        bond_angle_variance=((cis - 90.0) ** 2).sum(axis=1) / 11,
        volume=volume,
        off_centring=centre,
        off_centring_norm=np.linalg.norm(centre, axis=1),
    )


# ----------------------------------------------------------------------------- tilts


def _links(octa: _Octahedra) -> list[tuple[int, int, int, int, NDArray]]:
    """``(p, kp, q, kq, B_p -> B_q)`` for every X shared by two octahedra (vertices kp, kq)."""
    seen: dict[int, list[tuple[int, int]]] = {}
    for p, xs in enumerate(octa.x_indices):
        for k, x in enumerate(xs):
            seen.setdefault(int(x), []).append((p, k))
    links = []
    for x, owners in seen.items():
        if len(owners) > 2:
            raise ValueError(
                f"X atom {x} is a vertex of {len(owners)} octahedra: not a corner-sharing "
                "perovskite network (edge- or face-sharing octahedra have no Glazer tilts)"
            )
        if len(owners) == 2:
            (p, kp), (q, kq) = owners
            links.append((p, kp, q, kq, octa.vectors[p, kp] - octa.vectors[q, kq]))
    if not links:
        raise ValueError("the octahedra share no X: no corner-sharing network to analyse")
    return links


def _proper_frame(matrix: NDArray) -> NDArray:
    """Rows: the right-handed orthonormal frame closest to the rows of ``matrix``."""
    u, _, vt = np.linalg.svd(matrix)
    frame = u @ vt
    if np.linalg.det(frame) < 0:
        raise ValueError(f"pseudo-cubic axes must be right-handed, got rows {matrix.tolist()}")
    return frame


def _pseudo_cubic_axes(vectors: NDArray) -> NDArray:
    """Right-handed orthonormal rows along the three clusters of B-B vectors ``(m, 3)``."""
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    first = unit[0]
    second = unit[np.argmin(np.abs(unit @ first))]
    second = second - (second @ first) * first
    guess = np.array([first, second / np.linalg.norm(second), np.cross(first, second)])
    guess[2] /= np.linalg.norm(guess[2])
    for _ in range(2):  # assign each vector to its nearest axis, average, re-snap
        overlap = unit @ guess.T
        axis = np.argmax(np.abs(overlap), axis=1)
        sign = np.sign(overlap[np.arange(len(unit)), axis])
        mean = np.array(
            [
                (sign[axis == a, None] * vectors[axis == a]).sum(axis=0) / max((axis == a).sum(), 1)
                for a in range(3)
            ]
        )
        for a in range(3):  # an axis without links (layered structures): from the others
            if not (axis == a).any():
                mean[a] = np.cross(mean[(a + 1) % 3], mean[(a + 2) % 3])
                mean[a] *= np.linalg.norm(mean[(a + 1) % 3]) / np.linalg.norm(mean[a])
        if np.linalg.det(mean) < 0:
            mean[2] *= -1
        guess = _proper_frame(mean)
    best, score = guess, -np.inf
    for perm in itertools.permutations(range(3)):  # the proper relabelling nearest Cartesian
        for signs in itertools.product((1, -1), repeat=3):
            cand = np.array(signs)[:, None] * guess[list(perm)]
            if np.linalg.det(cand) > 0 and np.trace(cand) > score + 1e-9:
                best, score = cand, np.trace(cand)
    return best


def _fit_rotations(local: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Kabsch fits of the ideal octahedron to centred vertices ``(n, 6, 3)`` (frame coords).

    Returns rotations ``(n, 3, 3)``, ``directions (n, 6)`` (index into ``_IDEAL`` of each
    vertex) and projected angles ``(n, 3)`` in degrees.
    """
    n = len(local)
    rotations = np.empty((n, 3, 3))
    directions = np.empty((n, 6), dtype=int)
    projected = np.empty((n, 3))
    for o, u in enumerate(local):
        unit = u / np.linalg.norm(u, axis=1)[:, None]
        _, dirs = linear_sum_assignment(-(unit @ _IDEAL.T))
        directions[o] = dirs
        h = u.T @ _IDEAL[dirs]  # sum_k u_k e_k^T
        w, _, vt = np.linalg.svd(h)
        fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(w @ vt))])
        rotations[o] = w @ fix @ vt
        vertex = {int(dv): u[k] for k, dv in enumerate(dirs)}
        for i in range(3):  # rotation about e_i takes e_j towards e_m, (i, j, m) cyclic
            j, m = (i + 1) % 3, (i + 2) % 3
            pj, nj, pm, nm = (vertex[2 * j], vertex[2 * j + 1], vertex[2 * m], vertex[2 * m + 1])
            turns = np.arctan2([pj[m], -nj[m], -pm[j], nm[j]], [pj[j], -nj[j], pm[m], -nm[m]])
            projected[o, i] = np.degrees(turns.mean())
    return rotations, directions, projected


def _letters(phases: Sequence[str], magnitudes: NDArray, equal_tol: float) -> str:
    def equal(a: int, b: int) -> bool:
        if "0" in (phases[a], phases[b]):
            return phases[a] == phases[b]
        return abs(magnitudes[a] - magnitudes[b]) <= equal_tol

    out: list[str] = []
    for k in range(3):
        letter = next((out[j][0] for j in range(k) if equal(j, k)), "abc"[k])
        out.append(letter + phases[k])
    return "".join(out)


def _canonical_order(phases: Sequence[str], magnitudes: NDArray, equal_tol: float) -> list[int]:
    def equal(a: int, b: int) -> bool:
        return abs(magnitudes[a] - magnitudes[b]) <= equal_tol

    def key(i: int) -> tuple[int, int, int, int]:
        other = {"+": "-", "-": "+"}.get(phases[i])
        crossed = any(phases[j] == other and equal(i, j) for j in range(3) if j != i)
        cross = (1 if crossed else 0) if phases[i] == "+" else (0 if crossed else 1)
        paired = any(phases[j] == phases[i] and equal(i, j) for j in range(3) if j != i)
        return (_PHASE_RANK[phases[i]], cross if other else 0, int(paired), i)

    return sorted(range(3), key=key)


def _phases(
    angles: NDArray, links: list[tuple[int, int, int]], tol: float
) -> tuple[list[str], list[str]]:
    """Phase per axis from the rotations of neighbours ``(p, q, axis)``."""
    phases, notes = [], []
    name = "xyz"
    for i in range(3):
        theta = angles[:, i]
        if np.abs(theta).max() < tol:
            phases.append("0")
            continue
        if (np.abs(theta) < tol).any():
            phases.append("?")
            notes.append(f"axis {name[i]}: some octahedra turn by {tol} deg or more, others not")
            continue
        along = [np.sign(theta[p] * theta[q]) for p, q, a in links if a == i]
        across = [np.sign(theta[p] * theta[q]) for p, q, a in links if a != i]
        if not along:
            phases.append("?")
            notes.append(f"axis {name[i]}: no corner-sharing neighbours along it")
        elif any(s > 0 for s in across):
            phases.append("?")
            notes.append(
                f"axis {name[i]}: neighbours perpendicular to it turn the same way "
                "(corner-sharing octahedra turn opposite ways)"
            )
        elif all(s > 0 for s in along):
            phases.append("+")
        elif all(s < 0 for s in along):
            phases.append("-")
        else:
            phases.append("?")
            notes.append(
                f"axis {name[i]}: neighbours along it are neither all in nor all out of phase"
            )
    return phases, notes


def octahedral_tilts(
    atoms: Atoms,
    b_symbols: Sequence[str] | str | None = None,
    x_symbols: Sequence[str] | str | None = None,
    axes: NDArray | Sequence[Sequence[float]] | None = None,
    tol: float = 0.5,
    equal_tol: float | None = None,
) -> TiltAnalysis:
    """Octahedral tilts in Glazer notation of an ABX3 perovskite child in any cell.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic structure of corner-sharing BX6 octahedra: any supercell, setting, origin
        or atom order.
    b_symbols, x_symbols : str or sequence of str, optional
        Species of the octahedron centres and of the anions; default as in
        :func:`bond_distortion`.
    axes : array_like, optional
        ``(3, 3)`` rows along the pseudo-cubic axes (Cartesian, any lengths, right-handed),
        e.g. the parent's lattice vectors mapped into this cell; snapped to the nearest
        orthonormal frame and kept in the given order. Default: from the B-B vectors
        through shared X, snapped the same way and relabelled to lie nearest the
        Cartesian x, y, z.
    tol : float
        Degrees; a rotation below it counts as none.
    equal_tol : float, optional
        Degrees; magnitudes closer than this share a Glazer letter (default ``tol``).

    Returns
    -------
    TiltAnalysis

    Raises
    ------
    ValueError
        No octahedra, octahedra that share no corners or share edges, bad ``axes`` or
        tolerances.
    """
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number of degrees, got {tol!r}")
    equal_tol = tol if equal_tol is None else equal_tol
    if not (np.isfinite(equal_tol) and equal_tol >= 0):
        raise ValueError(f"equal_tol must be a non-negative number of degrees, got {equal_tol!r}")
    octa = _find_octahedra(atoms, b_symbols, x_symbols)
    links = _links(octa)
    if axes is None:
        frame = _pseudo_cubic_axes(np.array([v for *_, v in links]))
    else:
        given = np.asarray(axes, dtype=float)
        if given.shape != (3, 3) or not np.isfinite(given).all():
            raise ValueError(f"axes must be a finite (3, 3) array of rows, got {given.tolist()}")
        if abs(np.linalg.det(given)) < 1e-8 * np.linalg.norm(given) ** 3:
            raise ValueError(f"axes are linearly dependent: {given.tolist()}")
        frame = _proper_frame(given)
    vertices = octa.vectors - octa.vectors.mean(axis=1, keepdims=True)
    rotations, directions, projected = _fit_rotations(vertices @ frame.T)
    angles = np.degrees(Rotation.from_matrix(rotations).as_rotvec()).reshape(-1, 3)

    notes: list[str] = []
    axis_links = []
    for p, kp, q, kq, _ in links:
        axis = directions[p, kp] // 2
        if directions[q, kq] != directions[p, kp] ^ 1:
            notes.append(f"octahedra {p} and {q} share an X along different axes")
        axis_links.append((p, q, int(axis)))
    phases, phase_notes = _phases(angles, axis_links, tol)
    notes = phase_notes + sorted(set(notes))
    magnitudes = np.abs(angles).mean(axis=0)
    order = _canonical_order(phases, magnitudes, equal_tol)
    return TiltAnalysis(
        glazer=_letters([phases[i] for i in order], magnitudes[order], equal_tol),
        glazer_axes=_letters(phases, magnitudes, equal_tol),
        axis_order=cast("tuple[int, int, int]", tuple(order)),  # one per axis
        phases=cast("tuple[str, str, str]", tuple(phases)),
        magnitudes=magnitudes,
        spread=np.ptp(np.abs(angles), axis=0),
        angles=angles,
        projected_angles=projected,
        rotations=rotations,
        b_indices=octa.b_indices,
        axes=frame,
        regular=not notes,
        notes=tuple(notes),
        tol=float(tol),
    )


def expected_irreps(tilt: TiltAnalysis | str) -> frozenset[str]:
    """Irreps of Pm-3m (B at the origin) a tilt pattern condenses: ``R4+`` for out-of-phase
    tilts, ``M3+`` for in-phase ones (Bilbao/ISOTROPY labels).

    >>> sorted(expected_irreps("a+b-b-"))
    ['M3+', 'R4+']
    >>> sorted(expected_irreps("a0a0a0"))
    []

    Raises ``ValueError`` for a malformed symbol or an irregular (``?``) phase.
    """
    symbol = tilt.glazer if isinstance(tilt, TiltAnalysis) else tilt
    phases = _parse_glazer(symbol)[1]
    if "?" in phases:
        raise ValueError(f"Glazer symbol {symbol!r} has an irregular phase '?': no tilt system")
    return frozenset(TILT_IRREPS[p] for p in phases if p != "0")


def _parse_glazer(system: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    match = _GLAZER.match(system) if isinstance(system, str) else None
    if match is None:
        raise ValueError(
            f"Glazer symbol must read like 'a+b-b-' (letter a/b/c and phase +/-/0 per axis), "
            f"got {system!r}"
        )
    groups = match.groups()
    return groups[0::2], groups[1::2]
