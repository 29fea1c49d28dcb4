"""Point-group tools: irreps, projection operators and tensor symmetrisation.

Follows the point-group recipe of Heilman et al. (papers/004): the projection operator
onto the subspace that transforms like the irrep ``alpha`` of a finite group ``G`` is

.. math:: P_\\alpha = \\frac{d_\\alpha}{|G|} \\sum_g \\chi_\\alpha(g)^* D(g),

and a tensor property obeys Neumann's principle, i.e. it is invariant under the point
group; averaging over the group projects any tensor onto that invariant subspace.

All rotations here are Cartesian 3x3 matrices acting on column vectors, ``r' = R @ r``.
Irreps are built by spgrep from the group's regular representation (so any finite group
of orthogonal matrices works, in any setting) and labelled with Mulliken symbols
(A1g, T1u, E', ...) following the usual rules; labels that the rules cannot make unique
get a ``_1``, ``_2`` suffix.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from spgrep.rep.enumerate import enumerate_unitary_irreps_from_regular_representation
from spgrep.rep.irreps import frobenius_schur_indicator
from spgrep.rep.pir import get_physically_irrep

from ase_symbreak.validation import check_symprec

from .spacegroup import spglib_dataset

__all__ = [
    "TENSOR_INDEX_SYMMETRIES",
    "PointGroupIrrep",
    "allowed_tensor_components",
    "decompose_representation",
    "invariant_tensor_basis",
    "point_group_irreps",
    "point_group_operations",
    "projection_operator",
    "symmetrize_tensor",
    "symmetry_adapted_basis",
    "tensor_representation",
]

#: Index-permutation symmetries of common material tensors (Voigt symmetry).
#: Each entry is a tuple of permutations of tensor indices that leave the tensor unchanged.
TENSOR_INDEX_SYMMETRIES: dict[str, tuple[tuple[int, ...], ...]] = {
    "dielectric": ((1, 0),),
    "piezoelectric": ((0, 2, 1),),
    "elastic": ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)),
}

_ATOL = 1e-6


@dataclass(frozen=True)
class PointGroupIrrep:
    """An irreducible representation of a point group given by explicit matrices.

    Attributes
    ----------
    label : str
        Mulliken symbol, e.g. ``"T1u"``; made unique within its group.
    matrices : NDArray
        ``(order, dim, dim)`` representation matrices, in the order of the group's
        rotations; real orthogonal for physically irreducible irreps, else complex unitary.
    characters : NDArray
        ``(order,)`` traces of ``matrices``.
    indicator : int
        Frobenius-Schur indicator of the underlying complex irrep: 1 (real), 0 (complex;
        for ``real=True`` the irrep is the real sum of a complex-conjugate pair).
    """

    label: str
    matrices: NDArray = field(repr=False)  # (order, dim, dim), real or complex
    characters: NDArray = field(repr=False)  # (order,)
    indicator: int

    @property
    def dim(self) -> int:
        """Dimension of the representation space."""
        return int(self.matrices.shape[1])

    @property
    def norm(self) -> float:
        """``(1/|G|) sum_g |chi(g)|^2``: 1 if absolutely irreducible, 2 for a real pair."""
        return float(np.real(np.vdot(self.characters, self.characters)) / len(self.characters))


# --------------------------------------------------------------------------- operations
def point_group_operations(obj, symprec: float = 1e-3, lattice: NDArray | None = None) -> NDArray:
    """Cartesian rotation matrices of a point group.

    Parameters
    ----------
    obj : ase.Atoms, pymatgen Structure, or array ``(n, 3, 3)``
        A crystal (its point group is found with spglib) or rotation matrices. Matrices are
        taken as Cartesian unless ``lattice`` is given, in which case they are integer
        matrices in the lattice basis (spglib convention, acting on fractional columns).
    symprec : float
        spglib tolerance in Angstrom, for crystals.
    lattice : NDArray, optional
        ``(3, 3)`` lattice vectors as rows, Angstrom.

    Returns
    -------
    NDArray
        ``(order, 3, 3)`` distinct orthogonal Cartesian matrices, identity first.
    """
    if hasattr(obj, "get_scaled_positions") or hasattr(obj, "frac_coords"):
        cell, scaled, numbers = _cell_tuple(obj)
        check_symprec(symprec)
        try:
            dataset = spglib_dataset((cell, scaled, numbers), symprec)
        except ValueError:
            raise ValueError(
                f"spglib found no symmetry for the structure (symprec={symprec})"
            ) from None
        rotations, lattice = np.asarray(dataset.rotations), cell
    else:
        rotations = np.asarray(obj, dtype=float)
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f"rotations must have shape (n, 3, 3), got {rotations.shape}")
    if lattice is not None:
        a = np.asarray(lattice, dtype=float)
        # r = A^T x, so x' = W x becomes r' = A^T W A^-T r
        rotations = np.einsum("ji,njk,lk->nil", a, rotations, np.linalg.inv(a))
    err = np.abs(np.einsum("nij,nkj->nik", rotations, rotations) - np.eye(3)).max()
    if err > 1e-5:
        raise ValueError(
            f"rotations are not orthogonal (max |R R^T - 1| = {err:.2g}); integer lattice-basis "
            "rotations need the `lattice` argument"
        )
    return _unique_with_identity_first(rotations)


def _cell_tuple(obj) -> tuple[NDArray, NDArray, NDArray]:
    if hasattr(obj, "get_scaled_positions"):
        return np.asarray(obj.cell[:]), obj.get_scaled_positions(wrap=True), obj.numbers
    return (
        np.asarray(obj.lattice.matrix),
        np.asarray(obj.frac_coords),
        np.array([site.specie.Z for site in obj]),
    )


def _unique_with_identity_first(rotations: NDArray) -> NDArray:
    mats = np.concatenate([np.eye(3)[None], np.asarray(rotations, dtype=float)])
    dist = np.abs(mats[:, None] - mats[None, :]).max(axis=(-1, -2))
    first = np.argmax(dist <= _ATOL, axis=1)  # index of the first equal matrix
    return mats[first == np.arange(len(mats))]


def _multiplication_table(rotations: NDArray) -> NDArray:
    """``table[i, j] = k`` with ``R_i R_j = R_k``; raises if the set is not closed."""
    n = len(rotations)
    flat = rotations.reshape(n, 9)
    products = np.einsum("iab,jbc->ijac", rotations, rotations).reshape(n, n, 9)
    dist = np.abs(products[:, :, None, :] - flat[None, None, :, :]).max(axis=-1)
    table = dist.argmin(axis=-1)
    if dist.min(axis=-1).max() > _ATOL:
        raise ValueError("rotations do not form a group (not closed under multiplication)")
    return table


# --------------------------------------------------------------------------- irreps
def point_group_irreps(rotations: NDArray, real: bool = True) -> list[PointGroupIrrep]:
    """All irreps of a point group, labelled with Mulliken symbols.

    Parameters
    ----------
    rotations : NDArray
        ``(order, 3, 3)`` Cartesian rotations forming a group (see
        :func:`point_group_operations`); the irrep matrices follow this order.
    real : bool
        If True (default) return physically irreducible (real orthogonal) irreps: complex
        conjugate pairs are joined into one real irrep of twice the dimension (e.g. the
        ``E`` of C3). If False return the complex unitary irreps.

    Returns
    -------
    list of PointGroupIrrep
        Sorted by dimension, then by label; the identity irrep comes first.
    """
    rotations = np.asarray(rotations, dtype=float)
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f"rotations must have shape (order, 3, 3), got {rotations.shape}")
    key = np.round(rotations, 9) + 0.0  # no negative zeros in the cache key
    return list(_cached_irreps(key.tobytes(), len(rotations), bool(real)))


@functools.lru_cache(maxsize=32)
def _cached_irreps(key: bytes, order: int, real: bool) -> tuple[PointGroupIrrep, ...]:
    rotations = np.frombuffer(key, dtype=float).reshape(order, 3, 3)
    table = _multiplication_table(rotations)
    n = len(rotations)
    regular = np.zeros((n, n, n), dtype=np.complex128)
    for g in range(n):
        regular[g, table[g], np.arange(n)] = 1.0  # D(g) e_h = e_{gh}
    irreps = enumerate_unitary_irreps_from_regular_representation(regular)
    if sum(ir.shape[1] ** 2 for ir in irreps) != n:
        raise RuntimeError("could not find all irreps of the point group")
    out: list[tuple[NDArray, int]] = []
    seen: list[NDArray] = []
    for ir in irreps:
        indicator = frobenius_schur_indicator(ir)
        if not real:
            out.append((ir, indicator))
            continue
        chi = np.einsum("gii->g", ir)
        if any(np.allclose(np.conj(chi), c, atol=_ATOL) for c in seen):
            continue  # the conjugate partner is already inside a real irrep
        seen.append(chi)
        out.append((np.real_if_close(get_physically_irrep(ir, indicator), tol=1e6).real, indicator))
    labels = _mulliken_labels(rotations, [np.einsum("gii->g", m) for m, _ in out])
    result = [
        PointGroupIrrep(label, m, np.einsum("gii->g", m), ind)
        for label, (m, ind) in zip(labels, out)
    ]
    return tuple(sorted(result, key=lambda r: (not _is_identity_irrep(r), r.dim, r.label)))


def _is_identity_irrep(irrep: PointGroupIrrep) -> bool:
    return irrep.dim == 1 and np.allclose(irrep.characters, 1.0)


# --------------------------------------------------------------------------- Mulliken
@dataclass(frozen=True)
class _Op:
    det: int
    order: int  # order of the proper part det*R
    axis: NDArray  # unit axis of the proper part (zeros for identity/inversion)


def _classify(r: NDArray) -> _Op:
    det = int(round(np.linalg.det(r)))
    p = det * r
    cos = np.clip((np.trace(p) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-6:
        return _Op(det, 1, np.zeros(3))
    order = int(round(2 * np.pi / angle))
    w, v = np.linalg.eig(p)
    axis = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    axis /= np.linalg.norm(axis)
    return _Op(det, order, axis)


def _parallel(a: NDArray, b: NDArray) -> bool:
    return abs(abs(float(a @ b)) - 1.0) < 1e-6


def _perpendicular(a: NDArray, b: NDArray) -> bool:
    return abs(float(a @ b)) < 1e-6


def _pick(indices: list[int], ops: list[_Op], preferred: list[NDArray]) -> int | None:
    """First index whose axis is parallel to the earliest preferred direction."""
    for direction in preferred:
        for i in indices:
            if _parallel(ops[i].axis, direction):
                return i
    return indices[0] if indices else None


def _mulliken_labels(rotations: NDArray, characters: list[NDArray]) -> list[str]:
    ops = [_classify(r) for r in rotations]
    ex, ey, ez = np.eye(3)
    inversion = next((i for i, o in enumerate(ops) if o.det == -1 and o.order == 1), None)
    threefold = [o.axis for o in ops if o.det == 1 and o.order == 3]
    cubic = len(threefold) >= 8  # four 3-fold axes (T, Th, O, Td, Oh)
    proper_orders = [o.order for o in ops if o.det == 1]
    n_max = max(proper_orders)

    principal: int | None = None
    c2_axes: list[int] = []
    if cubic:
        u_list = threefold
    else:
        cands = [i for i, o in enumerate(ops) if o.det == 1 and o.order == n_max and n_max > 1]
        s4 = [i for i, o in enumerate(ops) if o.det == -1 and o.order == 4]
        if n_max <= 2 and s4:
            cands, n_max = s4, 4
        principal = _pick(cands, ops, [ez, ey, ex])
        c2_axes = [i for i, o in enumerate(ops) if o.det == 1 and o.order == 2]
        if principal is None:  # C1, Ci, Cs: a lone mirror plays sigma_h
            mirror = [i for i, o in enumerate(ops) if o.det == -1 and o.order == 2]
            u_list = [ops[mirror[0]].axis] if mirror else []
        else:
            u_list = [ops[principal].axis]
    # C2' (perpendicular two-fold) and sigma_v / sigma_d (mirror containing the axis)
    perp_c2 = [
        i
        for i, o in enumerate(ops)
        if o.det == 1 and o.order == 2 and any(_perpendicular(o.axis, u) for u in u_list)
    ]
    vert_m = [
        i
        for i, o in enumerate(ops)
        if o.det == -1 and o.order == 2 and any(_perpendicular(o.axis, u) for u in u_list)
    ]
    horiz_m = [
        i
        for i, o in enumerate(ops)
        if o.det == -1 and o.order == 2 and u_list and _parallel(o.axis, u_list[0])
    ]
    c2p = _pick(perp_c2, ops, [ex, ey])
    sigv = _pick(vert_m, ops, [ey, ex])
    d2_like = not cubic and n_max == 2 and len(c2_axes) == 3

    labels = []
    for chi in characters:
        chi = np.asarray(chi)
        dim = int(round(np.real(chi[0])))
        letter, sub = {1: "A", 2: "E", 3: "T"}.get(dim, f"G{dim}"), ""
        if dim == 1 and np.iscomplexobj(chi) and np.abs(np.imag(chi)).max() > 1e-6:
            letter = "E"  # one partner of a complex-conjugate pair
        elif dim == 1 and d2_like:
            plus = [i for i in c2_axes if np.real(chi[i]) > 0]
            if len(plus) < 3:
                axis = ops[plus[0]].axis
                sub = "1" if _parallel(axis, ez) else ("2" if _parallel(axis, ey) else "3")
                letter = "B"
        elif dim == 1:
            if principal is not None and np.real(chi[principal]) < 0:
                letter = "B"
            ref = c2p if c2p is not None else sigv
            if ref is not None:
                sub = "1" if np.real(chi[ref]) > 0 else "2"
        elif dim == 2 and not cubic and n_max == 6 and principal is not None:
            sub = "1" if np.real(chi[principal]) > 0 else "2"
        elif dim == 3:
            ref = c2p if c2p is not None else sigv
            if ref is not None:
                sub = "1" if np.real(chi[ref]) < 0 else "2"
        suffix = ""
        if inversion is not None:
            suffix = "g" if np.real(chi[inversion]) > 0 else "u"
        elif horiz_m and not cubic:
            suffix = "'" if np.real(chi[horiz_m[0]]) > 0 else "''"
        labels.append(letter + sub + suffix)
    return _make_unique(labels)


def _make_unique(labels: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    out = []
    for lab in labels:
        if labels.count(lab) > 1:
            counts[lab] = counts.get(lab, 0) + 1
            out.append(f"{lab}_{counts[lab]}")
        else:
            out.append(lab)
    return out


# --------------------------------------------------------------------------- projection
def _check_representation(representation: NDArray, irrep: PointGroupIrrep) -> NDArray:
    rep = np.asarray(representation)
    if rep.ndim != 3 or rep.shape[1] != rep.shape[2]:
        raise ValueError(f"representation must have shape (order, n, n), got {rep.shape}")
    if rep.shape[0] != len(irrep.characters):
        raise ValueError(
            f"representation has {rep.shape[0]} matrices but the group of irrep "
            f"{irrep.label} has order {len(irrep.characters)}"
        )
    return rep


def projection_operator(representation: NDArray, irrep: PointGroupIrrep) -> NDArray:
    """Projector onto the subspace of a representation that transforms like ``irrep``.

    ``P = d / (|G| <chi, chi>) * sum_g chi(g)^* D(g)``; for an absolutely irreducible irrep
    ``<chi, chi> = 1`` and this is the textbook formula; for a real irrep made of a complex
    conjugate pair ``<chi, chi> = 2``.

    Parameters
    ----------
    representation : NDArray
        ``(order, n, n)`` matrices ``D(g)`` in the same group order as the irrep's matrices.
    irrep : PointGroupIrrep

    Returns
    -------
    NDArray
        ``(n, n)`` projector: idempotent, Hermitian for unitary ``D``; the projectors of all
        irreps sum to the identity.
    """
    rep = _check_representation(representation, irrep)
    order = rep.shape[0]
    p = irrep.dim / (order * irrep.norm) * np.einsum("g,gij->ij", np.conj(irrep.characters), rep)
    return np.real_if_close(p, tol=1e6)


def decompose_representation(
    representation: NDArray, irreps: list[PointGroupIrrep]
) -> dict[str, int]:
    """Multiplicity of each irrep in ``representation``: ``<chi_D, chi_a> / <chi_a, chi_a>``."""
    rep = np.asarray(representation)
    chi = np.einsum("gii->g", rep)
    out = {}
    for ir in irreps:
        _check_representation(rep, ir)
        m = np.real(np.vdot(ir.characters, chi)) / (len(chi) * ir.norm)
        if abs(m - round(m)) > 1e-6:
            raise ValueError(
                f"non-integer multiplicity {m:.4f} of {ir.label}: not a representation"
            )
        if round(m):
            out[ir.label] = int(round(m))
    return out


def symmetry_adapted_basis(
    representation: NDArray, irrep: PointGroupIrrep, tol: float = 1e-8
) -> NDArray:
    """Symmetry-adapted basis of the ``irrep`` subspace of a representation.

    Parameters
    ----------
    representation : NDArray
        ``(order, n, n)`` matrices ``D(g)`` (orthogonal or unitary).
    irrep : PointGroupIrrep

    Returns
    -------
    NDArray
        ``(multiplicity, dim, n)`` orthonormal vectors ``e[m, i]``. For absolutely
        irreducible irreps (``indicator == 1`` or complex irreps) each copy transforms
        with the irrep matrices, ``D(g) e[m, j] = sum_i Gamma_ij(g) e[m, i]``; for a real
        irrep made of a complex pair the vectors span the subspace, grouped by ``dim``.
    """
    rep = _check_representation(representation, irrep)
    order, n = rep.shape[0], rep.shape[1]
    if irrep.norm > 1.5:  # real pair: no partner structure over the reals
        p = projection_operator(rep, irrep)
        vecs = _orthonormal_range(p, tol)
        return vecs.reshape(-1, irrep.dim, n)
    gamma = irrep.matrices
    p_i1 = irrep.dim / order * np.einsum("gi,gab->iab", np.conj(gamma[:, :, 0]), rep)
    seeds = _orthonormal_range(p_i1[0], tol)  # (mult, n): range of P_11
    basis = np.einsum("iab,mb->mia", p_i1, seeds)
    norms = np.linalg.norm(basis, axis=-1, keepdims=True)
    return basis / norms


def _orthonormal_range(p: NDArray, tol: float) -> NDArray:
    u, s, _ = np.linalg.svd(p)
    keep = s > tol * max(1.0, s.max(initial=0.0))
    vecs = u[:, keep].T
    return np.real_if_close(vecs, tol=1e6)


# --------------------------------------------------------------------------- tensors
def tensor_representation(rotations: NDArray, rank: int, axial: bool = False) -> NDArray:
    """``(order, 3**rank, 3**rank)`` matrices ``R x R x ... x R`` (times ``det R`` if axial)."""
    rotations = np.asarray(rotations, dtype=float)
    out = np.ones((len(rotations), 1, 1))
    for _ in range(rank):
        out = np.einsum("gab,gij->gaibj", out, rotations).reshape(
            len(rotations), out.shape[1] * 3, out.shape[2] * 3
        )
    if axial:
        out *= np.linalg.det(rotations)[:, None, None]
    return out


def symmetrize_tensor(tensor: NDArray, rotations: NDArray, axial: bool = False) -> NDArray:
    """Average a Cartesian tensor of any rank over a point group (Neumann's principle).

    ``T'_{i..} = (1/|G|) sum_g R_{ia} ... R_{lb} T_{a..b}`` (times ``det R`` if axial).

    Parameters
    ----------
    tensor : NDArray
        ``(3,) * rank`` Cartesian tensor.
    rotations : NDArray
        ``(order, 3, 3)`` Cartesian rotations forming a group.
    axial : bool
        Axial (pseudo-) tensor, e.g. the magnetoelectric or gyration tensor.

    Returns
    -------
    NDArray
        The invariant part of ``tensor``, same shape.
    """
    t = np.asarray(tensor, dtype=float)
    if t.shape != (3,) * t.ndim:
        raise ValueError(f"tensor must have shape (3, 3, ...), got {t.shape}")
    rotations = np.asarray(rotations, dtype=float)
    acc = np.zeros_like(t)
    for r in rotations:
        x = t
        for axis in range(t.ndim):
            x = np.moveaxis(np.tensordot(r, x, axes=([1], [axis])), 0, axis)
        acc += np.linalg.det(r) * x if axial else x
    return acc / len(rotations)


def _index_symmetry_projector(rank: int, index_symmetries) -> NDArray:
    """Average over the group generated by permutations of tensor indices."""
    perms = {tuple(range(rank))}
    gens = [tuple(p) for p in index_symmetries]
    for p in gens:
        if sorted(p) != list(range(rank)):
            raise ValueError(f"index symmetry {p} is not a permutation of {rank} indices")
    frontier = set(perms)
    while frontier:
        new = {tuple(q[i] for i in p) for q in frontier for p in gens} - perms
        perms |= new
        frontier = new
    size = 3**rank
    eye = np.eye(size).reshape((size,) + (3,) * rank)
    s = np.zeros((size, size))
    for p in perms:
        s += np.transpose(eye, (0,) + tuple(i + 1 for i in p)).reshape(size, size)
    return s / len(perms)


def invariant_tensor_basis(
    rotations: NDArray,
    rank: int,
    index_symmetries=(),
    axial: bool = False,
) -> NDArray:
    """Orthonormal basis of the tensors allowed by a point group.

    Parameters
    ----------
    rotations : NDArray
        ``(order, 3, 3)`` Cartesian rotations forming a group.
    rank : int
        Tensor rank.
    index_symmetries : sequence of permutations or str
        Intrinsic (Voigt) symmetry, e.g. ``((1, 0),)`` for a symmetric rank-2 tensor, or a
        key of :data:`TENSOR_INDEX_SYMMETRIES` (``"dielectric"``, ``"piezoelectric"``,
        ``"elastic"``).
    axial : bool
        Axial tensor.

    Returns
    -------
    NDArray
        ``(n_independent, 3, ..., 3)`` orthonormal invariant tensors.
    """
    if isinstance(index_symmetries, str):
        if index_symmetries not in TENSOR_INDEX_SYMMETRIES:
            raise ValueError(
                f"unknown tensor kind {index_symmetries!r}; "
                f"known: {sorted(TENSOR_INDEX_SYMMETRIES)}"
            )
        index_symmetries = TENSOR_INDEX_SYMMETRIES[index_symmetries]
    if rank < 0 or rank > 6:
        raise ValueError(f"rank must be between 0 and 6, got {rank}")
    group_avg = tensor_representation(rotations, rank, axial).mean(axis=0)
    proj = group_avg @ _index_symmetry_projector(rank, index_symmetries)
    proj = 0.5 * (proj + proj.T)
    w, v = np.linalg.eigh(proj)
    vecs = v[:, w > 0.5].T
    return vecs.reshape((-1,) + (3,) * rank)


def allowed_tensor_components(
    rotations: NDArray, rank: int, index_symmetries=(), axial: bool = False
) -> int:
    """Number of independent tensor components allowed by a point group.

    The dimension of the invariant subspace, e.g. 1 for the dielectric tensor of a cubic
    crystal, 0 for the piezoelectric tensor of a centrosymmetric one, 3 for cubic and 5 for
    hexagonal elastic constants. Arguments as in :func:`invariant_tensor_basis`.
    """
    return int(len(invariant_tensor_basis(rotations, rank, index_symmetries, axial)))
