"""Candidate high-symmetry parents of a distorted structure (pseudosymmetry).

A distorted crystal is close to the structures of its supergroups: raise spglib's distance
tolerance step by step and every group found on the way is a supergroup within reach. Each
is turned into an ideal parent by spglib's standardisation at that tolerance (its standard
conventional cell, metric and positions idealised over the supergroup's operations,
composition kept; in the parent's own lattice, since a supercell of the child need not keep
the parent's point group: the Pnma cell of a perovskite is not cubic), and the child is
mapped onto it (:func:`~ase_symbreak.symmetry.mapping.map_to_parent`) to measure how far the
atoms move and how much the cell is strained.
The sweep goes through chains on its own (Pnma -> Imma -> Pm-3m for a tilted perovskite)
and through cells that are supercells of the parent (the parent's smaller translation
lattice is part of what spglib finds).

Ranking: the *aristotype* first, i.e. the candidate with the most symmetry operations per
volume of the child's cell, ties broken by the smaller displacement; then the intermediate
supergroups in the same order. Every candidate records the largest atomic displacement
(Angstrom, in the child's cell) and the largest lattice strain needed to reach it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.progress import Progress
from ase_symbreak.symmetry.mapping import map_to_parent
from ase_symbreak.symmetry.spacegroup import primitive_structure, spglib_dataset, to_atoms

__all__ = [
    "DEFAULT_MAX_DISPLACEMENT",
    "ParentCandidate",
    "find_parents",
    "intermediate_parent",
    "primitive_of",
    "quiet_spglib",
]

#: Largest atomic displacement (Angstrom) from the child to a candidate parent by default.
DEFAULT_MAX_DISPLACEMENT = 1.0
#: Tolerances tried, as fractions of twice the largest displacement (spglib accepts an
#: image within ``symprec`` of an atom: a displacement ``u`` shows up as ``2 u``).
_STEPS = 40
#: Tolerance (Angstrom) at which the child's own group is taken: a refined or relaxed
#: structure carries noise of a few mA, which is not a supergroup to report.
CHILD_SYMPREC = 1e-2


@dataclass(frozen=True)
class ParentCandidate(Record):
    """One supergroup of the child within reach, and its ideal structure.

    Attributes
    ----------
    space_group_number, space_group_symbol : int, str
        The supergroup.
    structure : Atoms
        The ideal parent in its standard conventional cell (spglib's setting and origin),
        the child's composition.
    tolerance : float
        Smallest spglib tolerance of the sweep that found it, Angstrom.
    max_displacement : float
        Largest atomic displacement from the child to the ideal parent, Angstrom (in the
        child's cell, strain not counted).
    max_strain : float
        Largest element of the symmetric strain that takes the child's cell to the
        parent's metric (dimensionless).
    operations_per_child_cell : int
        Symmetry operations of the ideal parent modulo the child's lattice: the measure of
        how much symmetry it has (the aristotype has the most).
    """

    space_group_number: int
    space_group_symbol: str
    structure: Atoms
    tolerance: float
    max_displacement: float
    max_strain: float
    operations_per_child_cell: int

    def describe(self) -> str:
        """One line: group, displacement and strain."""
        return (
            f"{self.space_group_symbol} ({self.space_group_number}): atoms move up to "
            f"{self.max_displacement:.3f} A, strain up to {self.max_strain:.3g}"
        )


def find_parents(
    child: Atoms,
    max_displacement: float = DEFAULT_MAX_DISPLACEMENT,
    steps: int = _STEPS,
    progress: Progress | None = None,
) -> list[ParentCandidate]:
    """The supergroups of ``child`` within ``max_displacement``, aristotype first.

    Parameters
    ----------
    child : ase.Atoms or pymatgen Structure
        The distorted structure, in any setting.
    max_displacement : float
        Largest atomic displacement (Angstrom) allowed between child and parent.
    steps : int
        Number of tolerances of the sweep (geometric, from 1e-3 A to twice
        ``max_displacement``).
    progress : callable, optional
        ``progress(done, total)`` over the tolerances.

    Returns
    -------
    list[ParentCandidate]
        Empty when the child has no supergroup within reach.
    """
    if not (np.isfinite(max_displacement) and 0 < max_displacement <= 5.0):
        raise ValueError(f"max_displacement must be in (0, 5] Angstrom, got {max_displacement}")
    atoms = to_atoms(child)
    with quiet_spglib():
        return _sweep(atoms, max_displacement, steps, progress)


def _sweep(
    atoms: Atoms, max_displacement: float, steps: int, progress: Progress | None
) -> list[ParentCandidate]:
    own = spglib_dataset(atoms, CHILD_SYMPREC)
    own_ops = len(own.rotations)
    seen: set[tuple[int, int]] = set()  # spglib's groups along the sweep
    found: dict[tuple[int, int], ParentCandidate] = {}  # ideal parents, first (closest) kept
    tolerances = np.geomspace(2 * CHILD_SYMPREC, 2.0 * max_displacement, int(steps))
    for i, tol in enumerate(tolerances):
        if progress is not None:
            progress(i, len(tolerances))
        try:
            ds = spglib_dataset(atoms, float(tol))
        except ValueError:
            continue
        key = (int(ds.number), len(ds.rotations))
        if key[1] <= own_ops or key in seen:
            continue
        seen.add(key)
        # the group spglib found at this tolerance, symmetrised in its own lattice
        candidate = _symmetrised(atoms, atoms, float(tol), key[0], max_displacement)
        if candidate is not None:
            found.setdefault(
                (candidate.space_group_number, candidate.operations_per_child_cell), candidate
            )
    return sorted(found.values(), key=lambda c: (-c.operations_per_child_cell, c.max_displacement))


def intermediate_parent(
    child: Atoms,
    removed: NDArray,
    number: int,
    tolerance: float = 0.05,
    max_displacement: float = DEFAULT_MAX_DISPLACEMENT,
) -> ParentCandidate | None:
    """The parent reached by taking ``removed`` off the child's atoms (an intermediate of
    the chain: some irreps' parts removed, the others kept), symmetrised to group ``number``.

    spglib's sweep can jump over an intermediate (its operations need a tolerance that
    already reaches the aristotype); the decomposition against the aristotype names it.

    Parameters
    ----------
    child : Atoms
    removed : NDArray
        ``(n_child, 3)`` Angstrom, the child's frame.
    number : int
        The group the remaining parts have.
    tolerance : float
        Angstrom, of the symmetrisation (strain and noise the intermediate group does not
        allow).
    max_displacement : float
        Angstrom; a farther parent is not returned.
    """
    atoms = child.copy()
    atoms.positions = child.positions - removed
    return _symmetrised(atoms, child, tolerance, int(number), max_displacement)


@contextlib.contextmanager
def quiet_spglib() -> Iterator[None]:
    """spglib's C warnings off (``SPGLIB_WARNING=OFF``) for a block: at large tolerances
    its searches fail on purpose and say so on stderr.
    """
    old = os.environ.get("SPGLIB_WARNING")
    os.environ["SPGLIB_WARNING"] = "OFF"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SPGLIB_WARNING", None)
        else:
            os.environ["SPGLIB_WARNING"] = old


# ----------------------------------------------------------------------------- internals
def _symmetrised(
    atoms: Atoms, child: Atoms, tol: float, number: int, max_displacement: float
) -> ParentCandidate | None:
    """``atoms`` symmetrised by spglib to group ``number`` at ``tol`` (its standard
    conventional cell, the metric and the positions idealised, in the parent's own lattice:
    the child's cell need not keep the parent's point group), measured against ``child``.

    None when spglib finds another group, the composition changes, or the child does not
    map onto it within ``max_displacement``.
    """
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    std = spglib.standardize_cell(cell, to_primitive=False, no_idealize=False, symprec=tol)
    if std is None:
        return None
    lattice, frac, numbers = std
    parent = Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True)
    try:
        exact = spglib_dataset(parent, 1e-5)
        primitive = primitive_of(parent)[0]  # the child may be smaller than the conventional
        mapping = map_to_parent(primitive, child, max_displacement=max_displacement)
    except ValueError:  # another group, atoms merged, or too far
        return None
    if int(exact.number) != number:
        return None
    rotations = np.unique(np.asarray(exact.rotations).reshape(-1, 9), axis=0)
    primitive_atoms = len(primitive)
    return ParentCandidate(
        space_group_number=number,
        space_group_symbol=str(exact.international),
        structure=parent,
        tolerance=float(tol),
        max_displacement=float(mapping.max_displacement),
        max_strain=float(np.abs(mapping.strain).max()),
        operations_per_child_cell=len(rotations) * len(child) // primitive_atoms,
    )


def primitive_of(conventional: Atoms) -> tuple[Atoms, NDArray]:
    """The primitive cell of an exactly symmetric parent, same orientation, and the integer
    ``M`` with ``conventional.cell = M @ primitive.cell``.
    """
    primitive = primitive_structure(conventional, 1e-5)
    lattice = primitive.cell[:]
    m = np.asarray(conventional.cell[:]) @ np.linalg.inv(np.asarray(lattice))
    if np.abs(m - np.round(m)).max() > 1e-6:  # pragma: no cover - spglib keeps orientation
        return conventional.copy(), np.eye(3, dtype=int)
    return primitive, np.round(m).astype(int)


def _standard_conventional(atoms: Atoms) -> Atoms:
    """spglib's standard conventional cell of an exactly symmetric structure."""
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    std = spglib.standardize_cell(cell, to_primitive=False, no_idealize=False, symprec=1e-5)
    if std is None:  # pragma: no cover - the structure is exactly symmetric
        return atoms.copy()
    lattice, frac, numbers = std
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True)
