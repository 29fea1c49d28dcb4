"""What the package needs of a calculator, as :class:`typing.Protocol` types.

Any ASE calculator (``ase.calculators.calculator.Calculator``) is a :class:`Calculator`:
relaxations, amplitude scans and identifications only ask for energies and forces.
So do phonons and the strain check: where a calculator is also a :class:`HessianCalculator`
(:class:`ase_symbreak.calculator.SymBreakCalculator` gives its exact Hessian) its force
constants are used, otherwise phonopy's finite displacements of its forces
(:func:`ase_symbreak.hessian.any_calculator.calculator_force_constants`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

__all__ = ["Calculator", "HessianCalculator"]


@runtime_checkable
class Calculator(Protocol):
    """Energy (eV) and forces (eV/A) of an ``Atoms``: ASE's calculator interface."""

    def get_potential_energy(self, atoms: Atoms | None = None) -> float:
        """Total energy, eV."""
        ...

    def get_forces(self, atoms: Atoms | None = None) -> NDArray[np.float64]:
        """(N, 3) forces, eV/A."""
        ...


@runtime_checkable
class HessianCalculator(Calculator, Protocol):
    """A calculator that also gives force constants (second derivatives of the energy)."""

    def get_force_constants(
        self,
        atoms: Atoms | None = None,
        strategy: str = "orbits",
        progress: Callable[[int, int], None] | None = None,
    ) -> NDArray[np.float64]:
        """(N, N, 3, 3) force constants, eV/A^2, phonopy's layout, in the order of ``atoms``.

        ``strategy`` names how they are computed (``"orbits"``, what the distortion search
        asks for; see :meth:`ase_symbreak.calculator.SymBreakCalculator.get_force_constants`).
        """
        ...
