"""Symmetry-adapted displacement modes of a parent supercell.

The finite group ``G_s`` = (parent space-group operations) x (parent lattice translations
modulo the supercell lattice) acts on the 3N displacements of the supercell through
``Gamma(g) = permutation(g) (x) R_cart(g)``. We

1. split displacement space into blocks spanned by real Bloch waves of each commensurate
   k-star (and its negative);
2. split each block into real-irreducible (physically irreducible) subspaces with the
   eigenvectors of a random symmetric matrix that commutes with ``Gamma`` (the commutant
   trick: its eigenspaces are irreducible for a generic choice; checked by
   ``sum |chi|^2 in {1, 2, 4} |G_s|``);
3. group them into isotypic components by their characters, label each with the small
   representation characters at k (Bilbao tables, :mod:`.labels`);
4. choose a canonical basis for the first copy (arm by arm; within an arm joint
   eigenvectors of symmetry operations, Cartesian-diagonal ones first, so that e.g. the
   R4+ components are tilts about x, y, z) and map every other copy onto it with an
   intertwiner ``sum_g D_m(g) X D(g)^T``, so that all copies transform with the SAME
   real matrices ``D(g)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .idealize import Idealization
from .irreps import Irrep, ParentContext, irreps_from_context, kpoint_stars, prepare_parent
from .lattice import (
    atom_permutations,
    cartesian_rotations,
    is_reciprocal_vector,
    supercell_matrix_3x3,
)
from .origin import LabelOrigin

__all__ = ["SupercellOperations", "IrrepModes", "DisplacementRepresentation", "displacement_modes"]


@dataclass(frozen=True)
class SupercellOperations:
    """The parent operations acting on the supercell.

    Operation ``g = i * n_cells + c`` is parent operation ``i`` followed by the lattice
    translation ``cells[c]``.

    Attributes
    ----------
    rotations : NDArray[int]
        (n_ops_s, 3, 3) fractional, parent cell.
    translations : NDArray[float]
        (n_ops_s, 3) fractional, parent cell (``t_i + L_c``).
    cartesian : NDArray[float]
        (n_ops_s, 3, 3) Cartesian rotation matrices.
    permutations : NDArray[int]
        (n_ops_s, N) ``permutations[g, i] = j``: supercell atom i is carried onto atom j.
    supercell_rotations : NDArray[int]
        (n_ops_s, 3, 3) fractional, supercell.
    supercell_translations : NDArray[float]
        (n_ops_s, 3) fractional, supercell.
    """

    rotations: NDArray
    translations: NDArray
    cartesian: NDArray = field(repr=False)
    permutations: NDArray = field(repr=False)
    supercell_rotations: NDArray = field(repr=False)
    supercell_translations: NDArray = field(repr=False)

    def __len__(self) -> int:
        return len(self.rotations)

    def act(self, u: NDArray, g: int | None = None) -> NDArray:
        """Apply ``Gamma(g)`` to displacements.

        Parameters
        ----------
        u : (N, 3, ...) Cartesian displacements (extra trailing axes allowed).
        g : int, optional
            Operation index; all operations when None.

        Returns
        -------
        (N, 3, ...) for one operation, (n_ops_s, N, 3, ...) for all.
        """
        u = np.asarray(u)
        if g is not None:
            moved = np.einsum("ij,nj...->ni...", self.cartesian[g], u)
            out = np.empty_like(moved)
            out[self.permutations[g]] = moved
            return out
        tmp = np.einsum("gij,nj...->gni...", self.cartesian, u)
        inv = np.argsort(self.permutations, axis=1)
        idx = inv.reshape(inv.shape + (1,) * (tmp.ndim - 2))
        return np.take_along_axis(tmp, idx, axis=1)


@dataclass(frozen=True)
class IrrepModes:
    """Displacement modes of one irrep (isotypic component).

    Attributes
    ----------
    irrep : Irrep
        Labelled irrep; for a complex pair forming one physically irreducible
        representation the label is the concatenation (e.g. 'W1W2') and ``dim`` is the
        real dimension.
    multiplicity : int
        Number of copies.
    basis : NDArray[float]
        (multiplicity, dim, N_supercell, 3), real, Cartesian, unitless; orthonormal over
        (copy, component, atoms, xyz). ``basis[m, c]`` is order-parameter component ``c`` of
        copy ``m``; ``Gamma(g) basis[m, c] = sum_b D(g)[b, c] basis[m, b]`` for every m.
    matrices : NDArray[float]
        (n_ops_s, dim, dim) the real matrices ``D(g)``, operations as in
        ``DisplacementRepresentation.operations``.
    orbits : list[str]
        Wyckoff orbits of the parent whose atoms move, e.g. ['O 3d'].
    characters : NDArray[float]
        (n_ops_s,) trace of ``matrices``.
    paired : tuple[str, ...]
        Labels of the complex irreps joined into this physically irreducible representation
        (('GM3', 'GM4') for 'GM3GM4', twice the same for a quaternionic one); empty when
        the irrep is real.
    """

    irrep: Irrep
    multiplicity: int
    basis: NDArray = field(repr=False)
    matrices: NDArray = field(repr=False)
    orbits: list[str] = field(default_factory=list)
    characters: NDArray | None = field(repr=False, default=None)
    paired: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.irrep.label

    @property
    def dim(self) -> int:
        return self.basis.shape[1]


@dataclass(frozen=True)
class DisplacementRepresentation:
    """Decomposition of the supercell displacement representation into labelled irreps.

    Attributes
    ----------
    parent : Atoms
        Origin-shifted parent (atom ``origin_index`` at fractional 0).
    origin_index : int
    supercell : Atoms
        Parent supercell; cell = ``supercell_matrix @ parent.cell``; atom
        ``c * n_parent + a`` is parent atom ``a`` translated by ``cells[c]``.
    supercell_matrix : NDArray[int]
        (3, 3)
    cells : NDArray[int]
        (n_cells, 3) parent lattice vectors (fractional) of the supercell's cells.
    operations : SupercellOperations
    irreps : list[IrrepModes]
        Gamma first, then by k-star, in table order.
    idealization : Idealization
        The space group used and how far the input was from it (the parent is the input
        idealised to that group, see :func:`~ase_symbreak.symmetry.idealize.idealize`).
    origin : LabelOrigin
        The origin of the ITA standard setting the labels refer to, and why
        (:func:`~ase_symbreak.symmetry.origin.resolve_origin`); ``origin.point`` is
        fractional in the parent cell given, before the shift.
    """

    parent: Atoms
    origin_index: int
    supercell: Atoms
    supercell_matrix: NDArray
    cells: NDArray = field(repr=False)
    operations: SupercellOperations = field(repr=False)
    irreps: list[IrrepModes] = field(default_factory=list)
    idealization: Idealization | None = field(repr=False, default=None)
    origin: LabelOrigin | None = field(repr=False, default=None)

    def __getitem__(self, label: str) -> IrrepModes:
        for m in self.irreps:
            if m.irrep.label == label:
                return m
        raise KeyError(f"no irrep {label!r}; have {[m.irrep.label for m in self.irreps]}")

    @property
    def labels(self) -> list[str]:
        return [m.irrep.label for m in self.irreps]


# ----------------------------------------------------------------------------- supercell


def _cells(p: NDArray) -> NDArray:
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ p
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    grid = (
        np.array(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi)], indexing="ij"))
        .reshape(3, -1)
        .T
    )
    xs = grid @ np.linalg.inv(p)
    keep = np.all((xs > -1e-9) & (xs < 1 - 1e-9), axis=1)
    cells = grid[keep]
    order = np.lexsort((cells[:, 2], cells[:, 1], cells[:, 0]))
    cells = cells[order]
    if len(cells) != int(round(abs(np.linalg.det(p)))):  # pragma: no cover
        raise RuntimeError("failed to enumerate supercell cells")
    return cells


def _build_supercell(
    ctx: ParentContext, p: NDArray, symprec: float = 1e-3
) -> tuple[Atoms, NDArray, SupercellOperations]:
    parent = ctx.atoms
    p_inv = np.linalg.inv(p)
    # supercell lattice must be invariant under the parent point group
    for r in ctx.rotations:
        m = p_inv.T @ r @ p.T
        if np.abs(m - np.round(m)).max() > 1e-6:
            raise ValueError(
                f"supercell_matrix {p.tolist()} is not invariant under the parent point group "
                "(e.g. use a diagonal n x n x n supercell for a cubic parent)"
            )
    cells = _cells(p)
    frac = parent.get_scaled_positions(wrap=True)
    n_at = len(parent)
    pos = (frac[None, :, :] + cells[:, None, :]).reshape(-1, 3)  # parent frac
    sc_frac = pos @ p_inv
    sc_frac -= np.floor(sc_frac + 1e-9)
    sc = Atoms(
        numbers=np.tile(parent.numbers, len(cells)),
        cell=p @ np.asarray(parent.cell[:]),
        scaled_positions=sc_frac,
        pbc=True,
    )
    n_ops = len(ctx.rotations)
    rot = np.repeat(ctx.rotations, len(cells), axis=0)
    trans = (ctx.translations[:, None, :] + cells[None, :, :]).reshape(-1, 3)
    rot_s = np.round(np.einsum("ij,njk,kl->nil", p_inv.T, rot, p.T)).astype(int)
    trans_s = trans @ p_inv
    # the parent is idealised: images coincide to rounding; symprec (A) bounds the fractional
    # tolerance
    tol = min(symprec, 1e-3) / float(np.max(sc.cell.lengths()))
    perms = atom_permutations(sc_frac, sc.numbers, rot_s, trans_s, tol=max(tol, 1e-8))
    cart = cartesian_rotations(rot, parent.cell[:])
    assert len(rot) == n_ops * len(cells) and n_at * len(cells) == len(sc)
    ops = SupercellOperations(rot, trans, cart, perms, rot_s, trans_s)
    return sc, cells, ops


# ----------------------------------------------------------------------------- helpers


def _orth(v: NDArray, tol: float = 1e-8) -> NDArray:
    """Orthonormal basis (columns) of the column space of v."""
    if v.size == 0:
        return v.reshape(v.shape[0], 0)
    u, s, _ = np.linalg.svd(v, full_matrices=False)
    return u[:, s > tol * max(1.0, s.max() if len(s) else 1.0)]


def _bloch_block(cells: NDArray, n_at: int, star: NDArray, centerings: NDArray) -> NDArray:
    """Real orthonormal basis (3N, d) of Bloch waves of the arms of star and -star."""
    eye = np.eye(3 * n_at)
    cols = []
    for k in _arm_pairs(star, centerings):
        ph = np.exp(2j * np.pi * cells @ k)
        parts = [ph.real] if is_reciprocal_vector(2 * k, np.zeros((1, 3))) else [ph.real, ph.imag]
        for part in parts:
            part = part / np.linalg.norm(part)
            cols.append(np.kron(part[:, None], eye))  # (n_c * 3 n_at, 3 n_at)
    b = np.hstack(cols)
    if not np.allclose(b.T @ b, np.eye(b.shape[1]), atol=1e-8):
        b = _orth(b)
    return b


def _block_matrices(ops: SupercellOperations, b: NDArray, chunk: int = 64) -> NDArray:
    """``b^T Gamma(g) b`` for every operation, (G, d, d), without forming ``Gamma(g) b`` for
    all g at once.

    ``Gamma(g) u`` puts ``R_g u_i`` on atom ``perm[g, i]``, so
    ``b^T Gamma(g) b = sum_i b_{perm[g,i]}^T R_g b_i``.
    """
    n3, d = b.shape
    b3 = b.reshape(n3 // 3, 3, d)
    out = np.empty((len(ops), d, d))
    for s in range(0, len(ops), chunk):
        g = slice(s, s + chunk)
        rotated = np.einsum("gab,nbd->gnad", ops.cartesian[g], b3).reshape(-1, n3, d)  # R_g b_i
        gathered = b3[ops.permutations[g]].reshape(-1, n3, d)  # b_{perm[g, i]}
        out[g] = gathered.transpose(0, 2, 1) @ rotated
    return out


def _clusters(w: NDArray, tol: float) -> list[NDArray]:
    out, start = [], 0
    for i in range(1, len(w) + 1):
        if i == len(w) or w[i] - w[i - 1] > tol:
            out.append(np.arange(start, i))
            start = i
    return out


def _irreducible_pieces(
    mats: NDArray,
    rng: np.random.Generator,
    pure: NDArray | None = None,
    cosets: NDArray | None = None,
) -> tuple[list[NDArray], list[NDArray]]:
    """Split R^d into real-irreducible invariant subspaces of the orthogonal rep `mats` (G, d, d).

    The eigenspaces of a generic symmetric element of the commutant, ``<D(g) a D(g)^T>_G``,
    are irreducible. With ``pure`` (indices of the pure translations, a normal subgroup)
    and ``cosets`` (one operation per coset of it) the group average is taken in two
    stages, over the translations and then over the cosets, ``(n_T + n_cosets) d^3``
    instead of ``|G| d^3``.

    Returns the pieces (each (d, s), orthonormal columns) and their characters (each (G,)).
    """
    d = mats.shape[1]
    n_g = len(mats)
    for _attempt in range(5):
        a = rng.standard_normal((d, d))
        a = a + a.T
        if pure is not None and cosets is not None:
            a = (mats[pure] @ a @ mats[pure].transpose(0, 2, 1)).sum(axis=0) / len(pure)
            h = (mats[cosets] @ a @ mats[cosets].transpose(0, 2, 1)).sum(axis=0) / len(cosets)
        else:
            h = (mats @ a @ mats.transpose(0, 2, 1)).sum(axis=0) / n_g
        h = 0.5 * (h + h.T)
        w, v = np.linalg.eigh(h)
        scale = max(1.0, np.abs(w).max())
        clusters = _clusters(w, 1e-7 * scale)
        pieces = [v[:, c] for c in clusters]
        diag = np.einsum("ia,gia->ga", v, mats @ v)  # (G, d): v_a^T D(g) v_a
        chis = [diag[:, c].sum(axis=1) for c in clusters]
        if all(min(abs(np.sum(chi**2) / n_g - x) for x in (1, 2, 4)) < 1e-6 for chi in chis):
            return pieces, chis
    raise RuntimeError("could not split the representation into irreducible pieces")


def _translation_projector(ops: SupercellOperations, mats: NDArray, k: NDArray) -> NDArray:
    """Projector (in the coordinates of `mats`) onto Bloch eigenvalue exp(-2 pi i k.t)."""
    pure = np.flatnonzero(np.all(ops.rotations == np.eye(3, dtype=int), axis=(1, 2)))
    ph = np.exp(2j * np.pi * ops.translations[pure] @ k)
    return np.einsum("g,gij->ij", ph, mats[pure]) / len(pure)


def _find_op(ops: SupercellOperations, p_inv: NDArray, r: NDArray, t: NDArray) -> int:
    same = np.all(ops.rotations == r, axis=(1, 2))
    d = (ops.translations - t) @ p_inv
    same &= np.all(np.abs(d - np.round(d)) < 1e-6, axis=1)
    return int(np.flatnonzero(same)[0])


def _identify(
    ops, p_inv, mats_w, cand: list[tuple[NDArray, list[Irrep]]]
) -> tuple[Irrep, NDArray, list[Irrep]]:
    """Find the star and the irrep(s) of an irreducible piece from small-rep characters."""
    for star, irreps in cand:
        k0 = star[0]
        proj = _translation_projector(ops, mats_w, k0)
        w, v = np.linalg.eigh((proj + proj.conj().T) / 2)
        q = v[:, w > 0.5]
        if q.shape[1] == 0:
            continue
        ref = irreps[0]
        # irreps_from_context sets the little group of every irrep it returns
        assert ref.little_rotations is not None and ref.little_translations is not None
        idx = [
            _find_op(ops, p_inv, r, t)
            for r, t in zip(ref.little_rotations, ref.little_translations)
        ]
        chi = np.einsum("ia,gia->g", q.conj(), mats_w[idx] @ q)
        found = []
        for irr in irreps:
            n = np.vdot(irr.characters, chi) / len(idx)
            if abs(n) > 0.5:
                found += [irr] * int(round(n.real))
        if not found:
            continue
        return found[0], star, found
    raise RuntimeError("could not identify an irreducible piece")


def _arm_pairs(star: NDArray, centerings: NDArray) -> list[NDArray]:
    """One arm of each ``{k, -k}`` pair of ``star`` (arms equal modulo the centred lattice)."""
    pairs: list[NDArray] = []
    for k in star:
        if not any(
            is_reciprocal_vector(k - q, centerings) or is_reciprocal_vector(k + q, centerings)
            for q in pairs
        ):
            pairs.append(k)
    return pairs


def _canonical_first_copy(
    ops: SupercellOperations,
    mats_w: NDArray,
    star: NDArray,
    centerings: NDArray,
    frame: NDArray | None = None,
) -> NDArray:
    """Orthogonal (d, d) change of basis: columns = canonical OP components in W-coordinates.

    ``frame`` (3, 3) rotates our Cartesian axes onto those of the standardised parent
    (spglib's ``std_rotation_matrix``): components are chosen by how the operations act
    in that frame, so they do not depend on the orientation or setting of the cell given.
    """
    standard = (
        ops.cartesian if frame is None else np.einsum("ij,gjk,lk->gil", frame, ops.cartesian, frame)
    )
    spaces = _arm_pair_spaces(ops, mats_w, star, centerings)
    e1 = spaces[0]
    stab = _stabiliser(mats_w, e1)
    proper_diag, order = _diagonal_first(standard, stab)
    parts = _split_by_operations(mats_w, e1, order)
    cols = [e1 @ p[:, j] for p in parts for j in range(p.shape[1])]  # e1 -> W coordinates
    cols.sort(key=lambda c: _component_signature(c, mats_w, proper_diag, stab))
    first = np.array(_chain_signs(cols, mats_w, standard, stab)).T  # (d, s)
    return _transport(first, mats_w, spaces[1:])


def _arm_pair_spaces(
    ops: SupercellOperations, mats_w: NDArray, star: NDArray, centerings: NDArray
) -> list[NDArray]:
    """Orthonormal (d, s) bases of the subspaces of each ``{k, -k}`` pair (real projectors)."""
    spaces = []
    for k in _arm_pairs(star, centerings):
        proj = _translation_projector(ops, mats_w, k)
        if not is_reciprocal_vector(2 * k, centerings):
            proj = proj + _translation_projector(ops, mats_w, -k)
        proj = proj.real
        w, v = np.linalg.eigh((proj + proj.T) / 2)
        spaces.append(v[:, w > 0.5])
    return spaces


def _stabiliser(mats_w: NDArray, e1: NDArray) -> NDArray:
    """Indices of the operations that map the span of ``e1`` (d, s) onto itself."""
    me = mats_w @ e1  # (G, d, s)
    resid = me - e1[None] @ (e1.T[None] @ me)
    return np.flatnonzero(np.linalg.norm(resid, axis=(1, 2)) < 1e-6)


def _diagonal_first(standard: NDArray, stab: NDArray) -> tuple[list[int], list[int]]:
    """Operations of ``stab`` with a diagonal Cartesian matrix.

    Returns the proper diagonal ones, sorted by ``-diag`` (``(1,1,1)`` first), and all of
    ``stab`` with the diagonal ones first (the order in which they refine the basis).
    """
    cart = standard[stab]
    offdiag = np.abs(cart - np.einsum("gii->gi", cart)[:, :, None] * np.eye(3)).max(axis=(1, 2))
    is_diag = offdiag < 1e-8
    dets = np.linalg.det(cart)
    # skip pure-translation duplicates: one operation per (rotation, matrix) is enough
    proper_diag = [int(g) for g, dg, dt in zip(stab, is_diag, dets) if dg and dt > 0]
    proper_diag.sort(key=lambda g: tuple(-np.round(np.diag(standard[g])).astype(int)))
    order = [int(g) for g, dg in zip(stab, is_diag) if dg] + [
        int(g) for g, dg in zip(stab, is_diag) if not dg
    ]
    return proper_diag, order


def _split_by_operations(mats_w: NDArray, e1: NDArray, order: list[int]) -> list[NDArray]:
    """Split ``e1``'s coordinates into 1-D joint eigenvectors of the operations' symmetric parts.

    Returns orthonormal (s, s_i) pieces in ``e1`` coordinates, refined by each operation of
    ``order`` in turn until all are one-dimensional (or the operations run out).
    """
    parts = [np.eye(e1.shape[1])]
    for g in order:
        if all(p.shape[1] == 1 for p in parts):
            break
        new = []
        m = e1.T @ mats_w[g] @ e1
        for p in parts:
            if p.shape[1] == 1:
                new.append(p)
                continue
            c = p.T @ ((m + m.T) / 2) @ p
            w, v = np.linalg.eigh(c)
            for cl in _clusters(w, 1e-6):
                new.append(p @ v[:, cl])
        parts = new
    return parts


def _component_signature(
    c: NDArray, mats_w: NDArray, proper_diag: list[int], stab: NDArray
) -> tuple:
    """Sort key of a component ``c`` (d,).

    Components are told apart by the axial operations first (R4+: tilts about x, y, z);
    then the one invariant under more operations comes first (GM3+ of Oh:
    2z^2-x^2-y^2 before x^2-y^2, so that the tetragonal direction reads (a,0) as in
    ISOTROPY).
    """
    diag = tuple(-round(float(c @ mats_w[g] @ c), 6) for g in proper_diag)
    n_fixed = sum(abs(float(c @ mats_w[g] @ c) - 1.0) < 1e-6 for g in stab)
    return diag + (-n_fixed,)


def _chain_signs(
    cols: list[NDArray], mats_w: NDArray, standard: NDArray, stab: NDArray
) -> list[NDArray]:
    """Signs: chain consecutive components with a cyclic operation (x->y->z first)."""
    cols = list(cols)
    cyc = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    is_cyc = np.abs(standard[stab] - cyc).max(axis=(1, 2)) < 1e-8
    pref = [int(g) for g in stab[is_cyc]] + [int(g) for g in stab]
    for i in range(1, len(cols)):
        for g in pref:
            ov = cols[i] @ mats_w[g] @ cols[i - 1]
            if abs(abs(ov) - 1) < 1e-6:
                if ov < 0:
                    cols[i] = -cols[i]
                break
    return cols


def _transport(first: NDArray, mats_w: NDArray, others: list[NDArray]) -> NDArray:
    """(d, d) basis: ``first`` (d, s) followed by its images in the other arm-pair spaces."""
    d = mats_w.shape[1]
    out = [first]
    moved_all = mats_w @ first  # (G, d, s)
    for sp in others:
        norms = np.linalg.norm(sp.T[None] @ moved_all, axis=(1, 2))
        hit = np.flatnonzero(norms > np.sqrt(first.shape[1]) - 1e-6)
        if len(hit) == 0:  # pragma: no cover
            raise RuntimeError("could not transport an arm")
        out.append(moved_all[hit[0]])
    basis = np.hstack(out)
    if basis.shape != (d, d) or not np.allclose(
        basis.T @ basis, np.eye(d), atol=1e-8
    ):  # pragma: no cover
        raise RuntimeError("canonical basis is not orthonormal")
    return basis


# ----------------------------------------------------------------------------- main


def displacement_modes(
    parent: Any,
    supercell_matrix: Any = (1, 1, 1),
    origin_index: int | None = None,
    symprec: float = 1e-3,
    seed: int = 0,
    kpoints: Any = None,
    label_origin: LabelOrigin | None = None,
) -> DisplacementRepresentation:
    """Decompose the displacements of a parent supercell into labelled irreps.

    Parameters
    ----------
    parent : ase.Atoms or pymatgen Structure
        High-symmetry parent structure.
    supercell_matrix : (3,) or (3, 3) int
        Supercell lattice (rows) = ``supercell_matrix @ parent.cell``; must be invariant
        under the parent point group (diagonal n x n x n for cubic parents).
    origin_index : int, optional
        Atom put at coordinate zero; the labels refer to it when it sits on an origin of the
        ITA standard setting, else to the default origin
        (:func:`~ase_symbreak.symmetry.origin.resolve_origin`: perovskite B site, the cell's
        own origin, an atom on a standard origin, spglib's standard origin).
    symprec : float
        spglib tolerance, Angstrom.
    seed : int
        Seed of the random commutant element (results do not depend on it beyond
        numerical noise).
    kpoints : (n, 3) array_like, optional
        Keep only the stars of these k-points (parent reciprocal basis); all
        commensurate stars by default.
    label_origin : LabelOrigin, optional
        The origin of the labels, as another call chose it for this parent (its ``index``
        replaces ``origin_index``); chosen here by default.

    Returns
    -------
    DisplacementRepresentation
    """
    shifted, origin_index, ctx = prepare_parent(parent, origin_index, symprec, label_origin)
    p = supercell_matrix_3x3(supercell_matrix)
    sc, cells, ops = _build_supercell(ctx, p, symprec)
    rng = np.random.default_rng(seed)
    orbit_names = ctx.info.wyckoff_orbits(shifted)
    stars = kpoint_stars(ctx, p)
    wanted = _wanted_stars(stars, kpoints, ctx.centerings, p)
    pure_translations, coset_ops = _translations_and_cosets(ctx.rotations, len(cells))
    job = _ModeJob(
        ctx,
        ops,
        np.linalg.inv(p),
        rng,
        orbit_names,
        len(shifted),
        len(sc),
        wanted,
        pure_translations,
        coset_ops,
    )
    result: list[IrrepModes] = []
    for b, star_list in _bloch_blocks(stars, cells, len(shifted), ctx.centerings):
        if any(job.is_wanted(st) for st in star_list):
            result.extend(_block_modes(job, b, star_list))
    return DisplacementRepresentation(
        parent=shifted,
        origin_index=origin_index,
        supercell=sc,
        supercell_matrix=p,
        cells=cells,
        operations=ops,
        irreps=result,
        idealization=ctx.idealization,
        origin=ctx.origin,
    )


@dataclass(frozen=True)
class _ModeJob:
    """What every Bloch block of :func:`displacement_modes` needs.

    Attributes
    ----------
    p_inv : NDArray[float]
        (3, 3) inverse of the supercell matrix.
    rng : np.random.Generator
        Draws the commutant elements and intertwiners, block after block.
    orbit_names : list of str
        Wyckoff orbit of each parent atom.
    n_at, n_sc : int
        Atoms in the parent cell and in the supercell.
    wanted : list of NDArray
        The stars to keep (the very objects of ``kpoint_stars``).
    pure_translations, coset_ops : NDArray[int]
        Operations that are pure translations, and one operation per coset of them.
    """

    ctx: ParentContext
    ops: SupercellOperations
    p_inv: NDArray
    rng: np.random.Generator
    orbit_names: list[str]
    n_at: int
    n_sc: int
    wanted: list[NDArray]
    pure_translations: NDArray
    coset_ops: NDArray

    def is_wanted(self, star: NDArray) -> bool:
        """Whether ``star`` (by identity) is one of the stars asked for."""
        return any(star is w for w in self.wanted)


def _wanted_stars(
    stars: list[NDArray], kpoints: Any, centerings: NDArray, p: NDArray
) -> list[NDArray]:
    """The stars that contain one of ``kpoints`` (all stars when it is None)."""
    if kpoints is None:
        return stars
    want = np.atleast_2d(np.asarray(kpoints, dtype=float))
    wanted = [
        st for st in stars if any(is_reciprocal_vector(a - k, centerings) for a in st for k in want)
    ]
    if not wanted:
        raise ValueError(
            f"none of the k-points {want.tolist()} is commensurate with supercell {p.tolist()}"
        )
    return wanted


def _bloch_blocks(
    stars: list[NDArray], cells: NDArray, n_at: int, centerings: NDArray
) -> list[tuple[NDArray, list[NDArray]]]:
    """Union of the Bloch spans of each star, (3N, d) with its stars.

    Stars whose spans coincide are merged (centred cells, where the Bloch waves of the
    cells do not separate k-points that differ by the centring).
    """
    blocks: list[tuple[NDArray, list[NDArray]]] = []
    for star in stars:
        b = _bloch_block(cells, n_at, star, centerings)
        for i, (bb, ss) in enumerate(blocks):
            if np.linalg.norm(bb.T @ b) > 1e-6:
                blocks[i] = (_orth(np.hstack([bb, b])), ss + [star])
                break
        else:
            blocks.append((b, [star]))
    return blocks


def _translations_and_cosets(rotations: NDArray, n_cells: int) -> tuple[NDArray, NDArray]:
    """Pure translations and one operation per coset of them (``g = i * n_cells + c``)."""
    is_identity = np.all(rotations == np.eye(3, dtype=int), axis=(1, 2))
    pure_translations = (
        np.flatnonzero(is_identity)[:, None] * n_cells + np.arange(n_cells)[None, :]
    ).ravel()
    coset_ops = np.array(
        [
            i * n_cells
            for i in range(len(rotations))
            if not any(np.array_equal(rotations[i], rotations[j]) for j in range(i))
        ]
    )
    return pure_translations, coset_ops


def _block_modes(job: _ModeJob, b: NDArray, star_list: list[NDArray]) -> list[IrrepModes]:
    """Labelled irreps of one Bloch block ``b`` (3N, d), in the order of the irrep tables."""
    cand = [(s, irreps_from_context(job.ctx, s[0])) for s in star_list]
    mats_b = _block_matrices(job.ops, b)
    pieces, chis = _irreducible_pieces(mats_b, job.rng, job.pure_translations, job.coset_ops)
    entries = []
    for cl in _character_classes(chis):
        modes = _isotypic_modes(job, b, mats_b, [pieces[i] for i in cl], cand)
        if modes is not None:
            entries.append(modes)
    order: dict[str, tuple[int, int]] = {}
    for _, irs in cand:
        for n, irr in enumerate(irs):
            order.setdefault(irr.label, (len(order), n))
    entries.sort(key=lambda m: order.get(m.irrep.label, (len(order), 0)))
    return entries


def _character_classes(chis: list[NDArray]) -> list[list[int]]:
    """Indices of the pieces grouped by equal characters (isotypic components)."""
    classes: list[list[int]] = []
    for i, chi in enumerate(chis):
        for cl in classes:
            if len(chis[cl[0]]) == len(chi) and np.abs(chis[cl[0]] - chi).max() < 1e-6:
                cl.append(i)
                break
        else:
            classes.append([i])
    return classes


def _isotypic_modes(
    job: _ModeJob,
    b: NDArray,
    mats_b: NDArray,
    pieces: list[NDArray],
    cand: list[tuple[NDArray, list[Irrep]]],
) -> IrrepModes | None:
    """All copies of one irrep in the canonical basis; None if its star is not wanted.

    ``pieces`` are the (d_b, d) bases of the copies in block coordinates.
    """
    w1 = pieces[0]
    mats_w = w1.T @ mats_b @ w1
    irr, star, found = _identify(job.ops, job.p_inv, mats_w, cand)
    if not job.is_wanted(star):
        return None
    d = w1.shape[1]
    if len(found) > 1 or irr.dim != d:
        irr = replace(irr, label="".join(f.label for f in found), dim=d)
    ctx = job.ctx
    e = _canonical_first_copy(job.ops, mats_w, star, ctx.centerings, ctx.info.std_rotation_matrix)
    w1c = w1 @ e
    d_mats = w1c.T @ mats_b @ w1c
    copies = [w1c] + [_intertwined_copy(wm, mats_b, d_mats, job.rng) for wm in pieces[1:]]
    basis = np.stack([b @ w for w in copies])  # (m, 3N, d)
    basis = basis.transpose(0, 2, 1).reshape(len(copies), d, job.n_sc, 3)
    weight = np.sum(basis**2, axis=(0, 1, 3))
    moving = sorted({job.orbit_names[i % job.n_at] for i in np.flatnonzero(weight > 1e-10)})
    return IrrepModes(
        irrep=irr,
        multiplicity=len(copies),
        basis=basis,
        matrices=d_mats,
        orbits=moving,
        characters=np.trace(d_mats, axis1=1, axis2=2),
        paired=tuple(f.label for f in found) if len(found) > 1 else (),
    )


def _intertwined_copy(
    wm: NDArray, mats_b: NDArray, d_mats: NDArray, rng: np.random.Generator
) -> NDArray:
    """Basis (d_b, d) of the copy ``wm`` that transforms with the first copy's ``d_mats``.

    Uses a random intertwiner ``sum_g D_m(g) X D(g)^T``, normalised to be orthogonal.
    """
    d = d_mats.shape[1]
    dm = wm.T @ mats_b @ wm
    x = rng.standard_normal((d, d))
    t = (dm @ x @ d_mats.transpose(0, 2, 1)).sum(axis=0) / len(mats_b)
    c = t.T @ t
    t = t / np.sqrt(np.trace(c) / d)
    return wm @ t
