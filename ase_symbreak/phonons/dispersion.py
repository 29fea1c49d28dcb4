"""Beyond the supercell: instabilities of the interpolated dispersion at q the supercell misses.

The labelled modes (:func:`~ase_symbreak.phonons.labelled_modes`) cover only the q
commensurate with the supercell (``supercell_matrix @ q`` integer). The supercell force
constants define a dynamical matrix at every q (phonopy's Fourier interpolation);
:func:`check_dispersion` scans its lowest branch on a dense Gamma-centred mesh (a multiple of
the commensurate grid, so every labelled q is on it) and along a band path, and reports the
local minima below a threshold at q *not* commensurate with the supercell, one per star.

Why local minima: an instability at a commensurate q spreads to its neighbours in the
interpolation (the whole branch around it is imaginary), but the labelled modes already
explain those points; only a minimum that lies off the grid is an instability they miss.
A flat valley of minima (within 1e-5 THz) that reaches a commensurate q, e.g. the R-M line
of rigid octahedral tilts, counts as explained by it. Each minimum is refined (Nelder-Mead
on the lowest eigenvalue), rationalised to a fraction with a small denominator and given
the supercells that would capture it.

Interpolated frequencies are only as good as the force constants' range: a minimum off the
grid of a small supercell is a prediction to confirm with the capturing supercell.

Conventions: q in the reciprocal basis of the unit cell (as :attr:`ModeSet.q`); THz with
imaginary frequencies as negative numbers (phonopy's convention); supercell lattice (rows)
``= supercell_matrix @ unitcell.cell``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.codec import Record, encode
from ase_symbreak.symmetry.lattice import lattice_basis, supercell_matrix_3x3

__all__ = [
    "DispersionCheck",
    "OffGridInstability",
    "OffGridInstabilityWarning",
    "capturing_supercell",
    "check_dispersion",
    "default_mesh",
]

#: Largest denominator a q is rationalised to (capturing supercells up to 8 along a direction).
MAX_DENOMINATOR = 8
#: Fractional tolerance of the rationalisation of a refined q.
_FRACTION_TOL = 1e-3
#: Fractional tolerance of "same q" (symmetry-equivalent minima, points on the band path).
_SAME_Q_TOL = 2e-3
#: Dynamical matrices built per batch (memory: batch x (3 n_prim)^2 complex numbers).
_BATCH = 64
#: THz: frequencies this close count as one plateau (a flat valley of minima).
_FLAT_THZ = 1e-5
#: The 26 neighbours of a mesh point.
_NEIGHBOURS = [o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)]

Matrix3 = tuple[tuple[int, ...], ...]


class OffGridInstabilityWarning(UserWarning):
    """The interpolated dispersion is unstable at q the supercell does not contain."""


@dataclass(frozen=True)
class OffGridInstability(Record):
    """One unstable local minimum of the lowest branch at q off the supercell's grid.

    Attributes
    ----------
    q : tuple[float, float, float]
        Reciprocal basis of the unit cell, in (-1/2, 1/2] (in phonopy's primitive basis,
        when the unit cell is not primitive); the fraction ``q_fraction`` exactly when the
        refined minimum is within 1e-3 of it.
    frequency_thz : float
        Lowest interpolated frequency at ``q``, THz, negative (imaginary).
    q_fraction : str or None
        ``'(1/3,0,0)'``: q as fractions with denominators <= ``max_denominator``; None when
        the minimum is not that close to one (incommensurate, see ``note``).
    star_size : int
        Number of arms of the star of q under the point group (equivalent minima).
    on_band_path : str or None
        The band-path point (``'X'``) or segment (``'GM-X'``) an arm of the star lies on.
    commensurate : bool
        Whether ``supercell_matrix @ q`` is integer: always False for a reported minimum.
    capturing_supercell : tuple of 3 tuples of 3 ints, or None
        Smallest supercell ``P`` with ``P @ q`` integer (diagonal when a diagonal one is as
        small), e.g. ``((3, 0, 0), (0, 1, 0), (0, 0, 1))`` for q = (1/3, 0, 0).
    symmetric_supercell : tuple of 3 tuples of 3 ints, or None
        Smallest supercell invariant under the point group that holds the whole star: what
        :func:`ase_symbreak.workflows.phonons` accepts, e.g. 3x3x3 for (1/3, 0, 0) of a
        cubic crystal.
    extended_supercell : tuple of 3 tuples of 3 ints, or None
        Smallest point-group-invariant supercell holding the star *and* every q of the
        checked supercell (12x2x2 for (1/3, 0, 0) beyond a 4x2x2 one): rerun the labelled
        phonons with it to see both.
    note : str
        Why no supercell is given, when none is.
    """

    q: tuple[float, ...]
    frequency_thz: float
    q_fraction: str | None = None
    star_size: int = 1
    on_band_path: str | None = None
    commensurate: bool = False
    capturing_supercell: Matrix3 | None = None
    symmetric_supercell: Matrix3 | None = None
    extended_supercell: Matrix3 | None = None
    note: str = ""

    def describe(self) -> str:
        """One line: q, where it is, frequency and the capturing supercell."""
        where = f" ({self.on_band_path})" if self.on_band_path else ""
        q = self.q_fraction or "(" + ",".join(f"{x:.4f}" for x in self.q) + ")"
        text = f"q={q}{where} at {self.frequency_thz:.3f} THz"
        if self.capturing_supercell is not None:
            text += f", held by supercell {_matrix_text(self.capturing_supercell)}"
            if self.symmetric_supercell != self.capturing_supercell:
                text += f" (its whole star by {_matrix_text(self.symmetric_supercell)})"
        elif self.note:
            text += f" ({self.note})"
        return text


@dataclass(frozen=True)
class DispersionCheck(Record):
    """The lowest branch of the interpolated dispersion, checked beyond the supercell.

    Attributes
    ----------
    supercell_matrix : tuple of 3 tuples of 3 ints
        The supercell whose commensurate q count as covered by the labelled modes.
    mesh : tuple[int, int, int]
        Gamma-centred mesh (reciprocal basis of phonopy's primitive cell).
    n_q : int
        q points checked: the full mesh plus the band-path points (the mesh is evaluated on
        its symmetry-irreducible part only).
    threshold_thz : float
        Frequencies below count as unstable (THz, <= 0).
    min_frequency_thz : float
        Lowest frequency found (mesh, band path and refined minima), THz.
    min_q : tuple[float, float, float]
        Where it is, reciprocal basis of the unit cell, wrapped like ``OffGridInstability.q``.
    min_q_commensurate : bool
        Whether ``min_q`` is commensurate with the supercell.
    commensurate_min_frequency_thz : float
        Lowest frequency at the commensurate q (what the labelled modes see), THz.
    instabilities : tuple[OffGridInstability, ...]
        Unstable minima off the supercell's grid, one per star, softest first.
    band_path : tuple[str, ...]
        Segments of the band path checked, e.g. ``('GM-X', 'X-M', ...)``; empty if none.
    max_denominator : int
        Largest denominator q was rationalised to.
    """

    supercell_matrix: Matrix3
    mesh: tuple[int, ...]
    n_q: int
    threshold_thz: float
    min_frequency_thz: float
    min_q: tuple[float, ...]
    min_q_commensurate: bool
    commensurate_min_frequency_thz: float
    instabilities: tuple[OffGridInstability, ...] = ()
    band_path: tuple[str, ...] = ()
    max_denominator: int = MAX_DENOMINATOR

    @property
    def stable_off_grid(self) -> bool:
        """True when no unstable minimum lies off the supercell's grid."""
        return not self.instabilities

    def summary(self) -> dict:
        """JSON-ready dict: mesh, minima and the off-grid instabilities."""
        keep = (
            "supercell_matrix",
            "mesh",
            "n_q",
            "threshold_thz",
            "min_frequency_thz",
            "min_q",
            "min_q_commensurate",
            "commensurate_min_frequency_thz",
        )
        out = {name: encode(getattr(self, name)) for name in keep}
        out["stable_off_grid"] = self.stable_off_grid
        out["instabilities"] = [encode(i) for i in self.instabilities]
        return out

    def warning(self) -> str | None:
        """A message for the user when there are off-grid instabilities, else None."""
        if self.stable_off_grid:
            return None
        n = len(self.instabilities)
        lines = "; ".join(i.describe() for i in self.instabilities)
        first = self.instabilities[0]
        advice = (
            f"rerun the phonons with supercell {_matrix_text(first.extended_supercell)} "
            "(it holds the softest one and the current q points)"
            if first.extended_supercell is not None
            else "use a larger supercell"
        )
        return (
            f"the phonon dispersion interpolated from the {_matrix_text(self.supercell_matrix)} "
            f"supercell force constants has {n} unstable minim{'um' if n == 1 else 'a'} "
            f"(below {self.threshold_thz:g} THz) at q not commensurate with the supercell, "
            f"which the labelled modes (lowest {self.commensurate_min_frequency_thz:.3f} THz) "
            f"do not contain: {lines}. Interpolated frequencies are approximate: {advice} "
            "to label these modes and confirm them"
        )


# ----------------------------------------------------------------------------- the check
def check_dispersion(
    phonon,
    supercell_matrix: ArrayLike | None = None,
    threshold_thz: float = -0.1,
    mesh: Sequence[int] | None = None,
    band_path: bool = True,
    max_denominator: int = MAX_DENOMINATOR,
    use_symmetry: bool = True,
) -> DispersionCheck:
    """Unstable minima of the interpolated lowest branch at q off the supercell's grid.

    Parameters
    ----------
    phonon : phonopy.Phonopy
        With force constants (e.g. :func:`~ase_symbreak.phonons.phonopy_from_calculator`).
    supercell_matrix : (3,) or (3, 3) int, optional
        Supercell lattice = ``supercell_matrix @ unitcell.cell``; q is covered when
        ``supercell_matrix @ q`` is integer. Default: the phonopy object's (the transpose
        of ``phonon.supercell_matrix``).
    threshold_thz : float
        THz, <= 0: minima below it are instabilities.
    mesh : 3 ints, optional
        Gamma-centred mesh in the reciprocal basis of phonopy's primitive cell. Default
        (:func:`default_mesh`): about 12 points along the longest reciprocal vector (10 or
        8 for cells of more than 8 or 20 atoms), scaled by length, a multiple of the
        commensurate grid and at least twice it.
    band_path : bool
        Also scan ASE's band path of the primitive cell (narrow minima between mesh points
        and the ``on_band_path`` labels).
    max_denominator : int
        Largest denominator a minimum's q is rationalised to.
    use_symmetry : bool
        Evaluate the mesh on its irreducible part under the primitive cell's point group
        and time reversal (exact for symmetric force constants).

    Returns
    -------
    DispersionCheck
        ``stable_off_grid`` is True when the labelled modes hold every unstable minimum.

    Cost: one dynamical matrix and diagonalisation per irreducible mesh point, band-path
    point and refinement step (single-threaded BLAS: many small matrices), e.g. 0.05 s for
    a 5-atom cubic cell and about a second for 40 atoms in P1.
    """
    with _single_threaded_blas():
        return _check(
            phonon, supercell_matrix, threshold_thz, mesh, band_path, max_denominator, use_symmetry
        )


def _check(
    phonon, supercell_matrix, threshold_thz, mesh, band_path, max_denominator, use_symmetry
) -> DispersionCheck:
    """:func:`check_dispersion` itself (BLAS already single-threaded)."""
    if threshold_thz > 0:
        raise ValueError(
            f"threshold_thz must be <= 0 (imaginary frequencies are negative), got {threshold_thz}"
        )
    if phonon.force_constants is None:
        raise ValueError("the phonopy object has no force constants")
    if supercell_matrix is None:
        supercell_matrix = np.asarray(phonon.supercell_matrix).T
    p = supercell_matrix_3x3(supercell_matrix)
    scan = _Scanner(phonon, p, use_symmetry)
    mesh = scan.default_mesh() if mesh is None else _check_mesh(mesh)
    grid = _scan_mesh(scan, mesh, threshold_thz)
    samples = _Samples([grid.q], [grid.freq], [grid.comm])
    seeds = list(grid.seeds)
    segments: list[tuple[str, str, NDArray, NDArray]] = []
    n_path = 0
    if band_path:
        segments = scan.band_path()
        n_path = _scan_band_path(scan, segments, grid, threshold_thz, samples, seeds)
    found = _refine_minima(scan, seeds, grid, threshold_thz, segments, max_denominator, samples)
    f_min, q_min, q_min_commensurate, commensurate_min = samples.minimum()
    return DispersionCheck(
        supercell_matrix=_as_matrix(p),
        mesh=tuple(int(n) for n in mesh),
        n_q=int(len(grid.q) + n_path),
        threshold_thz=float(threshold_thz),
        min_frequency_thz=f_min,
        min_q=tuple(float(x) for x in scan.to_unit(_centred(q_min))),
        min_q_commensurate=q_min_commensurate,
        commensurate_min_frequency_thz=commensurate_min,
        instabilities=tuple(found),
        band_path=tuple(f"{_label(a)}-{_label(b)}" for a, b, _, _ in segments),
        max_denominator=int(max_denominator),
    )


@dataclass
class _Samples:
    """Every q where the lowest branch was evaluated, in order: mesh, band path, refinements.

    Attributes
    ----------
    q, f, comm : lists of arrays
        ``(n, 3)`` q (primitive reciprocal basis), ``(n,)`` lowest frequency (THz) and
        ``(n,)`` whether q is commensurate with the supercell.
    """

    q: list[NDArray]
    f: list[NDArray]
    comm: list[NDArray]

    def add(self, q: NDArray, f: NDArray, comm: NDArray) -> None:
        """Append ``(n, 3)`` q, their frequencies and commensurability."""
        self.q.append(q)
        self.f.append(f)
        self.comm.append(comm)

    def minimum(self) -> tuple[float, NDArray, bool, float]:
        """The softest sample: THz, ``(3,)`` q and whether it is commensurate; and the
        softest commensurate frequency (THz).
        """
        q_cat = np.concatenate(self.q)
        f_cat = np.concatenate(self.f)
        c_cat = np.concatenate(self.comm)
        i_min = int(np.argmin(f_cat))
        return float(f_cat[i_min]), q_cat[i_min], bool(c_cat[i_min]), float(f_cat[c_cat].min())


@dataclass(frozen=True)
class _MeshScan:
    """The lowest branch on the Gamma-centred mesh and its unexplained local minima.

    Attributes
    ----------
    mesh : NDArray[int]
        ``(3,)`` points per reciprocal vector of the primitive cell.
    q : NDArray[float]
        ``(M, 3)`` mesh points (primitive reciprocal basis), ``freq`` ``(M,)`` THz and
        ``comm`` ``(M,)`` commensurate with the supercell.
    explained : set of int
        Mesh points on plateaus of minima that reach a commensurate q.
    seeds : list of (q, THz)
        The softest point of each other component of minima, one per irreducible class.
    """

    mesh: NDArray
    q: NDArray
    freq: NDArray
    comm: NDArray
    explained: set[int]
    seeds: list[tuple[NDArray, float]]

    def on_plateau(self, q_prim: NDArray, f: float) -> bool:
        """Whether ``q_prim`` at ``f`` THz lies on an explained plateau."""
        return _on_plateau(q_prim, f, self.mesh, self.freq, self.explained, _FLAT_THZ)


def _scan_mesh(scan: _Scanner, mesh: tuple[int, int, int], threshold_thz: float) -> _MeshScan:
    """Lowest branch on the irreducible mesh points, local minima with 26 neighbours."""
    addresses = np.array(list(itertools.product(*(range(n) for n in mesh))), dtype=np.int64)
    mesh_arr = np.array(mesh)
    canon = scan.canonical(addresses, mesh_arr)
    reps, inverse = np.unique(canon, return_inverse=True)
    q_grid = addresses / mesh_arr
    freq = scan.lowest(q_grid[reps])[inverse]
    comm = scan.commensurate(q_grid)
    f3 = freq.reshape(mesh)
    neighbours = np.min([np.roll(f3, o, axis=(0, 1, 2)) for o in _NEIGHBOURS], axis=0).ravel()
    low = (freq <= neighbours + _FLAT_THZ) & (freq < threshold_thz)
    starts: dict[int, int] = {}  # irreducible class -> softest grid point of a component
    explained: set[int] = set()  # plateaus of minima that reach a commensurate q
    for comp in _components(np.flatnonzero(low), mesh_arr, _NEIGHBOURS):
        if comm[comp].any():  # a flat valley reaching a labelled q: explained by it
            explained.update(int(i) for i in comp)
            continue
        best = int(comp[np.argmin(freq[comp])])
        cls = int(canon[best])
        if cls not in starts or freq[best] < freq[starts[cls]]:
            starts[cls] = best
    seeds = [(q_grid[i], float(freq[i])) for i in starts.values()]
    return _MeshScan(mesh_arr, q_grid, freq, comm, explained, seeds)


def _scan_band_path(
    scan: _Scanner,
    segments: list[tuple[str, str, NDArray, NDArray]],
    grid: _MeshScan,
    threshold_thz: float,
    samples: _Samples,
    seeds: list[tuple[NDArray, float]],
) -> int:
    """Lowest branch along each segment at half the mesh spacing; adds its 1-D minima to
    ``seeds`` and its points to ``samples``. Returns the number of path points.
    """
    n_path = 0
    spacing = scan.recip_norm / (2 * int(grid.mesh.max()))  # half the mesh spacing
    for _, _, qa, qb in segments:
        length = np.linalg.norm((qb - qa) @ scan.recip_prim)
        npts = max(5, int(math.ceil(length / spacing)) + 1)
        qs = qa + np.linspace(0.0, 1.0, npts)[:, None] * (qb - qa)
        f = scan.lowest(qs)
        c = scan.commensurate(qs)
        n_path += npts
        samples.add(qs, f, c)
        for i in _minima_1d(f, c, threshold_thz, _FLAT_THZ):
            if not grid.on_plateau(qs[i], f[i]):
                seeds.append((qs[i], float(f[i])))
    return n_path


def _refine_minima(
    scan: _Scanner,
    seeds: list[tuple[NDArray, float]],
    grid: _MeshScan,
    threshold_thz: float,
    segments: list[tuple[str, str, NDArray, NDArray]],
    max_denominator: int,
    samples: _Samples,
) -> list[OffGridInstability]:
    """Refine the seeds (softest first), rationalise, merge symmetry-equivalent minima.

    Returns the instabilities, softest first; every refined point is added to ``samples``.
    """
    step = 0.5 / grid.mesh
    found: list[OffGridInstability] = []
    tried: list[NDArray] = []
    for q0, f0 in sorted(seeds, key=lambda s: s[1]):
        start = scan.to_unit(q0)
        if any(scan.equivalent(start, t) for t in tried):  # a path point also on the mesh
            continue
        tried.append(start)
        q_ref, f_ref = scan.refine(q0, f0, step)
        samples.add(q_ref[None, :], np.array([f_ref]), scan.commensurate(q_ref[None, :]))
        if grid.on_plateau(q_ref, f_ref):
            continue
        inst = scan.describe(q_ref, f_ref, segments, max_denominator)
        if inst is None or inst.frequency_thz >= threshold_thz:
            continue
        if any(scan.equivalent(inst.q, other.q) for other in found):
            continue
        found.append(inst)
    found.sort(key=lambda i: i.frequency_thz)
    return found


def default_mesh(phonon, supercell_matrix: ArrayLike | None = None) -> tuple[int, int, int]:
    """The default mesh of :func:`check_dispersion` (reciprocal basis of phonopy's primitive)."""
    if supercell_matrix is None:
        supercell_matrix = np.asarray(phonon.supercell_matrix).T
    return _Scanner(phonon, supercell_matrix_3x3(supercell_matrix), False).default_mesh()


def capturing_supercell(
    qs: ArrayLike, cell: ArrayLike | None = None, max_denominator: int = MAX_DENOMINATOR
) -> NDArray[np.int64] | None:
    """Smallest supercell ``P`` with ``P @ q`` integer for every q of ``qs``.

    Parameters
    ----------
    qs : (3,) or (n, 3)
        Fractional q (reciprocal basis of the unit cell), rationalised to denominators
        <= ``max_denominator``.
    cell : (3, 3), optional
        Unit cell (rows, Angstrom; default cubic): among the bases of the supercell lattice
        the one of shortest vectors, fewest negative entries, largest diagonal is returned,
        and the diagonal one whenever the lattice is diagonal.

    Returns
    -------
    (3, 3) int with positive determinant, rows spanning the lattice ``{n : n . q integer}``
    (invariant under the point group when ``qs`` is a whole star); None when a q is not
    within 1e-3 of fractions with denominators <= ``max_denominator``.

    >>> capturing_supercell([1 / 3, 0, 0]).tolist()
    [[3, 0, 0], [0, 1, 0], [0, 0, 1]]
    >>> capturing_supercell([1 / 2, 1 / 2, 1 / 2]).tolist()
    [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    """
    qs = np.atleast_2d(np.asarray(qs, dtype=float))
    fracs = []
    for q in qs:
        f = _fractions(q, max_denominator)
        if f is None:
            return None
        fracs.append(f)
    den = math.lcm(*(x.denominator for f in fracs for x in f))
    gens = [den * np.eye(3, dtype=np.int64)]
    gens.append(np.array([[int(x * den) for x in f] for f in fracs], dtype=np.int64))
    basis = lattice_basis(np.vstack(gens))  # rows: den * (Z^3 + sum Z q)
    p = np.round(den * np.linalg.inv(basis).T).astype(np.int64)  # the dual lattice
    index = int(round(abs(np.linalg.det(p))))
    diag = np.array([math.lcm(*(f[i].denominator for f in fracs)) for i in range(3)])
    if int(np.prod(diag)) == index:  # the diagonal supercell of the denominators is as small
        p = np.diag(diag).astype(np.int64)
    else:
        p = _nice_basis(p, np.eye(3) if cell is None else np.asarray(cell, dtype=float))
    exact = np.array([[float(x) for x in f] for f in fracs])
    if np.abs(p @ exact.T - np.round(p @ exact.T)).max() > 1e-9:  # pragma: no cover
        raise RuntimeError("capturing supercell does not contain q")
    return p


def _nice_basis(p: NDArray[np.int64], cell: NDArray) -> NDArray[np.int64]:
    """A readable basis of the lattice spanned by the rows of ``p``: short vectors (in
    ``cell``), fewest negative entries, rows ordered for the largest diagonal, det > 0.
    """
    from ase.geometry import minkowski_reduce

    index = int(round(abs(np.linalg.det(p))))
    _, op = minkowski_reduce(p @ cell)
    reduced = np.asarray(op, dtype=np.int64) @ p
    m = int(np.abs(reduced).max())
    grid = np.array(list(itertools.product(range(-m, m + 1), repeat=3)), dtype=np.int64)
    coef = grid @ np.linalg.inv(p)
    inside = np.all(np.abs(coef - np.round(coef)) < 1e-6, axis=1) & np.any(grid != 0, axis=1)
    vecs = grid[inside]
    lengths = np.round(np.linalg.norm(vecs @ cell, axis=1), 8)
    order = sorted(
        range(len(vecs)),
        key=lambda i: (lengths[i], int((vecs[i] < 0).sum()), tuple(-vecs[i])),
    )
    chosen: list[NDArray] = []
    for i in order:
        trial = chosen + [vecs[i]]
        if np.linalg.matrix_rank(np.array(trial)) == len(trial):
            chosen = trial
            if len(chosen) == 3:
                break
    basis = np.array(chosen)
    if len(chosen) < 3 or int(round(abs(np.linalg.det(basis)))) != index:
        basis = reduced  # pragma: no cover - successive minima always form a basis in 3-D
    best = None
    for perm in itertools.permutations(range(3)):
        cand = basis[list(perm)]
        if np.linalg.det(cand) <= 0:
            continue
        key = (int(np.trace(cand)), tuple(cand.ravel()))
        if best is None or key > best[0]:
            best = (key, cand)
    if best is None:  # pragma: no cover - half of the permutations have det > 0
        return -basis
    return best[1].astype(np.int64)


# ----------------------------------------------------------------------------- machinery
class _Scanner:
    """Lowest interpolated frequencies of a phonopy object, and the bookkeeping of q."""

    def __init__(self, phonon, p: NDArray[np.int64], use_symmetry: bool) -> None:
        self.phonon = phonon
        self.p = p
        pmat = phonon.primitive_matrix
        self.pmat = np.eye(3) if pmat is None else np.asarray(pmat, dtype=float)
        # q_prim = pmat.T @ q_unit
        self.unit_from_prim = np.linalg.inv(self.pmat.T)
        self.comm_from_prim = p @ self.unit_from_prim  # integer exactly on commensurate q
        self.cell_unit = np.asarray(phonon.unitcell.cell, dtype=float)
        self.cell_prim = np.asarray(phonon.primitive.cell, dtype=float)
        self.recip_prim = np.linalg.inv(self.cell_prim).T  # rows, 1/A (no 2 pi)
        self.recip_norm = float(np.linalg.norm(self.recip_prim, axis=1).max())
        self.n_prim = len(phonon.primitive)
        self.factor = float(phonon.unit_conversion_factor)
        self.rotations = self._rotations() if use_symmetry else np.eye(3, dtype=int)[None]
        self.all_rotations = self._rotations()

    def _rotations(self) -> NDArray[np.int64]:
        sym = getattr(self.phonon, "primitive_symmetry", None)
        ops = None if sym is None else getattr(sym, "pointgroup_operations", None)
        if ops is None or len(ops) == 0:
            return np.eye(3, dtype=np.int64)[None]
        return np.asarray(ops, dtype=np.int64)

    # -- q bookkeeping
    def to_unit(self, q_prim: NDArray) -> NDArray:
        return np.asarray(q_prim, dtype=float) @ self.unit_from_prim.T

    def commensurate(self, q_prim: NDArray) -> NDArray[np.bool_]:
        x = np.atleast_2d(q_prim) @ self.comm_from_prim.T
        return np.all(np.abs(x - np.round(x)) < 1e-6, axis=1)

    def commensurate_grid(self) -> NDArray[np.int64]:
        """m_i: the commensurate q (primitive basis) lie on the grid ``Z^3 / m``."""
        c = self.pmat.T @ np.linalg.inv(self.p)  # columns generate the commensurate q
        m = []
        for row in c:
            dens = [Fraction(float(x)).limit_denominator(10_000).denominator for x in row]
            m.append(math.lcm(*dens))
        return np.array(m, dtype=np.int64)

    def default_mesh(self) -> tuple[int, int, int]:
        base = 12 if self.n_prim <= 8 else (10 if self.n_prim <= 20 else 8)
        lengths = np.linalg.norm(self.recip_prim, axis=1)
        out = []
        for m, length in zip(self.commensurate_grid(), lengths):
            target = max(4, int(math.ceil(base * length / lengths.max() - 1e-9)), 2 * int(m))
            out.append(int(m * math.ceil(target / m)))
        m1, m2, m3 = out  # one per axis
        return m1, m2, m3

    def canonical(self, addresses: NDArray[np.int64], mesh: NDArray[np.int64]) -> NDArray:
        """Smallest flat grid index over each point's orbit (rotations keeping the grid, -q)."""
        flat = np.ravel_multi_index(tuple(addresses.T), tuple(mesh))
        best = flat.copy()
        for r in self.rotations:
            m = mesh[:, None] * r.T / mesh[None, :]  # a -> m @ a keeps the grid when integer
            if np.abs(m - np.round(m)).max() > 1e-9:
                continue
            m = np.round(m).astype(np.int64)
            for sign in (1, -1):
                img = (sign * addresses @ m.T) % mesh
                best = np.minimum(best, np.ravel_multi_index(tuple(img.T), tuple(mesh)))
        return best

    def star(self, q_unit: NDArray, time_reversal: bool = True) -> NDArray:
        """Distinct arms ``R^T q`` (and ``-q``) modulo the primitive reciprocal lattice, in
        the unit-cell basis (each wrapped to (-1/2, 1/2] in the primitive basis).
        """
        q_prim = self.pmat.T @ np.asarray(q_unit, dtype=float)
        arms = [r.T @ q_prim for r in self.all_rotations]
        if time_reversal:
            arms += [-a for a in arms]
        out: list[NDArray] = []
        for a in arms:
            if not any(_same_mod_lattice(a, b, 1e-6) for b in out):
                out.append(a)
        return np.array([self.to_unit(_centred(a)) for a in out])

    def equivalent(self, q1: ArrayLike, q2: ArrayLike) -> bool:
        """Whether q2 is an arm of the star of q1 (unit-cell basis, within 2e-3)."""
        b = self.pmat.T @ np.asarray(q2, dtype=float)
        return any(
            _same_mod_lattice(self.pmat.T @ a, b, _SAME_Q_TOL) for a in self.star(np.asarray(q1))
        )

    # -- frequencies
    def lowest(self, q_prim: NDArray) -> NDArray:
        """Lowest frequency (THz, imaginary negative) at each q (primitive basis)."""
        q_prim = np.atleast_2d(np.asarray(q_prim, dtype=float))
        out = np.empty(len(q_prim))
        for start in range(0, len(q_prim), _BATCH):
            chunk = np.ascontiguousarray(q_prim[start : start + _BATCH])
            w = np.linalg.eigvalsh(self._dynamical_matrices(chunk))[:, 0]
            out[start : start + len(chunk)] = self.factor * np.sign(w) * np.sqrt(np.abs(w))
        return out

    def _dynamical_matrices(self, qs: NDArray) -> NDArray:
        dm = self.phonon.dynamical_matrix
        if dm is None:
            raise ValueError("the phonopy object has no dynamical matrix (no force constants?)")
        try:  # phonopy >= 4: one batched call
            from phonopy.harmonic.dynamical_matrix import get_dynamical_matrices_at_qpoints

            dms = np.asarray(get_dynamical_matrices_at_qpoints(dm, qs))
            if dms.shape == (len(qs), 3 * self.n_prim, 3 * self.n_prim):
                return dms
        except (ImportError, TypeError):
            pass
        out = []
        for q in qs:
            dm.run(q)
            out.append(np.array(dm.dynamical_matrix))
        return np.array(out)

    def refine(self, q0: NDArray, f0: float, step: NDArray) -> tuple[NDArray, float]:
        """Local minimum of the lowest branch from ``q0`` (primitive basis), Nelder-Mead."""
        from scipy.optimize import minimize

        def fun(x: NDArray) -> float:
            return float(self.lowest(x[None, :])[0])

        simplex = np.vstack([q0, q0 + np.diag(step)])
        res = minimize(
            fun,
            q0,
            method="Nelder-Mead",
            options={
                "initial_simplex": simplex,
                "xatol": 1e-7,
                "fatol": 1e-9,
                "maxfev": 400,
            },
        )
        if res.fun < f0:
            return np.asarray(res.x, dtype=float), float(res.fun)
        return np.asarray(q0, dtype=float), float(f0)

    # -- reporting
    def describe(
        self, q_prim: NDArray, freq: float, segments: list, max_den: int
    ) -> OffGridInstability | None:
        """The record of a refined minimum; None when it is commensurate after all."""
        q_unit = self.to_unit(_centred(q_prim))  # physical q, not folded into the unit cell BZ
        fracs = _fractions(q_unit, max_den)
        note = ""
        if fracs is not None:
            q_exact = np.array([float(x) for x in fracs])
            q_p = self.pmat.T @ q_exact
            if self.commensurate(q_p)[0]:
                return None
            freq = float(self.lowest(q_p[None, :])[0])  # at the reported q
            q_unit = q_exact
            capture = capturing_supercell(q_unit, self.cell_unit, max_den)
            star = self.star(q_unit, time_reversal=False)
            symmetric = capturing_supercell(star, self.cell_unit, max_den)
            current = np.linalg.inv(self.p).T  # rows: generators of the commensurate q
            extended = capturing_supercell(
                np.vstack([star, current]),
                self.cell_unit,
                max(max_den, int(round(abs(np.linalg.det(self.p))))),
            )
            label = "(" + ",".join(_fraction_text(x) for x in fracs) + ")"
        else:
            if self.commensurate((self.pmat.T @ q_unit)[None, :])[0]:
                return None
            capture = symmetric = extended = None
            star = self.star(q_unit, time_reversal=False)
            label = None
            note = (
                f"q is not within {_FRACTION_TOL:g} of fractions with denominators <= "
                f"{max_den}: an incommensurate minimum, or raise max_denominator"
            )
        return OffGridInstability(
            q=tuple(float(x) for x in q_unit),
            frequency_thz=float(freq),
            q_fraction=label,
            star_size=len(star),
            on_band_path=self._on_path(q_unit, segments),
            commensurate=False,
            capturing_supercell=None if capture is None else _as_matrix(capture),
            symmetric_supercell=None if symmetric is None else _as_matrix(symmetric),
            extended_supercell=None if extended is None else _as_matrix(extended),
            note=note,
        )

    def _on_path(self, q_unit: NDArray, segments: list) -> str | None:
        if not segments:
            return None
        tol = _SAME_Q_TOL * self.recip_norm
        shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
        for arm in self.star(q_unit):
            pts = (self.pmat.T @ arm)[None, :] + shifts  # primitive basis, lattice images
            for a, b, qa, qb in segments:
                for q, name in ((qa, a), (qb, b)):
                    if np.min(np.linalg.norm((pts - q) @ self.recip_prim, axis=1)) < tol:
                        return _label(name)
            for a, b, qa, qb in segments:
                d = (qb - qa) @ self.recip_prim
                x = (pts - qa) @ self.recip_prim
                t = np.clip(x @ d / max(d @ d, 1e-300), 0.0, 1.0)
                dist = np.linalg.norm(x - t[:, None] * d[None, :], axis=1)
                if dist.min() < tol:
                    return f"{_label(a)}-{_label(b)}"
        return None

    def band_path(self) -> list[tuple[str, str, NDArray, NDArray]]:
        """Segments (start label, end label, q_a, q_b) of ASE's band path, primitive basis."""
        import warnings

        from ase.cell import Cell
        from ase.dft.kpoints import parse_path_string

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                path = Cell(self.cell_prim).bandpath(npoints=0)
        except Exception:  # noqa: BLE001 - no band path for this cell: the mesh still runs
            return []
        special = path.special_points
        segments = []
        for branch in parse_path_string(path.path):
            for a, b in zip(branch[:-1], branch[1:]):
                qa, qb = np.asarray(special[a], float), np.asarray(special[b], float)
                if np.linalg.norm(qb - qa) > 1e-9:
                    segments.append((a, b, qa, qb))
        return segments


def _single_threaded_blas():
    """One BLAS thread: thousands of small diagonalisations are several times slower with
    multi-threaded OpenBLAS on a loaded machine.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _components(
    indices: NDArray, mesh: NDArray, offsets: list[tuple[int, ...]]
) -> list[NDArray[np.int64]]:
    """Connected sets (26 neighbours, periodic) of flat grid indices."""
    left = set(int(i) for i in indices)
    shape = tuple(int(n) for n in mesh)
    comps = []
    while left:
        seed = left.pop()
        comp, todo = [seed], [seed]
        while todo:
            a = np.array(np.unravel_index(todo.pop(), shape))
            for o in offsets:
                j = int(np.ravel_multi_index(tuple((a + o) % mesh), shape))
                if j in left:
                    left.remove(j)
                    comp.append(j)
                    todo.append(j)
        comps.append(np.array(comp, dtype=np.int64))
    return comps


def _on_plateau(
    q_prim: NDArray, f: float, mesh: NDArray, freq: NDArray, explained: set[int], eps: float
) -> bool:
    """Whether a corner of the mesh cell around ``q_prim`` is on an explained plateau at
    the frequency ``f`` (a minimum on a flat valley that reaches a commensurate q).
    """
    if not explained:
        return False
    lo = np.floor(np.asarray(q_prim) * mesh + 1e-9).astype(np.int64)
    shape = tuple(int(n) for n in mesh)
    for corner in itertools.product((0, 1), repeat=3):
        j = int(np.ravel_multi_index(tuple((lo + corner) % mesh), shape))
        if j in explained and abs(freq[j] - f) <= eps:
            return True
    return False


def _minima_1d(f: NDArray, comm: NDArray, threshold: float, eps: float) -> list[int]:
    """Local minima (plateaus as one, dropped when they reach a commensurate q) of a line."""
    out = []
    n = len(f)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and abs(f[j + 1] - f[i]) <= eps:
            j += 1
        left = f[i - 1] if i > 0 else np.inf
        right = f[j + 1] if j + 1 < n else np.inf
        if f[i] < threshold and f[i] <= left + eps and f[i] <= right + eps:
            if not comm[i : j + 1].any():
                out.append(i + int(np.argmin(f[i : j + 1])))
        i = j + 1
    return out


def _check_mesh(mesh: Sequence[int]) -> tuple[int, int, int]:
    m = np.asarray(mesh)
    if m.shape != (3,) or np.any(m != np.round(m)) or np.any(m < 1):
        raise ValueError(f"mesh must be 3 positive integers, got {mesh!r}")
    m1, m2, m3 = (int(x) for x in m)
    return m1, m2, m3


def _fractions(q: NDArray, max_den: int) -> list[Fraction] | None:
    out = []
    for x in np.ravel(q):
        f = Fraction(float(x)).limit_denominator(max_den)
        if abs(float(f) - float(x)) > _FRACTION_TOL:
            return None
        out.append(f)
    return out


def _fraction_text(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _centred(q: NDArray) -> NDArray:
    """Wrap fractional numbers to (-1/2, 1/2]."""
    q = np.asarray(q, dtype=float)
    out = q - np.floor(q + 0.5)
    out[np.isclose(out, -0.5, atol=1e-9)] = 0.5
    return out + 0.0  # no -0.0


def _same_mod_lattice(a: NDArray, b: NDArray, tol: float) -> bool:
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return bool(np.abs(d - np.round(d)).max() < tol)


def _as_matrix(p: ArrayLike) -> Matrix3:
    return tuple(tuple(int(x) for x in row) for row in np.asarray(p))


def _matrix_text(p: Matrix3 | None) -> str:
    if p is None:
        return "?"
    a = np.asarray(p)
    if np.array_equal(a, np.diag(np.diag(a))):
        return "x".join(str(int(x)) for x in np.diag(a))
    return str([list(r) for r in p])


def _label(name: str) -> str:
    return "GM" if name == "G" else name
