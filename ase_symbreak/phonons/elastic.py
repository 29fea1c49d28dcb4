"""Mechanical stability against strain: the relaxed-ion elastic tensor and the Born criteria.

A structure can be stable at every phonon q of its supercell and still be a saddle along a
strain (a cell shape that lowers the energy once the atoms follow). The relaxed-ion elastic
tensor decides it:

.. math:: C = C^{(0)} - \\frac{1}{V} \\Lambda^T \\Phi^{+} \\Lambda

with :math:`C^{(0)}` the clamped-ion tensor (stress against strain at fixed fractional
positions, central differences), :math:`\\Lambda_{u j} = -\\partial F_u / \\partial
\\varepsilon_j` the internal-strain coupling (the same strained cells' forces) and
:math:`\\Phi^{+}` the pseudo-inverse of the Gamma force constants without the three
translations (:func:`~ase_symbreak.hessian.any_calculator.calculator_force_constants`: the
calculator's exact Hessian where it has one, symmetry-reduced where it has
``get_force_constants``; else phonopy's finite displacements of the cell and its forces).
The structure is stable against strain when :math:`C` (6x6, Voigt) is positive definite:
the generalised Born criteria. Twelve stress calls and one Hessian of the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.units import GPa
from numpy.typing import NDArray

from ase_symbreak.codec import Record

__all__ = ["ElasticCheck", "VOIGT", "elastic_check"]

#: Voigt order of ASE's stress: xx, yy, zz, yz, xz, xy.
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@dataclass(frozen=True)
class ElasticCheck(Record):
    """Stability of a structure against homogeneous strain.

    Attributes
    ----------
    relaxed_gpa : NDArray[float]
        ``(6, 6)`` relaxed-ion elastic tensor, Voigt (xx, yy, zz, yz, xz, xy), GPa.
    clamped_gpa : NDArray[float]
        ``(6, 6)`` clamped-ion tensor, GPa.
    eigenvalues_gpa : NDArray[float]
        ``(6,)`` eigenvalues of the symmetrised relaxed tensor, ascending, GPa.
    softest_strain : NDArray[float]
        ``(6,)`` Voigt strain of the lowest eigenvalue (unit norm; shear components are
        engineering strains).
    threshold_gpa : float
        An eigenvalue below it is unstable (a small negative threshold absorbs noise).
    hessian : str
        How the Gamma force constants were found: 'exact hessian' or 'finite displacements'
        (older records: 'exact' or 'finite differences').
    """

    relaxed_gpa: NDArray = field(repr=False)
    clamped_gpa: NDArray = field(repr=False)
    eigenvalues_gpa: NDArray
    softest_strain: NDArray = field(repr=False)
    threshold_gpa: float = -0.5
    hessian: str = "exact"

    @property
    def stable(self) -> bool:
        """Whether every eigenvalue of the relaxed-ion tensor is above the threshold."""
        return bool(self.eigenvalues_gpa.min() >= self.threshold_gpa)

    def summary(self) -> dict:
        """The entry of ``search.json``."""
        return {
            "stable": self.stable,
            "min_eigenvalue_gpa": float(self.eigenvalues_gpa.min()),
            "eigenvalues_gpa": np.round(self.eigenvalues_gpa, 4).tolist(),
            "softest_strain_voigt": np.round(self.softest_strain, 6).tolist(),
            "hessian": self.hessian,
        }


def _strain_tensor(j: int, delta: float) -> NDArray:
    """Symmetric strain of Voigt component ``j`` (engineering shear) with magnitude ``delta``."""
    eps = np.zeros((3, 3))
    a, b = VOIGT[j]
    if a == b:
        eps[a, a] = delta
    else:
        eps[a, b] = eps[b, a] = delta / 2
    return eps


def _strained(atoms: Atoms, eps: NDArray) -> Atoms:
    out = atoms.copy()
    out.calc = atoms.calc
    out.set_cell(atoms.cell[:] @ (np.eye(3) + eps).T, scale_atoms=True)
    return out


def _gamma_force_constants(atoms: Atoms, calc, delta: float) -> tuple[NDArray, str]:
    """``(3N, 3N)`` force constants of the cell with its periodic images, eV/A^2, and how
    they were found ('exact hessian' or 'finite displacements' of ``delta`` Angstrom).
    """
    from ase_symbreak.hessian.any_calculator import calculator_force_constants
    from ase_symbreak.hessian.forceconstants import force_constants_to_hessian

    found = calculator_force_constants(atoms, calc, displacement=delta)
    return force_constants_to_hessian(found.force_constants), found.method


def elastic_check(
    atoms: Atoms,
    calc,
    strain_step: float = 2e-3,
    displacement_step: float = 5e-3,
    threshold_gpa: float = -0.5,
) -> ElasticCheck:
    """The relaxed-ion elastic tensor of ``atoms`` (relaxed: forces and stress near zero)
    and whether it is positive definite.

    Parameters
    ----------
    atoms : Atoms
        A relaxed, 3-D periodic structure (its primitive cell is cheapest).
    calc : ASE calculator with stress; its exact Hessian is used when it has one
        (``get_force_constants`` or ``get_hessian``), phonopy's finite displacements otherwise.
    strain_step : float
        Central-difference strain (dimensionless).
    displacement_step : float
        Finite-displacement amplitude for calculators without a Hessian, Angstrom.
    threshold_gpa : float
        Eigenvalues below it count as unstable, GPa.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> fcc = elastic_check(bulk("Cu", "fcc", a=3.59), EMT())
    >>> fcc.stable
    True
    >>> elastic_check(bulk("Cu", "bcc", a=2.87), EMT()).stable  # the Bain-path saddle
    False
    """
    if not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-9:
        raise ValueError("the elastic check needs a 3-D periodic structure")
    work = atoms.copy()
    work.calc = calc
    volume = abs(work.get_volume())
    n = len(work)
    stress = np.zeros((6, 6))  # stress[i, j]: d sigma_i / d eps_j, eV/A^3
    coupling = np.zeros((3 * n, 6))  # -dF/d eps_j, eV/A
    for j in range(6):
        plus = _strained(work, _strain_tensor(j, strain_step))
        minus = _strained(work, _strain_tensor(j, -strain_step))
        stress[:, j] = (plus.get_stress(voigt=True) - minus.get_stress(voigt=True)) / (
            2 * strain_step
        )
        # forces in the strained frame, mapped back to the unstrained axes (first order)
        coupling[:, j] = -(plus.get_forces().ravel() - minus.get_forces().ravel()) / (
            2 * strain_step
        )
    clamped = 0.5 * (stress + stress.T)
    phi, how = _gamma_force_constants(work, calc, displacement_step)
    w, v = np.linalg.eigh(0.5 * (phi + phi.T))
    keep = np.argsort(np.abs(w))[3:]  # the three translations have zero curvature
    inverse = (v[:, keep] / w[keep]) @ v[:, keep].T
    relaxed = clamped - coupling.T @ inverse @ coupling / volume
    relaxed = 0.5 * (relaxed + relaxed.T) / GPa
    evals, evecs = np.linalg.eigh(relaxed)
    return ElasticCheck(
        relaxed_gpa=relaxed,
        clamped_gpa=clamped / GPa,
        eigenvalues_gpa=evals,
        softest_strain=evecs[:, 0],
        threshold_gpa=float(threshold_gpa),
        hessian=how,
    )
