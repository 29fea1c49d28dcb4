"""Fractional coordinates, lattices, supercell matrices and symmetry operations.

Conventions used throughout :mod:`ase_symbreak.symmetry`:

- fractional coordinates are column vectors ``x``; an operation ``(R, t)`` maps
  ``x -> R @ x + t``; composition ``(R1, t1)(R2, t2) = (R1 R2, R1 t2 + t1)``;
- a wave vector ``k`` is given in the reciprocal basis of the same cell, so
  ``exp(2 pi i k . x)`` is a plane wave; under ``(R, t)`` it goes to ``R^{-T} k``;
- a pure translation ``t`` acts on a Bloch function at ``k`` as ``exp(-2 pi i k . t)``
  (the Bilbao / spgrep convention).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

# atom_permutations lived here; it stays importable from here (the matchers are in .matching)
from .matching import atom_permutations  # noqa: F401

__all__ = [
    "check_supercell_invariant",
    "lattice_basis",
    "supercell_matrix_3x3",
]


def wrap(x: NDArray, tol: float = 1e-6) -> NDArray:
    """Map fractional numbers into [0, 1), sending values within `tol` of 1 to 0."""
    y = np.asarray(x, dtype=float) % 1.0
    y[np.abs(y - 1.0) < tol] = 0.0
    y[np.abs(y) < tol] = 0.0
    return y


def centered(x: NDArray) -> NDArray:
    """Map fractional numbers into (-1/2, 1/2] (ties to +1/2)."""
    y = np.asarray(x, dtype=float)
    return y - np.ceil(y - 0.5 - 1e-9)


def is_integer(x: NDArray, tol: float = 1e-5) -> NDArray:
    """Elementwise-all test (over the last axis) that `x` is integer within `tol`."""
    x = np.asarray(x, dtype=float)
    return np.all(np.abs(x - np.round(x)) < tol, axis=-1)


def centering_vectors(rotations: NDArray, translations: NDArray, tol: float = 1e-5) -> NDArray:
    """Pure translations of the operation list (including zero), ``(n_c, 3)`` in [0, 1)."""
    eye = np.all(rotations == np.eye(3, dtype=int), axis=(1, 2))
    vecs = wrap(translations[eye], tol)
    out: list[NDArray] = []
    for v in vecs:
        if not any(is_integer(v - w, tol) for w in out):
            out.append(v)
    if not out:
        out = [np.zeros(3)]
    return np.array(out)


def is_lattice_vector(v: NDArray, centerings: NDArray, tol: float = 1e-5) -> NDArray:
    """True where `v` (..., 3) is a lattice vector of the lattice Z^3 + centerings."""
    v = np.asarray(v, dtype=float)
    res = np.zeros(v.shape[:-1], dtype=bool)
    for c in centerings:
        res |= is_integer(v - c, tol)
    return res


def is_reciprocal_vector(g: NDArray, centerings: NDArray, tol: float = 1e-5) -> NDArray:
    """True where `g` (..., 3) is a reciprocal vector of the lattice Z^3 + centerings."""
    g = np.asarray(g, dtype=float)
    res = is_integer(g, tol)
    for c in centerings:
        res &= np.abs(g @ c - np.round(g @ c)) < tol
    return res


def primitive_basis(centerings: NDArray) -> NDArray:
    """Columns: a primitive basis of Z^3 + centerings, in the given fractional coordinates.

    Returns ``S`` (3, 3) with ``x_given = S @ x_primitive``; identity when there is no
    centering.
    """
    n = len(centerings)
    if n == 1:
        return np.eye(3)
    cands = [np.eye(3)[i] for i in range(3)] + [c for c in centerings if np.any(c)]
    cands += [c - np.eye(3)[i] for c in centerings if np.any(c) for i in range(3)]
    best = None
    for a, b, c in itertools.combinations(cands, 3):
        s = np.array([a, b, c]).T
        d = np.linalg.det(s)
        if abs(abs(d) - 1.0 / n) < 1e-6:
            if d < 0:
                s[:, 2] *= -1
            # prefer short vectors
            key = np.sum(s**2)
            if best is None or key < best[0] - 1e-9:
                best = (key, s)
    if best is None:
        raise ValueError(f"could not find a primitive basis for centerings {centerings.tolist()}")
    return best[1]


def ops_to_basis(rotations: NDArray, translations: NDArray, s: NDArray) -> tuple[NDArray, NDArray]:
    """Express operations in a new basis with ``x_old = s @ x_new``."""
    s_inv = np.linalg.inv(s)
    rot = np.einsum("ij,njk,kl->nil", s_inv, rotations, s)
    trans = translations @ s_inv.T
    return rot, trans


def reduce_to_primitive(
    rotations: NDArray, translations: NDArray, tol: float = 1e-5
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Coset representatives of the operations in a primitive basis.

    Returns
    -------
    rot_p : (n_p, 3, 3) int
    trans_p : (n_p, 3) float in [0, 1)
    s : (3, 3) with ``x_given = s @ x_primitive``
    index : (n_p,) int, index of the given operation each representative comes from
    """
    cent = centering_vectors(rotations, translations, tol)
    s = primitive_basis(cent)
    rot, trans = ops_to_basis(rotations, translations, s)
    rot_i = np.round(rot).astype(int)
    if np.abs(rot - rot_i).max() > 1e-6:
        raise ValueError("operations are not integral in the primitive basis")
    seen: dict[bytes, int] = {}
    kept: list[int] = []
    for i, r in enumerate(rot_i):
        key = r.tobytes()
        if key not in seen:
            seen[key] = i
            kept.append(i)
    keep = np.array(kept)
    return rot_i[keep], wrap(trans[keep], tol), s, keep


def frac_str(x: float, max_den: int = 48) -> str:
    """Format a fractional number, e.g. 0.25 -> '1/4', 0.5 -> '1/2', 0 -> '0'."""
    f = Fraction(float(x)).limit_denominator(max_den)
    if f.denominator == 1:
        return str(f.numerator)
    return f"{f.numerator}/{f.denominator}"


def denominators(k: NDArray, max_den: int = 48) -> NDArray:
    """Denominators of the fractions closest to `k` (3,)."""
    return np.array(
        [Fraction(float(x)).limit_denominator(max_den).denominator for x in np.ravel(k)]
    )


def cartesian_rotations(rotations: NDArray, cell: NDArray) -> NDArray:
    """Cartesian matrices of fractional rotations; ase cell rows are lattice vectors.

    r_cart = cell.T @ x, so R_cart = cell.T @ R @ inv(cell.T).
    """
    a = np.asarray(cell, dtype=float).T
    return np.einsum("ij,njk,kl->nil", a, rotations, np.linalg.inv(a))


# ----------------------------------------------------------------------------- supercells
def supercell_matrix_3x3(supercell_matrix: ArrayLike) -> NDArray[np.int64]:
    """Validate a supercell matrix: 3 integers (diagonal) or an integer 3x3, non-singular.

    Supercell lattice (rows) = ``supercell_matrix @ cell`` (phonopy's matrix is the
    transpose). Returns the (3, 3) integer matrix; raises ``ValueError`` naming the bad value.

    >>> supercell_matrix_3x3((2, 2, 2)).tolist()
    [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    """
    expected = "supercell_matrix must be 3 integers or an integer 3x3 matrix"
    try:
        m = np.asarray(supercell_matrix, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{expected}, got {supercell_matrix!r}") from None
    if m.shape == (3,):
        m = np.diag(m)
    if m.shape != (3, 3):
        raise ValueError(f"{expected}, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.abs(m - np.round(m)).max() > 1e-8:
        raise ValueError(f"supercell_matrix must have integer entries, got {m.tolist()}")
    m = np.round(m).astype(np.int64)
    det = int(round(np.linalg.det(m)))
    if det == 0:
        raise ValueError(f"supercell_matrix is singular (determinant 0): {m.tolist()}")
    if det < 0:
        raise ValueError(
            f"supercell_matrix must have a positive determinant, got {det} for {m.tolist()}"
        )
    return m


def is_supercell_invariant(p: NDArray, rotations: NDArray) -> bool:
    """Whether the supercell lattice ``p`` (rows, parent fractional) is mapped onto itself by
    every rotation (fractional, parent basis).
    """
    pinv = np.linalg.inv(p)
    # lattice vectors (rows of p) map to p @ r.T; they must be integer in p's basis
    return all(
        np.abs((m := p @ np.asarray(r).T @ pinv) - np.round(m)).max() <= 1e-6 for r in rotations
    )


def check_supercell_invariant(p: NDArray, rotations: NDArray, pointgroup: str = "") -> None:
    """Raise ``ValueError`` unless the supercell lattice ``p`` (rows, parent fractional) is
    invariant under every rotation (fractional, parent basis).
    """
    if not is_supercell_invariant(p, rotations):
        group = f" {pointgroup}" if pointgroup else ""
        raise ValueError(
            f"supercell {np.asarray(p).tolist()} is not compatible with the parent's point "
            f"group{group} (it is not invariant under all its rotations); use e.g. a "
            "diagonal n x n x n supercell for a cubic parent"
        )


def lattice_basis(vectors: NDArray) -> NDArray[np.int64]:
    """(3, 3) integer basis (rows) of the lattice spanned by integer row vectors (k, 3).

    Integer row reduction (Hermite normal form up to order and signs).

    >>> lattice_basis([[2, 0, 0], [0, 2, 0], [0, 0, 2], [1, 1, 1]]).tolist()
    [[1, 1, 1], [0, -2, -2], [0, 0, -2]]
    """
    rows = [np.array(v, dtype=np.int64) for v in np.asarray(vectors) if np.any(v)]
    basis = []
    for col in range(3):
        while True:
            nz = [r for r in rows if r[col] != 0]
            if len(nz) <= 1:
                break
            nz.sort(key=lambda r: abs(r[col]))
            piv = nz[0]
            for r in nz[1:]:
                r -= (r[col] // piv[col]) * piv
        pivots = [r for r in rows if r[col] != 0]
        if not pivots:
            raise ValueError("the translation vectors do not span three dimensions")
        piv = pivots[0]
        basis.append(piv.copy())
        rows = [r for r in rows if r is not piv]
    return np.array(basis)
