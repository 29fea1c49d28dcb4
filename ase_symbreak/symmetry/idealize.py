"""Idealise a nearly symmetric structure to the space group spglib finds at ``symprec``.

Relaxed structures and CIFs with rounded numbers are symmetric only to 1e-5 or so: angles
of 90.0002 degrees, ``b = a + 1e-6``, positions off by a few mA. Everything downstream
(rotation matrices built from the metric, atom matching, the commutant splitting of the
displacement representation) needs exact symmetry, so the symmetry core first projects
the structure onto the group found at ``symprec``:

- the lattice metric ``G = C C^T`` (rows of ``C`` are lattice vectors) is averaged over the
  point group, ``G' = <R^T G R>``, and the new cell is the one with metric ``G'`` closest in
  orientation to the old (Cholesky factor, then the nearest rotation by polar
  decomposition);
- every atom is moved to the average of its images, ``x_j' = <R x_i + t - L>`` over the
  operations that carry atom ``i`` onto atom ``j``: the group average is the projector onto
  symmetric configurations.

Atom order, species, masses, tags and ``info`` are kept. ``symprec`` (Angstrom) is the one
tolerance: every internal tolerance of the symmetry core is met to rounding after this.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .matching import minimum_image_sites

__all__ = ["Idealization", "SymmetryToleranceWarning", "idealize"]

#: Tolerance (Angstrom) at which the input's own, exact space group is reported.
EXACT_SYMPREC = 1e-5


class SymmetryToleranceWarning(UserWarning):
    """The structure was treated in a higher space group than it has exactly."""


@dataclass(frozen=True)
class Idealization:
    """Result of :func:`idealize`.

    Attributes
    ----------
    atoms : Atoms
        The idealised structure: same atom order and species, exact symmetry.
    number, symbol : int, str
        Space group found at ``symprec`` and imposed.
    exact_number, exact_symbol : int, str
        Space group of the input at ``EXACT_SYMPREC`` (1e-5 A).
    symprec : float
        Angstrom.
    max_displacement : float
        Largest atomic displacement from the input to the idealised structure, Angstrom
        (in the input's cell, i.e. not counting the strain).
    max_strain : float
        Largest element of the symmetric strain that takes the input cell to the ideal one.
    """

    atoms: Atoms = field(repr=False)
    number: int
    symbol: str
    exact_number: int
    exact_symbol: str
    symprec: float
    max_displacement: float
    max_strain: float

    @property
    def raised_symmetry(self) -> bool:
        """True when the input was treated in a higher group than its exact one."""
        return self.number != self.exact_number

    def message(self) -> str:
        """One line for users: which group, from which, how far the input was."""
        dist = (
            f"atoms moved up to {self.max_displacement:.2g} A, "
            f"cell strained up to {self.max_strain:.2g}"
        )
        if self.raised_symmetry:
            return (
                f"structure is within symprec={self.symprec:g} A of {self.symbol} ({self.number}); "
                f"its exact group at {EXACT_SYMPREC:g} A is "
                f"{self.exact_symbol} ({self.exact_number}); "
                f"treated as {self.symbol} after idealisation ({dist})"
            )
        return f"idealised to {self.symbol} ({self.number}) ({dist})"

    def to_dict(self) -> dict:
        return {
            "space_group_number": self.number,
            "space_group_symbol": self.symbol,
            "exact_space_group_number": self.exact_number,
            "exact_space_group_symbol": self.exact_symbol,
            "symprec_angstrom": self.symprec,
            "max_displacement_angstrom": self.max_displacement,
            "max_strain": self.max_strain,
        }


def symmetrized_cell(cell: NDArray, rotations: NDArray) -> NDArray:
    """Cell (rows) whose metric is the point-group average of ``cell``'s, same orientation."""
    c = np.asarray(cell, dtype=float)
    g = c @ c.T
    rots = np.unique(np.asarray(rotations, dtype=int).reshape(len(rotations), 9), axis=0).reshape(
        -1, 3, 3
    )
    g_sym = np.einsum("nji,jk,nkl->il", rots, g, rots) / len(rots)
    lower = np.linalg.cholesky(0.5 * (g_sym + g_sym.T))
    u, _, vt = np.linalg.svd(lower.T @ c)
    return lower @ (u @ vt)


def symmetrized_positions(
    frac: NDArray,
    numbers: NDArray,
    cell: NDArray,
    rotations: NDArray,
    translations: NDArray,
    tol: float,
) -> NDArray:
    """Group average of fractional positions (N, 3); raises ValueError if an image is farther
    than ``tol`` A.
    """
    frac = np.asarray(frac, dtype=float)
    n = len(frac)
    acc = np.zeros_like(frac)
    lattice = np.asarray(cell, dtype=float)
    for r, t in zip(rotations, translations):
        images = frac @ np.asarray(r).T + t  # (N, 3)
        target, dist = minimum_image_sites(images, numbers, frac, numbers, lattice)
        if len(set(target.tolist())) != n or dist.max() > tol:
            raise ValueError(
                f"a symmetry operation found at this tolerance maps the structure "
                f"onto itself only to "
                f"{dist.max():.3g} A (> {tol:.3g} A); use a smaller symprec"
            )
        shifted = images - np.round(images - frac[target])
        np.add.at(acc, target, shifted)
    return acc / len(rotations)


def idealize(structure: Any, symprec: float = 1e-3, angle_tolerance: float = -1.0) -> Idealization:
    """Project a structure onto the space group spglib finds at ``symprec``.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen Structure
    symprec : float
        Distance tolerance, Angstrom (spglib's).
    angle_tolerance : float
        Degrees; -1 lets spglib choose.

    Returns
    -------
    Idealization
        ``.atoms`` has exactly the group ``.number`` (spglib finds it at 1e-8 A).
    """
    from .spacegroup import spglib_dataset, to_atoms

    atoms = to_atoms(structure)
    ds = spglib_dataset(atoms, symprec, angle_tolerance)
    rotations = np.asarray(ds.rotations, dtype=int)
    translations = np.asarray(ds.translations, dtype=float)
    cell = np.asarray(atoms.cell[:], dtype=float)
    frac = atoms.get_scaled_positions(wrap=False)
    new_cell = symmetrized_cell(cell, rotations)
    # spglib accepts images within symprec of each other (pairwise); allow some slack
    new_frac = symmetrized_positions(
        frac, atoms.numbers, cell, rotations, translations, tol=4 * symprec + 1e-8
    )
    out = atoms.copy()
    out.set_cell(new_cell, scale_atoms=False)
    out.set_scaled_positions(new_frac)
    deformation = np.linalg.solve(
        cell, new_cell
    )  # new = cell @ F (rows), F = 1 + strain (+ rotation)
    strain = 0.5 * (deformation + deformation.T) - np.eye(3)
    disp = float(np.linalg.norm((new_frac - frac) @ cell, axis=1).max())
    try:
        exact = spglib_dataset(atoms, EXACT_SYMPREC, angle_tolerance)
        exact_number, exact_symbol = int(exact.number), str(exact.international)
    except ValueError:
        exact_number, exact_symbol = 1, "P1"
    return Idealization(
        atoms=out,
        number=int(ds.number),
        symbol=str(ds.international),
        exact_number=exact_number,
        exact_symbol=exact_symbol,
        symprec=float(symprec),
        max_displacement=disp,
        max_strain=float(np.abs(strain).max()),
    )


def idealize_and_warn(structure: Any, symprec: float = 1e-3) -> Idealization:
    """:func:`idealize`, with a :class:`SymmetryToleranceWarning` when the group was raised."""
    ideal = idealize(structure, symprec)
    if ideal.raised_symmetry:
        warnings.warn(ideal.message(), SymmetryToleranceWarning, stacklevel=3)
    return ideal
