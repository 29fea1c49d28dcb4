"""Irreducible representations of the parent space group at a k-point, with labels.

Small representations come from spgrep (``get_spacegroup_irreps_from_primitive_symmetry``),
labels from the Bilbao tables of ``irreptables`` (:mod:`.labels`). Conventions are those
of :mod:`.lattice`: a translation ``t`` acts on a Bloch function at ``k`` as
``exp(-2 pi i k.t)``; ``k`` is fractional in the reciprocal basis of the parent cell given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray
from spgrep import get_spacegroup_irreps_from_primitive_symmetry

from .idealize import Idealization, idealize_and_warn
from .labels import StandardFrame, standard_frame
from .lattice import (
    centered,
    centering_vectors,
    frac_str,
    is_reciprocal_vector,
    ops_to_basis,
    reduce_to_primitive,
    supercell_matrix_3x3,
    wrap,
)
from .origin import LabelOrigin, resolve_origin
from .spacegroup import SpaceGroupInfo, analyze, shift_origin

__all__ = ["Irrep", "irreps_at_k", "commensurate_kpoints", "kpoint_stars"]


@dataclass(frozen=True)
class Irrep:
    """An irreducible representation of the parent space group (full star of k).

    Attributes
    ----------
    label : str
        Bilbao label ('R4+', 'GM4-', 'M3+' ...), or a systematic fallback
        'k(1/4,0,0)_3' (third spgrep irrep at that k) when the k-point is not in the
        tables (non-maximal k) or no table is available.
    standard_label : bool
        True when `label` comes from the tables.
    k : NDArray[float]
        (3,) fractional, reciprocal basis of the parent cell given; the arm of the star
        that the tables use when the label is standard.
    star : NDArray[float]
        (n_arms, 3) all arms, `k` first.
    dim : int
        Dimension of the (complex) irrep over all arms = small_dim * n_arms.
    characters : NDArray[complex]
        (n_little,) characters of the small representation on `little_rotations`,
        `little_translations`.
    little_rotations : NDArray[int]
        (n_little, 3, 3) one operation per coset of the little group of k (parent cell).
    little_translations : NDArray[float]
        (n_little, 3)
    small_dim : int
    reality : int
        Frobenius-Schur (Herring) indicator: 1 real, 0 complex, -1 pseudo-real.
    real_dim : int
        Dimension of the physically irreducible (real) representation containing it:
        ``dim`` when reality == 1, ``2 dim`` otherwise.
    kpoint_label : str or None
        Table name of the k-point ('GM', 'X', 'M', 'R', ...).
    matrices : NDArray[complex]
        (n_little, small_dim, small_dim) small-representation matrices (spgrep).
    """

    label: str
    standard_label: bool
    k: NDArray
    star: NDArray
    dim: int
    characters: NDArray = field(repr=False)
    little_rotations: NDArray | None = field(repr=False, default=None)
    little_translations: NDArray | None = field(repr=False, default=None)
    small_dim: int = 1
    reality: int = 1
    real_dim: int = 1
    kpoint_label: str | None = None
    matrices: NDArray | None = field(repr=False, default=None)

    def character(self, rotation: NDArray, translation: NDArray) -> complex:
        """Small-representation character of ``(R, t)``; 0 if R is not in the little co-group."""
        assert self.little_rotations is not None and self.little_translations is not None
        for r, t, chi in zip(self.little_rotations, self.little_translations, self.characters):
            if np.array_equal(r, rotation):
                return complex(chi * np.exp(-2j * np.pi * self.k @ (np.asarray(translation) - t)))
        return 0.0j


@dataclass(frozen=True)
class ParentContext:
    """Parent (origin already shifted) with its operations in several bases."""

    atoms: Atoms
    info: SpaceGroupInfo
    rotations: NDArray  # (n_ops, 3, 3) parent cell
    translations: NDArray  # (n_ops, 3)
    centerings: NDArray  # (n_c, 3) parent cell
    rot_p: NDArray  # (n_pg, 3, 3) primitive basis
    trans_p: NDArray
    s: NDArray  # x_parent = s @ x_primitive
    coset_rotations: NDArray  # (n_pg, 3, 3) parent cell, one per point-group element
    coset_translations: NDArray
    frame: StandardFrame | None
    idealization: Idealization | None = None
    origin: LabelOrigin | None = None


def _context(
    atoms: Atoms,
    symprec: float,
    idealization: Idealization | None = None,
    origin: LabelOrigin | None = None,
    transformation: NDArray | None = None,
) -> ParentContext:
    """The origin-shifted parent analysed; its labels refer to ``origin`` when given
    (``origin.p_standard`` with ``transformation``, the ``P`` it was computed with).
    """
    info = analyze(atoms, symprec=symprec)
    rot, trans = info.rotations, info.translations
    rot_p, trans_p, s, keep = reduce_to_primitive(rot, trans)
    fixed = origin is not None and origin.p_standard is not None and transformation is not None
    frame = standard_frame(
        rot,
        trans,
        info.number,
        info.transformation_matrix if transformation is None else transformation,
        info.origin_shift,
        info.hall_number,
        origin=origin.p_standard if fixed and origin is not None else None,
    )
    return ParentContext(
        atoms=atoms,
        info=info,
        rotations=rot,
        translations=trans,
        centerings=centering_vectors(rot, trans),
        rot_p=rot_p,
        trans_p=trans_p,
        s=s,
        coset_rotations=rot[keep],
        coset_translations=wrap(trans[keep]),
        frame=frame,
        idealization=idealization,
        origin=origin,
    )


def prepare_parent(
    parent: Any, origin_index: int | None, symprec: float, origin: LabelOrigin | None = None
) -> tuple[Atoms, int, ParentContext]:
    """Idealise to the group found at ``symprec``, choose the origin the labels refer to
    (:func:`~ase_symbreak.symmetry.origin.resolve_origin`), put its atom at 0, analyse.

    ``origin`` (a :class:`LabelOrigin` of this parent, e.g. another tool's
    ``LabelOrigin.shifted()`` when it passes on its origin-shifted parent) is used as it is.
    """
    ideal = idealize_and_warn(parent, symprec)
    atoms = ideal.atoms
    if origin is None:
        origin = resolve_origin(atoms, origin_index, symprec, analyze(atoms, symprec=symprec))
    shifted = shift_origin(atoms, origin.index)
    ctx = _context(shifted, symprec, ideal, origin, origin.transformation)
    return shifted, origin.index, ctx


def star_of(ctx: ParentContext, k: NDArray) -> NDArray:
    """(n_arms, 3) the star of ``k`` under the parent's point group (reciprocal basis)."""
    arms: list[NDArray] = []
    for r in ctx.coset_rotations:
        kk = np.linalg.inv(r).T @ k
        if not any(is_reciprocal_vector(kk - a, ctx.centerings) for a in arms):
            arms.append(kk)
    return np.array(arms)


def _table_arm(ctx: ParentContext, star: NDArray) -> int | None:
    if ctx.frame is None:
        return None
    for i, a in enumerate(star):
        if ctx.frame.kpoint_name(a) is not None:
            return i
    return None


def _canonical_star(ctx: ParentContext, k: NDArray) -> NDArray:
    """Star of k with the table arm (if any) first, expressed exactly as in the table."""
    star = star_of(ctx, np.asarray(k, dtype=float))
    frame = ctx.frame
    i = _table_arm(ctx, star)
    if i is None or frame is None:  # _table_arm gives None when there is no frame
        return _tidy(ctx, star)
    name = frame.kpoint_name(star[i])
    k0 = frame.k_from_std(frame.table.kpoints[name][0])
    star = star_of(ctx, k0)
    star[1:] = _tidy(ctx, star[1:])
    return star


def _tidy(ctx: ParentContext, arms: NDArray) -> NDArray:
    """Components into (-1/2, 1/2] where that is an equivalent k (always for primitive cells)."""
    out = arms.copy()
    for n, a in enumerate(arms):
        c = centered(a)
        if is_reciprocal_vector(c - a, ctx.centerings):
            out[n] = c
    return out


def irreps_from_context(ctx: ParentContext, k: NDArray) -> list[Irrep]:
    """The labelled irreps of the parent at ``k`` (its star put in the tables' setting)."""
    star = _canonical_star(ctx, k)
    k0 = star[0]
    kp = ctx.s.T @ k0
    irreps, mapping = get_spacegroup_irreps_from_primitive_symmetry(ctx.rot_p, ctx.trans_p, kp)
    rot_g, trans_g = ops_to_basis(ctx.rot_p[mapping], ctx.trans_p[mapping], np.linalg.inv(ctx.s))
    rot_g = np.round(rot_g).astype(int)
    frame = ctx.frame
    kname = frame.kpoint_name(k0) if frame is not None else None
    out = []
    for n, mats in enumerate(irreps):
        chars = np.trace(mats, axis1=1, axis2=2)
        # kname is None when frame is
        label = (
            frame.label(k0, rot_g, trans_g, chars)
            if frame is not None and kname is not None
            else None
        )
        standard = label is not None
        if label is None:
            label = f"k({','.join(frac_str(x) for x in k0)})_{n + 1}"
        small = mats.shape[1]
        irr = Irrep(
            label=label,
            standard_label=standard,
            k=k0,
            star=star,
            dim=small * len(star),
            characters=chars,
            little_rotations=rot_g,
            little_translations=trans_g,
            small_dim=small,
            kpoint_label=kname,
            matrices=mats,
        )
        ind = _herring(ctx, irr)
        out.append(_replace(irr, reality=ind, real_dim=irr.dim if ind == 1 else 2 * irr.dim))
    if all(i.standard_label for i in out) and frame is not None:
        order = [lab for lab, _, _ in frame.table.irreps[kname]]
        out.sort(key=lambda i: order.index(i.label) if i.label in order else len(order))
    return out


def _replace(irr: Irrep, **kw) -> Irrep:
    from dataclasses import replace

    return replace(irr, **kw)


def _herring(ctx: ParentContext, irr: Irrep) -> int:
    """Herring's test: sum over g with g k = -k of chi(g^2), divided by |G_k / T|."""
    total = 0.0j
    for r, t in zip(ctx.coset_rotations, ctx.coset_translations):
        kk = np.linalg.inv(r).T @ irr.k
        if is_reciprocal_vector(kk + irr.k, ctx.centerings):
            total += irr.character(r @ r, r @ t + t)
    val = total.real / len(irr.characters)
    return int(round(val))


def irreps_at_k(
    parent: Any, k: Any, origin_index: int | None = None, symprec: float = 1e-3
) -> list[Irrep]:
    """All irreps of the parent space group at the star of `k`.

    Parameters
    ----------
    parent : ase.Atoms or pymatgen Structure
        Parent structure.
    k : array_like
        (3,) fractional, reciprocal basis of the parent cell.
    origin_index : int, optional
        Atom put at the origin before labelling (default :func:`default_origin_index`).
        Labels depend on it (e.g. SrTiO3 tilts are R4+ with Ti, R5- with Sr at the origin).
    symprec : float
        spglib tolerance, Angstrom.

    Returns
    -------
    list[Irrep]
        Ordered as in the Bilbao table when labels are standard.
    """
    _, _, ctx = prepare_parent(parent, origin_index, symprec)
    k = np.asarray(k, dtype=float).reshape(3)
    return irreps_from_context(ctx, k)


def _all_commensurate(ctx: ParentContext, p: NDArray) -> NDArray:
    """All k with ``p @ k`` integer, modulo the reciprocal lattice of the primitive lattice.

    For a centred parent cell the reciprocal lattice of the primitive lattice is a
    sublattice of Z^3 of index n_centring, so there are det(p) * n_centring of them.
    """
    n = int(round(abs(np.linalg.det(p))))
    n_c = len(ctx.centerings)
    grid = np.array(np.meshgrid(*[np.arange(n)] * 3, indexing="ij")).reshape(3, -1).T
    ks = wrap(grid @ np.linalg.inv(p).T)  # P k = m  ->  k = P^{-1} m
    if n_c > 1:
        shifts = np.array(np.meshgrid(*[np.arange(n_c)] * 3, indexing="ij")).reshape(3, -1).T
        ks = (ks[:, None, :] + shifts[None, :, :]).reshape(-1, 3)
    out: list[NDArray] = []
    for kk in ks:
        if not any(is_reciprocal_vector(kk - o, ctx.centerings) for o in out):
            out.append(kk)
            if len(out) == n * n_c:
                break
    return np.array(out)


def kpoint_stars(ctx: ParentContext, p: NDArray) -> list[NDArray]:
    """Commensurate k of supercell `p` grouped into stars; each star (n_arms, 3), canonical arm
    first.
    """
    ks = _all_commensurate(ctx, p)
    used = np.zeros(len(ks), dtype=bool)
    stars = []
    for i, k in enumerate(ks):
        if used[i]:
            continue
        star = _canonical_star(ctx, k)
        for j in range(len(ks)):
            if any(is_reciprocal_vector(ks[j] - a, ctx.centerings) for a in star):
                used[j] = True
        stars.append(star)
    # Gamma first, then by number of arms
    stars.sort(key=lambda s: (not np.allclose(s[0], 0), len(s)))
    return stars


def commensurate_kpoints(parent: Any, supercell_matrix: Any) -> NDArray:
    """One representative per star of the k-points commensurate with a supercell.

    Parameters
    ----------
    parent : Atoms
    supercell_matrix : (3,) or (3, 3) int
        Supercell lattice (rows) = ``supercell_matrix @ parent.cell``. k is commensurate
        when ``supercell_matrix @ k`` is integer.

    Returns
    -------
    NDArray[float]
        (n_stars, 3) fractional, parent reciprocal basis; the table arm when the k-point
        is in the Bilbao tables.
    """
    _, _, ctx = prepare_parent(parent, None, 1e-3)
    p = supercell_matrix_3x3(supercell_matrix)
    return np.array([s[0] for s in kpoint_stars(ctx, p)])
