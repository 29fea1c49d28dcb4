"""Force constants of a supercell from any ASE calculator.

:func:`calculator_force_constants` takes the exact Hessian where the calculator gives one and
phonopy's finite displacements otherwise:

- ``"exact hessian"``: the calculator has ``get_force_constants(atoms, strategy=...,
  progress=...)`` (:class:`~ase_symbreak.calculator.SymBreakCalculator`, symmetry-reduced
  Hessian-vector products) or ``get_hessian(atoms)`` (MACE's calculator, for example: the
  (3N, 3N) second derivatives of the energy, eV/A^2, in any shape of (3N)^2 numbers);
- ``"finite displacements"``: phonopy's symmetry-reduced displacement set of the supercell
  (one atom displaced by ``displacement`` Angstrom per cell, plus and minus where symmetry
  does not relate them), the calculator's forces of each displaced cell minus those of the
  undisplaced one, and phonopy's fit of the force constants, completed by symmetry. Any
  calculator with forces will do: another machine-learned potential, or density-functional
  theory through ASE.

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> fc = calculator_force_constants(bulk("Cu", "fcc", a=3.6, cubic=True), EMT())
>>> fc.method, fc.force_constants.shape, fc.n_forces
('finite displacements', (4, 4, 3, 3), 1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .forceconstants import force_constants_from_forces, hessian_to_force_constants

__all__ = [
    "EXACT_HESSIAN",
    "FINITE_DISPLACEMENTS",
    "FORCE_CONSTANT_METHODS",
    "CalculatorForceConstants",
    "calculator_force_constants",
    "exact_hessian_of",
]

#: The force constants came from the calculator's exact second derivatives.
EXACT_HESSIAN = "exact hessian"
#: The force constants came from phonopy's finite displacements and the calculator's forces.
FINITE_DISPLACEMENTS = "finite displacements"
#: What :func:`calculator_force_constants` accepts as ``method``, ``"auto"`` first.
FORCE_CONSTANT_METHODS = ("auto", EXACT_HESSIAN, FINITE_DISPLACEMENTS)

Method = Literal["auto", "exact hessian", "finite displacements"]


@dataclass(frozen=True)
class CalculatorForceConstants:
    """Force constants of one supercell and how they were found.

    Attributes
    ----------
    force_constants : NDArray[float]
        ``(N, N, 3, 3)``, eV/A^2, phonopy's layout ``fc[i, j, a, b] = d2E / du_ia du_jb``, in
        the order of the atoms given.
    method : str
        :data:`EXACT_HESSIAN` or :data:`FINITE_DISPLACEMENTS`.
    displacement : float or None
        Angstrom, for finite displacements; None for an exact Hessian.
    n_forces : int
        Force calculations of displaced cells (the undisplaced reference not counted); 0
        for an exact Hessian.
    """

    force_constants: NDArray[np.float64]
    method: str
    displacement: float | None = None
    n_forces: int = 0


def exact_hessian_of(calc) -> str | None:
    """Which exact second derivatives ``calc`` offers: ``"get_force_constants"``,
    ``"get_hessian"`` or None (finite displacements needed).
    """
    for name in ("get_force_constants", "get_hessian"):
        if callable(getattr(calc, name, None)):
            return name
    return None


def calculator_force_constants(
    atoms: Atoms,
    calc,
    method: Method = "auto",
    displacement: float = 0.01,
    strategy: str = "orbits",
    symprec: float = 1e-5,
    progress: Callable[[int, int], None] | None = None,
) -> CalculatorForceConstants:
    """Force constants of the supercell ``atoms`` (periodic images included) from ``calc``.

    Parameters
    ----------
    atoms : Atoms
        The supercell, used as given (its own space group reduces the work).
    calc : ASE calculator
        Any calculator with forces; its exact Hessian is used where it has one.
    method : ``"auto"`` (default: exact where available, else finite displacements),
        ``"exact hessian"`` (raise ``TypeError`` when the calculator has none) or
        ``"finite displacements"`` (even when an exact Hessian exists: a check of it).
    displacement : float
        Finite-displacement amplitude, Angstrom (phonopy's default 0.01).
    strategy : passed to ``calc.get_force_constants`` (see
        :meth:`~ase_symbreak.calculator.SymBreakCalculator.get_force_constants`).
    symprec : float
        spglib tolerance of phonopy's displacement set, Angstrom.
    progress : ``progress(done, total)``: Hessian rows or products for
        ``get_force_constants``, force calculations for finite displacements.

    Returns
    -------
    CalculatorForceConstants
        ``force_constants`` (N, N, 3, 3) eV/A^2 and the ``method`` taken.

    Raises
    ------
    ValueError
        An unknown ``method``, a non-positive ``displacement``, or a Hessian of the wrong size.
    TypeError
        ``method="exact hessian"`` for a calculator without one.
    """
    if method not in FORCE_CONSTANT_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, FORCE_CONSTANT_METHODS))}, got {method!r}"
        )
    if not np.isfinite(displacement) or displacement <= 0:
        raise ValueError(f"displacement must be a positive length (Angstrom), got {displacement}")
    exact = exact_hessian_of(calc)
    if method == EXACT_HESSIAN and exact is None:
        raise TypeError(
            f"{type(calc).__name__} has no exact Hessian (neither get_force_constants nor "
            "get_hessian); use method='finite displacements' or 'auto'"
        )
    n = len(atoms)
    if method != FINITE_DISPLACEMENTS and exact == "get_force_constants":
        fc = calc.get_force_constants(atoms, strategy=strategy, progress=progress)
        return CalculatorForceConstants(_checked(fc, n, "get_force_constants"), EXACT_HESSIAN)
    if method != FINITE_DISPLACEMENTS and exact == "get_hessian":
        hessian = np.asarray(calc.get_hessian(_bare(atoms)), dtype=np.float64)
        return CalculatorForceConstants(_hessian_fc(hessian, n), EXACT_HESSIAN)
    return _finite_displacements(atoms, calc, displacement, symprec, progress)


def _checked(fc, n: int, source: str) -> NDArray[np.float64]:
    fc = np.asarray(fc, dtype=np.float64)
    if fc.shape != (n, n, 3, 3):
        raise ValueError(f"{source} returned shape {fc.shape}, expected {(n, n, 3, 3)}")
    return fc


def _hessian_fc(hessian: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """(N, N, 3, 3) of a Hessian given as (3N, 3N), (3N, N, 3) or (N, 3, N, 3); a committee's
    list of Hessians (one per model) is averaged.
    """
    size = (3 * n) ** 2
    if hessian.size != size and hessian.size % size == 0:  # one Hessian per committee model
        hessian = hessian.reshape(-1, size).mean(axis=0)
    if hessian.size != size:
        raise ValueError(
            f"get_hessian returned {hessian.size} numbers (shape {hessian.shape}); "
            f"expected (3N)^2 = {size} for {n} atoms"
        )
    h = hessian.reshape(3 * n, 3 * n)
    return hessian_to_force_constants(0.5 * (h + h.T))


def _bare(atoms: Atoms) -> Atoms:
    """A copy without calculator or constraints (a FixSymmetry must not touch the forces)."""
    work = atoms.copy()
    work.set_constraint()
    work.calc = None
    return work


def _finite_displacements(
    atoms: Atoms,
    calc,
    displacement: float,
    symprec: float,
    progress: Callable[[int, int], None] | None,
) -> CalculatorForceConstants:
    """phonopy's displacements of ``atoms``, forces of each displaced cell minus the
    undisplaced cell's (phonopy's ``--fz``: residual forces of a not quite relaxed structure
    cancel), phonopy's fit.
    """
    from .forceconstants import phonopy_displacements

    displacements = phonopy_displacements(
        atoms, distance=displacement, symprec=symprec, is_plusminus="auto"
    )
    total = len(displacements.vectors) + 1
    work = _bare(atoms)
    work.calc = calc

    def forces_at(vector: NDArray[np.float64]) -> NDArray[np.float64]:
        work.positions = atoms.positions + vector
        return np.array(work.get_forces(apply_constraint=False), dtype=np.float64)

    reference = forces_at(np.zeros((len(atoms), 3)))
    if progress is not None:
        progress(1, total)
    forces = np.empty_like(displacements.vectors)
    for k, vector in enumerate(displacements.vectors):
        forces[k] = forces_at(vector) - reference
        if progress is not None:
            progress(k + 2, total)
    fc = force_constants_from_forces(displacements, forces)
    return CalculatorForceConstants(
        fc, FINITE_DISPLACEMENTS, float(displacement), len(displacements.vectors)
    )
