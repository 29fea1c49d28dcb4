"""Physics checks reused by every model test: equivariance, finite differences, sum rules.

Each ``assert_*`` raises ``AssertionError`` with the size of the violation. The checks take
any ASE calculator, or an :class:`~ase_symbreak.models.base.EnergyModel`, which they wrap in a
float64 :class:`~ase_symbreak.calculator.SymBreakCalculator`; run calculators in float64
(``SymBreakCalculator(..., dtype="float64")``). :func:`pair_force_constants` is an exact
reference for symmetry labelling that needs no model (and no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union, cast

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress
from numpy.typing import NDArray

from ase_symbreak.protocols import Calculator

if TYPE_CHECKING:
    from ase_symbreak.models.base import EnergyModel

#: What the checks accept: an ASE calculator or a model (wrapped in a float64 calculator).
CalculatorOrModel = Union[Calculator, "EnergyModel"]


def as_calculator(calc: CalculatorOrModel) -> Calculator:
    """``calc`` itself when it is an ASE calculator, else a float64 ``SymBreakCalculator`` of it."""
    if isinstance(calc, Calculator):
        return calc
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.models.base import EnergyModel

    if not isinstance(calc, EnergyModel):
        raise TypeError(f"expected an ASE calculator or an EnergyModel, got {type(calc).__name__}")
    return SymBreakCalculator(calc, dtype="float64")


def random_rotation(rng: np.random.Generator, improper: bool = False) -> NDArray[np.float64]:
    """A random proper rotation (3, 3); with ``improper`` times the inversion -1."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return -q if improper else q


def transformed(
    atoms: Atoms, rotation: NDArray[np.float64], translation: NDArray[np.float64] | None = None
) -> Atoms:
    """Copy of ``atoms`` with positions and cell rotated by ``rotation`` (and translated)."""
    out = atoms.copy()
    out.calc = None
    out.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    out.positions = atoms.positions @ rotation.T + (0.0 if translation is None else translation)
    return out


def assert_equivariant(
    calc: CalculatorOrModel,
    atoms: Atoms,
    rotation: NDArray[np.float64],
    atol_energy: float = 1e-8,
    atol_forces: float = 1e-7,
    atol_hessian: float = 1e-6,
    hessian: bool = True,
) -> None:
    """E invariant, F -> F R^T, stress -> R S R^T, Hessian -> (1 x R) H (1 x R)^T.

    The stress is checked for 3-D periodic ``atoms``, the Hessian when ``hessian`` (the
    calculator must then have ``get_hessian``, as ``SymBreakCalculator`` has).
    """
    calc = as_calculator(calc)
    get_hessian = getattr(calc, "get_hessian", None)
    if hessian and not callable(get_hessian):
        raise TypeError(f"{type(calc).__name__} has no get_hessian; pass hessian=False")
    moved = transformed(atoms, rotation)
    e0, f0 = calc.get_potential_energy(atoms), calc.get_forces(atoms)
    e1, f1 = calc.get_potential_energy(moved), calc.get_forces(moved)
    assert abs(e1 - e0) < atol_energy, f"energy not invariant: {e1 - e0:.3e} eV"
    err = np.abs(f1 - f0 @ rotation.T).max()
    assert err < atol_forces, f"forces not equivariant: {err:.3e} eV/A"
    if np.all(atoms.pbc):
        ase_calc = cast(Any, calc)  # ASE calculators have get_stress (not in the protocol)
        s0 = voigt_6_to_full_3x3_stress(ase_calc.get_stress(atoms))
        s1 = voigt_6_to_full_3x3_stress(ase_calc.get_stress(moved))
        err = np.abs(s1 - rotation @ s0 @ rotation.T).max()
        assert err < atol_forces, f"stress not equivariant: {err:.3e} eV/A^3"
    if hessian:
        big = np.kron(np.eye(len(atoms)), rotation)
        assert get_hessian is not None  # callable: checked above
        h0, h1 = get_hessian(atoms), get_hessian(moved)
        err = np.abs(h1 - big @ h0 @ big.T).max()
        assert err < atol_hessian, f"Hessian not equivariant: {err:.3e} eV/A^2"


def assert_translation_invariant(
    calc: CalculatorOrModel, atoms: Atoms, shift: NDArray[np.float64], atol: float = 1e-8
) -> None:
    """A rigid translation changes neither energy nor forces."""
    calc = as_calculator(calc)
    moved = transformed(atoms, np.eye(3), np.asarray(shift, dtype=float))
    de = abs(calc.get_potential_energy(moved) - calc.get_potential_energy(atoms))
    df = np.abs(calc.get_forces(moved) - calc.get_forces(atoms)).max()
    message = f"not translation invariant: dE={de:.3e} eV, dF={df:.3e} eV/A"
    assert de < atol and df < 10 * atol, message


def assert_hessian_sum_rules(hessian: NDArray[np.float64], atol: float = 1e-8) -> None:
    """Symmetric, and the acoustic sum rule: each row sums to zero over atoms."""
    asym = np.abs(hessian - hessian.T).max()
    assert asym < atol, f"Hessian not symmetric: {asym:.3e} eV/A^2"
    n = hessian.shape[0] // 3
    asr = np.abs(hessian.reshape(3 * n, n, 3).sum(axis=1)).max()
    assert asr < atol, f"acoustic sum rule violated: {asr:.3e} eV/A^2"


def numerical_forces(calc: CalculatorOrModel, atoms: Atoms, h: float = 1e-4) -> NDArray[np.float64]:
    """-dE/dx by central differences (N, 3)."""
    calc = as_calculator(calc)
    work = atoms.copy()
    out = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for a in range(3):
            energies = []
            for sign in (1, -1):
                work.positions[i, a] = atoms.positions[i, a] + sign * h
                energies.append(calc.get_potential_energy(work))
            work.positions[i, a] = atoms.positions[i, a]
            out[i, a] = -(energies[0] - energies[1]) / (2 * h)
    return out


def numerical_hessian(
    calc: CalculatorOrModel, atoms: Atoms, h: float = 1e-4
) -> NDArray[np.float64]:
    """d(-F)/dx by central differences of the forces (3N, 3N)."""
    calc = as_calculator(calc)
    work = atoms.copy()
    n = len(atoms)
    out = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            forces = []
            for sign in (1, -1):
                work.positions[i, a] = atoms.positions[i, a] + sign * h
                forces.append(calc.get_forces(work).reshape(-1))
            work.positions[i, a] = atoms.positions[i, a]
            out[3 * i + a] = -(forces[0] - forces[1]) / (2 * h)
    return out


def pair_force_constants(atoms: Atoms, cutoff: float = 4.0, seed: int = 0) -> NDArray[np.float64]:
    """Exact force constants (N, N, 3, 3), eV/A^2, of a smooth pair potential; no torch.

    ``E = 1/2 sum_ij c_ab phi(r_ij)`` with ``phi(r) = exp(-r/2) (r_c - r)^3`` for
    ``r < r_c`` and seeded random strengths ``c_ab`` in [0.5, 1.5) per species pair. The
    Hessian of any such function of the distances has the full space-group symmetry of
    the structure and obeys the acoustic sum rule, whether or not the structure is in
    equilibrium, so it is a cheap, exact reference for checks of symmetry labelling
    against phonopy on any crystal. Atoms within ``cutoff`` of their own images are fine.
    """
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(seed)
    species = sorted(set(atoms.numbers.tolist()))
    strength: dict[tuple[int, int], float] = {}
    for a in species:
        for b in species:
            strength[(a, b)] = strength[(b, a)] if (b, a) in strength else 0.5 + rng.random()
    ii, jj, vec = neighbor_list("ijD", atoms, cutoff)
    r = np.linalg.norm(vec, axis=1)
    gap = cutoff - r
    c = np.array([strength[(int(atoms.numbers[i]), int(atoms.numbers[j]))] for i, j in zip(ii, jj)])
    d1 = c * np.exp(-r / 2) * (-(gap**3) / 2 - 3 * gap**2)
    d2 = c * np.exp(-r / 2) * (gap**3 / 4 + 3 * gap**2 + 6 * gap)
    rhat = vec / r[:, None]
    outer = rhat[:, :, None] * rhat[:, None, :]
    k = d2[:, None, None] * outer + (d1 / r)[:, None, None] * (np.eye(3) - outer)
    n = len(atoms)
    fc = np.zeros((n, n, 3, 3))
    np.add.at(fc, (ii, jj), -k)
    np.add.at(fc, (ii, ii), k)
    return fc
