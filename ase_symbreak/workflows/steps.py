"""The steps of the distortion search, each a function of ASE ``Atoms`` returning a result.

Every result is a frozen dataclass with ``to_dict()`` (JSON-ready) and ``from_dict()``:

====================  ======================================================================
:func:`relax`         ASE optimiser with ``FrechetCellFilter`` / ``FixSymmetry`` -> RelaxResult
:func:`phonons`       labelled phonon modes from the exact Hessian -> PhononResult
:func:`soft_modes`    unstable irreps with q, label, frequency, patterns -> SoftModesResult
:func:`condense`      isotropy subgroups of soft irreps and pairs, amplitude scans -> CondenseResult
:func:`relax_child`   relax a candidate inside its subgroup -> RelaxResult
:func:`identify`      space group, energy gain, mode decomposition -> Identification
====================  ======================================================================

Units: eV, Angstrom, THz (imaginary as negative), meV per formula unit for energy gains;
mode amplitudes are ISODISTORT's ``Ap`` (normalised to the parent cell), Angstrom.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

from ._serial import atoms_from_dict, atoms_to_dict, to_jsonable

__all__ = [
    "RelaxResult",
    "PhononMode",
    "PhononResult",
    "SoftMode",
    "SoftModesResult",
    "Candidate",
    "CondenseResult",
    "Identification",
    "relax",
    "phonons",
    "soft_modes",
    "condense",
    "relax_child",
    "identify",
    "formula_units",
    "check_parent",
]

Progress = Callable[[int, int | None], None]
_OPTIMIZERS = ("BFGS", "FIRE", "LBFGS", "BFGSLineSearch")


# ----------------------------------------------------------------------------- helpers
def formula_units(atoms: Atoms, reference: Atoms | None = None) -> float:
    """Number of formula units in ``atoms`` (formula of ``reference``, default of ``atoms``).

    >>> from ase_symbreak.demo import cubic_perovskite
    >>> formula_units(cubic_perovskite().repeat(2))
    8.0
    """
    ref = atoms if reference is None else reference
    _, counts = np.unique(ref.numbers, return_counts=True)
    size = int(counts.sum()) // reduce(gcd, counts.tolist())
    return len(atoms) / size


def check_parent(atoms: Atoms, symprec: float = 1e-3) -> Any:
    """Validate a parent structure for the search; return its :class:`SpaceGroupInfo`.

    Raises ``ValueError`` for non-periodic cells and for P1 structures (nothing to break).
    """
    from ase_symbreak.symmetry import analyze

    if not isinstance(atoms, Atoms):
        raise TypeError(f"expected an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError("the structure has no atoms")
    if not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6:
        raise ValueError("the distortion search needs a 3-D periodic structure (pbc all True, non-zero cell volume)")
    info = analyze(atoms, symprec=symprec)
    if info.number == 1:
        raise ValueError(
            f"the structure has space group P1 (1) at symprec={symprec} A: there is no high-symmetry parent "
            "to search from (give the undistorted high-symmetry structure)"
        )
    return info


def _floats(x) -> list:
    return np.asarray(x, dtype=float).tolist()


def _single_threaded_blas():
    """One BLAS thread: the optimisers' and cell filters' 3x3..9x9 linear algebra is slowed
    down 1000-fold by multi-threaded OpenBLAS on a loaded machine (measured: 22 ms per 6x6 solve)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _max_force(target) -> float:
    f = target.get_forces()
    return float(np.sqrt((f**2).sum(axis=1)).max()) if len(f) else 0.0


# ----------------------------------------------------------------------------- relax
@dataclass(frozen=True)
class RelaxResult:
    """Result of :func:`relax`.

    Attributes
    ----------
    atoms : Atoms
        Relaxed structure (no calculator, no constraints).
    energy : float
        eV, of ``atoms``.
    n_steps : int
        Optimiser steps taken.
    converged : bool
        Whether ``max_force <= fmax`` was reached within the step limit.
    fmax : float
        Target, eV/A (cell degrees of freedom included when the cell relaxes).
    max_force : float
        Final largest force, eV/A (filter forces when the cell relaxes).
    relax_cell, keep_symmetry : bool
    space_group_number : int
    space_group_symbol : str
        spglib, of the relaxed structure at the relaxation's ``symprec``.
    """

    atoms: Atoms = field(repr=False)
    energy: float
    n_steps: int
    converged: bool
    fmax: float
    max_force: float
    relax_cell: bool = True
    keep_symmetry: bool = False
    space_group_number: int = 0
    space_group_symbol: str = ""

    @property
    def energy_per_fu(self) -> float:
        """eV per formula unit of ``atoms``."""
        return self.energy / formula_units(self.atoms)

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "atoms": atoms_to_dict(self.atoms),
                "energy": self.energy,
                "n_steps": self.n_steps,
                "converged": self.converged,
                "fmax": self.fmax,
                "max_force": self.max_force,
                "relax_cell": self.relax_cell,
                "keep_symmetry": self.keep_symmetry,
                "space_group_number": self.space_group_number,
                "space_group_symbol": self.space_group_symbol,
            }
        )

    @classmethod
    def from_dict(cls, d: dict) -> RelaxResult:
        return cls(**{**d, "atoms": atoms_from_dict(d["atoms"])})


def relax(
    atoms: Atoms,
    calc,
    fmax: float = 1e-3,
    relax_cell: bool = True,
    keep_symmetry: bool = False,
    steps: int = 500,
    optimizer: str = "BFGS",
    symprec: float = 1e-3,
    progress: Progress | None = None,
) -> RelaxResult:
    """Relax positions (and the cell) with an ASE optimiser.

    Parameters
    ----------
    atoms : Atoms
        Starting structure (copied, not changed).
    calc : ASE calculator
        E.g. :class:`~ase_symbreak.calculator.SymBreakCalculator`.
    fmax : float
        Convergence criterion, eV/A.
    relax_cell : bool
        Relax the cell too (``FrechetCellFilter``, 3-D periodic cells only).
    keep_symmetry : bool
        Keep the starting space group (``FixSymmetry`` at ``symprec``).
    steps : int
        Largest number of optimiser steps.
    optimizer : 'BFGS', 'FIRE', 'LBFGS' or 'BFGSLineSearch'
    progress : ``progress(step, steps)`` after each step.
    """
    import ase.optimize
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    from ase_symbreak.symmetry import analyze

    if not fmax > 0:
        raise ValueError(f"fmax must be positive (eV/A), got {fmax}")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {optimizer!r}")
    if relax_cell and (not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6):
        raise ValueError("relax_cell=True needs a 3-D periodic structure")
    work = atoms.copy()
    work.set_constraint()
    work.calc = calc
    if keep_symmetry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            work.set_constraint(FixSymmetry(work, symprec=symprec))
    target = FrechetCellFilter(work) if relax_cell else work
    opt = getattr(ase.optimize, optimizer)(target, logfile=None)
    converged = False
    with _single_threaded_blas(), warnings.catch_warnings():
        # FrechetCellFilter's scipy logm flags errors of ~1e-13 on near-identity cells: noise
        warnings.filterwarnings("ignore", message="logm result may be inaccurate", category=RuntimeWarning)
        for converged in opt.irun(fmax=fmax, steps=int(steps)):
            if progress is not None:
                progress(opt.nsteps, int(steps))
    max_force = _max_force(target)
    energy = float(work.get_potential_energy())
    out = Atoms(numbers=work.numbers, cell=work.cell[:], positions=work.positions, pbc=work.pbc)
    info = analyze(out, symprec=symprec)
    return RelaxResult(
        atoms=out, energy=energy, n_steps=int(opt.nsteps), converged=bool(converged or max_force <= fmax),
        fmax=float(fmax), max_force=max_force, relax_cell=bool(relax_cell), keep_symmetry=bool(keep_symmetry),
        space_group_number=int(info.number), space_group_symbol=str(info.symbol),
    )


# ----------------------------------------------------------------------------- phonons
@dataclass(frozen=True)
class PhononMode:
    """One labelled set of degenerate modes (see :class:`ase_symbreak.phonons.ModeSet`).

    ``displacements`` (degeneracy, N_supercell, 3), unit-norm real patterns in the atom
    order of :attr:`PhononResult.supercell`; kept only for soft modes (``None`` otherwise).
    """

    q: NDArray  # (3,), parent reciprocal basis
    q_label: str
    irrep: str
    frequency_thz: float
    degeneracy: int
    ir_active: bool | None = None
    raman_active: bool | None = None
    displacements: NDArray | None = field(repr=False, default=None)

    def to_dict(self, patterns: bool = True) -> dict:
        d = {
            "q": _floats(self.q), "q_label": self.q_label, "irrep": self.irrep,
            "frequency_thz": float(self.frequency_thz), "degeneracy": int(self.degeneracy),
            "ir_active": self.ir_active, "raman_active": self.raman_active,
        }
        if patterns and self.displacements is not None:
            d["displacements"] = _floats(self.displacements)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PhononMode:
        disp = d.get("displacements")
        return cls(
            q=np.asarray(d["q"], dtype=float), q_label=d["q_label"], irrep=d["irrep"],
            frequency_thz=float(d["frequency_thz"]), degeneracy=int(d["degeneracy"]),
            ir_active=d.get("ir_active"), raman_active=d.get("raman_active"),
            displacements=None if disp is None else np.asarray(disp, dtype=float),
        )


@dataclass(frozen=True)
class PhononResult:
    """Result of :func:`phonons`.

    Attributes
    ----------
    unitcell : Atoms
        The parent the modes belong to.
    supercell_matrix : NDArray[int]
        (3, 3), supercell lattice = ``supercell_matrix @ unitcell.cell``.
    origin_index : int
        Unit-cell atom at the origin (labels depend on it).
    supercell : Atoms
        Origin-shifted parent supercell; atom order of the modes' ``displacements``.
    modes : tuple[PhononMode, ...]
        Softest first.
    symmetry_residual : float
        See :class:`ase_symbreak.phonons.PhononModes`.
    """

    unitcell: Atoms = field(repr=False)
    supercell_matrix: NDArray
    origin_index: int
    supercell: Atoms = field(repr=False)
    modes: tuple[PhononMode, ...]
    symmetry_residual: float = 0.0

    def unstable(self, threshold_thz: float = -0.1) -> list[PhononMode]:
        return [m for m in self.modes if m.frequency_thz < threshold_thz]

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "unitcell": atoms_to_dict(self.unitcell),
                "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
                "origin_index": int(self.origin_index),
                "supercell": atoms_to_dict(self.supercell),
                "symmetry_residual": float(self.symmetry_residual),
                "modes": [m.to_dict() for m in self.modes],
            }
        )

    @classmethod
    def from_dict(cls, d: dict) -> PhononResult:
        return cls(
            unitcell=atoms_from_dict(d["unitcell"]), supercell_matrix=np.asarray(d["supercell_matrix"], dtype=int),
            origin_index=int(d["origin_index"]), supercell=atoms_from_dict(d["supercell"]),
            modes=tuple(PhononMode.from_dict(m) for m in d["modes"]), symmetry_residual=float(d["symmetry_residual"]),
        )


def phonons(
    atoms: Atoms,
    calc,
    supercell: ArrayLike = (2, 2, 2),
    origin_index: int | None = None,
    symprec: float = 1e-3,
    keep_patterns_below_thz: float = 0.5,
    plot: str | Path | None = None,
    save_phonopy: str | Path | None = None,
    progress: Progress | None = None,
) -> PhononResult:
    """Labelled phonon modes of ``atoms`` (:func:`ase_symbreak.phonons.labelled_modes`).

    Parameters
    ----------
    supercell : (3,) or (3, 3) int
        Commensurate q-points: Gamma and every q with ``supercell @ q`` integer.
    keep_patterns_below_thz : float
        Keep the displacement patterns of modes below this frequency (THz) only.
    plot : path of a band-structure plot to write (optional).
    save_phonopy : path of a ``phonopy_params.yaml`` to write (optional).
    progress : ``progress(done, total)`` over the exact Hessian rows.
    """
    from ase_symbreak.phonons import labelled_modes, phonopy_from_calculator, supercell_matrix_3x3

    p = supercell_matrix_3x3(supercell)
    _check_supercell(atoms, p, symprec)
    phonon = phonopy_from_calculator(atoms, calc, p, progress=progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modes = labelled_modes(atoms, phonon, p, origin_index=origin_index, symprec=symprec)
    if plot is not None:
        from ase_symbreak.phonons import plot_band_structure

        try:
            plot_band_structure(phonon, modes, plot, title=f"{atoms.get_chemical_formula()} phonons")
        except Exception as err:  # a plot must never lose the computed modes
            warnings.warn(f"band-structure plot failed: {err}", stacklevel=2)
    if save_phonopy is not None:
        phonon.save(str(save_phonopy))
    out = tuple(
        PhononMode(
            q=np.asarray(m.q, dtype=float), q_label=m.q_label, irrep=m.irrep, frequency_thz=float(m.frequency_thz),
            degeneracy=int(m.degeneracy), ir_active=m.ir_active, raman_active=m.raman_active,
            displacements=np.asarray(m.displacements) if m.frequency_thz < keep_patterns_below_thz else None,
        )
        for m in modes.modes
    )
    return PhononResult(
        unitcell=atoms.copy(), supercell_matrix=np.asarray(modes.supercell_matrix, dtype=int),
        origin_index=int(modes.origin_index), supercell=modes.supercell.copy(), modes=out,
        symmetry_residual=float(modes.symmetry_residual),
    )


def _check_supercell(atoms: Atoms, p: NDArray, symprec: float) -> None:
    """The supercell lattice must be invariant under the parent's point group."""
    from ase_symbreak.symmetry import analyze

    info = analyze(atoms, symprec=symprec)
    pinv = np.linalg.inv(p)
    for r in info.rotations:
        # lattice vectors (rows of p, parent fractional) map to p @ r.T; must be integer in p's basis
        m = p @ np.asarray(r).T @ pinv
        if np.abs(m - np.round(m)).max() > 1e-6:
            raise ValueError(
                f"supercell {p.tolist()} is not compatible with the parent's point group {info.pointgroup} "
                f"(it is not invariant under all its rotations); use e.g. a diagonal n x n x n supercell for a cubic parent"
            )


# ----------------------------------------------------------------------------- soft modes
@dataclass(frozen=True)
class SoftMode:
    """An unstable irrep: its q, label, frequency and displacement patterns.

    ``displacements`` (degeneracy, N_supercell, 3): unit-norm patterns in the order of
    :attr:`SoftModesResult.supercell`.
    """

    irrep: str
    q: NDArray
    q_label: str
    frequency_thz: float
    degeneracy: int
    displacements: NDArray = field(repr=False)

    def to_dict(self, patterns: bool = True) -> dict:
        d = {"irrep": self.irrep, "q": _floats(self.q), "q_label": self.q_label,
             "frequency_thz": float(self.frequency_thz), "degeneracy": int(self.degeneracy)}
        if patterns:
            d["displacements"] = _floats(self.displacements)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SoftMode:
        return cls(irrep=d["irrep"], q=np.asarray(d["q"], dtype=float), q_label=d["q_label"],
                   frequency_thz=float(d["frequency_thz"]), degeneracy=int(d["degeneracy"]),
                   displacements=np.asarray(d["displacements"], dtype=float))


@dataclass(frozen=True)
class SoftModesResult:
    """Result of :func:`soft_modes`: the unstable irreps, softest first (one per label)."""

    parent: Atoms = field(repr=False)
    supercell_matrix: NDArray
    origin_index: int
    supercell: Atoms = field(repr=False)
    threshold_thz: float
    modes: tuple[SoftMode, ...]

    @property
    def irreps(self) -> list[str]:
        return [m.irrep for m in self.modes]

    def to_dict(self) -> dict:
        return to_jsonable({
            "parent": atoms_to_dict(self.parent), "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "origin_index": int(self.origin_index), "supercell": atoms_to_dict(self.supercell),
            "threshold_thz": float(self.threshold_thz), "modes": [m.to_dict() for m in self.modes],
        })

    @classmethod
    def from_dict(cls, d: dict) -> SoftModesResult:
        return cls(
            parent=atoms_from_dict(d["parent"]), supercell_matrix=np.asarray(d["supercell_matrix"], dtype=int),
            origin_index=int(d["origin_index"]), supercell=atoms_from_dict(d["supercell"]),
            threshold_thz=float(d["threshold_thz"]), modes=tuple(SoftMode.from_dict(m) for m in d["modes"]),
        )


def soft_modes(phonon_result: PhononResult, threshold_thz: float = -0.1) -> SoftModesResult:
    """Irreps with a frequency below ``threshold_thz`` (THz, imaginary as negative).

    When an irrep occurs in several copies, its softest copy is kept.
    """
    if threshold_thz > 0:
        raise ValueError(f"threshold_thz must be <= 0 (imaginary frequencies are negative), got {threshold_thz}")
    seen: dict[str, SoftMode] = {}
    for m in sorted(phonon_result.unstable(threshold_thz), key=lambda m: m.frequency_thz):
        if m.irrep in seen:
            continue
        if m.displacements is None:
            raise ValueError(f"the phonon result kept no displacement pattern for {m.irrep} ({m.frequency_thz:.3f} THz)")
        seen[m.irrep] = SoftMode(irrep=m.irrep, q=m.q, q_label=m.q_label, frequency_thz=m.frequency_thz,
                                 degeneracy=m.degeneracy, displacements=m.displacements)
    return SoftModesResult(
        parent=phonon_result.unitcell, supercell_matrix=phonon_result.supercell_matrix,
        origin_index=phonon_result.origin_index, supercell=phonon_result.supercell,
        threshold_thz=float(threshold_thz), modes=tuple(seen.values()),
    )


# ----------------------------------------------------------------------------- condense
@dataclass(frozen=True)
class Candidate:
    """A distortion along one order-parameter direction, after the amplitude scan.

    Attributes
    ----------
    irreps : tuple[str, ...]
        Condensed irreps (one, or a coupled pair).
    direction : str
        ISOTROPY-style direction, e.g. '(a,0,0)' or '(a,a,0|b,0,0)'.
    n_params : int
        Free parameters of the direction.
    space_group_number, space_group_symbol, index
        Isotropy subgroup and its index in the parent.
    amplitudes : NDArray[float]
        (n_amp,) ``Ap`` scanned, Angstrom.
    energies_mev_per_fu : NDArray[float]
        (n_amp,) energy relative to the parent, meV per formula unit (negative = lower).
    best_amplitude : float
        Scanned ``Ap`` of lowest energy, Angstrom.
    energy_gain_mev_per_fu : float
        ``-min(energies_mev_per_fu)`` (positive when the distortion lowers the energy).
    structure : Atoms
        Child primitive cell (parent strain) at ``best_amplitude``.
    pattern : NDArray[float]
        (N_supercell, 3) displacement pattern with ``Ap = 1`` in the order of the soft
        modes' supercell (used for the family tree).
    projected : bool
        True when the pattern is the isotropy direction projected on the soft modes'
        eigenvectors (the usual case), False when the symmetry core's generic pattern was used.
    """

    irreps: tuple[str, ...]
    direction: str
    n_params: int
    space_group_number: int
    space_group_symbol: str
    index: int
    amplitudes: NDArray
    energies_mev_per_fu: NDArray
    best_amplitude: float
    energy_gain_mev_per_fu: float
    structure: Atoms = field(repr=False)
    pattern: NDArray = field(repr=False)
    projected: bool = True

    @property
    def name(self) -> str:
        return f"{'+'.join(self.irreps)} {self.direction} {self.space_group_symbol}"

    def to_dict(self) -> dict:
        return to_jsonable({
            "irreps": list(self.irreps), "direction": self.direction, "n_params": self.n_params,
            "space_group_number": self.space_group_number, "space_group_symbol": self.space_group_symbol,
            "index": self.index, "amplitudes": self.amplitudes, "energies_mev_per_fu": self.energies_mev_per_fu,
            "best_amplitude": self.best_amplitude, "energy_gain_mev_per_fu": self.energy_gain_mev_per_fu,
            "structure": atoms_to_dict(self.structure), "pattern": self.pattern, "projected": self.projected,
        })

    @classmethod
    def from_dict(cls, d: dict) -> Candidate:
        return cls(
            irreps=tuple(d["irreps"]), direction=d["direction"], n_params=int(d["n_params"]),
            space_group_number=int(d["space_group_number"]), space_group_symbol=d["space_group_symbol"],
            index=int(d["index"]), amplitudes=np.asarray(d["amplitudes"], dtype=float),
            energies_mev_per_fu=np.asarray(d["energies_mev_per_fu"], dtype=float),
            best_amplitude=float(d["best_amplitude"]), energy_gain_mev_per_fu=float(d["energy_gain_mev_per_fu"]),
            structure=atoms_from_dict(d["structure"]), pattern=np.asarray(d["pattern"], dtype=float),
            projected=bool(d.get("projected", True)),
        )


@dataclass(frozen=True)
class CondenseResult:
    """Result of :func:`condense`.

    ``candidates``: directions that lower the energy, largest scan gain first.
    ``rejected``: the other directions, each ``{"irreps", "direction", "space_group_symbol", "reason"}``.
    """

    parent_energy_per_fu: float  # eV
    candidates: tuple[Candidate, ...]
    rejected: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return to_jsonable({"parent_energy_per_fu": self.parent_energy_per_fu,
                            "candidates": [c.to_dict() for c in self.candidates], "rejected": list(self.rejected)})

    @classmethod
    def from_dict(cls, d: dict) -> CondenseResult:
        return cls(parent_energy_per_fu=float(d["parent_energy_per_fu"]),
                   candidates=tuple(Candidate.from_dict(c) for c in d["candidates"]), rejected=tuple(d["rejected"]))


def _blocks_nonzero(direction: str) -> bool:
    """Every '|'-separated block of a direction string has a nonzero component."""
    return all(any(ch.isalpha() for ch in block) for block in direction.strip("()").split("|"))


def _match_displacements(structure: Atoms, reference: Atoms, tol: float = 0.5) -> NDArray:
    """(N, 3) displacements of ``structure`` from ``reference`` (same cell), atoms matched by position."""
    if not np.allclose(structure.cell[:], reference.cell[:], atol=1e-6):
        raise ValueError("structure and reference have different cells")
    cell = np.asarray(reference.cell[:])
    d = structure.positions[:, None, :] - reference.positions[None, :, :]
    frac = d @ np.linalg.inv(cell)
    cart = (frac - np.round(frac)) @ cell
    dist = np.linalg.norm(cart, axis=-1)
    dist[structure.numbers[:, None] != reference.numbers[None, :]] = np.inf
    j = dist.argmin(axis=1)
    if len(set(j.tolist())) != len(j) or dist[np.arange(len(j)), j].max() > tol:
        raise ValueError("could not match the distorted structure to the parent supercell")
    u = np.zeros_like(reference.positions)
    u[j] = cart[np.arange(len(j)), j]
    return u


def _lattice_basis(vectors: NDArray) -> NDArray:
    """(3, 3) integer basis (rows) of the lattice spanned by integer row vectors (k, 3)."""
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


def _child_primitive(shifted: Atoms, reference: Atoms, p: NDArray, pattern: NDArray, amplitude: float,
                     symprec: float) -> tuple[Atoms, NDArray]:
    """Undistorted child primitive cell and its pattern, from the supercell pattern.

    The child's lattice is the parent supercell lattice plus the pure translations of
    the distorted supercell (spglib); atoms come from the parent (no origin shift), each
    carrying the pattern of its image in the supercell.
    """
    import spglib
    from ase.build import make_supercell
    from ase.geometry import minkowski_reduce

    distorted = reference.copy()
    distorted.positions += amplitude * pattern
    ds = spglib.get_symmetry((distorted.cell[:], distorted.get_scaled_positions(), distorted.numbers), symprec=symprec)
    trans = [t for r, t in zip(ds["rotations"], ds["translations"]) if np.array_equal(r, np.eye(3, dtype=int))]
    vecs = [np.asarray(t) @ p for t in trans] + list(p)  # parent fractional
    vecs = np.array(vecs, dtype=float)
    ivecs = np.round(vecs).astype(np.int64)
    if np.abs(vecs - ivecs).max() > 1e-4:
        raise ValueError("the child's translations are not parent lattice vectors")
    basis = _lattice_basis(ivecs)
    cell = basis @ np.asarray(shifted.cell[:])
    _, op = minkowski_reduce(cell)
    basis = op @ basis
    if np.linalg.det(basis) < 0:
        basis = -basis
    prim = make_supercell(shifted, basis, wrap=True)
    # pattern of each primitive atom: that of its image in the supercell
    cell_s = np.asarray(reference.cell[:])
    d = prim.positions[:, None, :] - reference.positions[None, :, :]
    frac = d @ np.linalg.inv(cell_s)
    dist = np.linalg.norm((frac - np.round(frac)) @ cell_s, axis=-1)
    dist[prim.numbers[:, None] != reference.numbers[None, :]] = np.inf
    j = dist.argmin(axis=1)
    if dist[np.arange(len(j)), j].max() > 1e-4:
        raise RuntimeError("primitive child atoms do not sit on parent supercell sites")
    return prim, pattern[j]


def condense(
    parent: Atoms,
    soft: SoftModesResult,
    calc,
    amplitudes: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
    couple: bool = True,
    max_params: int = 2,
    min_gain_mev: float = 0.05,
    parent_energy: float | None = None,
    symprec: float = 1e-3,
    progress: Progress | None = None,
) -> CondenseResult:
    """Condense the soft irreps along their order-parameter directions and scan amplitudes.

    For every soft irrep, and (``couple=True``) every pair of soft irreps, the isotropy
    subgroups (:func:`~ase_symbreak.symmetry.isotropy_subgroups`, in the phonon supercell)
    are enumerated; for pairs only directions in which both irreps are nonzero are kept
    (the others are single-irrep subgroups). Directions with more than ``max_params`` free
    parameters are skipped. Each direction's generic pattern is projected onto the soft
    modes' eigenvectors (so irreps occurring in several copies condense along the unstable
    copy), reduced to the child's primitive cell, and its energy is computed at each
    ``Ap`` in ``amplitudes`` (parent cell, no strain).

    Parameters
    ----------
    parent : Atoms
        The (relaxed) parent; the unit cell of ``soft``.
    soft : SoftModesResult
    calc : ASE calculator
    amplitudes : ``Ap`` values, Angstrom.
    couple : also condense pairs of soft irreps.
    max_params : skip directions with more free parameters.
    min_gain_mev : keep directions that lower the energy by more (meV per formula unit).
    parent_energy : eV of ``parent`` (computed when None).
    progress : ``progress(done, total)`` over the directions.
    """
    from ase_symbreak.symmetry import analyze, isotropy_subgroups, shift_origin

    amps = np.asarray(sorted(float(a) for a in amplitudes))
    if amps.size == 0 or np.any(amps <= 0):
        raise ValueError(f"amplitudes must be positive (Angstrom), got {list(amplitudes)}")
    if max_params < 1:
        raise ValueError(f"max_params must be >= 1, got {max_params}")
    if len(parent) != len(soft.parent) or not np.allclose(parent.cell[:], soft.parent.cell[:], atol=1e-6):
        raise ValueError("parent is not the unit cell the soft modes were computed for")
    if parent_energy is None:
        work = parent.copy()
        work.calc = calc
        parent_energy = float(work.get_potential_energy())
    e_parent_fu = parent_energy / formula_units(parent)
    p = np.asarray(soft.supercell_matrix, dtype=int)
    reference = soft.supercell
    shifted = shift_origin(parent, soft.origin_index)
    n_cells = len(reference) / len(parent)
    by_label = {m.irrep: m for m in soft.modes}
    sets = [(lab,) for lab in by_label]
    if couple:
        sets += list(itertools.combinations(by_label, 2))

    jobs = []
    rejected: list[dict] = []
    for labels in sets:
        try:
            subs = isotropy_subgroups(parent, list(labels), origin_index=soft.origin_index, symprec=symprec,
                                      supercell_matrix=p)
        except ValueError as err:
            rejected.append({"irreps": list(labels), "direction": "", "space_group_symbol": "", "reason": str(err)})
            continue
        for sub in subs:
            entry = {"irreps": list(labels), "direction": sub.direction, "space_group_symbol": sub.space_group_symbol}
            if len(labels) > 1 and not _blocks_nonzero(sub.direction):
                continue  # a single-irrep subgroup, enumerated on its own
            if sub.n_params > max_params:
                rejected.append({**entry, "reason": f"{sub.n_params} free parameters > max_params={max_params}"})
                continue
            jobs.append((labels, sub))

    candidates = []
    for done, (labels, sub) in enumerate(jobs):
        if progress is not None:
            progress(done, len(jobs))
        entry = {"irreps": list(labels), "direction": sub.direction, "space_group_symbol": sub.space_group_symbol}
        u_iso = _match_displacements(sub.structure, reference)
        basis = np.concatenate([by_label[lab].displacements.reshape(-1, u_iso.size) for lab in labels])
        q, _ = np.linalg.qr(basis.T)
        u_soft = (q @ (q.T @ u_iso.ravel())).reshape(u_iso.shape)
        projected = False
        if np.linalg.norm(u_soft) > 1e-3 * np.linalg.norm(u_iso):
            test = reference.copy()
            test.positions += u_soft * (0.05 / np.abs(u_soft).max())
            projected = analyze(test, symprec=symprec).number == sub.space_group_number
        u = u_soft if projected else u_iso
        pattern = u / np.sqrt((u**2).sum() / n_cells)  # Ap = 1 Angstrom
        try:
            prim, prim_pattern = _child_primitive(shifted, reference, p, pattern, float(amps[len(amps) // 2]), symprec)
        except (ValueError, RuntimeError) as err:
            rejected.append({**entry, "reason": f"could not build the child cell: {err}"})
            continue
        n_fu = formula_units(prim, parent)
        energies = []
        for a in amps:
            trial = prim.copy()
            trial.positions += a * prim_pattern
            trial.calc = calc
            energies.append((trial.get_potential_energy() / n_fu - e_parent_fu) * 1000.0)
        energies = np.asarray(energies)
        best = int(np.argmin(energies))
        gain = -float(energies[best])
        if gain <= min_gain_mev:
            rejected.append({**entry, "reason": f"no energy lowering in the scan (best {-gain:.3f} meV/f.u.)"})
            continue
        structure = prim.copy()
        structure.positions += amps[best] * prim_pattern
        candidates.append(
            Candidate(
                irreps=tuple(labels), direction=sub.direction, n_params=int(sub.n_params),
                space_group_number=int(sub.space_group_number), space_group_symbol=str(sub.space_group_symbol),
                index=int(sub.index), amplitudes=amps, energies_mev_per_fu=energies, best_amplitude=float(amps[best]),
                energy_gain_mev_per_fu=gain, structure=structure, pattern=pattern, projected=projected,
            )
        )
    if progress is not None:
        progress(len(jobs), len(jobs))
    candidates.sort(key=lambda c: (-c.energy_gain_mev_per_fu, c.n_params))
    return CondenseResult(parent_energy_per_fu=float(e_parent_fu), candidates=tuple(candidates), rejected=tuple(rejected))


# ----------------------------------------------------------------------------- children
def relax_child(
    candidate: Candidate | Atoms,
    calc,
    fmax: float = 1e-3,
    steps: int = 500,
    optimizer: str = "BFGS",
    symprec: float = 1e-3,
    progress: Progress | None = None,
) -> RelaxResult:
    """Relax a candidate inside its subgroup: ``FixSymmetry`` at the child's symmetry, positions and cell."""
    atoms = candidate.structure if isinstance(candidate, Candidate) else candidate
    return relax(atoms, calc, fmax=fmax, relax_cell=True, keep_symmetry=True, steps=steps, optimizer=optimizer,
                 symprec=symprec, progress=progress)


@dataclass(frozen=True)
class Identification:
    """Result of :func:`identify`.

    Attributes
    ----------
    space_group_number, space_group_symbol
        spglib, of the relaxed child.
    energy_per_fu : float
        eV per formula unit of the child.
    energy_gain_mev_per_fu : float
        Parent minus child energy per formula unit, meV (positive: the child is lower).
    irreps : tuple[dict, ...]
        Irreps of the parent in the child's distortion above the threshold, largest first:
        ``{"irrep", "amplitude" (Ap, Angstrom), "direction", "role"}``; ``role`` is
        ``"primary"`` for condensed irreps, ``"secondary"`` for those that appeared by coupling.
    amplitude : float
        Total ``Ap`` (Angstrom).
    strain : NDArray
        (3, 3) Biot strain of the child relative to the parent.
    error : str or None
        Why the decomposition failed, if it did.
    relaxed_space_group_number, relaxed_space_group_symbol
        spglib, of the relaxed child at the parent's ``symprec`` (before symmetrisation).
    child_symprec : float
        Tolerance (Angstrom) at which the child was identified: a relaxation stopped at
        ``fmax`` leaves residual displacements of this order, so a child that relaxed back
        towards a higher group is reported (and symmetrised) in that group.
    symmetrized : Atoms or None
        The child idealised to ``space_group_number`` (written as the child's CIF); not in
        the JSON.
    """

    space_group_number: int
    space_group_symbol: str
    energy_per_fu: float
    energy_gain_mev_per_fu: float
    irreps: tuple[dict, ...] = ()
    amplitude: float = 0.0
    strain: NDArray = field(default_factory=lambda: np.zeros((3, 3)))
    error: str | None = None
    relaxed_space_group_number: int = 0
    relaxed_space_group_symbol: str = ""
    child_symprec: float = 0.0
    symmetrized: Atoms | None = field(repr=False, default=None, compare=False)

    @property
    def primary(self) -> list[dict]:
        return [ir for ir in self.irreps if ir["role"] == "primary"]

    @property
    def secondary(self) -> list[dict]:
        return [ir for ir in self.irreps if ir["role"] == "secondary"]

    def to_dict(self) -> dict:
        return to_jsonable({
            "space_group_number": self.space_group_number, "space_group_symbol": self.space_group_symbol,
            "energy_per_fu": self.energy_per_fu, "energy_gain_mev_per_fu": self.energy_gain_mev_per_fu,
            "irreps": list(self.irreps), "amplitude": self.amplitude, "strain": self.strain, "error": self.error,
            "relaxed_space_group_number": self.relaxed_space_group_number,
            "relaxed_space_group_symbol": self.relaxed_space_group_symbol, "child_symprec": self.child_symprec,
        })

    @classmethod
    def from_dict(cls, d: dict) -> Identification:
        return cls(**{**d, "irreps": tuple(d["irreps"]), "strain": np.asarray(d["strain"], dtype=float)})


def _energy_of(x: RelaxResult | Atoms, energy: float | None) -> tuple[Atoms, float]:
    if isinstance(x, RelaxResult):
        return x.atoms, x.energy if energy is None else energy
    if energy is None:
        if x.calc is None:
            raise ValueError("give the energy or attach a calculator")
        energy = float(x.get_potential_energy())
    return x, energy


def identify(
    child: RelaxResult | Atoms,
    parent: RelaxResult | Atoms,
    condensed: Sequence[str] = (),
    child_energy: float | None = None,
    parent_energy: float | None = None,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    threshold: float = 2e-3,
    child_symprec: float | None = 1e-2,
) -> Identification:
    """Space group, energy gain per formula unit and mode decomposition of a relaxed child.

    Parameters
    ----------
    child, parent : RelaxResult, or Atoms (energies then from ``*_energy`` or their calculator)
    condensed : irreps that were condensed (``role="primary"``); others found are secondary.
    origin_index : parent atom at the origin for the labels (default: B site of perovskites).
    threshold : smallest ``Ap`` (Angstrom) reported.
    child_symprec : tolerance (Angstrom) of the child's space group, at least ``symprec``;
        the child is symmetrised to the group found (``Identification.symmetrized``). None:
        ``symprec``.
    """
    from ase_symbreak.symmetry import analyze, decompose
    from ase_symbreak.symmetry.idealize import idealize

    child_atoms, e_child = _energy_of(child, child_energy)
    parent_atoms, e_parent = _energy_of(parent, parent_energy)
    info = analyze(child_atoms, symprec=symprec)
    tol = symprec if child_symprec is None else max(float(child_symprec), symprec)
    number, symbol, symmetrized = int(info.number), str(info.symbol), None
    try:
        ideal = idealize(child_atoms, tol)
        number, symbol, symmetrized = ideal.number, ideal.symbol, ideal.atoms
    except ValueError:  # no consistent group at the looser tolerance: keep the relaxed one
        tol = symprec
    e_child_fu = e_child / formula_units(child_atoms, parent_atoms)
    gain = (e_parent / formula_units(parent_atoms) - e_child_fu) * 1000.0
    irreps: list[dict] = []
    error = None
    amplitude = 0.0
    strain = np.zeros((3, 3))
    try:
        dec = decompose(parent_atoms, child_atoms, origin_index=origin_index, symprec=symprec)
        amplitude = float(dec.amplitude)
        strain = np.asarray(dec.strain, dtype=float)
        for ir in dec.significant(threshold):
            irreps.append({"irrep": ir.irrep, "amplitude": float(ir.amplitude), "direction": ir.direction,
                           "role": "primary" if ir.irrep in condensed else "secondary"})
    except (ValueError, RuntimeError) as err:
        error = str(err)
    return Identification(
        space_group_number=number, space_group_symbol=symbol, energy_per_fu=float(e_child_fu),
        energy_gain_mev_per_fu=float(gain), irreps=tuple(irreps), amplitude=amplitude, strain=strain, error=error,
        relaxed_space_group_number=int(info.number), relaxed_space_group_symbol=str(info.symbol),
        child_symprec=float(tol), symmetrized=symmetrized,
    )
