"""What the steps share: formula units, the parent check, BLAS threads, progress callbacks."""

from __future__ import annotations

from functools import reduce
from math import gcd
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from ase_symbreak.progress import Progress
from ase_symbreak.threads import single_threaded_blas

if TYPE_CHECKING:
    from ase_symbreak.symmetry import SpaceGroupInfo

__all__ = [
    "Progress",
    "check_parent",
    "formula_units",
    "max_force",
    "rank_value",
    "ranking_energy",
    "single_threaded_blas",
]


def rank_value(value: float, resolution: float = 1e-6) -> float:
    """``value`` rounded to ``resolution`` for ranking: energies that differ only by the noise
    of floating-point reductions (thread counts, BLAS) rank as equal, so that the canonical
    tie-breakers after them decide, and the same input gives the same order in every run.

    >>> rank_value(2.000000000001) == rank_value(1.999999999999)
    True
    """
    return round(float(value) / resolution) * resolution


def ranking_energy(calc, atoms: Atoms) -> float:
    """Energy of ``atoms`` (eV) as the search ranks it: in float64 where the calculator can
    (``get_precise_energy``, :class:`~ase_symbreak.calculator.SymBreakCalculator`), so that
    noise of float32 reductions cannot reorder structures; else its own energy.
    """
    precise = getattr(calc, "get_precise_energy", None)
    if precise is not None:
        return float(precise(atoms))
    work = atoms.copy()
    work.calc = calc
    return float(work.get_potential_energy())


def formula_units(atoms: Atoms, reference: Atoms | None = None) -> float:
    """Number of formula units in ``atoms`` (formula of ``reference``, default of ``atoms``).

    >>> from ase_symbreak.structures import cubic_perovskite
    >>> formula_units(cubic_perovskite().repeat(2))
    8.0
    """
    ref = atoms if reference is None else reference
    _, counts = np.unique(ref.numbers, return_counts=True)
    size = int(counts.sum()) // reduce(gcd, counts.tolist())
    return len(atoms) / size


def check_parent(atoms: Atoms, symprec: float = 1e-3, allow_p1: bool = False) -> SpaceGroupInfo:
    """Validate a parent structure for the search; return its :class:`SpaceGroupInfo`.

    Raises ``ValueError`` for structures :func:`~ase_symbreak.validation.check_atoms` rejects,
    non-periodic cells and P1 structures (nothing to break; ``allow_p1``: a P1 structure
    whose stability alone is checked).
    """
    from ase_symbreak.symmetry import analyze
    from ase_symbreak.validation import check_atoms

    check_atoms(atoms, periodic=True, what="the parent")
    info = analyze(atoms, symprec=symprec)
    if info.number == 1 and not allow_p1:
        raise ValueError(
            f"the structure has space group P1 (1) at symprec={symprec} A: "
            f"there is no high-symmetry parent "
            "to search from (give the undistorted high-symmetry structure)"
        )
    return info


def max_force(target) -> float:
    """Largest force on an atom (or a filter's degree of freedom), eV/A."""
    f = target.get_forces()
    return float(np.sqrt((f**2).sum(axis=1)).max()) if len(f) else 0.0
