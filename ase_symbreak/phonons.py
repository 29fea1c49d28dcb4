"""Phonons from the model's exact Hessian, with irrep labels at every commensurate q.

Two entry points:

- :func:`phonopy_from_calculator` builds an ordinary :class:`phonopy.Phonopy` object whose
  supercell force constants are the calculator's exact Hessian (no finite displacements),
  optionally symmetrised by phonopy (space group, translational and permutation
  symmetry). Use it as usual: band structure, DOS, thermal properties,
  ``phonon.save("phonopy_params.yaml")``.
- :func:`labelled_modes` gives the modes at Gamma and at every q commensurate with the
  supercell, grouped into degenerate sets and labelled with the irreps of the symmetry
  core (Bilbao/ISOTROPY labels, e.g. ``GM4-``, ``R4+``, ``M3+``).

Labelling is exact, not a guess from eigenvectors: the symmetry core gives, for every irrep
of the supercell displacement representation, ``multiplicity`` copies of orthonormal
patterns that transform with the same real matrices. Because the masses are equal within a
Wyckoff orbit, the mass-weighted dynamical matrix ``D = M^-1/2 Phi M^-1/2`` of the
supercell commutes with the group, so it leaves each isotypic component invariant; the
``(multiplicity x dim)`` block of D on it is diagonalised whole (for complex and
quaternionic irreps D couples different components of different copies), its eigenvalues
are the irrep's squared frequencies (each ``dim``-fold degenerate over the star) and its
eigenvectors combine the copies into the normal modes.

Supercell matrices follow the symmetry core: supercell lattice (rows) =
``supercell_matrix @ unitcell.cell``; phonopy's matrix is the transpose (identical for the
usual diagonal ``(n1, n2, n3)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ModeSet",
    "PhononModes",
    "labelled_modes",
    "phonopy_from_calculator",
    "plot_band_structure",
    "supercell_matrix_3x3",
]

#: Largest relative leakage of D out of the irrep subspaces before labels are unreliable.
_RESIDUAL_WARN = 1e-3


# ----------------------------------------------------------------------------- inputs
def supercell_matrix_3x3(supercell_matrix: ArrayLike) -> NDArray[np.int64]:
    """Validate a supercell matrix: 3 integers (diagonal) or an integer 3x3, non-singular.

    Returns the (3, 3) integer matrix; raises ``ValueError`` naming the bad value.

    >>> supercell_matrix_3x3((2, 2, 2)).tolist()
    [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    """
    try:
        m = np.asarray(supercell_matrix, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"supercell_matrix must be 3 integers or an integer 3x3 matrix, got {supercell_matrix!r}") from None
    if m.shape == (3,):
        m = np.diag(m)
    if m.shape != (3, 3):
        raise ValueError(f"supercell_matrix must be 3 integers or an integer 3x3 matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.abs(m - np.round(m)).max() > 1e-8:
        raise ValueError(f"supercell_matrix must have integer entries, got {m.tolist()}")
    m = np.round(m).astype(np.int64)
    det = int(round(np.linalg.det(m)))
    if det == 0:
        raise ValueError(f"supercell_matrix is singular (determinant 0): {m.tolist()}")
    if det < 0:
        raise ValueError(f"supercell_matrix must have a positive determinant, got {det} for {m.tolist()}")
    return m


def _check_unitcell(unitcell: Any) -> Atoms:
    if not isinstance(unitcell, Atoms):
        raise TypeError(f"unitcell must be an ase.Atoms, got {type(unitcell).__name__}")
    if len(unitcell) == 0:
        raise ValueError("unitcell has no atoms")
    if not np.all(unitcell.pbc) or abs(unitcell.cell.volume) < 1e-6:
        raise ValueError("phonons need a 3-D periodic unit cell (pbc all True and a non-zero cell volume)")
    return unitcell


def _to_phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell[:]),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def _to_ase(cell) -> Atoms:
    return Atoms(
        symbols=list(cell.symbols), cell=np.asarray(cell.cell), scaled_positions=cell.scaled_positions,
        masses=cell.masses, pbc=True,
    )


# ----------------------------------------------------------------------------- phonopy
def phonopy_from_calculator(
    unitcell: Atoms,
    calc,
    supercell_matrix: ArrayLike = (2, 2, 2),
    symmetrize: bool = True,
    progress: Callable[[int, int], None] | None = None,
    primitive_matrix: ArrayLike | str | None = None,
    symprec: float = 1e-5,
):
    """A :class:`phonopy.Phonopy` object with force constants from the exact Hessian.

    Parameters
    ----------
    unitcell : Atoms
        3-D periodic unit cell.
    calc : SymBreakCalculator
        Anything with ``get_force_constants(atoms, symmetry_reduced=True, progress=...,
        method="orbits")`` returning (N, N, 3, 3) eV/A^2 in the order of ``atoms``: exact
        Hessian-vector products along the fewest directions whose symmetry images span all
        3N directions (1 for cubic SrTiO3 2x2x2), see ``benchmarks/README.md``.
    supercell_matrix : (3,) or (3, 3) int
        Supercell lattice (rows) = ``supercell_matrix @ unitcell.cell``.
    symmetrize : bool
        Apply phonopy's symmetrisation (space group, translational sum rule, index
        permutation), by symfc's projector when available, else space group then sum rules.
        Needed for models that are not exactly equivariant: SevenNet-0 is not
        parity-equivariant and its cubic-perovskite Hessian has symmetry-forbidden
        elements of about 2e-3 eV/A^2.
    progress : ``progress(done, total)``, called by the calculator after each Hessian row.
    primitive_matrix : phonopy's ``primitive_matrix`` (default: the unit cell is primitive).
    symprec : spglib tolerance (Angstrom) for phonopy.

    Returns
    -------
    phonopy.Phonopy
        Full (not compact) force constants set; phonopy's supercell atom order.
    """
    from phonopy import Phonopy

    unitcell = _check_unitcell(unitcell)
    p = supercell_matrix_3x3(supercell_matrix)
    phonon = Phonopy(
        _to_phonopy_atoms(unitcell), supercell_matrix=p.T, primitive_matrix=primitive_matrix, symprec=symprec
    )
    supercell = _to_ase(phonon.supercell)
    fc = calc.get_force_constants(supercell, symmetry_reduced=True, progress=progress, method="orbits")
    fc = np.asarray(fc, dtype=np.float64)
    n = len(supercell)
    if fc.shape != (n, n, 3, 3):
        raise RuntimeError(f"calculator returned force constants of shape {fc.shape}, expected {(n, n, 3, 3)}")
    phonon.force_constants = fc
    if symmetrize:
        symmetrize_force_constants(phonon)
    return phonon


def symmetrize_force_constants(phonon) -> None:
    """Impose space-group, translational and permutation symmetry on ``phonon.force_constants``.

    Uses phonopy's symfc projector (all three at once) when this phonopy has it; otherwise
    phonopy's space-group average followed by its translational/permutation symmetrisation.
    """
    try:
        phonon.symmetrize_force_constants(use_symfc_projector=True, show_drift=False)
        return
    except (TypeError, ImportError, ModuleNotFoundError):  # older phonopy or no symfc
        pass
    phonon.symmetrize_force_constants_by_space_group(show_drift=False)
    phonon.symmetrize_force_constants(level=2, show_drift=False)


def _full_force_constants(phonon) -> NDArray[np.float64]:
    fc = phonon.force_constants
    if fc is None:
        raise ValueError("the phonopy object has no force constants")
    fc = np.asarray(fc, dtype=np.float64)
    if fc.shape[0] != fc.shape[1]:
        from phonopy.harmonic.force_constants import compact_fc_to_full_fc

        fc = compact_fc_to_full_fc(phonon.primitive, fc)
    return fc


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ModeSet:
    """One set of degenerate phonon modes, labelled by its irrep.

    Attributes
    ----------
    q : NDArray[float]
        (3,) fractional, reciprocal basis of the unit cell; the representative arm of
        the star (the Bilbao table's arm when labelled).
    q_label : str
        'GM', 'X', 'M', 'R', ... or the fractional q, e.g. '(1/3,0,0)', when the point is
        not in the tables.
    irrep : str
        Label from the symmetry core, e.g. 'R4+'.
    frequency_thz : float
        THz; imaginary frequencies as negative numbers.
    degeneracy : int
        Number of modes in the set over the whole star of q (the irrep's real dimension,
        times the number of copies when copies are accidentally degenerate).
    eigenvectors : NDArray[complex]
        (3 n_prim, n_vec) phonopy's eigenvectors (index ``3 * atom + alpha``, phonopy's
        phase convention), rotated within each degenerate subspace onto the modes'
        components; column j belongs to the arm ``eigenvector_q[j]`` (the arms of the star
        and, when -q is not in the star, those of the star of -q). ``n_vec`` equals
        ``degeneracy`` when every arm is a distinct Bloch wave (true for all arms of cubic
        Gamma, X, M, R, and whenever q and -q are not equivalent).
    eigenvector_q : NDArray[float]
        (n_vec, 3) the q (unit-cell reciprocal basis) of each eigenvector column.
    displacements : NDArray[float]
        (degeneracy, N_supercell, 3) real displacement patterns in Angstrom, each of unit
        norm over the supercell, in the atom order of ``displacement_modes(...).supercell``;
        components transform like the symmetry core's basis (e.g. R4+ tilts about x, y, z).
    ir_active, raman_active : bool or None
        At Gamma: whether the irrep's point-group part occurs in the vector (IR) or
        the symmetric rank-2 tensor (Raman) representation. None elsewhere.
    star : NDArray[float]
        (n_arms, 3) all arms of the star of q.
    reality : str
        Reality type of the (complex) irrep: 'real', 'complex' (joined with its complex
        conjugate into one physically irreducible representation, e.g. 'GM3GM4') or
        'quaternionic' (doubled, e.g. 'R1R1'). Modes of a physically irreducible
        representation are degenerate; ``degeneracy`` counts its real dimension.
    paired_irreps : tuple[str, ...]
        The complex irreps that were paired ('GM3', 'GM4'), empty for real irreps.
    """

    q: NDArray
    q_label: str
    irrep: str
    frequency_thz: float
    degeneracy: int
    eigenvectors: NDArray = field(repr=False)
    displacements: NDArray = field(repr=False)
    ir_active: bool | None = None
    raman_active: bool | None = None
    star: NDArray = field(repr=False, default=None)
    eigenvector_q: NDArray = field(repr=False, default=None)
    reality: str = "real"
    paired_irreps: tuple[str, ...] = ()

    @property
    def is_gamma(self) -> bool:
        return bool(np.allclose(self.q, 0.0))

    def to_dict(self) -> dict:
        """JSON-ready summary (no eigenvectors or displacements)."""
        return {
            "q": [float(x) for x in self.q],
            "q_label": self.q_label,
            "irrep": self.irrep,
            "frequency_thz": float(self.frequency_thz),
            "degeneracy": int(self.degeneracy),
            "ir_active": self.ir_active,
            "raman_active": self.raman_active,
            "reality": self.reality,
            "paired_irreps": list(self.paired_irreps),
        }


@dataclass(frozen=True)
class PhononModes:
    """Labelled phonon modes at all q commensurate with a supercell.

    Attributes
    ----------
    modes : list[ModeSet]
        Sorted by frequency (most unstable first).
    supercell_matrix : NDArray[int]
        (3, 3), supercell lattice = ``supercell_matrix @ unitcell.cell``.
    origin_index : int
        Unit-cell atom placed at the origin for the labels.
    supercell : Atoms
        The supercell whose atom order ``displacements`` use
        (``displacement_modes(...).supercell``, origin shifted).
    symmetry_residual : float
        max over irreps of ``|D b - b B| / |D|`` for the irrep patterns ``b``: 0 when the
        force constants have the parent symmetry; labels are reliable when it is small.
    """

    modes: list[ModeSet]
    supercell_matrix: NDArray
    origin_index: int
    supercell: Atoms = field(repr=False, default=None)
    symmetry_residual: float = 0.0

    def __len__(self) -> int:
        return len(self.modes)

    def __iter__(self):
        return iter(self.modes)

    @property
    def n_modes(self) -> int:
        """Total number of modes, 3 N_supercell."""
        return int(sum(m.degeneracy for m in self.modes))

    def unstable(self, threshold_thz: float = -0.1) -> list[ModeSet]:
        """Mode sets with frequency below ``threshold_thz`` (imaginary ones), softest first."""
        return [m for m in self.modes if m.frequency_thz < threshold_thz]

    def at(self, q_label: str) -> list[ModeSet]:
        """Mode sets at the q-point called ``q_label`` ('GM', 'X', ...)."""
        return [m for m in self.modes if m.q_label == q_label]

    def to_dict(self) -> dict:
        """JSON-ready dict: supercell matrix, origin and the modes' summaries."""
        return {
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "origin_index": int(self.origin_index),
            "symmetry_residual": float(self.symmetry_residual),
            "modes": [m.to_dict() for m in self.modes],
        }

    def table(self, title: str | None = None):
        """A :class:`rich.table.Table` of the modes."""
        from rich.table import Table

        table = Table(title=title or f"phonon modes, supercell {np.asarray(self.supercell_matrix).tolist()}, "
                      f"origin atom {self.origin_index}")
        for col, just in (("q", "left"), ("", "left"), ("irrep", "left"), ("freq (THz)", "right"),
                          ("deg", "right"), ("IR", "center"), ("Raman", "center")):
            table.add_column(col, justify=just)

        def yes_no(x):
            return "" if x is None else ("yes" if x else "-")

        for m in self.modes:
            freq = f"{m.frequency_thz:.3f}" + ("i" if m.frequency_thz < -5e-4 else "")
            style = "red" if m.frequency_thz < -0.1 else None
            table.add_row(m.q_label, _fmt_q(m.q), m.irrep, freq, str(m.degeneracy),
                          yes_no(m.ir_active), yes_no(m.raman_active), style=style)
        return table


def _fmt_q(q) -> str:
    from fractions import Fraction

    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in np.ravel(q)) + ")"


# ----------------------------------------------------------------------------- labelling
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
        The high-symmetry parent (the cell ``phonopy_from_calculator`` was given).
    calc_or_phonopy : SymBreakCalculator or phonopy.Phonopy
        A calculator (force constants are computed with :func:`phonopy_from_calculator`,
        symmetrised) or a Phonopy object with force constants on the same supercell.
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
    progress : passed to the calculator (Hessian rows) when a calculator is given.
    representation : DisplacementRepresentation, optional
        ``displacement_modes(unitcell, supercell_matrix, origin_index)`` if already computed
        (it is the slow part for large supercells); must match the arguments.

    Returns
    -------
    PhononModes
        ``sum(m.degeneracy) == 3 * N_supercell``.
    """
    from phonopy import Phonopy

    from ase_symbreak.symmetry import displacement_modes
    from ase_symbreak.symmetry._lattice import centering_vectors

    unitcell = _check_unitcell(unitcell)
    p = supercell_matrix_3x3(supercell_matrix)
    if isinstance(calc_or_phonopy, Phonopy):
        phonon = calc_or_phonopy
        if not np.array_equal(np.asarray(phonon.supercell_matrix), p.T):
            raise ValueError(
                f"the Phonopy object's supercell matrix {np.asarray(phonon.supercell_matrix).T.tolist()} "
                f"differs from supercell_matrix {p.tolist()}"
            )
        if len(phonon.unitcell) != len(unitcell):
            raise ValueError(f"the Phonopy object's unit cell has {len(phonon.unitcell)} atoms, unitcell has {len(unitcell)}")
    elif hasattr(calc_or_phonopy, "get_force_constants"):
        phonon = phonopy_from_calculator(unitcell, calc_or_phonopy, p, symmetrize=True, progress=progress)
    else:
        raise TypeError(
            f"calc_or_phonopy must be a calculator with get_force_constants or a phonopy.Phonopy, "
            f"got {type(calc_or_phonopy).__name__}"
        )

    if representation is None:
        rep = displacement_modes(unitcell, p, origin_index=origin_index, symprec=symprec)
    else:
        rep = representation
        if not np.array_equal(np.asarray(rep.supercell_matrix), p) or (
            origin_index is not None and rep.origin_index != origin_index % len(unitcell)
        ):
            raise ValueError(
                f"representation was built for supercell {np.asarray(rep.supercell_matrix).tolist()} and origin "
                f"{rep.origin_index}, not {p.tolist()} and {origin_index}"
            )
    perm = _map_to_phonopy(rep, unitcell, phonon, symprec)  # rep atom i == phonopy atom perm[i]
    n = len(perm)
    fc = _full_force_constants(phonon)[np.ix_(perm, perm)]  # rep order
    masses = np.asarray(phonon.supercell.masses, dtype=float)[perm]
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    dyn = fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * np.outer(inv_sqrt_m, inv_sqrt_m)
    dyn = 0.5 * (dyn + dyn.T)
    scale = max(np.abs(dyn).max(), 1e-300)
    factor = float(phonon.unit_conversion_factor)

    bloch = _BlochProjector(phonon, perm)
    centerings = centering_vectors(rep.operations.rotations, rep.operations.translations)
    sets: list[ModeSet] = []
    residual = 0.0
    for irrep_modes in rep.irreps:
        irr = irrep_modes.irrep
        basis = irrep_modes.basis  # (mult, dim, N, 3)
        mult, dim = basis.shape[:2]
        modes_of_irrep, leak = _irrep_normal_modes(basis.reshape(mult, dim, 3 * n), dyn)
        residual = max(residual, leak / scale)
        ir, raman = _optical_activity(irr)
        q_label = irr.kpoint_label or _fmt_q(irr.k)
        arms = star_and_inverse(irr.star, centerings)
        freqs = np.array([factor * np.sign(w) * np.sqrt(abs(w)) for w, _ in modes_of_irrep])
        for group in _clusters(freqs, degeneracy_tol):
            # e: (len(group) * dim, 3N) mass-weighted patterns, `dim` components per copy
            e = np.concatenate([modes_of_irrep[j][1] for j in group])
            u = e * inv_sqrt_m[None, :]
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            freq = float(np.mean(freqs[group]))
            vecs, vec_q = bloch.eigenvectors(e, arms, freq, max(degeneracy_tol, 1e-4))
            sets.append(
                ModeSet(
                    q=np.asarray(irr.k, dtype=float), q_label=q_label, irrep=irr.label, frequency_thz=freq,
                    degeneracy=int(len(group) * dim), eigenvectors=vecs,
                    displacements=u.reshape(-1, n, 3), ir_active=ir, raman_active=raman,
                    star=np.asarray(irr.star, dtype=float), eigenvector_q=vec_q,
                    reality=_REALITY[int(irr.reality)], paired_irreps=tuple(irrep_modes.paired),
                )
            )
    if residual > _RESIDUAL_WARN:
        import warnings

        warnings.warn(
            f"the force constants break the parent symmetry (relative leakage {residual:.1e} out of the "
            "irrep subspaces): frequencies are those of the symmetric part; symmetrise the force constants",
            stacklevel=2,
        )
    sets.sort(key=lambda m: (m.frequency_thz, m.q_label, m.irrep))
    return PhononModes(
        modes=sets, supercell_matrix=p, origin_index=rep.origin_index, supercell=rep.supercell,
        symmetry_residual=residual,
    )



def star_and_inverse(star: NDArray, centerings: NDArray | None = None) -> NDArray:
    """Arms of ``star`` followed by the arms ``-k`` that are not in it (mod reciprocal lattice).

    A real displacement pattern of wave vector k also has a component at -k: when -k is not
    in the star (no operation sends k to -k, e.g. (1/3,1/3,1/3) of P-4) the physically
    irreducible representation spans both stars. ``centerings`` (n_c, 3): centring vectors
    of a centred cell, whose reciprocal lattice is finer than Z^3.
    """
    from ase_symbreak.symmetry._lattice import is_reciprocal_vector

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
    if len(shifted) != len(unitcell) or np.linalg.norm((d - np.round(d)) @ cell_u, axis=1).max() > tol:
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
        raise RuntimeError("could not match phonopy's supercell atoms to the symmetry core's supercell")
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
            self._cache[key] = (np.asarray(result.frequencies[0]), np.asarray(result.eigenvectors[0]))
        return self._cache[key]

    def eigenvectors(self, e: NDArray, star: NDArray, freq: float, tol: float) -> tuple[NDArray, NDArray]:
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
            np.add.at(comp, (slice(None), self.atom_prim), e3 * phase[None, :, None])
            comp = comp.reshape(len(e), 3 * self.n_prim).T  # (3 n_prim, n_vec)
            if np.linalg.norm(comp) < 1e-8:
                continue
            u, s, _ = np.linalg.svd(comp, full_matrices=False)
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


# ----------------------------------------------------------------------------- plotting
_CUBIC_PATH = [["GM", "X", "M", "GM", "R", "X"], ["M", "R"]]


def _band_path(phonon, modes: PhononModes | None, npoints: int) -> tuple[list, list[str], list[bool]]:
    """Band paths (list of (npoints, 3) arrays in phonopy primitive basis), labels, connections."""
    from phonopy.phonon.band_structure import get_band_qpoints

    named: dict[str, NDArray] = {"GM": np.zeros(3)}
    if modes is not None:
        for m in modes.modes:
            named.setdefault(m.q_label, np.asarray(m.q, dtype=float))
    pmat = np.asarray(phonon.primitive_matrix, dtype=float)
    if all(lab in named for lab in ("X", "M", "R")):
        segments = _CUBIC_PATH
    elif modes is None:
        try:
            from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

            bands, labels, conn = get_band_qpoints_by_seekpath(phonon.primitive, npoints, is_const_interval=True)
            return bands, labels, conn
        except ImportError:  # seekpath is an optional extra of phonopy
            segments = [["GM", "X"]] if "X" in named else [["GM"]]
            if segments == [["GM"]]:
                named["Z"] = np.array([0, 0, 0.5])
                segments = [["GM", "Z"]]
    else:
        others = [lab for lab in named if lab != "GM"]
        seq = ["GM"]
        for lab in others:
            seq += [lab, "GM"]
        segments = [seq] if len(seq) > 1 else [["GM", "GM"]]
    path, labels, connections = [], [], []
    for seg in segments:
        pts = [pmat.T @ named[lab] for lab in seg]
        path.append(pts)
        labels.extend(seg)
        connections.extend([True] * (len(seg) - 2) + [False])
    bands = get_band_qpoints(path, npoints=npoints)
    return bands, labels, connections


def plot_band_structure(
    phonon,
    modes: PhononModes | None,
    path: str | Path,
    npoints: int = 51,
    title: str | None = None,
) -> Path:
    """Plot the phonon band structure, with irrep labels at the high-symmetry points.

    Parameters
    ----------
    phonon : phonopy.Phonopy with force constants.
    modes : labelled modes (their q labels define the path and get annotated), or None
        (phonopy's seekpath path when seekpath is installed).
    path : output file; format from the suffix (``.png``, ``.pdf``, ``.svg``).
    npoints : q-points per segment.

    Returns
    -------
    Path of the written file. Imaginary frequencies are drawn below zero.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    bands, labels, connections = _band_path(phonon, modes, npoints)
    bs = phonon.run_band_structure(bands, path_connections=connections, labels=labels)
    distances, frequencies = bs.distances, bs.frequencies

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ticks, tick_labels = [], []
    li = 0
    for i, (dist, freq) in enumerate(zip(distances, frequencies)):
        ax.plot(dist, freq, color="tab:blue", lw=1)
        if i == 0 or not connections[i - 1]:
            ticks.append(dist[0])
            tick_labels.append(labels[li])
            li += 1
        ticks.append(dist[-1])
        tick_labels.append(labels[li])
        li += 1
    # merge labels at the same distance ("X|M" for jumps)
    merged_t, merged_l = [], []
    for t, lab in zip(ticks, tick_labels):
        if merged_t and abs(merged_t[-1] - t) < 1e-9:
            if merged_l[-1] != lab:
                merged_l[-1] = f"{merged_l[-1]}|{lab}"
            continue
        merged_t.append(t)
        merged_l.append(lab)
    ax.set_xticks(merged_t)
    ax.set_xticklabels([_pretty(lab) for lab in merged_l])
    for t in merged_t:
        ax.axvline(t, color="0.7", lw=0.6)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlim(distances[0][0], distances[-1][-1])
    ax.set_ylabel("frequency (THz, imaginary < 0)")
    if title:
        ax.set_title(title)
    if modes is not None:
        _annotate_irreps(ax, modes, merged_t, merged_l)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _pretty(label: str) -> str:
    return "|".join("Γ" if part == "GM" else part for part in label.split("|"))


def _annotate_irreps(ax, modes: PhononModes, ticks: Sequence[float], labels: Sequence[str]) -> None:
    """Irrep label of each mode set next to its frequency at the first tick of its q."""
    where: dict[str, float] = {}
    for t, lab in zip(ticks, labels):
        for part in lab.split("|"):
            where.setdefault(part, t)
    ymin, ymax = ax.get_ylim()
    span = ymax - ymin
    for q_label, x in where.items():
        placed: list[float] = []
        for m in sorted(modes.at(q_label), key=lambda s: s.frequency_thz):
            y = m.frequency_thz
            if placed and y - placed[-1] < 0.035 * span:
                y = placed[-1] + 0.035 * span
            placed.append(y)
            color = "tab:red" if m.frequency_thz < -0.1 else "0.25"
            ax.annotate(m.irrep, (x, m.frequency_thz), xytext=(x, y), textcoords="data", fontsize=6,
                        color=color, ha="left", va="center")
