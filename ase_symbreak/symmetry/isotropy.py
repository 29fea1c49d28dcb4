"""Isotropy subgroups of order parameters (ISOTROPY-style), with realising structures.

For an irrep (all arms of its star) or a direct sum of irreps, the real matrices ``D(g)``
of :func:`displacement_modes` define the image group acting on order-parameter (OP)
space. Every isotropy subgroup is the stabiliser of its fixed-point subspace, and every
fixed-point subspace is an intersection of the subspaces ``Fix(g)`` of single image
elements. We therefore close ``{Fix(g)}`` (and the whole space) under intersection, one
class of parent-equivalent subspaces at a time (``S ~ D(g) S``), write each class in a
canonical ISOTROPY-like form ('(a,a,0)', '(a,b,0)', '(0,a,a|b,0,0)' for coupled irreps),
condense a generic vector of that subspace onto the parent supercell and identify the
child with spglib.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .irreps import prepare_parent, star_of
from .lattice import denominators, is_supercell_invariant
from .modes import DisplacementRepresentation, IrrepModes, displacement_modes
from .spacegroup import analyze

__all__ = [
    "IsotropySubgroup",
    "order_parameter_direction",
    "isotropy_subgroups",
    "fixed_subspace_classes",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: spglib tolerance (A) for the realising structures: they are exact distortions of the
#: idealised parent.
REALISE_SYMPREC = 1e-5
#: Generic parameter values used to realise a subspace (no rational relations among them).
_GENERIC = np.array(
    [1.0, 0.7236, 0.5198, 0.3371, 0.2213, 0.1475, 0.1129, 0.0871, 0.0613, 0.0437, 0.0291, 0.0187]
)


def _generic(n: int) -> NDArray:
    """``n`` generic values: ``_GENERIC`` continued by a slowly decaying irrational sequence."""
    if n <= len(_GENERIC):
        return _GENERIC[:n]
    i = np.arange(n - len(_GENERIC), dtype=float)
    tail = 0.015 / (1.0 + 0.37 * i) * (1.0 + 0.1 * np.modf(np.sqrt(2.0) * (i + 1))[0])
    return np.concatenate([_GENERIC, tail])


def order_parameter_direction(vector: NDArray, tol: float = 1e-3) -> str:
    """ISOTROPY-like string of an order-parameter vector.

    Components smaller than ``tol * max|v|`` are '0'; equal magnitudes (within
    ``tol * max|v|``) share a letter, the sign relative to the first occurrence.

    Parameters
    ----------
    vector : (dim,) array_like
    tol : float
        Relative tolerance.

    Returns
    -------
    str

    Examples
    --------
    >>> order_parameter_direction([0.3, 0.3, 0.0])
    '(a,a,0)'
    >>> order_parameter_direction([0.2, -0.2, 0.1])
    '(a,-a,b)'
    >>> order_parameter_direction([0, 0, 0])
    '(0,0,0)'
    """
    v = np.asarray(vector, dtype=float).ravel()
    scale = np.abs(v).max() if v.size else 0.0
    if scale == 0:
        return "(" + ",".join("0" for _ in v) + ")"
    mags: list[tuple[float, float]] = []  # (magnitude, sign of first occurrence)
    out = []
    for x in v:
        if abs(x) < tol * scale:
            out.append("0")
            continue
        for n, (m, sgn) in enumerate(mags):
            if abs(abs(x) - m) < tol * scale:
                break
        else:
            mags.append((abs(x), np.sign(x)))
            n = len(mags) - 1
        letter = _LETTERS[n % 26]
        out.append(letter if np.sign(x) == mags[n][1] else "-" + letter)
    return "(" + ",".join(out) + ")"


@dataclass(frozen=True)
class IsotropySubgroup:
    """One isotropy subgroup (class of parent-equivalent OP directions).

    Attributes
    ----------
    irreps : tuple[str, ...]
        Labels of the irreps forming the OP space (direct sum, in this order).
    direction : str
        Canonical direction, e.g. '(a,a,0)'; blocks of coupled irreps separated by '|'.
    vector : NDArray[float]
        (dim_total,) generic OP vector of the subspace (free parameters set to distinct
        generic values), in the component basis of :class:`IrrepModes`.
    space_group_number, space_group_symbol
        Child space group found by spglib on `structure`.
    supercell_matrix : NDArray
        (3, 3) child conventional cell = ``supercell_matrix @ parent.cell`` (integer
        for a primitive parent).
    origin_shift : NDArray[float]
        (3,) child origin in fractional coordinates of the (origin-shifted) parent cell.
    structure : Atoms
        Distorted parent supercell realising the subgroup (amplitude ``amplitude``).
    conventional : Atoms
        spglib's standardised conventional cell of `structure`.
    index : int
        ``|G_parent : H|`` including translations
        (= |parent point group| x child/parent primitive volume / |child point group|).
    n_params : int
        Dimension of the fixed-point subspace.
    stabilizer_order : int
        Number of supercell operations (``DisplacementRepresentation.operations``) fixing
        the OP subspace; equals ``len(operations) / index`` when spglib agrees.
    subspace : NDArray[float]
        (dim_total, n_params) orthonormal basis of the fixed-point subspace.
    """

    irreps: tuple[str, ...]
    direction: str
    vector: NDArray
    space_group_number: int
    space_group_symbol: str
    supercell_matrix: NDArray
    origin_shift: NDArray
    structure: Atoms = field(repr=False)
    index: int = 0
    conventional: Atoms | None = field(repr=False, default=None)
    n_params: int = 0
    stabilizer_order: int = 0
    subspace: NDArray | None = field(repr=False, default=None)


# ----------------------------------------------------------------------------- subspaces


def _null(m: NDArray, tol: float = 1e-8) -> NDArray:
    """Orthonormal basis (columns) of the null space of m."""
    _, s, vh = np.linalg.svd(m)
    rank = int(np.sum(s > tol))
    return vh[rank:].T


def _key(basis: NDArray) -> bytes:
    proj = basis @ basis.T
    return np.round(proj * 1e5).astype(np.int64).tobytes()


def _rref(basis: NDArray) -> NDArray:
    """Reduced row-echelon rows (s, n) spanning the same subspace as the columns of basis."""
    a = basis.T.copy()
    s, n = a.shape
    row = 0
    for col in range(n):
        if row == s:
            break
        piv = row + int(np.argmax(np.abs(a[row:, col])))
        if abs(a[piv, col]) < 1e-8:
            continue
        a[[row, piv]] = a[[piv, row]]
        a[row] /= a[row, col]
        for r in range(s):
            if r != row:
                a[r] -= a[r, col] * a[row]
        row += 1
    a[np.abs(a) < 1e-10] = 0.0
    return a


def _coef(x: float) -> str:
    if abs(x - 1) < 1e-6:
        return ""
    if abs(x + 1) < 1e-6:
        return "-"
    f = Fraction(x).limit_denominator(12)
    if abs(float(f) - x) < 1e-6:
        return f"{f}*"
    return f"{x:.3g}*"


def _direction(rows: NDArray, dims: list[int]) -> str:
    comps = []
    for j in range(rows.shape[1]):
        terms: list[str] = []
        for i in range(rows.shape[0]):
            c = rows[i, j]
            if abs(c) < 1e-8:
                continue
            t = _coef(c) + _LETTERS[i % 26]
            if terms and not t.startswith("-"):
                t = "+" + t
            terms.append(t)
        comps.append("".join(terms) if terms else "0")
    blocks, start = [], 0
    for d in dims:
        blocks.append(",".join(comps[start : start + d]))
        start += d
    return "(" + "|".join(blocks) + ")"


def _nice(rows: NDArray) -> tuple:
    zero = np.all(np.abs(rows) < 1e-8, axis=0)
    n_minus = int(np.sum(rows < -1e-8))
    n_odd = int(np.sum((np.abs(rows) > 1e-8) & (np.abs(np.abs(rows) - 1) > 1e-6)))
    return (n_odd, tuple(zero.astype(int)), n_minus, tuple(np.round(-rows.ravel(), 6)))


def fixed_subspace_classes(images: NDArray) -> list[NDArray]:
    """Fixed-point subspaces of an orthogonal matrix group, up to conjugation.

    Parameters
    ----------
    images : (n_img, n, n)
        The distinct matrices of the group.

    Returns
    -------
    list[NDArray]
        One orthonormal basis (n, dim) per class of nonzero fixed-point subspaces,
        the canonical (nicest) member of each class, in RREF-friendly orientation.
    """
    n = images.shape[1]
    eye = np.eye(n)
    known: dict[bytes, int] = {}
    reps: list[NDArray] = []

    def add(basis: NDArray) -> None:
        if basis.shape[1] == 0 or _key(basis) in known:
            return
        cid = len(reps)
        orbit: dict[bytes, NDArray] = {}
        moved = images @ basis
        for m in moved:
            q, _ = np.linalg.qr(m)
            k = _key(q)
            if k not in orbit:
                orbit[k] = q
        for k in orbit:
            known[k] = cid
        best = min(orbit.values(), key=lambda q: _nice(_rref(q)))
        reps.append(best)

    add(eye)
    queue = [0]
    while queue:
        cid = queue.pop(0)
        a = reps[cid]
        m = (images - eye) @ a  # (n_img, n, s)
        _, s, vh = np.linalg.svd(m)
        for g in range(len(images)):
            rank = int(np.sum(s[g] > 1e-8))
            if rank == 0 or rank == a.shape[1]:
                continue
            sub = a @ vh[g, rank:].T
            before = len(reps)
            add(sub)
            if len(reps) > before:
                queue.append(len(reps) - 1)
    return reps


# ----------------------------------------------------------------------------- main


def _parse_label_k(ctx, label: str) -> NDArray:
    m = re.fullmatch(r"k\(([^)]*)\)_\d+", label)
    if m:
        return np.array([float(Fraction(x)) for x in m.group(1).split(",")])
    if ctx.frame is None:
        raise ValueError(
            f"no Bilbao table for space group {ctx.info.number}; use a 'k(..)_n' label"
        )
    names = sorted(ctx.frame.table.kpoints, key=len, reverse=True)
    for name in names:
        if label.startswith(name) and not label[len(name) : len(name) + 1].isalpha():
            return ctx.frame.k_from_std(ctx.frame.table.kpoints[name][0])
    raise ValueError(
        f"irrep label {label!r} does not start with a k-point of space group {ctx.info.number} "
        f"(have {sorted(ctx.frame.table.kpoints)})"
    )


def _find_modes(rep: DisplacementRepresentation, label: str) -> IrrepModes:
    for m in rep.irreps:
        if m.irrep.label == label:
            return m
    raise ValueError(
        f"irrep {label!r} has no displacement modes in this parent; present at this k: {rep.labels}"
    )


def _optical(modes: IrrepModes) -> IrrepModes:
    """The copies of an irrep without the rigid translations (which break no symmetry).

    The uniform translations span an invariant subspace (inside the vector irreps at
    Gamma); removing it from every copy leaves patterns that still transform with the same
    matrices. Raises ValueError when nothing is left.
    """
    from dataclasses import replace

    basis = np.asarray(modes.basis)  # (mult, dim, N, 3)
    optical = basis - basis.mean(axis=2, keepdims=True)
    if np.abs(optical).max() < 1e-8:
        raise ValueError(
            f"irrep {modes.irrep.label!r} has no optical displacement modes in this parent, "
            f"only the rigid "
            "translation, which breaks no symmetry: "
            "its isotropy subgroups cannot be realised by displacements"
        )
    if np.abs(optical - basis).max() < 1e-12:
        return modes
    mult, dim = basis.shape[:2]
    # re-orthonormalise the copies (same matrices): Gram matrix over copies of component 0
    flat = optical.reshape(mult, dim, -1)
    gram = np.einsum("mak,nak->mn", flat, flat) / dim
    w, v = np.linalg.eigh(gram)
    keep = w > 1e-10 * w.max()
    coef = v[:, keep] / np.sqrt(w[keep])
    new = np.einsum("mc,mak->cak", coef, flat).reshape((int(keep.sum()), dim) + basis.shape[2:])
    return replace(modes, basis=new, multiplicity=int(keep.sum()))


def isotropy_subgroups(
    parent: Any,
    irreps: list[str] | str,
    origin_index: int | None = None,
    amplitude: float = 0.05,
    symprec: float = 1e-3,
    supercell_matrix: Any = None,
) -> list[IsotropySubgroup]:
    """Enumerate the isotropy subgroups of one irrep or of a coupled set of irreps.

    Parameters
    ----------
    parent : ase.Atoms or pymatgen Structure
        Parent structure.
    irreps : str or list[str]
        Labels ('R4+', ['R4+', 'M3+'] ...) at the origin chosen by `origin_index`.
    origin_index : int, optional
        Atom at the origin (labels depend on it); default :func:`default_origin_index`.
    amplitude : float
        Largest atomic displacement of the realising structures, Angstrom.
    symprec : float
        spglib tolerance of the parent, Angstrom: the parent is idealised to the group found
        at this tolerance. The realising structures are built on the idealised parent and
        identified at ``REALISE_SYMPREC``.
    supercell_matrix : (3,) or (3, 3) int, optional
        Supercell to work in; default diagonal, the least common multiple of the
        denominators of all arms of the stars involved, or where that is not invariant
        under the parent's point group (centred lattices) the smallest invariant
        superlattice on which every arm is commensurate.

    Returns
    -------
    list[IsotropySubgroup]
        One per class of equivalent directions, sorted by number of free parameters,
        then by decreasing space-group number.

    Examples
    --------
    >>> from ase_symbreak.structures import cubic_perovskite
    >>> subs = isotropy_subgroups(cubic_perovskite(3.9), "R4+")
    >>> [(s.direction, s.space_group_symbol) for s in subs[:3]]
    [('(a,a,a)', 'R-3c'), ('(a,0,0)', 'I4/mcm'), ('(a,a,0)', 'Imma')]
    """
    labels = _checked_labels(irreps, amplitude)
    shifted, origin_index, ctx = prepare_parent(parent, origin_index, symprec)
    ks = [_parse_label_k(ctx, lab) for lab in labels]
    if supercell_matrix is None:
        supercell_matrix = _default_supercell(ctx, ks)
    rep = displacement_modes(
        shifted,
        supercell_matrix,
        origin_index=origin_index,
        symprec=symprec,
        kpoints=np.array(ks),
        label_origin=None if ctx.origin is None else ctx.origin.shifted(),
    )
    op_space = _OrderParameterSpace.build(rep, labels)
    classes = fixed_subspace_classes(op_space.images)
    parent_cell = _PrimitiveCell.of(shifted)
    out = [_realise(op_space, basis, parent_cell, amplitude) for basis in classes]
    out.sort(key=lambda h: (h.n_params, -h.space_group_number, h.direction))
    return out


def _checked_labels(irreps: list[str] | str, amplitude: float) -> list[str]:
    """The irrep labels as a non-empty list; refuses an amplitude near the tolerance."""
    labels = [irreps] if isinstance(irreps, str) else list(irreps)
    if not labels:
        raise ValueError("give at least one irrep label")
    if not amplitude > 1e3 * REALISE_SYMPREC:
        raise ValueError(f"amplitude {amplitude} A must be larger than {1e3 * REALISE_SYMPREC:g} A")
    return labels


def _default_supercell(ctx, ks: list[NDArray]) -> NDArray:
    """The supercell of the isotropy subgroups of the stars of ``ks``.

    Diagonal (per axis the lcm of the denominators of all arms) when that lattice is
    invariant under the parent's point group, as for every primitive lattice; otherwise
    (centred lattices: F-orthorhombic at T, Y, Z) the smallest invariant superlattice on
    which every arm is commensurate (:func:`commensurate_superlattice`).
    """
    n = [1, 1, 1]
    arms = np.concatenate([star_of(ctx, k) for k in ks])
    for arm in arms:
        n = [lcm(a, int(b)) for a, b in zip(n, denominators(arm))]
    diagonal = np.diag(n)
    if is_supercell_invariant(diagonal, ctx.rotations):
        return diagonal
    return commensurate_superlattice(arms, ctx.atoms.cell[:])


def commensurate_superlattice(arms: NDArray, cell: NDArray) -> NDArray:
    """The smallest superlattice on which every wave vector of ``arms`` is commensurate.

    It is the lattice of parent translations ``t`` with ``exp(2 pi i k.t) = 1`` for every
    arm ``k``; for the arms of whole stars it is invariant under the parent's point group.

    Parameters
    ----------
    arms : NDArray
        ``(n, 3)`` wave vectors, reciprocal basis of the parent cell (rational).
    cell : NDArray
        ``(3, 3)`` parent lattice vectors (rows, Angstrom): the shortest basis is chosen.

    Returns
    -------
    NDArray[int]
        ``(3, 3)`` rows: the superlattice vectors in the parent basis, ``det > 0``.

    >>> p = commensurate_superlattice(np.array([[0.5, 0.5, 0.5]]), np.eye(3))  # R of cubic P
    >>> p.tolist(), round(np.linalg.det(p))  # the face-centred lattice of index 2
    ([[1, 1, 0], [1, 0, 1], [1, 0, -1]], 2)
    """
    arms = np.asarray(arms, dtype=float).reshape(-1, 3)
    d = 1
    for arm in arms:
        for x in denominators(arm):
            d = lcm(d, int(x))
    grid = np.arange(-d, d + 1)
    n = np.array(np.meshgrid(grid, grid, grid, indexing="ij")).reshape(3, -1).T
    phase = n @ arms.T
    members = n[(np.abs(phase - np.round(phase)).max(axis=1) < 1e-6) & np.any(n != 0, axis=1)]
    in_cell = members[np.all((members >= 0) & (members < d), axis=1)]
    index = round(d**3 / (len(in_cell) + 1))  # the origin is a member too
    lengths = np.linalg.norm(members @ np.asarray(cell, dtype=float), axis=1)
    order = members[np.lexsort((*members.T[::-1], lengths))]
    for i, a in enumerate(order):
        for j in range(i + 1, len(order)):
            b = order[j]
            if not np.any(np.cross(a, b)):
                continue
            for c in order[j + 1 :]:
                det = int(round(np.linalg.det(np.array([a, b, c]))))
                if abs(det) == index:
                    basis = np.array([a, b, c])
                    return basis if det > 0 else -basis
    raise RuntimeError(
        f"no superlattice basis found for the arms {arms.tolist()}"
    )  # pragma: no cover


@dataclass(frozen=True)
class _OrderParameterSpace:
    """The direct sum of the irreps' order-parameter spaces and its image group.

    Attributes
    ----------
    labels : list of str
        The irreps, in order.
    rep : DisplacementRepresentation
    modes : list of IrrepModes
        Optical copies of each irrep.
    mats : NDArray[float]
        (G, n, n) block-diagonal matrices of every supercell operation, n = sum of dims.
    images : NDArray[float]
        The distinct matrices of ``mats``.
    trivial : bool
        Every image is the identity (the identity irrep: its subgroup is the parent).
    """

    labels: list[str]
    rep: DisplacementRepresentation
    modes: list[IrrepModes]
    mats: NDArray
    images: NDArray
    trivial: bool

    @property
    def dims(self) -> list[int]:
        """Dimension of each irrep."""
        return [m.dim for m in self.modes]

    @classmethod
    def build(cls, rep: DisplacementRepresentation, labels: list[str]) -> _OrderParameterSpace:
        """Optical modes of ``labels`` in ``rep`` and their block-diagonal matrices."""
        modes = [_optical(_find_modes(rep, lab)) for lab in labels]
        n_tot = sum(m.dim for m in modes)
        n_g = len(rep.operations)
        mats = np.zeros((n_g, n_tot, n_tot))
        start = 0
        for m in modes:
            mats[:, start : start + m.dim, start : start + m.dim] = m.matrices
            start += m.dim
        # distinct image matrices
        keys = np.round(mats.reshape(n_g, -1) * 1e6).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        images = mats[np.sort(first)]
        return cls(labels, rep, modes, mats, images, bool(np.allclose(images, 1.0)))


@dataclass(frozen=True)
class _PrimitiveCell:
    """Point-group order and primitive-cell volume (A^3) of a structure."""

    pointgroup_order: int
    volume: float

    @classmethod
    def of(cls, atoms: Atoms, info: Any = None) -> _PrimitiveCell:
        """Identified at ``REALISE_SYMPREC`` unless ``info`` (its ``analyze``) is given."""
        info = analyze(atoms, symprec=REALISE_SYMPREC) if info is None else info
        volume = atoms.get_volume() / (len(atoms) / len(info.primitive))
        return cls(info.pointgroup_order, volume)

    def index_of(self, child: _PrimitiveCell) -> float:
        """Index of a subgroup with primitive cell ``child`` in this group."""
        return self.pointgroup_order * child.volume / self.volume / child.pointgroup_order


def _realise(
    space: _OrderParameterSpace, basis: NDArray, parent_cell: _PrimitiveCell, amplitude: float
) -> IsotropySubgroup:
    """Condense a generic vector of the fixed subspace ``basis`` (n, s); identify the child."""
    rows = _rref(basis)
    direction = _direction(rows, space.dims)
    stab_sub = np.all(np.abs(space.mats @ basis - basis[None]) < 1e-6, axis=(1, 2))
    vec = _generic_vector(rows, space.mats, stab_sub)
    structure = space.rep.supercell.copy()
    structure.positions += _displacements(vec, space.modes, len(structure), amplitude)
    child = analyze(structure, symprec=REALISE_SYMPREC)
    index = parent_cell.index_of(_PrimitiveCell.of(structure, child))
    if int(round(index)) == 1 and not space.trivial:
        raise RuntimeError(
            f"isotropy subgroup of {'+'.join(space.labels)} {direction} came out as the parent "
            f"group {child.symbol} ({child.number}): "
            f"the realising distortion breaks no symmetry (a bug; "
            "please report it with the structure)"
        )
    m_child, origin = _child_setting(child, space.rep.supercell_matrix)
    return IsotropySubgroup(
        irreps=tuple(space.labels),
        direction=direction,
        vector=vec,
        space_group_number=child.number,
        space_group_symbol=child.symbol,
        supercell_matrix=m_child,
        origin_shift=origin,
        structure=structure,
        index=int(round(index)),
        conventional=child.conventional,
        n_params=rows.shape[0],
        stabilizer_order=int(stab_sub.sum()),
        subspace=basis,
    )


def _generic_vector(rows: NDArray, mats: NDArray, stab_sub: NDArray) -> NDArray:
    """(n,) vector of the subspace spanned by ``rows`` (s, n) with exactly its stabiliser.

    Generic parameters first; up to ten seeded perturbations when they happen to be special.
    """
    s = rows.shape[0]
    vec = _generic(s) @ rows
    rng = np.random.default_rng(0)
    for _ in range(10):
        stab_v = np.all(np.abs(mats @ vec - vec[None]) < 1e-6, axis=1)
        if np.array_equal(stab_v, stab_sub):
            break
        vec = (_generic(s) + 0.05 * rng.random(s)) @ rows
    return vec


def _displacements(
    vec: NDArray, modes: list[IrrepModes], n_atoms: int, amplitude: float
) -> NDArray:
    """(N, 3) displacements (A) of ``vec``, copies mixed with generic weights, largest
    ``amplitude``.
    """
    u = np.zeros((n_atoms, 3))
    start = 0
    for m in modes:
        block = vec[start : start + m.dim]
        weights = _generic(m.multiplicity)
        for c in range(m.multiplicity):
            u += weights[c] * np.einsum("d,dna->na", block, m.basis[c])
        start += m.dim
    u *= amplitude / np.linalg.norm(u, axis=1).max()
    return u


def _child_setting(child: Any, supercell_matrix: NDArray) -> tuple[NDArray, NDArray]:
    """Child conventional cell in parent units (3, 3) and its origin (3,), parent fractional."""
    t = child.transformation_matrix
    m_child = np.linalg.inv(t).T @ supercell_matrix
    if np.allclose(m_child, np.round(m_child), atol=1e-6):
        m_child = np.round(m_child).astype(int)
    origin = -supercell_matrix.T @ np.linalg.solve(t, child.origin_shift)
    return m_child, origin
