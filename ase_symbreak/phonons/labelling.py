"""Labelled phonon modes: the model's force constants diagonalised irrep by irrep.

Labelling is exact, not a guess from eigenvectors: the symmetry core gives, for every irrep
of the supercell displacement representation, ``multiplicity`` copies of orthonormal
patterns that transform with the same real matrices. Because the masses are equal within a
Wyckoff orbit, the mass-weighted dynamical matrix ``D = M^-1/2 Phi M^-1/2`` of the
supercell commutes with the group, so it leaves each isotypic component invariant; the
``(multiplicity x dim)`` block of D on it is diagonalised whole (for complex and
quaternionic irreps D couples different components of different copies), its eigenvalues
are the irrep's squared frequencies (each ``dim``-fold degenerate over the star) and its
eigenvectors combine the copies into the normal modes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.symmetry.lattice import supercell_matrix_3x3

from .phonopy_interface import check_unitcell, full_force_constants, phonopy_force_constants
from .records import ModeSet, PhononModes, format_q

__all__ = ["labelled_modes", "star_and_inverse"]

#: Largest relative leakage of D out of the irrep subspaces before labels are unreliable.
_RESIDUAL_WARN = 1e-3


def labelled_modes(
    unitcell: Atoms,
    calc_or_phonopy,
    supercell_matrix: ArrayLike = (2, 2, 2),
    origin_index: int | None = None,
    degeneracy_tol: float = 1e-3,
    symprec: float = 1e-3,
    progress: Callable[[int, int], None] | None = None,
    representation=None,
) -> PhononModes:
    """Phonon modes at Gamma and every q commensurate with the supercell, labelled by irrep.

    Parameters
    ----------
    unitcell : Atoms
        The high-symmetry parent (the cell ``phonopy_force_constants`` was given).
    calc_or_phonopy : ASE calculator or phonopy.Phonopy
        A calculator (force constants are computed with :func:`phonopy_force_constants`,
        symmetrised: its exact Hessian where it has one, else finite displacements; the
        record's ``force_constants_method`` says which) or a Phonopy object with force
        constants on the same supercell.
    supercell_matrix : (3,) or (3, 3) int
        Supercell lattice = ``supercell_matrix @ unitcell.cell``; q is commensurate when
        ``supercell_matrix @ q`` is integer (2x2x2 of cubic: GM, X, M, R).
    origin_index : int, optional
        Unit-cell atom at the origin (labels depend on it); default: B site of a
        perovskite, see :func:`ase_symbreak.symmetry.default_origin_index`.
    degeneracy_tol : float
        THz. Copies of the same irrep whose frequencies differ by less are merged into one
        set (accidental degeneracy); modes of one irrep copy are degenerate exactly.
    symprec : float
        Tolerance (Angstrom) of the symmetry core.
    progress : ``progress(done, total)`` over the Hessian rows or force calculations, when
        a calculator is given.
    representation : DisplacementRepresentation, optional
        ``displacement_modes(unitcell, supercell_matrix, origin_index)`` if already computed
        (it is the slow part for large supercells); must match the arguments.

    Returns
    -------
    PhononModes
        ``sum(m.degeneracy) == 3 * N_supercell``.
    """
    from ase_symbreak.symmetry.lattice import centering_vectors

    unitcell = check_unitcell(unitcell)
    p = supercell_matrix_3x3(supercell_matrix)
    phonon, method = _phonopy_for(unitcell, calc_or_phonopy, p, progress)
    rep = _representation_for(unitcell, p, origin_index, symprec, representation)
    perm = _map_to_phonopy(rep, unitcell, phonon, symprec)  # rep atom i == phonopy atom perm[i]
    dyn = _DynamicalMatrix.of(phonon, perm)
    bloch = _BlochProjector(phonon, perm)
    centerings = centering_vectors(rep.operations.rotations, rep.operations.translations)
    sets: list[ModeSet] = []
    residual = 0.0
    for irrep_modes in rep.irreps:
        irrep_sets, leak = _irrep_mode_sets(irrep_modes, dyn, bloch, centerings, degeneracy_tol)
        sets.extend(irrep_sets)
        residual = max(residual, leak / dyn.scale)
    if residual > _RESIDUAL_WARN:
        warnings.warn(
            f"the force constants break the parent symmetry "
            f"(relative leakage {residual:.1e} out of the "
            "irrep subspaces): frequencies are those of the symmetric part; "
            "symmetrise the force constants",
            stacklevel=2,
        )
    sets.sort(key=lambda m: (m.frequency_thz, m.q_label, m.irrep))
    return PhononModes(
        modes=tuple(sets),
        supercell_matrix=p,
        origin_index=rep.origin_index,
        supercell=rep.supercell,
        symmetry_residual=residual,
        unitcell=unitcell.copy(),
        force_constants_method=method,
    )


def _phonopy_for(
    unitcell: Atoms, calc_or_phonopy, p: NDArray, progress: Callable[[int, int], None] | None
) -> tuple[Any, str | None]:
    """The given Phonopy object (checked against ``unitcell`` and ``p``) or a new one, and how
    its force constants were found (None: not known for a given object).
    """
    from phonopy import Phonopy

    if isinstance(calc_or_phonopy, Phonopy):
        phonon = calc_or_phonopy
        if not np.array_equal(np.asarray(phonon.supercell_matrix), p.T):
            raise ValueError(
                f"the Phonopy object's supercell matrix "
                f"{np.asarray(phonon.supercell_matrix).T.tolist()} "
                f"differs from supercell_matrix {p.tolist()}"
            )
        if len(phonon.unitcell) != len(unitcell):
            raise ValueError(
                f"the Phonopy object's unit cell has {len(phonon.unitcell)} atoms, "
                f"unitcell has {len(unitcell)}"
            )
        return phonon, None
    if callable(getattr(calc_or_phonopy, "get_forces", None)) or callable(
        getattr(calc_or_phonopy, "get_force_constants", None)
    ):
        phonon, found = phonopy_force_constants(
            unitcell, calc_or_phonopy, p, symmetrize=True, progress=progress
        )
        return phonon, found.method
    raise TypeError(
        f"calc_or_phonopy must be an ASE calculator (with get_forces) or a phonopy.Phonopy, "
        f"got {type(calc_or_phonopy).__name__}"
    )


def _representation_for(
    unitcell: Atoms, p: NDArray, origin_index: int | None, symprec: float, representation
):
    """``displacement_modes`` of the supercell, or ``representation`` checked against it."""
    from ase_symbreak.symmetry import displacement_modes

    if representation is None:
        return displacement_modes(unitcell, p, origin_index=origin_index, symprec=symprec)
    rep = representation
    if not np.array_equal(np.asarray(rep.supercell_matrix), p) or (
        origin_index is not None and rep.origin_index != origin_index % len(unitcell)
    ):
        raise ValueError(
            f"representation was built for supercell "
            f"{np.asarray(rep.supercell_matrix).tolist()} and origin "
            f"{rep.origin_index}, not {p.tolist()} and {origin_index}"
        )
    return rep


@dataclass(frozen=True)
class _DynamicalMatrix:
    """Mass-weighted dynamical matrix of the supercell, in the representation's atom order.

    Attributes
    ----------
    matrix : NDArray[float]
        (3N, 3N) symmetrised ``M^-1/2 Phi M^-1/2``, eV / (A^2 amu).
    inv_sqrt_m : NDArray[float]
        (3N,) ``1 / sqrt(mass)`` per Cartesian coordinate, amu^-1/2.
    scale : float
        Largest entry of ``matrix`` (the reference of the symmetry residual).
    factor : float
        phonopy's conversion from ``sqrt(eigenvalue)`` to THz.
    """

    matrix: NDArray
    inv_sqrt_m: NDArray
    scale: float
    factor: float

    @classmethod
    def of(cls, phonon, perm: NDArray) -> _DynamicalMatrix:
        """From phonopy's force constants and masses, atoms reordered by ``perm``."""
        n = len(perm)
        fc = full_force_constants(phonon)[np.ix_(perm, perm)]  # rep order
        masses = np.asarray(phonon.supercell.masses, dtype=float)[perm]
        inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
        dyn = fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * np.outer(inv_sqrt_m, inv_sqrt_m)
        dyn = 0.5 * (dyn + dyn.T)
        scale = max(np.abs(dyn).max(), 1e-300)
        return cls(dyn, inv_sqrt_m, scale, float(phonon.unit_conversion_factor))

    @property
    def n_atoms(self) -> int:
        """Atoms in the supercell."""
        return len(self.inv_sqrt_m) // 3

    def frequency(self, eigenvalue: float) -> float:
        """THz, negative for an imaginary frequency."""
        return self.factor * np.sign(eigenvalue) * np.sqrt(abs(eigenvalue))

    def displacements(self, e: NDArray) -> NDArray:
        """(n_vec, N, 3) unit-norm Cartesian displacements of mass-weighted patterns (n_vec, 3N)."""
        u = e * self.inv_sqrt_m[None, :]
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return u.reshape(-1, self.n_atoms, 3)


def _irrep_mode_sets(
    irrep_modes,
    dyn: _DynamicalMatrix,
    bloch: _BlochProjector,
    centerings: NDArray,
    degeneracy_tol: float,
) -> tuple[list[ModeSet], float]:
    """Mode sets of one irrep (copies within ``degeneracy_tol`` THz merged) and its leak."""
    irr = irrep_modes.irrep
    basis = irrep_modes.basis  # (mult, dim, N, 3)
    mult, dim = basis.shape[:2]
    normal, leak = _irrep_normal_modes(basis.reshape(mult, dim, 3 * dyn.n_atoms), dyn.matrix)
    ir, raman = _optical_activity(irr)
    q_label = irr.kpoint_label or format_q(irr.k)
    arms = star_and_inverse(irr.star, centerings)
    freqs = np.array([dyn.frequency(w) for w, _ in normal])
    sets = []
    for group in _clusters(freqs, degeneracy_tol):
        # e: (len(group) * dim, 3N) mass-weighted patterns, `dim` components per copy
        e = np.concatenate([normal[j][1] for j in group])
        displacements = dyn.displacements(e)
        freq = float(np.mean(freqs[group]))
        vecs, vec_q = bloch.eigenvectors(e, arms, freq, max(degeneracy_tol, 1e-4))
        sets.append(
            ModeSet(
                q=np.asarray(irr.k, dtype=float),
                q_label=q_label,
                irrep=irr.label,
                frequency_thz=freq,
                degeneracy=int(len(group) * dim),
                eigenvectors=vecs,
                displacements=displacements,
                ir_active=ir,
                raman_active=raman,
                star=np.asarray(irr.star, dtype=float),
                eigenvector_q=vec_q,
                reality=_REALITY[int(irr.reality)],
                paired_irreps=tuple(irrep_modes.paired),
            )
        )
    return sets, leak


def star_and_inverse(star: NDArray, centerings: NDArray | None = None) -> NDArray:
    """Arms of ``star`` followed by the arms ``-k`` that are not in it (mod reciprocal lattice).

    A real displacement pattern of wave vector k also has a component at -k: when -k is not
    in the star (no operation sends k to -k, e.g. (1/3,1/3,1/3) of P-4) the physically
    irreducible representation spans both stars. ``centerings`` (n_c, 3): centring vectors
    of a centred cell, whose reciprocal lattice is finer than Z^3.
    """
    from ase_symbreak.symmetry.lattice import is_reciprocal_vector

    cent = np.zeros((1, 3)) if centerings is None else np.asarray(centerings, dtype=float)
    arms = [np.asarray(k, dtype=float) for k in np.atleast_2d(star)]
    for k in list(arms):
        if not any(is_reciprocal_vector(k + a, cent, 1e-8) for a in arms):
            arms.append(-k)
    return np.array(arms)


_REALITY = {1: "real", 0: "complex", -1: "quaternionic"}


def _irrep_normal_modes(basis: NDArray, dyn: NDArray) -> tuple[list[tuple[float, NDArray]], float]:
    """Normal modes inside one isotypic component of the displacement representation.

    Parameters
    ----------
    basis : (mult, dim, 3N)
        The symmetry core's orthonormal patterns; every copy ``m`` transforms with the same
        real matrices ``D(g)`` (``dim`` is the real dimension of the irrep).
    dyn : (3N, 3N)
        Mass-weighted dynamical matrix of the supercell.

    Returns
    -------
    modes : list of (eigenvalue, patterns)
        ``mult`` entries, ascending eigenvalue (eV / (A^2 amu)); ``patterns`` (dim, 3N) are
        orthonormal normal-mode patterns whose component ``a`` transforms like component ``a``
        of the basis.
    leak : float
        ``max |D F^T - F^T B|``: how far ``dyn`` couples the component out of itself.

    The whole ``(mult dim) x (mult dim)`` block is diagonalised. For irreps of real type
    (Frobenius-Schur indicator 1) it is ``B_small (x) 1_dim``; for complex pairs and
    quaternionic irreps the commutant of ``D`` is larger (complex or quaternion numbers) and
    the dynamical matrix couples component ``a`` of one copy to component ``b != a`` of
    another, so the ``mult x mult`` block of one component alone would be wrong. Each
    eigenvalue of the full block is ``dim``-fold degenerate; inside its eigenspace ``E`` the
    patterns ``P_E b_{m*, a}`` (``m*`` the copy with the largest overlap) transform like the
    basis, because the projector onto an invariant subspace commutes with the group, and
    they are orthogonal with equal norms because every intertwiner between copies of one
    real irrep is a multiple of an orthogonal matrix.
    """
    mult, dim, n3 = basis.shape
    f = basis.reshape(mult * dim, n3)
    d_f = f @ dyn
    block = d_f @ f.T
    block = 0.5 * (block + block.T)
    leak = float(np.abs(d_f - block @ f).max()) if f.size else 0.0
    w, v = np.linalg.eigh(block)
    out = []
    for c in range(mult):
        sel = slice(c * dim, (c + 1) * dim)
        vc = v[:, sel]  # (mult dim, dim) orthonormal eigenspace, coordinates of f
        weight = np.sum(vc.reshape(mult, dim, dim) ** 2, axis=(1, 2))
        m_star = int(np.argmax(weight))
        proj = vc @ vc[m_star * dim : (m_star + 1) * dim].T  # (mult dim, dim): P_E e_(m*, a)
        norms = np.linalg.norm(proj, axis=0)
        coef = proj / norms[None, :]
        out.append((float(np.mean(w[sel])), coef.T @ f))
    return out, leak


def _clusters(values: NDArray, tol: float) -> list[list[int]]:
    order = np.argsort(values)
    out: list[list[int]] = []
    for i in order:
        if out and values[i] - values[out[-1][-1]] <= tol:
            out[-1].append(int(i))
        else:
            out.append([int(i)])
    return out


def _map_to_phonopy(rep, unitcell: Atoms, phonon, symprec: float = 1e-6) -> NDArray[np.int64]:
    """perm[i] = index in phonopy's supercell of ``rep.supercell`` atom i.

    The symmetry core's parent is the unit cell idealised to its space group (within
    ``symprec``, Angstrom) with the origin atom moved to 0; atoms are matched within that
    tolerance (plus the strain of the idealised cell over the supercell).
    """
    shifted = rep.parent
    frac_u = unitcell.get_scaled_positions(wrap=False)
    shift = frac_u[rep.origin_index]  # shifted = unitcell - shift (mod lattice), same order
    d = shifted.get_scaled_positions(wrap=False) - (frac_u - shift)
    cell_u = np.asarray(unitcell.cell[:])
    tol = 4 * symprec + 1e-6
    if (
        len(shifted) != len(unitcell)
        or np.linalg.norm((d - np.round(d)) @ cell_u, axis=1).max() > tol
    ):
        raise RuntimeError("the symmetry core's parent is not the unit cell with a shifted origin")
    sc = rep.supercell
    cell_s = np.asarray(phonon.supercell.cell)
    lattice_tol = tol * max(1.0, float(np.abs(rep.supercell_matrix).sum(axis=1).max()))
    if np.abs(cell_s - np.asarray(sc.cell[:])).max() > lattice_tol:
        raise RuntimeError("phonopy's supercell lattice differs from the symmetry core's")
    shift_cart = shift @ cell_u
    ph_frac = (np.asarray(phonon.supercell.positions) - shift_cart) @ np.linalg.inv(cell_s)
    rep_frac = sc.get_scaled_positions(wrap=False)
    diff = rep_frac[:, None, :] - ph_frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ cell_s, axis=-1)
    same = np.asarray(sc.numbers)[:, None] == np.asarray(phonon.supercell.numbers)[None, :]
    dist[~same] = np.inf
    perm = dist.argmin(axis=1)
    if dist[np.arange(len(perm)), perm].max() > lattice_tol or len(set(perm.tolist())) != len(perm):
        raise RuntimeError(
            "could not match phonopy's supercell atoms to the symmetry core's supercell"
        )
    return perm


class _BlochProjector:
    """Bloch components, in phonopy's eigenvector convention, of real supercell patterns."""

    def __init__(self, phonon, perm: NDArray) -> None:
        self.phonon = phonon
        prim = phonon.primitive
        self.n_prim = len(prim)
        s2p = np.asarray(prim.s2p_map)
        p2p = prim.p2p_map
        self.atom_prim = np.array([p2p[int(j)] for j in s2p])[perm]  # rep order -> primitive atom
        lat_p = np.asarray(prim.cell)
        self.frac_p = (np.asarray(phonon.supercell.positions)[perm]) @ np.linalg.inv(lat_p)
        self.sqrt_m = np.sqrt(np.asarray(phonon.supercell.masses)[perm])
        self.pmat = np.asarray(phonon.primitive_matrix, dtype=float)
        self.factor = float(phonon.unit_conversion_factor)
        self._cache: dict[tuple, tuple[NDArray, NDArray]] = {}

    def _phonopy_at(self, q_prim: NDArray) -> tuple[NDArray, NDArray]:
        key = tuple(np.round(q_prim, 10))
        if key not in self._cache:
            result = self.phonon.run_qpoints([q_prim], with_eigenvectors=True)
            self._cache[key] = (
                np.asarray(result.frequencies[0]),
                np.asarray(result.eigenvectors[0]),
            )
        return self._cache[key]

    def eigenvectors(
        self, e: NDArray, star: NDArray, freq: float, tol: float
    ) -> tuple[NDArray, NDArray]:
        """phonopy's eigenvectors at each arm spanning the Bloch components of ``e``.

        ``e`` (n_vec, 3N) mass-weighted real patterns (rep order).
        """
        cols, qs = [], []
        n = len(self.sqrt_m)
        e3 = e.reshape(len(e), n, 3)
        for k in np.atleast_2d(star):
            q_prim = self.pmat.T @ np.asarray(k, dtype=float)
            phase = np.exp(-2j * np.pi * self.frac_p @ q_prim)  # (N,)
            comp = np.zeros((len(e), self.n_prim, 3), dtype=complex)
            # numpy's stub types ufunc.at's indices as an int array; numpy documents (and
            # takes) a tuple of index arrays and slices for a multi-dimensional operand
            np.add.at(comp, (slice(None), self.atom_prim), e3 * phase[None, :, None])  # type: ignore[arg-type]
            flat = comp.reshape(len(e), 3 * self.n_prim).T  # (3 n_prim, n_vec)
            if np.linalg.norm(flat) < 1e-8:
                continue
            u, s, _ = np.linalg.svd(flat, full_matrices=False)
            span = u[:, s > 1e-6 * s.max()]
            freqs, vecs = self._phonopy_at(q_prim)
            near = np.abs(freqs - freq) <= max(tol, 1e-3 * max(1.0, abs(freq)), 0.05)
            if near.any():
                proj = vecs[:, near] @ (vecs[:, near].conj().T @ span)
                uu, ss, _ = np.linalg.svd(proj, full_matrices=False)
                if np.all(ss > 0.9):
                    # phonopy's eigenspace, rotated to the components of `span`
                    span = proj @ np.linalg.inv(np.linalg.cholesky(proj.conj().T @ proj)).conj().T
            cols.append(span)
            qs.extend([np.asarray(k, dtype=float)] * span.shape[1])
        if not cols:
            return np.zeros((3 * self.n_prim, 0), complex), np.zeros((0, 3))
        return np.hstack(cols), np.array(qs)


def _optical_activity(irr) -> tuple[bool | None, bool | None]:
    """IR and Raman activity at Gamma from characters; (None, None) elsewhere."""
    if not np.allclose(irr.k, 0.0):
        return None, None
    rots = np.asarray(irr.little_rotations)
    chi = np.asarray(irr.characters)
    chi_vec = np.trace(rots, axis1=1, axis2=2).astype(float)
    chi_sq = np.trace(rots @ rots, axis1=1, axis2=2).astype(float)
    chi_sym2 = 0.5 * (chi_vec**2 + chi_sq)
    order = len(rots)
    n_vec = np.vdot(chi, chi_vec).real / order  # vdot conjugates the irrep characters
    n_raman = np.vdot(chi, chi_sym2).real / order
    return bool(n_vec > 0.5), bool(n_raman > 0.5)
