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
from .common import Progress, formula_units, rank_value

__all__ = ["Candidate", "CondenseResult", "candidate_rank", "condense"]


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
    from ase_symbreak.symmetry import analyze, isotropy_subgroups, shift_origin

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
            subs = isotropy_subgroups(
                parent,
                list(labels),
                origin_index=soft.origin_index,
                symprec=symprec,
                supercell_matrix=p,
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
            entry = {
                "irreps": list(labels),
                "direction": sub.direction,
                "space_group_symbol": sub.space_group_symbol,
            }
            if len(labels) > 1 and not _blocks_nonzero(sub.direction):
                continue  # a single-irrep subgroup, enumerated on its own
            if sub.n_params > max_params:
                rejected.append(
                    {**entry, "reason": f"{sub.n_params} free parameters > max_params={max_params}"}
                )
                continue
            jobs.append((labels, sub))

    candidates = []
    for done, (labels, sub) in enumerate(jobs):
        if progress is not None:
            progress(done, len(jobs))
        entry = {
            "irreps": list(labels),
            "direction": sub.direction,
            "space_group_symbol": sub.space_group_symbol,
        }
        u_iso = displacements_from(sub.structure, reference)
        basis = np.concatenate(
            [by_label[lab].displacements.reshape(-1, u_iso.size) for lab in labels]
        )
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
            prim, prim_pattern = child_primitive_cell(
                shifted, reference, p, pattern, float(amps[len(amps) // 2]), symprec
            )
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
            rejected.append(
                {**entry, "reason": f"no energy lowering in the scan (best {-gain:.3f} meV/f.u.)"}
            )
            continue
        structure = prim.copy()
        structure.positions += amps[best] * prim_pattern
        candidates.append(
            Candidate(
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
        )
    if progress is not None:
        progress(len(jobs), len(jobs))
    candidates.sort(key=candidate_rank)
    return CondenseResult(
        parent_energy_per_fu=float(e_parent_fu),
        candidates=tuple(candidates),
        rejected=tuple(rejected),
    )
