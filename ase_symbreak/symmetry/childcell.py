"""The primitive cell of a child structure built from a distortion of the parent supercell."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .lattice import lattice_basis
from .matching import nearest_sites

__all__ = ["child_primitive_cell"]

from ase_symbreak.validation import check_symprec


def child_primitive_cell(
    parent: Atoms,
    supercell: Atoms,
    supercell_matrix: NDArray,
    pattern: NDArray,
    amplitude: float,
    symprec: float,
) -> tuple[Atoms, NDArray]:
    """Undistorted primitive cell of the child and its displacement pattern.

    Parameters
    ----------
    parent : Atoms
        Parent unit cell (with the origin the pattern's supercell was built with).
    supercell : Atoms
        Parent supercell ``supercell_matrix @ parent.cell`` in which ``pattern`` lives.
    pattern : (N_supercell, 3) float
        Displacements (Angstrom per unit amplitude) in the atom order of ``supercell``.
    amplitude : float
        Amplitude at which the child's translations are found (spglib at ``symprec``).

    Returns
    -------
    (Atoms, NDArray)
        The child's primitive cell (parent sites, Minkowski-reduced lattice: the parent
        supercell lattice plus the pure translations of the distorted supercell) and the
        pattern of each of its atoms (that of its image in ``supercell``).
    """
    import spglib
    from ase.build import make_supercell
    from ase.geometry import minkowski_reduce

    p = np.asarray(supercell_matrix, dtype=int)
    distorted = supercell.copy()
    distorted.positions += amplitude * pattern
    cell = (distorted.cell[:], distorted.get_scaled_positions(), distorted.numbers)
    check_symprec(symprec)
    ds = spglib.get_symmetry(cell, symprec=symprec)
    if ds is None:
        # same error as spacegroup.spglib_dataset's for a structure spglib cannot analyse
        raise ValueError(f"spglib could not analyse the structure: {spglib.get_error_message()}")
    eye = np.eye(3, dtype=int)
    trans = [t for r, t in zip(ds["rotations"], ds["translations"]) if np.array_equal(r, eye)]
    vecs = np.array([np.asarray(t) @ p for t in trans] + list(p), dtype=float)  # parent frac.
    ivecs = np.round(vecs).astype(np.int64)
    if np.abs(vecs - ivecs).max() > 1e-4:
        raise ValueError("the child's translations are not parent lattice vectors")
    basis = lattice_basis(ivecs)
    _, op = minkowski_reduce(basis @ np.asarray(parent.cell[:]))
    basis = op @ basis
    if np.linalg.det(basis) < 0:
        basis = -basis
    prim = make_supercell(parent, basis, wrap=True)
    frac = prim.positions @ np.linalg.inv(np.asarray(supercell.cell[:], dtype=float))
    match = nearest_sites(frac, prim.numbers, supercell)
    if match.distance.max() > 1e-4:
        raise RuntimeError("primitive child atoms do not sit on parent supercell sites")
    return prim, pattern[match.index]
