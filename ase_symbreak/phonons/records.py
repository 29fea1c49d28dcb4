"""The record of labelled phonon modes: :class:`ModeSet` (one degenerate set at one q) and
:class:`PhononModes` (all sets at the q points of a supercell).

Units: THz (imaginary frequencies as negative numbers), Angstrom; q in the reciprocal basis
of the unit cell. Both are frozen dataclasses serialised by :mod:`ase_symbreak.codec`
(``to_dict`` / ``from_dict``, eigenvectors included); ``summary()`` gives the short JSON
of the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record, encode

from .dispersion import DispersionCheck

__all__ = ["ModeSet", "PhononModes", "format_q"]


@dataclass(frozen=True)
class ModeSet(Record):
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
    eigenvectors : NDArray[complex] or None
        (3 n_prim, n_vec) phonopy's eigenvectors (index ``3 * atom + alpha``, phonopy's
        phase convention), rotated within each degenerate subspace onto the modes'
        components; column j belongs to the arm ``eigenvector_q[j]`` (the arms of the star
        and, when -q is not in the star, those of the star of -q). ``n_vec`` equals
        ``degeneracy`` when every arm is a distinct Bloch wave (true for all arms of cubic
        Gamma, X, M, R, and whenever q and -q are not equivalent).
    eigenvector_q : NDArray[float]
        (n_vec, 3) the q (unit-cell reciprocal basis) of each eigenvector column.
    displacements : NDArray[float] or None
        (degeneracy, N_supercell, 3) real displacement patterns in Angstrom, each of unit
        norm over the supercell, in the atom order of ``displacement_modes(...).supercell``;
        components transform like the symmetry core's basis (e.g. R4+ tilts about x, y, z).
        ``eigenvectors`` and ``displacements`` are None where a record keeps only
        frequencies and labels (:meth:`PhononModes.keep_patterns`).
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

    q: NDArray[np.float64]
    q_label: str
    irrep: str
    frequency_thz: float
    degeneracy: int
    eigenvectors: NDArray[np.complex128] | None = field(repr=False, default=None)
    displacements: NDArray[np.float64] | None = field(repr=False, default=None)
    ir_active: bool | None = None
    raman_active: bool | None = None
    star: NDArray[np.float64] | None = field(repr=False, default=None)
    eigenvector_q: NDArray[np.float64] | None = field(repr=False, default=None)
    reality: str = "real"
    paired_irreps: tuple[str, ...] = ()

    @property
    def is_gamma(self) -> bool:
        return bool(np.allclose(self.q, 0.0))

    def summary(self) -> dict:
        """JSON-ready summary: q, label, frequency, degeneracy, activities (no patterns)."""
        keep = (
            "q",
            "q_label",
            "irrep",
            "frequency_thz",
            "degeneracy",
            "ir_active",
            "raman_active",
            "reality",
            "paired_irreps",
        )
        return {name: encode(getattr(self, name)) for name in keep}

    def without_patterns(self) -> ModeSet:
        """This set with frequencies and labels only (no eigenvectors or displacements)."""
        return dataclasses.replace(self, eigenvectors=None, displacements=None)


@dataclass(frozen=True)
class PhononModes(Record):
    """Labelled phonon modes at all q commensurate with a supercell.

    Attributes
    ----------
    modes : tuple[ModeSet, ...]
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
    unitcell : Atoms or None
        The parent the modes belong to.
    threshold_thz : float or None
        Set when the record holds the soft modes only (:meth:`soft`): the frequency (THz)
        below which modes count as unstable.
    dispersion : DispersionCheck or None
        The check of the interpolated dispersion beyond the supercell
        (:func:`~ase_symbreak.phonons.check_dispersion`): unstable minima at q the modes
        do not cover. Kept by :meth:`soft` and :meth:`keep_patterns`.
    force_constants_method : str or None
        How the supercell force constants were found: 'exact hessian' (the calculator's
        second derivatives) or 'finite displacements' (phonopy's displacements and the
        calculator's forces); None when not recorded (modes of a given phonopy object, and
        records written before it was recorded, which were all exact Hessians).
    """

    modes: tuple[ModeSet, ...]
    supercell_matrix: NDArray[np.int64]
    origin_index: int
    supercell: Atoms | None = field(repr=False, default=None)
    symmetry_residual: float = 0.0
    unitcell: Atoms | None = field(repr=False, default=None)
    threshold_thz: float | None = None
    dispersion: DispersionCheck | None = None
    force_constants_method: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", tuple(self.modes))

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

    @property
    def irreps(self) -> list[str]:
        """Irrep labels of the mode sets, in order."""
        return [m.irrep for m in self.modes]

    def soft(self, threshold_thz: float = -0.1) -> PhononModes:
        """The unstable irreps (below ``threshold_thz``, THz), softest first, one set per
        label (the softest copy of an irrep that occurs several times).
        """
        if threshold_thz > 0:
            raise ValueError(
                "threshold_thz must be <= 0 (imaginary frequencies are negative), "
                f"got {threshold_thz}"
            )
        seen: dict[str, ModeSet] = {}
        for m in sorted(self.unstable(threshold_thz), key=lambda m: m.frequency_thz):
            if m.irrep in seen:
                continue
            if m.displacements is None:
                raise ValueError(
                    f"the phonon record kept no displacement pattern for {m.irrep} "
                    f"({m.frequency_thz:.3f} THz)"
                )
            seen[m.irrep] = m
        return dataclasses.replace(
            self, modes=tuple(seen.values()), threshold_thz=float(threshold_thz)
        )

    def keep_patterns(self, below_thz: float) -> PhononModes:
        """The record with eigenvectors and displacements kept only for modes below
        ``below_thz`` (THz): what a search needs, a fraction of the size on disk.
        """
        modes = tuple(
            m if m.frequency_thz < below_thz else m.without_patterns() for m in self.modes
        )
        return dataclasses.replace(self, modes=modes)

    def summary(self) -> dict:
        """JSON-ready dict: supercell matrix, origin, residual and the modes' summaries (and
        the dispersion check's and how the force constants were found, when known).
        """
        out = {
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "origin_index": int(self.origin_index),
            "symmetry_residual": float(self.symmetry_residual),
            "modes": [m.summary() for m in self.modes],
        }
        if self.dispersion is not None:
            out["dispersion"] = self.dispersion.summary()
        if self.force_constants_method is not None:
            out["force_constants"] = self.force_constants_method
        return out


def format_q(q) -> str:
    """Fractional q as text, e.g. ``(1/2,0,0)``."""
    from fractions import Fraction

    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in np.ravel(q)) + ")"
