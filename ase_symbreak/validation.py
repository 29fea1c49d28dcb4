"""Checks on structures where they enter the package, with errors that say what is wrong."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from ase_symbreak.neighbors import pairs_within

#: Angstrom; closer atoms (or an atom and its image) overlap: shorter than any bond (H2: 0.74 A).
MIN_DISTANCE = 0.5

#: The most atoms a command takes in one structure; ``ASE_SYMBREAK_MAX_ATOMS`` lifts it.
MAX_ATOMS = 5000

__all__ = [
    "MAX_ATOMS",
    "MIN_DISTANCE",
    "check_atom_count",
    "check_atoms",
    "check_calculator_reach",
    "check_reach",
    "model_cutoff",
]


def check_atoms(
    atoms: Atoms,
    min_distance: float = MIN_DISTANCE,
    periodic: bool = False,
    what: str = "structure",
) -> Atoms:
    """Raise for structures no model or symmetry analysis can use; return ``atoms``.

    The one check of every structure that enters the package (calculator, symmetry core,
    phonons, search, screen). Raises ``TypeError`` for anything but an ``Atoms`` and
    ``ValueError`` (the message starts with ``what``) for: no atoms; NaN or infinite
    positions or cell; degenerate cell vectors along periodic directions; unknown atomic
    numbers; two atoms (or an atom and an image) closer than ``min_distance`` Angstrom;
    with ``periodic``, a structure that is not 3-D periodic.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"expected ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"empty {what}: Atoms has no atoms")
    positions = atoms.positions
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{what} has non-finite (NaN/inf) positions for atoms {bad.tolist()}: "
            f"{positions[bad[0]]}"
        )
    cell = atoms.cell.array
    if not np.isfinite(cell).all():
        raise ValueError(f"{what} has a non-finite (NaN/inf) cell: {cell.tolist()}")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if periodic and not pbc.all():
        raise ValueError(
            f"{what} must be 3-D periodic (pbc all True and a non-zero cell volume), "
            f"got pbc {pbc.tolist()}"
        )
    if pbc.any():
        if np.linalg.matrix_rank(cell[pbc], tol=1e-6) < pbc.sum():
            raise ValueError(
                f"{what} has degenerate (singular) cell vectors along periodic directions: "
                f"{cell.tolist()}"
            )
    unknown = [int(z) for z in set(atoms.numbers.tolist()) if not 0 < z < len(chemical_symbols)]
    if unknown:
        raise ValueError(f"{what} has unknown atomic numbers {unknown}")
    _check_overlap(atoms, min_distance)
    return atoms


def _check_overlap(atoms: Atoms, min_distance: float) -> None:
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = _reduced_cell(atoms, min_distance)
    if not pbc.all():
        span = np.ptp(atoms.positions, axis=0).max() + 10.0 * min_distance + 1.0
        for axis in np.flatnonzero(~pbc):
            cell[axis] = 0.0
            cell[axis, axis] = span
    i, j, _, d = pairs_within(atoms.positions, cell, pbc, min_distance, distances=True)
    if len(i):
        k = int(np.argmin(d))
        a, b = int(i[k]), int(j[k])
        what = (
            "its own periodic image" if a == b else f"atom {b} ({atoms.get_chemical_symbols()[b]})"
        )
        raise ValueError(
            f"overlapping atoms: atom {a} ({atoms.get_chemical_symbols()[a]}) is {d[k]:.3f} A from "
            f"{what}; the minimum allowed distance is {min_distance} A"
        )


def _reduced_cell(atoms: Atoms, min_distance: float) -> np.ndarray:
    """The Minkowski-reduced cell of ``atoms`` (the same lattice) for the neighbour search.

    Raises ``ValueError`` (overlapping atoms) when a lattice vector is shorter than
    ``min_distance``: every atom then overlaps its own image, and a neighbour search over
    the thin original cell would visit millions of images (a hang for a 0.004 A cell).
    """
    from ase.geometry.minkowski_reduction import minkowski_reduce

    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = atoms.cell.array.copy()
    if not pbc.any():
        return cell
    reduced, _ = minkowski_reduce(cell, pbc=pbc)
    lengths = np.linalg.norm(reduced[pbc], axis=1)
    if lengths.min() < min_distance:
        symbol = atoms.get_chemical_symbols()[0]
        raise ValueError(
            f"overlapping atoms: atom 0 ({symbol}) is {lengths.min():.3g} A from its own "
            f"periodic image (a lattice vector that short; is the cell in Angstrom?); the "
            f"minimum allowed distance is {min_distance} A"
        )
    return reduced


def check_symprec(symprec: float, name: str = "symprec") -> float:
    """``symprec`` as a float; ``ValueError`` unless it is a finite positive length (Angstrom).

    spglib crashes the interpreter (segmentation fault) on negative or NaN tolerances, so
    every path into spglib checks first.
    """
    try:
        value = float(symprec)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive length in Angstrom, got {symprec!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive length in Angstrom, got {symprec!r}")
    return value


def max_atoms() -> int:
    """:data:`MAX_ATOMS`, or ``ASE_SYMBREAK_MAX_ATOMS`` when that is set to a positive integer."""
    import os

    text = os.environ.get("ASE_SYMBREAK_MAX_ATOMS", "").strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    return MAX_ATOMS


def check_atom_count(count: int, what: str = "structure") -> int:
    """``count``; ``ValueError`` naming the limit when it is above :func:`max_atoms`.

    Exact Hessians grow as the square of the atoms and their symmetry analysis as much:
    inputs beyond the limit would run for hours or exhaust memory without a word.
    """
    limit = max_atoms()
    if count > limit:
        raise ValueError(
            f"{what} has {count} atoms; the limit is {limit} "
            "(set ASE_SYMBREAK_MAX_ATOMS to lift it, and expect hours and much memory)"
        )
    return count


def check_reach(atoms: Atoms, cutoff: float, what: str = "structure") -> Atoms:
    """``atoms``; ``ValueError`` when an atom of a 3-D periodic structure has no neighbour
    within ``cutoff`` Angstrom (the model's reach): the model sees free atoms there, and
    their force constants are zero, which reads as a stable crystal. A cell typed in the
    wrong unit (ten times too large) is the usual cause.
    """
    if not np.asarray(atoms.pbc, dtype=bool).all() or not np.isfinite(cutoff) or cutoff <= 0:
        return atoms
    cell = _reduced_cell(atoms, 0.0)
    i = pairs_within(atoms.positions, cell, atoms.pbc, cutoff)[0]
    lonely = np.setdiff1d(np.arange(len(atoms)), i)
    if lonely.size:
        symbols = atoms.get_chemical_symbols()
        named = ", ".join(f"{k} ({symbols[k]})" for k in lonely[:5].tolist())
        more = f" and {lonely.size - 5} more" if lonely.size > 5 else ""
        raise ValueError(
            f"{what}: atom(s) {named}{more} have no neighbour within the model's cutoff "
            f"{cutoff:g} A, so the model sees free atoms and the phonons would be zero; is the "
            f"cell in Angstrom? (cell lengths {np.round(atoms.cell.lengths(), 4).tolist()} A)"
        )
    return atoms


def model_cutoff(calc) -> float | None:
    """The cutoff (Angstrom) of ``calc``'s model (``calc.model.cutoff``, as our calculators
    and every :class:`~ase_symbreak.models.base.EnergyModel` declare it), None when the
    calculator does not say.
    """
    cutoff = getattr(getattr(calc, "model", None), "cutoff", None)
    if isinstance(cutoff, (int, float, np.floating)) and not isinstance(cutoff, bool):
        return float(cutoff)
    return None


def check_calculator_reach(atoms: Atoms, calc, what: str = "structure") -> Atoms:
    """:func:`check_reach` with the cutoff of ``calc``'s model (:func:`model_cutoff`); nothing
    is checked for a calculator that declares no cutoff.
    """
    cutoff = model_cutoff(calc)
    return atoms if cutoff is None else check_reach(atoms, cutoff, what)
