"""Energies of the child's modes with a calculator: alone, together, and their coupling.

All structures live in the child's cell with the parent's metric (no strain) except the
child itself: the parent is the undistorted child (parent sites), each mode alone is the
parent plus a fraction of that irrep's part of the child's displacements (a scan from 0 to
the child's amplitude), the primaries together and all the modes together are the parent
plus those parts at full amplitude, and the child is the structure as given (strain
included). Energies are in meV per formula unit relative to the parent; any ASE calculator
works (a calculator with ``get_precise_energy``, as ours, is asked for its float64 energy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.progress import Progress

__all__ = ["EnergyBreakdown", "ModeEnergy", "mode_energies", "formula_units"]

#: Points of each mode's scan, 0 to the child's amplitude.
DEFAULT_POINTS = 6


@dataclass(frozen=True)
class ModeEnergy(Record):
    """Energy along one irrep's part of the child's distortion, in the parent's cell.

    Attributes
    ----------
    irrep : str
    fractions : NDArray
        ``(n,)`` fraction of the child's amplitude, 0 to 1.
    energies : NDArray
        ``(n,)`` meV per formula unit relative to the parent.
    """

    irrep: str
    fractions: NDArray
    energies: NDArray

    @property
    def gain(self) -> float:
        """Energy at the child's amplitude, meV/f.u. (negative: the mode lowers it alone)."""
        return float(self.energies[-1])

    @property
    def unstable_in_parent(self) -> bool:
        """The energy falls at the first step of the scan: the mode is soft in the parent."""
        return bool(len(self.energies) > 1 and self.energies[1] < -1e-6)


@dataclass(frozen=True)
class EnergyBreakdown(Record):
    """The energies of an explanation, meV per formula unit relative to the parent.

    Attributes
    ----------
    model : str
        The calculator's name.
    formula_units : int
        Formula units in the child's cell.
    parent_energy_ev : float
        The parent in the child's cell, eV.
    child : float
        The child as given (displacements and strain).
    all_modes : float
        Every irrep's part at full amplitude, no strain.
    primaries : float
        The primary irreps' parts together at full amplitude.
    modes : tuple[ModeEnergy, ...]
        Each significant irrep alone.
    """

    model: str
    formula_units: int
    parent_energy_ev: float
    child: float
    all_modes: float
    primaries: float
    modes: tuple[ModeEnergy, ...]
    primary_irreps: tuple[str, ...] = ()

    @property
    def coupling(self) -> float:
        """``primaries - sum(each primary alone)``, meV/f.u.: what they gain only together."""
        alone = {m.irrep: m.gain for m in self.modes}
        return self.primaries - sum(alone[lab] for lab in self.primary_irreps if lab in alone)

    @property
    def strain(self) -> float:
        """``child - all_modes``: what the strain (and any rotation) adds, meV/f.u."""
        return self.child - self.all_modes

    def __getitem__(self, irrep: str) -> ModeEnergy:
        for mode in self.modes:
            if mode.irrep == irrep:
                return mode
        raise KeyError(irrep)


def formula_units(atoms: Atoms) -> int:
    """Formula units in the cell: the greatest common divisor of the species' counts."""
    counts = np.unique(atoms.numbers, return_counts=True)[1]
    return int(reduce(math.gcd, (int(c) for c in counts)))


def mode_energies(
    ideal_child: Atoms,
    child: Atoms,
    fields: dict[str, NDArray],
    labels: list[str],
    primaries: tuple[str, ...],
    calc,
    points: int = DEFAULT_POINTS,
    model: str = "",
    progress: Progress | None = None,
) -> EnergyBreakdown:
    """Energies of the parent, each mode alone, the primaries, all modes and the child.

    Parameters
    ----------
    ideal_child : Atoms
        The parent's sites in the child's cell (parent metric).
    child : Atoms
        The child as given.
    fields : dict
        ``label -> (n_child, 3)`` each irrep's part (parent frame, child atom order).
    labels : list[str]
        The irreps to scan.
    primaries : tuple[str, ...]
    calc : ase Calculator
    points : int
        Scan points from 0 to 1 (at least 2).
    progress : callable, optional
        ``progress(done, total)`` over the energy evaluations.
    """
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    n_fu = formula_units(child)
    total = 4 + len(labels) * (int(points) - 1)
    done = [0]

    def evaluate(atoms: Atoms) -> float:
        if progress is not None:
            progress(done[0], total)
        done[0] += 1
        return _energy(atoms, calc)

    e0 = evaluate(ideal_child)

    def relative(atoms: Atoms) -> float:
        return (evaluate(atoms) - e0) * 1000.0 / n_fu

    def displaced(parts: list[str], fraction: float = 1.0) -> Atoms:
        atoms = ideal_child.copy()
        atoms.positions = ideal_child.positions + fraction * sum(
            (fields[lab] for lab in parts), np.zeros_like(ideal_child.positions)
        )
        return atoms

    fractions = np.linspace(0.0, 1.0, int(points))
    modes = tuple(
        ModeEnergy(
            irrep=lab,
            fractions=fractions,
            energies=np.array([0.0] + [relative(displaced([lab], f)) for f in fractions[1:]]),
        )
        for lab in labels
    )
    everything = list(fields)
    out = EnergyBreakdown(
        model=model or type(calc).__name__,
        formula_units=n_fu,
        parent_energy_ev=float(e0),
        child=relative(child),
        all_modes=relative(displaced(everything)),
        primaries=relative(displaced(list(primaries))),
        modes=modes,
        primary_irreps=tuple(primaries),
    )
    if progress is not None:
        progress(total, total)
    return out


def _energy(atoms: Atoms, calc) -> float:
    atoms = atoms.copy()
    atoms.calc = calc
    precise = getattr(calc, "get_precise_energy", None)
    return float(precise(atoms) if callable(precise) else atoms.get_potential_energy())
