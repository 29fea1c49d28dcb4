"""The main job until the distortion search exists: cubic SrTiO3 with the embedded default."""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms


def cubic_perovskite(a: float = 3.9, symbols: str = "SrTiO3") -> Atoms:
    """Cubic ABX3 perovskite (Pm-3m) with the B site at the origin."""
    return Atoms(
        symbols,
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )


def eigenvalues_to_thz(eigenvalues: np.ndarray) -> np.ndarray:
    """Dynamical-matrix eigenvalues (eV/A^2/amu) -> frequencies in THz, imaginary as negative."""
    from ase.units import _amu, _e

    to_thz = np.sqrt(_e / _amu) * 1e10 / (2 * np.pi) / 1e12
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * to_thz


def run_demo(model: str | None = None, lattice: float = 3.9, supercell: int = 2) -> dict:
    """Energy, stress and the lowest eigenvalues of the exact Hessian (eV/A^2)."""
    from rich.progress import Progress

    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.forceconstants import force_constants_to_hessian

    atoms = cubic_perovskite(lattice).repeat(supercell)
    calc = SymBreakCalculator(model=model)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    stress = atoms.get_stress()
    start = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("exact Hessian rows (independent atoms)", total=None)
        fc = calc.get_force_constants(
            atoms, symmetry_reduced=True, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    hessian = force_constants_to_hessian(fc)
    seconds = time.perf_counter() - start
    masses = np.repeat(atoms.get_masses(), 3)
    eig = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    dyn = np.linalg.eigvalsh(hessian / np.sqrt(np.outer(masses, masses)))
    freqs = eigenvalues_to_thz(dyn)
    return {
        "formula": atoms.get_chemical_formula(),
        "n_atoms": len(atoms),
        "model": calc.model.__class__.__name__,
        "energy_eV": float(energy),
        "energy_per_atom_eV": float(energy / len(atoms)),
        "stress_eV_per_A3": stress.tolist(),
        "hessian_seconds": seconds,
        "lowest_hessian_eigenvalues_eV_per_A2": eig[:6].tolist(),
        "lowest_frequencies_THz": freqs[:9].tolist(),
    }


def print_demo(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['formula']} ({result['n_atoms']} atoms), {result['model']}")
    table.add_column("quantity")
    table.add_column("value")
    table.add_row("energy (eV)", f"{result['energy_eV']:.6f}")
    table.add_row("energy per atom (eV)", f"{result['energy_per_atom_eV']:.6f}")
    table.add_row("stress (eV/A^3, Voigt)", " ".join(f"{s:.2e}" for s in result["stress_eV_per_A3"]))
    table.add_row("Hessian time (s)", f"{result['hessian_seconds']:.1f}")
    table.add_row("lowest Hessian eigenvalues (eV/A^2)", " ".join(f"{e:.4f}" for e in result["lowest_hessian_eigenvalues_eV_per_A2"]))
    table.add_row("lowest frequencies (THz, <0 imaginary)", " ".join(f"{f:.2f}" for f in result["lowest_frequencies_THz"]))
    Console().print(table)
