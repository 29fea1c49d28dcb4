"""Relaxations: :func:`relax` (ASE optimiser, cell filter, symmetry kept on request) and
:func:`relax_child` (a candidate inside its subgroup), both giving a :class:`RelaxResult`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.protocols import Calculator
from ase_symbreak.structures import as_atoms

from ..settings import DEFAULTS, OPTIMIZERS
from .common import Progress, formula_units, max_force, ranking_energy, single_threaded_blas
from .condense import Candidate

__all__ = ["OPTIMIZERS", "RelaxResult", "relax", "relax_child"]


class _CountingCalculator:
    """Delegates to a calculator and counts the evaluations it actually runs (a new structure
    asked for energy, forces or stress), for :attr:`RelaxResult.n_force_calls`.
    """

    def __init__(self, calc) -> None:
        self._calc = calc
        self.calls = 0

    def _count(self, atoms, name: str) -> None:
        required = getattr(self._calc, "calculation_required", None)
        if required is None or required(atoms, [name]):
            self.calls += 1

    def get_potential_energy(self, atoms=None, force_consistent=False):
        self._count(atoms, "energy")
        if force_consistent:
            return self._calc.get_potential_energy(atoms, force_consistent=True)
        return self._calc.get_potential_energy(atoms)

    def get_forces(self, atoms=None):
        self._count(atoms, "forces")
        return self._calc.get_forces(atoms)

    def get_stress(self, atoms=None):
        self._count(atoms, "stress")
        return self._calc.get_stress(atoms)

    def __getattr__(self, name):
        return getattr(self._calc, name)


@dataclass(frozen=True)
class RelaxResult(Record):
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
    n_force_calls : int
        Energy/force(/stress) evaluations of the calculator (0 in records from before).
    n_hessians : int
        Hessians taken (``optimizer="newton"``; 0 for the ASE optimisers).
    optimizer : str
        The optimiser used ("" in records from before).
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
    n_force_calls: int = 0
    n_hessians: int = 0
    optimizer: str = ""

    @property
    def energy_per_fu(self) -> float:
        """eV per formula unit of ``atoms``."""
        return self.energy / formula_units(self.atoms)


def relax(
    atoms: Atoms,
    calc: Calculator,
    fmax: float = DEFAULTS.parent_fmax,
    relax_cell: bool = True,
    keep_symmetry: bool = False,
    steps: int = DEFAULTS.max_steps,
    optimizer: str = DEFAULTS.optimizer,
    symprec: float = DEFAULTS.symprec,
    progress: Progress | None = None,
    displacement_hessian: NDArray[np.float64] | None = None,
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
    optimizer : 'newton' (default), 'BFGS', 'FIRE', 'LBFGS' or 'BFGSLineSearch'
        'newton': :func:`~ase_symbreak.workflows.steps.newton.newton_relax`, Newton steps in
        the few symmetric displacements and strains with the Hessian of that small space
        (forward differences of the gradient, one force call per coordinate); same
        convergence criterion as the ASE optimisers (``FixSymmetry`` +
        ``FrechetCellFilter`` forces); on SevenNet-0 SrTiO3 children 6-16 force calls in
        all (2-6 Newton steps) instead of 12-44 BFGS steps (``benchmarks/README.md``).
    progress : ``progress(step, steps)`` after each step.
    displacement_hessian : ``3N x 3N`` force constants (eV/A^2) of a reference structure
        with the same atoms in the same order; 'newton' projects its first Hessian from
        them and differences only the strain rows (ignored by the ASE optimisers).
    """
    atoms = as_atoms(atoms)
    if not fmax > 0:
        raise ValueError(f"fmax must be positive (eV/A), got {fmax}")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if relax_cell and (not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6):
        raise ValueError("relax_cell=True needs a 3-D periodic structure")
    if optimizer == "newton":
        return _relax_newton(
            atoms,
            calc,
            fmax,
            int(steps),
            keep_symmetry,
            relax_cell,
            symprec,
            progress,
            displacement_hessian,
        )
    return _relax_ase(
        atoms, calc, fmax, int(steps), keep_symmetry, relax_cell, symprec, optimizer, progress
    )


def _relaxed(
    atoms: Atoms, symprec: float, fmax: float, relax_cell: bool, keep_symmetry: bool, **fields
) -> RelaxResult:
    """The :class:`RelaxResult` of a relaxed structure, with its space group at ``symprec``."""
    from ase_symbreak.symmetry import analyze

    info = analyze(atoms, symprec=symprec)
    return RelaxResult(
        atoms=atoms,
        fmax=float(fmax),
        relax_cell=bool(relax_cell),
        keep_symmetry=bool(keep_symmetry),
        space_group_number=int(info.number),
        space_group_symbol=str(info.symbol),
        **fields,
    )


def _relax_newton(
    atoms, calc, fmax, steps, keep_symmetry, relax_cell, symprec, progress, seed=None
) -> RelaxResult:
    """:func:`relax` with ``optimizer="newton"`` (:mod:`.newton`)."""
    from .newton import newton_relax

    with single_threaded_blas():
        res = newton_relax(
            atoms,
            calc,
            fmax=fmax,
            steps=steps,
            keep_symmetry=keep_symmetry,
            relax_cell=relax_cell,
            symprec=symprec,
            progress=progress,
            displacement_hessian=seed,
        )
    return _relaxed(
        res.atoms,
        symprec,
        fmax,
        relax_cell,
        keep_symmetry,
        energy=ranking_energy(calc, res.atoms),
        n_steps=res.n_steps,
        converged=res.converged,
        max_force=res.max_force,
        n_force_calls=res.n_force_calls,
        n_hessians=res.n_hessians,
        optimizer="newton",
    )


def _relax_ase(
    atoms, calc, fmax, steps, keep_symmetry, relax_cell, symprec, optimizer, progress
) -> RelaxResult:
    """:func:`relax` with one of ASE's optimisers (``FixSymmetry``, ``FrechetCellFilter``)."""
    import ase.optimize
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    work = atoms.copy()
    work.set_constraint()
    counter = _CountingCalculator(calc)
    work.calc = counter
    if keep_symmetry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            work.set_constraint(FixSymmetry(work, symprec=symprec))
    target = FrechetCellFilter(work) if relax_cell else work
    opt = getattr(ase.optimize, optimizer)(target, logfile=None)
    converged = False
    with single_threaded_blas(), warnings.catch_warnings():
        # FrechetCellFilter's scipy logm flags errors of ~1e-13 on near-identity cells: noise
        warnings.filterwarnings(
            "ignore", message="logm result may be inaccurate", category=RuntimeWarning
        )
        for converged in opt.irun(fmax=fmax, steps=steps):
            if progress is not None:
                progress(opt.nsteps, steps)
    largest = max_force(target)
    out = Atoms(numbers=work.numbers, cell=work.cell[:], positions=work.positions, pbc=work.pbc)
    energy = ranking_energy(calc, out)
    return _relaxed(
        out,
        symprec,
        fmax,
        relax_cell,
        keep_symmetry,
        energy=energy,
        n_steps=int(opt.nsteps),
        converged=bool(converged or largest <= fmax),
        max_force=largest,
        n_force_calls=int(counter.calls),
        optimizer=optimizer,
    )


def relax_child(
    candidate: Candidate | Atoms,
    calc: Calculator,
    fmax: float = DEFAULTS.child_fmax,
    steps: int = DEFAULTS.max_steps,
    optimizer: str = DEFAULTS.optimizer,
    symprec: float = DEFAULTS.symprec,
    progress: Progress | None = None,
    displacement_hessian: NDArray[np.float64] | None = None,
) -> RelaxResult:
    """Relax a candidate inside its subgroup: ``FixSymmetry`` at the child's symmetry, positions
    and cell (``displacement_hessian``: see :func:`relax`).
    """
    atoms = candidate.structure if isinstance(candidate, Candidate) else candidate
    return relax(
        atoms,
        calc,
        fmax=fmax,
        relax_cell=True,
        keep_symmetry=True,
        steps=steps,
        optimizer=optimizer,
        symprec=symprec,
        progress=progress,
        displacement_hessian=displacement_hessian,
    )
