"""Newton relaxation in symmetry-adapted coordinates (``relax(..., optimizer="newton")``).

Physics checks on the planted-tilt toy, whose minima inside I4/mcm (``E = 2 W*`` per formula
unit) and R-3c (``3 W*``) are known analytically: the Newton optimiser reaches them in a few
force calls, far fewer than ASE's BFGS on the same criterion, keeps the space group and
agrees with BFGS to 0.1 meV per formula unit. The symmetric Hessian by autograd equals
finite differences of the analytic gradient, and a plain ASE calculator (EMT) takes the
finite-difference path.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.testing.toy_models import PlantedTiltModel, rigid_tilt_i4mcm
from ase_symbreak.workflows.steps import relax
from ase_symbreak.workflows.steps.common import formula_units
from ase_symbreak.workflows.steps.newton import (
    newton_relax,
    symmetric_basis,
    symmetric_hessian,
)
from ase_symbreak.workflows.steps.relax import RelaxResult

MEV = 1e-3


@pytest.fixture(scope="module")
def toy() -> PlantedTiltModel:
    return PlantedTiltModel()


@pytest.fixture(scope="module")
def toy_calc(toy) -> SymBreakCalculator:
    return SymBreakCalculator(model=toy, dtype="float64")


def _i4mcm_start(toy: PlantedTiltModel) -> Atoms:
    """a0a0c- at half the optimal tilt in a cell strained off its optimum."""
    atoms = rigid_tilt_i4mcm(toy, 0.05)
    atoms.set_cell(atoms.cell[:] * [1.01, 1.01, 0.985], scale_atoms=True)
    return atoms


def _r3c_start(toy: PlantedTiltModel, theta: float = 0.12) -> Atoms:
    """a-a-a- in the 2x2x2 cubic supercell: each X displaced by the linearised rotation
    ``s theta n x (X - B)`` about n = [111] (s = +-1 in the R-point checkerboard of B sites).
    """
    atoms = toy.cubic().repeat(2)
    n = np.ones(3) / math.sqrt(3.0)
    d = toy.d0
    pos = atoms.positions.copy()
    for i, z in enumerate(atoms.numbers):
        if z != toy.x_site:
            continue
        frac = pos[i] / d  # X at B + d e_alpha, B on the even sites of the d grid
        bond = np.array([1.0 if round(f) % 2 else 0.0 for f in frac]) * d
        b_site = pos[i] - bond
        s = (-1) ** int(round(b_site.sum() / (2 * d)))
        pos[i] = pos[i] + s * theta * np.cross(n, bond)
    atoms.positions = pos
    return atoms


def _per_fu(result: RelaxResult) -> float:
    return result.energy_per_fu


def test_newton_reaches_the_i4mcm_minimum_in_few_calls(toy, toy_calc):
    start = _i4mcm_start(toy)
    newton = relax(start, toy_calc, fmax=1e-3, keep_symmetry=True, optimizer="newton")
    bfgs = relax(start, toy_calc, fmax=1e-3, keep_symmetry=True, optimizer="BFGS")
    exact = -2 * toy.well_depth
    assert newton.converged and newton.max_force <= 1e-3
    assert newton.space_group_number == 140 == bfgs.space_group_number  # I4/mcm
    assert _per_fu(newton) == pytest.approx(exact, abs=0.1 * MEV)
    assert _per_fu(newton) == pytest.approx(_per_fu(bfgs), abs=0.1 * MEV)
    # the cell: a0a0c- with rigid octahedra shrinks a by cos(phi*) and keeps c = 4 d0
    assert newton.atoms.cell.lengths() == pytest.approx(bfgs.atoms.cell.lengths(), abs=2e-3)
    # forward-difference Hessian of the 3 coordinates (O x, a, c) + a few Newton steps
    assert newton.n_hessians >= 1
    assert newton.n_steps <= 8 and 2 * newton.n_steps <= bfgs.n_steps
    assert newton.n_force_calls < bfgs.n_force_calls
    assert newton.optimizer == "newton" and bfgs.optimizer == "BFGS"


def test_newton_with_the_exact_hessian(toy, toy_calc):
    start = _i4mcm_start(toy)
    exact = newton_relax(start, toy_calc, fmax=1e-3, hessian="exact")
    bfgs = relax(start, toy_calc, fmax=1e-3, keep_symmetry=True, optimizer="BFGS")
    assert exact.converged and exact.max_force <= 1e-3
    per_fu = exact.energy / formula_units(exact.atoms)
    assert per_fu == pytest.approx(-2 * toy.well_depth, abs=0.1 * MEV)
    assert exact.n_force_calls <= 8 and 2 * exact.n_force_calls <= bfgs.n_force_calls


def test_newton_reaches_the_r3c_minimum(toy, toy_calc):
    start = _r3c_start(toy)
    newton = relax(start, toy_calc, fmax=1e-3, keep_symmetry=True, optimizer="newton")
    bfgs = relax(start, toy_calc, fmax=1e-3, keep_symmetry=True, optimizer="BFGS")
    assert newton.space_group_number == 167 == bfgs.space_group_number  # R-3c
    assert newton.converged
    assert _per_fu(newton) == pytest.approx(-3 * toy.well_depth, abs=0.1 * MEV)
    assert _per_fu(newton) == pytest.approx(_per_fu(bfgs), abs=0.1 * MEV)
    assert newton.n_steps <= 8 and 2 * newton.n_steps <= bfgs.n_steps
    assert newton.n_force_calls < bfgs.n_force_calls


def test_symmetric_basis_counts(toy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ase.constraints import FixSymmetry

        i4 = _i4mcm_start(toy)
        basis = symmetric_basis(i4, FixSymmetry(i4, symprec=1e-3))
        cubic = toy.cubic()
        cubic_basis = symmetric_basis(cubic, FixSymmetry(cubic, symprec=1e-3))
    # I4/mcm SrTiO3: the O(8h) x parameter; a and c
    assert (basis.n_displacements, len(basis.strains)) == (1, 2)
    # Pm-3m: no free position, the lattice parameter
    assert (cubic_basis.n_displacements, len(cubic_basis.strains)) == (0, 1)
    d = basis.displacements
    assert np.allclose(d.T @ d, np.eye(d.shape[1]))
    assert np.allclose(d.reshape(len(i4), 3, -1).sum(axis=0), 0)  # no rigid translation
    s = basis.strains.reshape(len(basis.strains), 9)
    assert np.allclose(s @ s.T, np.eye(len(s)))


def test_exact_symmetric_hessian_matches_finite_differences(toy, toy_calc):
    from ase.constraints import FixSymmetry

    atoms = _i4mcm_start(toy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        basis = symmetric_basis(atoms, FixSymmetry(atoms, symprec=1e-3))
    exact = symmetric_hessian(toy_calc, atoms, basis, method="exact", dtype="float64")
    central = symmetric_hessian(toy_calc, atoms, basis, method="fd", fd_step=1e-4)
    assert exact.shape == (3, 3)
    assert np.allclose(exact, exact.T)
    assert np.abs(exact - central).max() < 1e-5 * max(1.0, np.abs(exact).max())
    # the gradient of the coordinates: finite differences of the energy
    work = atoms.copy()
    work.calc = toy_calc
    pos0, cell0 = atoms.positions.copy(), atoms.cell[:].copy()
    q = np.array([0.01, -0.02, 0.015])

    def energy(x):
        pos, cell = basis.structure(pos0, cell0, x)
        work.set_cell(cell, scale_atoms=False)
        work.positions = pos
        return work.get_potential_energy()

    energy(q)
    grad = basis.gradient(q, work.get_forces(), work.get_stress(voigt=False), work.get_volume())
    h = 1e-5
    fd = [(energy(q + h * e) - energy(q - h * e)) / (2 * h) for e in np.eye(3)]
    assert np.allclose(grad, fd, atol=1e-6)


def test_newton_with_a_plain_ase_calculator_uses_differences():
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    newton = relax(atoms, EMT(), fmax=1e-4, keep_symmetry=True, optimizer="newton")
    bfgs = relax(atoms, EMT(), fmax=1e-4, keep_symmetry=True, optimizer="BFGS")
    assert newton.converged and newton.space_group_number == 225
    assert newton.energy == pytest.approx(bfgs.energy, abs=1e-6)
    assert newton.atoms.cell.lengths() == pytest.approx(bfgs.atoms.cell.lengths(), abs=1e-4)
    # one symmetric coordinate (the lattice parameter): a central difference is 2 calls
    assert newton.n_hessians >= 1 and newton.n_force_calls <= 10


def test_newton_without_symmetry_or_cell(toy, toy_calc):
    """The 5-atom cubic toy, rattled and strained (no tilt fits in it): back to E = 0."""
    rng = np.random.default_rng(3)
    start = toy.cubic()
    start.set_cell(start.cell[:] * [1.01, 0.99, 1.0], scale_atoms=True)
    start.positions += rng.normal(scale=0.02, size=start.positions.shape)
    # no symmetry: 3N - 3 = 12 coordinates (+ 6 strains)
    frozen = newton_relax(start, toy_calc, fmax=1e-4, keep_symmetry=False, relax_cell=False)
    with_cell = newton_relax(start, toy_calc, fmax=1e-4, keep_symmetry=False)
    assert frozen.converged and with_cell.converged
    assert np.allclose(frozen.atoms.cell[:], start.cell[:])
    assert 0 < frozen.energy < 0.05  # strained cell: springs cannot all be at rest
    assert with_cell.energy == pytest.approx(0.0, abs=1e-6)
    assert with_cell.n_steps <= 10
    with pytest.raises(ValueError, match="hessian"):
        newton_relax(start, toy_calc, hessian="nope")


def test_relax_result_new_fields_default_for_old_records(toy, toy_calc):
    res = relax(toy.cubic(), toy_calc, fmax=1e-3, keep_symmetry=True)
    assert res.n_force_calls == res.n_steps + 1  # BFGS: one call per step and the start
    data = res.to_dict()
    for key in ("n_force_calls", "n_hessians", "optimizer"):
        data.pop(key)
    old = RelaxResult.from_dict(data)
    assert (old.n_force_calls, old.n_hessians, old.optimizer) == (0, 0, "")


@pytest.mark.slow
def test_newton_matches_bfgs_on_sevennet_i4mcm(toy):
    """SevenNet-0 on an I4/mcm SrTiO3 (the toy's rigid tilt geometry, a = 3.9 A)."""
    calc = SymBreakCalculator()
    start = rigid_tilt_i4mcm(toy, 0.08)
    newton = relax(start, calc, fmax=1e-3, keep_symmetry=True, optimizer="newton")
    bfgs = relax(start, calc, fmax=1e-3, keep_symmetry=True, optimizer="BFGS")
    assert newton.converged and newton.space_group_number == bfgs.space_group_number
    assert _per_fu(newton) == pytest.approx(_per_fu(bfgs), abs=0.1 * MEV)
    assert newton.n_force_calls < bfgs.n_force_calls


def _force_constants_matrix(calc, atoms: Atoms) -> np.ndarray:
    fc = calc.get_force_constants(atoms.copy())
    n = len(atoms)
    return fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)


def test_seeded_hessian_equals_the_differenced_one_at_the_reference(toy, toy_calc):
    """With the exact force constants of the same structure, the seeded symmetric Hessian
    (displacement block projected, strain rows differenced) is the fully differenced one.
    """
    atoms = _i4mcm_start(toy)
    atoms.calc = toy_calc
    basis = symmetric_basis(atoms, None, relax_cell=True)
    phi = _force_constants_matrix(toy_calc, atoms)
    assert np.allclose(phi, phi.T, atol=1e-8)
    full = symmetric_hessian(toy_calc, atoms, basis, method="fd", fd_step=1e-3)
    seeded = symmetric_hessian(
        toy_calc, atoms, basis, method="fd", fd_step=1e-3, displacement_hessian=phi
    )
    kp = basis.n_displacements
    assert basis.size > kp > 0  # strain and displacement coordinates both present
    assert np.abs(seeded - full).max() < 1e-3 * max(1.0, np.abs(full).max())
    assert not np.allclose(seeded[:kp, kp:], 0.0)  # mixed block from the strain rows


def test_seeded_newton_reaches_the_same_minimum_with_fewer_calls(toy, toy_calc):
    """A P1 start seeded with the ideal cubic cell's force constants (negative along the
    tilts, made positive) relaxes to the minimum the differenced Newton reaches, and the
    first Hessian costs the strain rows only.
    """
    ideal = toy.cubic().repeat(2)
    phi = _force_constants_matrix(toy_calc, ideal)
    start = ideal.copy()
    rng = np.random.default_rng(7)
    start.positions += rng.normal(scale=0.05, size=start.positions.shape)
    plain = newton_relax(start, toy_calc, fmax=1e-3, keep_symmetry=False, steps=300)
    seeded = newton_relax(
        start, toy_calc, fmax=1e-3, keep_symmetry=False, steps=300, displacement_hessian=phi
    )
    assert plain.converged and seeded.converged
    n_fu = formula_units(start)
    assert abs(seeded.energy - plain.energy) / n_fu < 0.1 * MEV
    assert seeded.n_force_calls < plain.n_force_calls
    with pytest.raises(ValueError, match="displacement_hessian must be"):
        newton_relax(start, toy_calc, displacement_hessian=np.eye(3))
