"""Newton relaxation inside a space group, in symmetry-adapted coordinates and their Hessian.

The free coordinates of a structure that keeps its space group are few: the symmetric atomic
displacements (rank of the site-symmetry projector, rigid translations removed) and the
symmetric strains (1 for cubic, 2 for tetragonal or rhombohedral, ...); 1 + 2 for I4/mcm or
R-3c SrTiO3, against 3N + 9 of the filter BFGS sees. :func:`newton_relax` works in these
``k`` coordinates (displacements in Angstrom, strains times a length so that all are in
Angstrom)::

    positions = (r0 + B q_pos) (1 + eps),   cell = cell0 (1 + eps),   eps = sum_j q_j S_j / L

with the gradient from forces and stress and the ``k x k`` Hessian from
:func:`symmetric_hessian`: forward differences of the gradient (``k`` force calls, the
default), central differences (``2k``) or exact by double backward through the model of a
:class:`~ase_symbreak.calculator.SymBreakCalculator` (one forward pass with
``create_graph`` and ``k`` backward passes, cell and mixed blocks included; measured with
SevenNet-0 on 5-20-atom SrTiO3 children, each backward pass costs 2-3 force calls, so the
differences are faster: ``benchmarks/README.md``). Steps are Newton steps on the Hessian
made positive definite (eigenvalues ``max(|w|, floor)``), capped at ``maxstep``, with a
backtracking line search on the energy; after the first Hessian the matrix is
BFGS-updated (a fresh Hessian where progress is slow only when ``max_hessians > 1``).

Convergence uses ASE's criterion for ``FixSymmetry`` + ``FrechetCellFilter``: the largest
symmetrised atomic force and the largest row of ``virial / N``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

__all__ = [
    "SymmetricBasis",
    "NewtonResult",
    "symmetric_basis",
    "symmetric_hessian",
    "newton_relax",
]

HESSIANS = ("auto", "exact", "fd", "fd-forward")


@dataclass(frozen=True)
class SymmetricBasis:
    """Symmetry-adapted coordinates around a reference structure.

    Attributes
    ----------
    displacements : (3N, kp)
        Orthonormal symmetric displacement patterns (Cartesian, row ``3*i+alpha``), rigid
        translations removed.
    strains : (ks, 3, 3)
        Frobenius-orthonormal symmetric strains kept by the space group (none without cell).
    length : float
        Angstrom; strain coordinate ``q_j`` is ``length`` times the strain amplitude.
    """

    displacements: NDArray[np.float64]
    strains: NDArray[np.float64]
    length: float

    @property
    def size(self) -> int:
        return self.displacements.shape[1] + len(self.strains)

    @property
    def n_displacements(self) -> int:
        return self.displacements.shape[1]

    def deformation(self, q: NDArray[np.float64]) -> NDArray[np.float64]:
        """``1 + eps`` of coordinates ``q``."""
        eps = np.einsum("j,jab->ab", q[self.n_displacements :], self.strains) / self.length
        return np.eye(3) + eps

    def structure(
        self, positions0: NDArray, cell0: NDArray, q: NDArray
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Positions and cell at coordinates ``q`` around ``(positions0, cell0)``."""
        u = (self.displacements @ q[: self.n_displacements]).reshape(-1, 3)
        m = self.deformation(q)
        return (positions0 + u) @ m, np.asarray(cell0) @ m

    def gradient(
        self, q: NDArray, forces: NDArray, stress: NDArray, volume: float
    ) -> NDArray[np.float64]:
        """dE/dq from forces (N, 3) and the 3x3 stress (eV/A^3) of the structure at ``q``."""
        m = self.deformation(q)
        g_pos = self.displacements.T @ (-(forces @ m)).reshape(-1)
        dm = volume * np.linalg.solve(m, stress)  # dE/d(1 + eps)
        g_cell = np.einsum("jab,ab->j", self.strains, dm) / self.length
        return np.concatenate([g_pos, g_cell])


def _symmetry_ops(atoms: Atoms, fix) -> tuple[list[NDArray], list[NDArray]]:
    """Cartesian rotations and atom maps of the operations of a ``FixSymmetry`` (or identity)."""
    if fix is None:
        return [np.eye(3)], [np.arange(len(atoms))]
    lattice = atoms.cell[:]
    inv = np.linalg.inv(lattice)
    rots = [lattice.T @ r @ inv.T for r in fix.rotations]
    return rots, [np.asarray(m, dtype=int) for m in fix.symm_map]


def symmetric_basis(atoms: Atoms, fix=None, relax_cell: bool = True) -> SymmetricBasis:
    """The symmetric displacements and strains of ``atoms`` under the operations of ``fix``
    (an ``ase.constraints.FixSymmetry``; ``None``: no symmetry, all 3N - 3 and 6).
    """
    n = len(atoms)
    rots, maps = _symmetry_ops(atoms, fix)
    proj = np.zeros((3 * n, 3 * n))
    for rot, amap in zip(rots, maps):
        for i in range(n):
            j = amap[i]
            proj[3 * j : 3 * j + 3, 3 * i : 3 * i + 3] += rot
    proj /= len(rots)
    proj = 0.5 * (proj + proj.T)
    trans = np.zeros((3 * n, 3))
    for alpha in range(3):
        trans[alpha::3, alpha] = 1.0 / np.sqrt(n)
    no_trans = np.eye(3 * n) - trans @ trans.T
    w, v = np.linalg.eigh(no_trans @ proj @ no_trans)
    displacements = v[:, w > 0.5]
    strains = np.zeros((0, 3, 3))
    if relax_cell:
        unit = []
        for a in range(3):
            for b in range(a, 3):
                s = np.zeros((3, 3))
                s[a, b] = s[b, a] = 1.0
                unit.append(s / np.linalg.norm(s))
        sym = [sum(r @ s @ r.T for r in rots) / len(rots) for s in unit]
        mat = np.array([s.reshape(-1) for s in sym])
        _, sing, vt = np.linalg.svd(mat, full_matrices=False)
        strains = vt[sing > 1e-8].reshape(-1, 3, 3)
        strains = 0.5 * (strains + strains.transpose(0, 2, 1))
    length = float(abs(atoms.cell.volume) ** (1.0 / 3.0)) if relax_cell else 1.0
    return SymmetricBasis(displacements=displacements, strains=strains, length=length)


def _exact_model(calc, dtype: str):
    if dtype == "float64":
        return calc.hessian_model
    return calc.model


def _has_exact(calc) -> bool:
    from ase_symbreak.calculator import SymBreakCalculator

    return isinstance(calc, SymBreakCalculator)


def symmetric_hessian(
    calc,
    atoms: Atoms,
    basis: SymmetricBasis,
    method: str = "auto",
    dtype: str = "float64",
    fd_step: float = 2e-3,
    gradient0: NDArray[np.float64] | None = None,
    displacement_hessian: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The ``k x k`` Hessian of the energy in the coordinates of ``basis`` around ``atoms``
    (eV/A^2; coordinates in Angstrom).

    ``displacement_hessian`` (``3N x 3N``, eV/A^2, rows ``3*i+alpha`` in the order of
    ``atoms``; e.g. the force constants of a nearby reference structure): the
    displacement block is taken from it and only the strain rows are differenced
    (``method`` ``"fd"`` or ``"fd-forward"``).

    ``method``: ``"exact"`` (double backward through the model of a
    :class:`~ase_symbreak.calculator.SymBreakCalculator` in ``dtype``: ``"float64"`` uses its
    ``hessian_model``, ``"native"`` its energy model), ``"fd"`` (central differences of the
    gradient, step ``fd_step`` A: ``2k`` force calls of ``calc``), ``"fd-forward"``
    (forward differences from ``gradient0``, the gradient at ``atoms`` when known: ``k``
    force calls), ``"auto"``: exact when possible.
    """
    if method not in HESSIANS:
        raise ValueError(f"method must be one of {HESSIANS}, got {method!r}")
    if method == "auto":
        method = "exact" if _has_exact(calc) else "fd"
    k = basis.size
    if k == 0:
        return np.zeros((0, 0))
    if method == "exact":
        if not _has_exact(calc):
            raise ValueError("method='exact' needs a SymBreakCalculator")
        return _exact_symmetric_hessian(_exact_model(calc, dtype), atoms, basis)
    work = atoms.copy()
    work.set_constraint()
    work.calc = calc
    pos0, cell0 = atoms.positions.copy(), atoms.cell[:].copy()

    def gradient(q):
        pos, cell = basis.structure(pos0, cell0, q)
        work.set_cell(cell, scale_atoms=False)
        work.positions = pos
        return basis.gradient(
            q, work.get_forces(), work.get_stress(voigt=False), abs(work.cell.volume)
        )

    hess = np.zeros((k, k))
    kp = basis.n_displacements
    rows = range(k)
    if displacement_hessian is not None:
        b = basis.displacements
        hess[:kp, :kp] = b.T @ np.asarray(displacement_hessian, dtype=float) @ b
        rows = range(kp, k)
    g0 = gradient(np.zeros(k)) if gradient0 is None and method == "fd-forward" else gradient0
    for j in rows:
        step = np.zeros(k)
        step[j] = fd_step
        if method == "fd-forward":
            hess[j] = (gradient(step) - g0) / fd_step
        else:
            hess[j] = (gradient(step) - gradient(-step)) / (2 * fd_step)
    if displacement_hessian is not None:
        hess[:kp, kp:] = hess[kp:, :kp].T  # the mixed block from the strain rows
    return 0.5 * (hess + hess.T)


def _exact_symmetric_hessian(model, atoms: Atoms, basis: SymmetricBasis) -> NDArray[np.float64]:
    import torch

    from ase_symbreak.calculator import _native_dtype
    from ase_symbreak.hessian.autodiff import _atomic_energies, _graph_inputs
    from ase_symbreak.hessian.graph import edge_vectors

    dtype = _native_dtype(model)
    nl, numbers, positions, cell = _graph_inputs(model, atoms, dtype)
    k, kp = basis.size, basis.n_displacements
    disp = torch.tensor(basis.displacements, dtype=dtype)
    strains = torch.tensor(basis.strains, dtype=dtype)
    q = torch.zeros(k, dtype=dtype, requires_grad=True)
    u = (disp @ q[:kp]).reshape(-1, 3)
    strain = (
        torch.einsum("j,jab->ab", q[kp:], strains) / basis.length if len(basis.strains) else None
    )
    vec = edge_vectors(positions + u, cell, nl, strain)
    energy = _atomic_energies(model, numbers, nl, vec).sum()
    (grad,) = torch.autograd.grad(energy, q, create_graph=True)
    rows = []
    for j in range(k):
        if grad[j].requires_grad:
            (row,) = torch.autograd.grad(grad[j], q, retain_graph=True, allow_unused=True)
            row = torch.zeros_like(q) if row is None else row
        else:
            row = torch.zeros_like(q)
        rows.append(row.detach())
    hess = torch.stack(rows).cpu().numpy().astype(np.float64)
    return 0.5 * (hess + hess.T)


@dataclass(frozen=True)
class NewtonResult:
    """What :func:`newton_relax` returns (positions and cell in ``atoms``)."""

    atoms: Atoms
    energy: float
    n_steps: int
    n_force_calls: int
    n_hessians: int
    converged: bool
    max_force: float


def _criterion(work: Atoms, fix, forces: NDArray, stress: NDArray, relax_cell: bool) -> float:
    """ASE's ``max_force`` of ``FixSymmetry`` + ``FrechetCellFilter`` (virial / N rows)."""
    from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

    f = forces.copy()
    if fix is not None:
        fix.adjust_forces(work, f)
    largest = float(np.sqrt((f**2).sum(axis=1)).max()) if len(f) else 0.0
    if relax_cell:
        s = full_3x3_to_voigt_6_stress(stress)
        if fix is not None:
            fix.adjust_stress(work, s)
        virial = abs(work.cell.volume) * voigt_6_to_full_3x3_stress(s) / len(work)
        largest = max(largest, float(np.sqrt((virial**2).sum(axis=1)).max()))
    return largest


def _bfgs_update(hess: NDArray, s: NDArray, y: NDArray) -> NDArray:
    sy = float(s @ y)
    hs = hess @ s
    shs = float(s @ hs)
    if sy <= 1e-12 * max(float(np.linalg.norm(s) * np.linalg.norm(y)), 1e-300) or shs <= 0:
        return hess
    return hess + np.outer(y, y) / sy - np.outer(hs, hs) / shs


def _positive(hess: NDArray, floor: float) -> NDArray:
    """``hess`` with eigenvalues ``max(|w|, floor)``: negative curvature (a start on the
    wrong side of an inflection) turned into a descent metric, so that BFGS updates keep
    it positive definite and learn the curvature along the path.
    """
    w, v = np.linalg.eigh(0.5 * (hess + hess.T))
    return (v * np.maximum(np.abs(w), floor)) @ v.T


def newton_relax(
    atoms: Atoms,
    calc,
    fmax: float = 1e-3,
    steps: int = 100,
    keep_symmetry: bool = True,
    relax_cell: bool = True,
    symprec: float = 1e-3,
    hessian: str = "fd-forward",
    hessian_dtype: str = "native",
    max_hessians: int = 1,
    displacement_hessian: NDArray[np.float64] | None = None,
    maxstep: float = 0.2,
    curvature_floor: float = 0.05,
    fd_step: float = 2e-3,
    progress=None,
    trace: list | None = None,
) -> NewtonResult:
    """Relax ``atoms`` (copied) by Newton steps in symmetry-adapted coordinates.

    Parameters
    ----------
    fmax : eV/A, ASE's criterion of ``FixSymmetry`` + ``FrechetCellFilter``.
    steps : largest number of Newton steps (each: one force call, more when backtracking).
    keep_symmetry : keep the space group at ``symprec`` (``FixSymmetry`` symmetrises first).
    relax_cell : relax the cell as well (symmetric strains).
    hessian : ``"fd-forward"`` (default: ``k`` force calls, the fastest measured with
        SevenNet-0, where a double-backward Hessian row costs 2-3 force calls), ``"exact"``,
        ``"fd"`` or ``"auto"`` (:func:`symmetric_hessian`).
    hessian_dtype : ``"native"`` (the energy model, float32 for SevenNet-0: its Hessian differs
        by 1e-5 eV/A^2 and costs half) or ``"float64"`` (``hessian_model``), for ``"exact"``.
    max_hessians : Hessians taken at most: the first at the start, later ones where the
        criterion fell by less than half in three steps or two steps in a row had to be
        shortened by the line search. Default 1: the BFGS updates of the first Hessian are
        cheaper than a new one (``k`` force calls) on every SrTiO3 search relaxation
        measured (26 descent children and 8 random trials, 5-33 coordinates: 1 Hessian
        took 564 force calls where 3 took 860 on the children, 15-50 % fewer on the trials,
        same energies to 0.001 meV/f.u.; ``benchmarks/README.md``).
    displacement_hessian : ``3N x 3N`` force constants (eV/A^2) of a reference structure
        with the atoms of ``atoms`` in the same order (the ideal parent of a random trial):
        the first Hessian's displacement block is projected from it and only its strain
        rows are differenced (``hessian`` ``"fd"``/``"fd-forward"``; later Hessians are
        computed in full).
    maxstep : largest displacement of an atom (and strain times cell length) per step, A.
    curvature_floor : eV/A^2, smallest |eigenvalue| used for a step.
    progress : ``progress(step, steps)`` after each step.
    """
    if not fmax > 0:
        raise ValueError(f"fmax must be positive (eV/A), got {fmax}")
    if relax_cell and (not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6):
        raise ValueError("relax_cell=True needs a 3-D periodic structure")
    if hessian not in HESSIANS:
        raise ValueError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
    method = hessian
    if method == "auto":
        method = "exact" if _has_exact(calc) else "fd"
    if displacement_hessian is not None:
        displacement_hessian = np.asarray(displacement_hessian, dtype=float)
        if displacement_hessian.shape != (3 * len(atoms), 3 * len(atoms)):
            raise ValueError(
                f"displacement_hessian must be {3 * len(atoms)}x{3 * len(atoms)} for "
                f"{len(atoms)} atoms, got {displacement_hessian.shape}"
            )
        if method == "exact":
            displacement_hessian = None  # the exact Hessian costs the same with or without
    run = _NewtonRun(
        atoms,
        calc,
        keep_symmetry=keep_symmetry,
        relax_cell=relax_cell,
        symprec=symprec,
        method=method,
        hessian_dtype=hessian_dtype,
        curvature_floor=curvature_floor,
        fd_step=fd_step,
        seed=displacement_hessian,
    )
    return run.relax(fmax, int(steps), max_hessians, maxstep, progress, trace)


class _NewtonRun:
    """The state of one :func:`newton_relax`: the structure, its symmetric coordinates and the
    counts of force calls and Hessians.
    """

    def __init__(
        self,
        atoms: Atoms,
        calc,
        keep_symmetry: bool,
        relax_cell: bool,
        symprec: float,
        method: str,
        hessian_dtype: str,
        curvature_floor: float,
        fd_step: float,
        seed: NDArray | None = None,
    ) -> None:
        from ase.constraints import FixSymmetry

        self.work = atoms.copy()
        self.work.set_constraint()
        self.fix = None
        if keep_symmetry:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.fix = FixSymmetry(self.work, symprec=symprec)  # symmetrises work
        self.work.calc = calc
        self.calc, self.relax_cell, self.method = calc, relax_cell, method
        self.hessian_dtype, self.curvature_floor, self.fd_step = (
            hessian_dtype,
            curvature_floor,
            fd_step,
        )
        self.n_calls = 0
        self.n_hess = 0
        self.seed = seed  # used by the first Hessian only

    def evaluate(self) -> tuple[float, NDArray, NDArray]:
        """Energy, forces and (for cell relaxations) stress of the current structure."""
        self.n_calls += 1
        work = self.work
        energy = float(work.get_potential_energy())
        forces = np.asarray(work.get_forces(), dtype=np.float64)
        stress = (
            np.asarray(work.get_stress(voigt=False), dtype=np.float64)
            if self.relax_cell
            else np.zeros((3, 3))
        )
        return energy, forces, stress

    def criterion(self, forces: NDArray, stress: NDArray) -> float:
        return _criterion(self.work, self.fix, forces, stress, self.relax_cell)

    def place(self, q: NDArray) -> None:
        """Move the structure to coordinates ``q`` of the current basis."""
        pos, cell = self.basis.structure(self.pos0, self.cell0, q)
        self.work.set_cell(cell, scale_atoms=False)
        self.work.positions = pos

    def recentre(self, forces: NDArray, stress: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """A new symmetric basis at the current structure, and its gradient and Hessian."""
        work = self.work
        self.basis = symmetric_basis(work, self.fix, self.relax_cell)
        self.pos0, self.cell0 = work.positions.copy(), work.cell[:].copy()
        q0 = np.zeros(self.basis.size)
        g0 = self.basis.gradient(q0, forces, stress, abs(work.cell.volume))
        h = symmetric_hessian(
            self.calc,
            work,
            self.basis,
            method=self.method,
            dtype=self.hessian_dtype,
            gradient0=g0,
            fd_step=self.fd_step,
            displacement_hessian=self.seed,
        )
        self.n_hess += 1
        if self.method != "exact":
            rows = self.basis.size - (0 if self.seed is None else self.basis.n_displacements)
            self.n_calls += rows * (1 if self.method == "fd-forward" else 2)
        self.seed = None
        return q0, g0, _positive(h, self.curvature_floor)

    def newton_step(self, hess: NDArray, grad: NDArray, maxstep: float) -> tuple[NDArray, float]:
        """The Newton step, shortened to ``maxstep``, and its slope (a descent direction)."""
        basis = self.basis
        step = -np.linalg.solve(hess, grad)
        kp = basis.n_displacements
        disp = (basis.displacements @ step[:kp]).reshape(-1, 3)
        largest = max(
            float(np.sqrt((disp**2).sum(axis=1)).max()) if kp else 0.0,
            float(np.abs(step[kp:]).max()) if len(step) > kp else 0.0,
        )
        if largest > maxstep:
            step *= maxstep / largest
        slope = float(grad @ step)
        if slope > 0:  # not a descent direction (should not happen): steepest descent
            step = -grad * (maxstep / max(float(np.linalg.norm(grad)), 1e-12))
            slope = float(grad @ step)
        return step, slope

    def line_search(self, q, step, slope, energy, e_tol):
        """Backtrack along ``step`` until the energy falls enough (Armijo, within ``e_tol``)."""
        alpha, backtracked = 1.0, False
        while True:
            self.place(q + alpha * step)
            e_new, f_new, s_new = self.evaluate()
            if e_new <= energy + 1e-4 * alpha * slope + e_tol or alpha < 1e-3:
                return alpha, backtracked, e_new, f_new, s_new
            alpha *= 0.5
            backtracked = True

    def relax(self, fmax, steps, max_hessians, maxstep, progress, trace) -> NewtonResult:
        """Newton steps with BFGS updates until the criterion is met or ``steps`` are spent;
        a new Hessian where progress is slow or steps keep being shortened.
        """
        energy, forces, stress = self.evaluate()
        crit = self.criterion(forces, stress)
        converged = crit <= fmax
        self.basis = symmetric_basis(self.work, self.fix, self.relax_cell)
        n_steps = 0
        if not converged and self.basis.size and steps > 0:
            q, grad, hess = self.recentre(forces, stress)
            # noise level of the energy (float32 models): accept steps within it
            e_tol = 1e-6 * max(abs(energy), 1.0)
            history, cuts = [crit], 0
            for n_steps in range(1, steps + 1):
                step, slope = self.newton_step(hess, grad, maxstep)
                alpha, backtracked, energy, forces, stress = self.line_search(
                    q, step, slope, energy, e_tol
                )
                q_new = q + alpha * step
                g_new = self.basis.gradient(q_new, forces, stress, abs(self.work.cell.volume))
                hess = _bfgs_update(hess, q_new - q, g_new - grad)
                q, grad = q_new, g_new
                crit = self.criterion(forces, stress)
                if trace is not None:
                    trace.append((n_steps, energy, crit, alpha, self.n_calls, self.n_hess))
                if progress is not None:
                    progress(n_steps, steps)
                if crit <= fmax:
                    converged = True
                    break
                history.append(crit)
                cuts = cuts + 1 if backtracked else 0
                slow = len(history) > 3 and history[-1] > 0.5 * history[-4]
                if (slow or cuts >= 2) and self.n_hess < max_hessians:
                    q, grad, hess = self.recentre(forces, stress)
                    history, cuts = [crit], 0
        work = self.work
        out = Atoms(numbers=work.numbers, cell=work.cell[:], positions=work.positions, pbc=work.pbc)
        return NewtonResult(
            atoms=out,
            energy=float(energy),
            n_steps=int(n_steps),
            n_force_calls=int(self.n_calls),
            n_hessians=int(self.n_hess),
            converged=bool(converged),
            max_force=float(crit),
        )
