"""Condensation of soft modes: isotropy subgroups of each soft irrep (and pair), the
distortion along each order-parameter direction, its amplitude scan -> :class:`CondenseResult`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.phonons import PhononModes
from ase_symbreak.protocols import Calculator
from ase_symbreak.structures import as_atoms
from ase_symbreak.symmetry.childcell import child_primitive_cell
from ase_symbreak.symmetry.matching import displacements_from

from ..settings import DEFAULTS
from .common import Progress, formula_units, rank_value, ranking_energy

__all__ = [
    "SAME_STRUCTURE_TOL",
    "Candidate",
    "CondenseResult",
    "candidate_rank",
    "condense",
    "same_structures",
]

#: Two scanned candidates are one structure when an operation of the parent supercell (a
#: point operation with a lattice translation) carries the displacements of one onto the
#: other's to within this many Angstrom on every atom (the residual displacements a
#: relaxation to ``child_fmax`` leaves are of this order).
SAME_STRUCTURE_TOL = 1e-3


@dataclass(frozen=True)
class Candidate(Record):
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


@dataclass(frozen=True)
class CondenseResult(Record):
    """Result of :func:`condense`.

    ``candidates``: directions that lower the energy, largest scan gain first.
    ``rejected``: the other directions, each
    ``{"irreps", "direction", "space_group_symbol", "reason"}``.
    """

    parent_energy_per_fu: float  # eV
    candidates: tuple[Candidate, ...]
    rejected: tuple[dict, ...] = ()


def candidate_rank(c: Candidate) -> tuple:
    """Sort key of candidates: largest scan gain first (to 1e-6 meV/f.u., see
    :func:`~.common.rank_value`), then fewer free parameters, then by irreps, direction and
    space group, so that equal gains are ordered the same way in every run.
    """
    return (
        -rank_value(c.energy_gain_mev_per_fu),
        c.n_params,
        c.irreps,
        c.direction,
        c.space_group_number,
    )


def same_structures(
    candidates: Sequence[Candidate], operations, tol: float = SAME_STRUCTURE_TOL
) -> list[int | None]:
    """For each candidate, the first earlier one whose scanned structure is the same up to
    the parent's symmetry, or None.

    The scanned structure of a candidate is the parent supercell displaced by
    ``best_amplitude * pattern``; two are the same when they have the same space group and
    some operation of ``operations`` (the parent supercell's
    :class:`~ase_symbreak.symmetry.modes.SupercellOperations`: every point operation with
    every lattice translation of the supercell) carries one displacement field onto the other
    to within ``tol`` Angstrom on every atom. Equivalent order-parameter directions
    (conjugate isotropy subgroups, other domains) and different directions whose scans end
    in the same structure are both found; their relaxations would end in the same minimum.
    """
    fields = [c.best_amplitude * np.asarray(c.pattern, dtype=float) for c in candidates]
    norms = [float(np.linalg.norm(u)) for u in fields]
    images: dict[int, NDArray] = {}
    same: list[int | None] = []
    for i, c in enumerate(candidates):
        found = None
        for j in range(i):
            r = candidates[j]
            if (
                same[j] is not None
                or r.space_group_number != c.space_group_number
                or fields[j].shape != fields[i].shape
                or abs(norms[j] - norms[i]) > tol * np.sqrt(fields[i].size)
            ):
                continue
            if j not in images:
                images[j] = operations.act(fields[j])  # (n_ops, N, 3): every domain of j
            if float(np.abs(images[j] - fields[i]).max(axis=(1, 2)).min()) <= tol:
                found = j
                break
        same.append(found)
    return same


def _blocks_nonzero(direction: str) -> bool:
    """Every '|'-separated block of a direction string has a nonzero component."""
    return all(any(ch.isalpha() for ch in block) for block in direction.strip("()").split("|"))


def condense(
    parent: Atoms,
    soft: PhononModes,
    calc: Calculator,
    amplitudes: Sequence[float] = DEFAULTS.amplitudes,
    couple: bool = DEFAULTS.couple,
    max_params: int = DEFAULTS.max_params,
    min_gain_mev: float = DEFAULTS.min_gain_mev,
    parent_energy: float | None = None,
    symprec: float = DEFAULTS.symprec,
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
    soft : PhononModes
        The soft modes (:func:`~ase_symbreak.workflows.steps.soft_modes`), with patterns.
    calc : ASE calculator
    amplitudes : ``Ap`` values, Angstrom.
    couple : also condense pairs of soft irreps.
    max_params : skip directions with more free parameters.
    min_gain_mev : keep directions that lower the energy by more (meV per formula unit).
    parent_energy : eV of ``parent`` (computed when None).
    progress : ``progress(done, total)`` over the directions.
    """
    parent = as_atoms(parent)
    amps = np.asarray(sorted(float(a) for a in amplitudes))
    if amps.size == 0 or np.any(amps <= 0):
        raise ValueError(f"amplitudes must be positive (Angstrom), got {list(amplitudes)}")
    if max_params < 1:
        raise ValueError(f"max_params must be >= 1, got {max_params}")
    unit = soft.unitcell
    if (
        unit is None
        or len(parent) != len(unit)
        or not np.allclose(parent.cell[:], unit.cell[:], atol=1e-6)
    ):
        raise ValueError("parent is not the unit cell the soft modes were computed for")
    if parent_energy is None:
        parent_energy = ranking_energy(calc, parent)
    scan = _Scan(parent, soft, calc, amps, parent_energy / formula_units(parent), symprec)
    jobs, rejected = _directions(parent, soft, couple, max_params, symprec)
    candidates = []
    for done, (labels, sub) in enumerate(jobs):
        if progress is not None:
            progress(done, len(jobs))
        candidate, reason = scan.candidate(labels, sub, min_gain_mev)
        if candidate is None:
            rejected.append({**_entry(labels, sub), "reason": reason})
        else:
            candidates.append(candidate)
    if progress is not None:
        progress(len(jobs), len(jobs))
    candidates.sort(key=candidate_rank)
    return CondenseResult(
        parent_energy_per_fu=float(scan.e_parent_fu),
        candidates=tuple(candidates),
        rejected=tuple(rejected),
    )


def _entry(labels: Sequence[str], sub) -> dict:
    """The irreps, direction and group of a direction, as listed in ``rejected``."""
    return {
        "irreps": list(labels),
        "direction": sub.direction,
        "space_group_symbol": sub.space_group_symbol,
    }


def _directions(
    parent: Atoms, soft: PhononModes, couple: bool, max_params: int, symprec: float
) -> tuple[list, list[dict]]:
    """The ``(irreps, isotropy subgroup)`` pairs to scan, and the directions left out (with
    the reason): every soft irrep, and every pair of them with both irreps nonzero.
    """
    from ase_symbreak.symmetry import isotropy_subgroups

    labels_of = list(dict.fromkeys(m.irrep for m in soft.modes))
    sets: list[tuple[str, ...]] = [(lab,) for lab in labels_of]
    if couple:
        sets += list(itertools.combinations(labels_of, 2))
    jobs, rejected = [], []
    for labels in sets:
        try:
            subs = isotropy_subgroups(
                parent,
                list(labels),
                origin_index=soft.origin_index,
                symprec=symprec,
                supercell_matrix=np.asarray(soft.supercell_matrix, dtype=int),
            )
        except ValueError as err:
            rejected.append(
                {
                    "irreps": list(labels),
                    "direction": "",
                    "space_group_symbol": "",
                    "reason": str(err),
                }
            )
            continue
        for sub in subs:
            if len(labels) > 1 and not _blocks_nonzero(sub.direction):
                continue  # a single-irrep subgroup, enumerated on its own
            if sub.n_params > max_params:
                reason = f"{sub.n_params} free parameters > max_params={max_params}"
                rejected.append({**_entry(labels, sub), "reason": reason})
                continue
            jobs.append((labels, sub))
    return jobs, rejected


class _Scan:
    """Builds and scans the candidate of one direction in the parent's phonon supercell."""

    def __init__(self, parent, soft, calc, amps: NDArray, e_parent_fu: float, symprec) -> None:
        from ase_symbreak.symmetry import shift_origin

        self.parent, self.soft, self.calc, self.amps = parent, soft, calc, amps
        self.e_parent_fu, self.symprec = e_parent_fu, symprec
        self.p = np.asarray(soft.supercell_matrix, dtype=int)
        self.reference = soft.supercell
        self.shifted = shift_origin(parent, soft.origin_index)
        self.n_cells = len(self.reference) / len(parent)
        self.by_label = {m.irrep: m for m in soft.modes}

    def pattern(self, labels: Sequence[str], sub) -> tuple[NDArray, bool]:
        """The direction's displacement pattern at ``Ap = 1`` A, projected onto the soft
        modes' eigenvectors where that keeps its group (``projected``).
        """
        from ase_symbreak.symmetry import analyze

        u_iso = displacements_from(sub.structure, self.reference)
        basis = np.concatenate(
            [self.by_label[lab].displacements.reshape(-1, u_iso.size) for lab in labels]
        )
        q, _ = np.linalg.qr(basis.T)
        u_soft = (q @ (q.T @ u_iso.ravel())).reshape(u_iso.shape)
        projected = False
        if np.linalg.norm(u_soft) > 1e-3 * np.linalg.norm(u_iso):
            test = self.reference.copy()
            test.positions += u_soft * (0.05 / np.abs(u_soft).max())
            projected = analyze(test, symprec=self.symprec).number == sub.space_group_number
        u = u_soft if projected else u_iso
        return u / np.sqrt((u**2).sum() / self.n_cells), projected  # Ap = 1 Angstrom

    def energies(self, prim: Atoms, prim_pattern: NDArray) -> NDArray:
        """Energy (meV per formula unit, relative to the parent) at each scan amplitude."""
        n_fu = formula_units(prim, self.parent)
        energies = []
        for a in self.amps:
            trial = prim.copy()
            trial.positions += a * prim_pattern
            e = ranking_energy(self.calc, trial)
            energies.append((e / n_fu - self.e_parent_fu) * 1000.0)
        return np.asarray(energies)

    def candidate(self, labels, sub, min_gain_mev: float) -> tuple[Candidate | None, str]:
        """The direction's :class:`Candidate`, or None and why it was left out."""
        amps = self.amps
        pattern, projected = self.pattern(labels, sub)
        try:
            prim, prim_pattern = child_primitive_cell(
                self.shifted,
                self.reference,
                self.p,
                pattern,
                float(amps[len(amps) // 2]),
                self.symprec,
            )
        except (ValueError, RuntimeError) as err:
            return None, f"could not build the child cell: {err}"
        energies = self.energies(prim, prim_pattern)
        best = int(np.argmin(energies))
        gain = -float(energies[best])
        if gain <= min_gain_mev:
            if gain > 0:
                return None, (
                    f"gain {gain:.3f} meV/f.u. in the scan, not above min_gain_mev={min_gain_mev}"
                )
            return None, (
                f"no energy lowering in the scan (lowest point {-gain:.3f} meV/f.u. above the "
                "parent)"
            )
        structure = prim.copy()
        structure.positions += amps[best] * prim_pattern
        candidate = Candidate(
            irreps=tuple(labels),
            direction=sub.direction,
            n_params=int(sub.n_params),
            space_group_number=int(sub.space_group_number),
            space_group_symbol=str(sub.space_group_symbol),
            index=int(sub.index),
            amplitudes=amps,
            energies_mev_per_fu=energies,
            best_amplitude=float(amps[best]),
            energy_gain_mev_per_fu=gain,
            structure=structure,
            pattern=pattern,
            projected=projected,
        )
        return candidate, ""
