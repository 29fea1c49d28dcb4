"""Glue to phonopy: ``PhonopyAtoms`` <-> ``Atoms`` and force constants from a calculator.

:func:`phonopy_from_calculator` builds an ordinary :class:`phonopy.Phonopy` object whose
supercell force constants are the calculator's exact Hessian where it has one (no finite
displacements), phonopy's finite displacements with its forces otherwise (any ASE
calculator), optionally symmetrised by phonopy (space group, translational and permutation
symmetry); :func:`phonopy_force_constants` also says which path was taken.
Use it as usual: band structure, DOS, thermal properties, ``phonon.save(...)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.symmetry.lattice import supercell_matrix_3x3
from ase_symbreak.validation import check_atoms, check_symprec

if TYPE_CHECKING:  # the hessian package imports torch: only when force constants are computed
    from ase_symbreak.hessian.any_calculator import CalculatorForceConstants, Method

__all__ = [
    "check_unitcell",
    "from_phonopy_atoms",
    "full_force_constants",
    "phonopy_force_constants",
    "phonopy_from_calculator",
    "symmetrize_force_constants",
    "to_phonopy_atoms",
]


def check_unitcell(unitcell: Any) -> Atoms:
    """The unit cell itself when :func:`~ase_symbreak.validation.check_atoms` accepts it as
    a 3-D periodic structure; else raise.
    """
    return check_atoms(unitcell, periodic=True, what="unit cell")


def to_phonopy_atoms(atoms: Atoms):
    """``PhonopyAtoms`` of ``atoms`` (symbols, cell, fractional positions, masses)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell[:]),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def from_phonopy_atoms(cell) -> Atoms:
    """Periodic ``Atoms`` of a ``PhonopyAtoms`` (masses kept)."""
    return Atoms(
        symbols=list(cell.symbols),
        cell=np.asarray(cell.cell),
        scaled_positions=cell.scaled_positions,
        masses=cell.masses,
        pbc=True,
    )


def phonopy_from_calculator(
    unitcell: Atoms,
    calc,
    supercell_matrix: ArrayLike = (2, 2, 2),
    symmetrize: bool = True,
    progress: Callable[[int, int], None] | None = None,
    primitive_matrix: ArrayLike | str | None = "auto",
    symprec: float = 1e-5,
    method: Method = "auto",
    displacement: float = 0.01,
):
    """A :class:`phonopy.Phonopy` object with the supercell force constants of ``calc``.

    :func:`phonopy_force_constants` without the record of how they were found.
    """
    phonon, _ = phonopy_force_constants(
        unitcell,
        calc,
        supercell_matrix,
        symmetrize=symmetrize,
        progress=progress,
        primitive_matrix=primitive_matrix,
        symprec=symprec,
        method=method,
        displacement=displacement,
    )
    return phonon


def phonopy_force_constants(
    unitcell: Atoms,
    calc,
    supercell_matrix: ArrayLike = (2, 2, 2),
    symmetrize: bool = True,
    progress: Callable[[int, int], None] | None = None,
    primitive_matrix: ArrayLike | str | None = "auto",
    symprec: float = 1e-5,
    method: Method = "auto",
    displacement: float = 0.01,
) -> tuple[Any, CalculatorForceConstants]:
    """A :class:`phonopy.Phonopy` object with the supercell force constants of any ASE
    calculator, and how they were found.

    Parameters
    ----------
    unitcell : Atoms
        3-D periodic unit cell.
    calc : ASE calculator
        Its exact Hessian where it has one (``get_force_constants(atoms, strategy="orbits",
        progress=...)`` of :class:`~ase_symbreak.calculator.SymBreakCalculator`: exact
        Hessian-vector products along the fewest directions whose symmetry images span all
        3N directions, 1 for cubic SrTiO3 2x2x2, see ``benchmarks/README.md``; or
        ``get_hessian(atoms)``), phonopy's finite displacements and its forces otherwise
        (:func:`~ase_symbreak.hessian.any_calculator.calculator_force_constants`).
    supercell_matrix : (3,) or (3, 3) int
        Supercell lattice (rows) = ``supercell_matrix @ unitcell.cell``.
    symmetrize : bool
        Apply phonopy's symmetrisation (space group, translational sum rule, index
        permutation), by symfc's projector when available, else space group then sum rules.
        Needed for models that are not exactly equivariant: SevenNet-0 is not
        parity-equivariant and its cubic-perovskite Hessian has symmetry-forbidden
        elements of about 2e-3 eV/A^2.
    progress : ``progress(done, total)`` after each Hessian row or force calculation.
    primitive_matrix : phonopy's ``primitive_matrix`` (default ``"auto"``: phonopy's primitive
        cell of ``unitcell``, a reorientation when ``unitcell`` is primitive).
    symprec : spglib tolerance (Angstrom) for phonopy.
    method : ``"auto"``, ``"exact hessian"`` or ``"finite displacements"`` (see
        :func:`~ase_symbreak.hessian.any_calculator.calculator_force_constants`).
    displacement : finite-displacement amplitude, Angstrom.

    Returns
    -------
    (phonopy.Phonopy, CalculatorForceConstants)
        Full (not compact) force constants set, phonopy's supercell atom order; the record's
        ``method`` says which path was taken (its array is before symmetrisation).
    """
    from phonopy import Phonopy

    from ase_symbreak.hessian.any_calculator import calculator_force_constants

    unitcell = check_unitcell(unitcell)
    check = getattr(calc, "check_structure", None)
    if callable(check):  # unknown elements fail here, not inside phonopy
        check(unitcell)
    check_symprec(symprec)
    p = supercell_matrix_3x3(supercell_matrix)
    with warnings.catch_warnings():
        # "auto" is our explicit choice (a reorientation for a primitive unit cell); phonopy 4
        # warns whenever it resolves to a non-identity matrix
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        phonon = Phonopy(
            to_phonopy_atoms(unitcell),
            supercell_matrix=p.T,
            # phonopy's annotation is Literal | Sequence[Sequence[float]] | ndarray | None, but it
            # takes any array_like (also 9 flat numbers) and checks a str itself
            primitive_matrix=primitive_matrix,  # type: ignore[arg-type]
            symprec=symprec,
        )
    supercell = from_phonopy_atoms(phonon.supercell)
    found = calculator_force_constants(
        supercell,
        calc,
        method=method,
        displacement=displacement,
        symprec=symprec,
        progress=progress,
    )
    phonon.force_constants = found.force_constants
    if symmetrize:
        symmetrize_force_constants(phonon)
    return phonon, found


def symmetrize_force_constants(phonon) -> None:
    """Impose space-group, translational and permutation symmetry on ``phonon.force_constants``.

    Uses phonopy's symfc projector (all three at once) when this phonopy has it; otherwise
    phonopy's space-group average followed by its translational/permutation symmetrisation.
    A one-atom supercell's force constants are zero (the acoustic sum rule: moving its atom
    moves every image with it) and are set so; symfc's projector fails on that case.
    """
    if len(phonon.supercell) == 1:
        fc = np.asarray(phonon.force_constants, dtype=np.float64)
        phonon.force_constants = np.zeros_like(fc)
        return
    try:
        phonon.symmetrize_force_constants(use_symfc_projector=True, show_drift=False)
        return
    except (TypeError, ImportError, ModuleNotFoundError):  # older phonopy or no symfc
        pass
    phonon.symmetrize_force_constants_by_space_group(show_drift=False)
    phonon.symmetrize_force_constants(level=2, show_drift=False)


def full_force_constants(phonon) -> NDArray[np.float64]:
    """(N, N, 3, 3) force constants of the phonopy supercell, eV/A^2 (compact ones expanded)."""
    fc = phonon.force_constants
    if fc is None:
        raise ValueError("the phonopy object has no force constants")
    fc = np.asarray(fc, dtype=np.float64)
    if fc.shape[0] != fc.shape[1]:
        from phonopy.harmonic.force_constants import compact_fc_to_full_fc

        fc = compact_fc_to_full_fc(phonon.primitive, fc)
    return fc
