"""Space-group analysis of ASE structures with spglib.

Everything here works in the cell of the atoms given: rotations and translations are
fractional in that cell (spglib's own convention), and the transformation to the
standard setting is kept so that irrep labels can be looked up in Bilbao-convention
tables (see :mod:`ase_symbreak.symmetry.labels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import spglib
from ase import Atoms
from ase.geometry import get_distances
from numpy.typing import NDArray

from ase_symbreak.validation import check_atoms, check_symprec

from .lattice import wrap

__all__ = ["SpaceGroupInfo", "to_atoms", "analyze", "shift_origin", "primitive_structure"]


@dataclass(frozen=True)
class SpaceGroupInfo:
    """Result of :func:`analyze`.

    Attributes
    ----------
    number, symbol, hall_number
        International number, Hermann-Mauguin symbol (spglib's ``international``) and
        spglib Hall number of the detected space group.
    rotations : NDArray[int]
        (n_ops, 3, 3) fractional rotations in the cell of the atoms given; the operations
        include the centring translations when that cell is not primitive.
    translations : NDArray[float]
        (n_ops, 3) fractional translations, same cell.
    wyckoffs : list[str]
        (N,) Wyckoff letters.
    equivalent_atoms : NDArray[int]
        (N,) index of the representative of each atom's orbit.
    site_symmetry_symbols : list[str]
        (N,) oriented site-symmetry symbols.
    primitive, conventional : Atoms
        spglib's standardised primitive and conventional cells (possibly rotated).
    transformation_matrix : NDArray[float]
        (3, 3) ``P`` with ``x_std = P @ x + origin_shift`` (fractional, column vectors).
    origin_shift : NDArray[float]
        (3,) fractional, standard cell.
    pointgroup : str
        Point-group symbol.
    pointgroup_order : int
        Order of the point group.
    std_rotation_matrix : NDArray[float] or None
        (3, 3) spglib's rotation of our Cartesian frame onto that of the standardised
        conventional cell (a along x, ... ); exactly orthogonal for an idealised structure.
    """

    number: int
    symbol: str
    hall_number: int
    rotations: NDArray
    translations: NDArray
    wyckoffs: list[str]
    equivalent_atoms: NDArray
    site_symmetry_symbols: list[str]
    primitive: Atoms
    conventional: Atoms
    transformation_matrix: NDArray = field(repr=False)
    origin_shift: NDArray = field(repr=False)
    pointgroup: str = ""
    pointgroup_order: int = 0
    std_rotation_matrix: NDArray | None = field(repr=False, default=None)

    @property
    def n_ops(self) -> int:
        """Number of operations in the cell given (point group x centrings)."""
        return len(self.rotations)

    def wyckoff_orbits(self, atoms: Atoms) -> list[str]:
        """One label per atom: element, multiplicity and Wyckoff letter, e.g. 'O 3d'."""
        syms = atoms.get_chemical_symbols()
        eq = self.equivalent_atoms
        counts = {int(r): int(np.sum(eq == r)) for r in np.unique(eq)}
        # multiplicity in the conventional cell (ITA convention)
        ratio = len(self.conventional) / len(self.primitive)
        n_cell_prim = len(atoms) / len(self.primitive)
        out = []
        for i in range(len(atoms)):
            mult = int(round(counts[int(eq[i])] / n_cell_prim * ratio))
            out.append(f"{syms[i]} {mult}{self.wyckoffs[i]}")
        return out


def to_atoms(structure: Any) -> Atoms:
    """Convert and validate a structure.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen.core.Structure
        Periodic structure; positions in Angstrom.

    Returns
    -------
    Atoms
        A copy, fully periodic.

    Raises
    ------
    TypeError
        For an unsupported type.
    ValueError
        Empty structure, non-finite cell or positions, singular cell, or atoms closer
        than :data:`ase_symbreak.validation.MIN_DISTANCE` (the message names the atoms).
    """
    if isinstance(structure, Atoms):
        atoms = structure.copy()
    else:
        structure_type: type | None
        try:
            from pymatgen.core import Structure

            structure_type = Structure
        except ImportError:  # pragma: no cover
            structure_type = None
        if structure_type is not None and isinstance(structure, structure_type):
            from pymatgen.io.ase import AseAtomsAdaptor

            atoms = AseAtomsAdaptor.get_atoms(structure)
        else:
            raise TypeError(
                f"expected ase.Atoms or pymatgen Structure, got {type(structure).__name__}"
            )
    atoms.calc = None
    atoms.pbc = True
    return check_atoms(atoms)


def primitive_structure(atoms: Atoms, symprec: float = 1e-5) -> Atoms:
    """The primitive cell of ``atoms`` at ``symprec`` in the same orientation (spglib's,
    positions not idealised); a copy of ``atoms`` when it is primitive or spglib finds no
    symmetry.
    """
    check_symprec(symprec)
    found = spglib.standardize_cell(
        _spglib_cell(atoms), to_primitive=True, no_idealize=True, symprec=symprec
    )
    if found is None or len(found[2]) >= len(atoms):
        return atoms.copy()
    return _cell_to_atoms(found)


def _spglib_cell(atoms: Atoms) -> tuple:
    return (np.asarray(atoms.cell[:]), atoms.get_scaled_positions(wrap=True), atoms.numbers)


def _cell_to_atoms(cell: tuple) -> Atoms:
    lattice, frac, numbers = cell
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True)


def spglib_dataset(
    atoms: Atoms | tuple, symprec: float, angle_tolerance: float = -1.0, hall_number: int = 0
):
    """spglib's symmetry dataset of ``atoms``; ``ValueError`` when spglib finds none.

    The package's call of ``spglib.get_symmetry_dataset`` (:func:`analyze` builds on it; use
    it where the raw dataset is wanted; only ``hessian/forceconstants.py``, in a layer below
    this one, calls spglib itself). ``atoms`` is an ``Atoms`` (positions wrapped into the
    cell) or an spglib cell ``(lattice, fractional, numbers)`` passed as it is. ``symprec``
    is checked first (``ValueError``: spglib crashes on bad tolerances). ``hall_number``
    asks for that setting of the group (0: spglib's default).
    """
    check_symprec(symprec)
    cell = atoms if isinstance(atoms, tuple) else _spglib_cell(atoms)
    try:
        ds = spglib.get_symmetry_dataset(
            cell, symprec=symprec, angle_tolerance=angle_tolerance, hall_number=hall_number
        )
    except Exception as err:  # spglib >= 2.5 raises SpglibError
        raise ValueError(f"spglib could not analyse the structure: {err}") from err
    if ds is None:
        raise ValueError(f"spglib could not analyse the structure: {spglib.get_error_message()}")
    return ds


def analyze(structure: Any, symprec: float = 1e-3, angle_tolerance: float = -1.0) -> SpaceGroupInfo:
    """Detect the space group of a structure.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen Structure
    symprec : float
        Distance tolerance in Angstrom (spglib).
    angle_tolerance : float
        Angle tolerance in degrees; -1 lets spglib choose.

    Returns
    -------
    SpaceGroupInfo
    """
    atoms = to_atoms(structure)
    ds = spglib_dataset(atoms, symprec, angle_tolerance)
    cell = _spglib_cell(atoms)
    prim = spglib.standardize_cell(
        cell, to_primitive=True, symprec=symprec, angle_tolerance=angle_tolerance
    )
    conv = spglib.standardize_cell(
        cell, to_primitive=False, symprec=symprec, angle_tolerance=angle_tolerance
    )
    if prim is None or conv is None:
        # spglib found a dataset above, so this does not happen; same error as spglib_dataset's
        raise ValueError(f"spglib could not analyse the structure: {spglib.get_error_message()}")
    pg_order = len({r.tobytes() for r in np.asarray(ds.rotations)})
    return SpaceGroupInfo(
        number=int(ds.number),
        symbol=str(ds.international),
        hall_number=int(ds.hall_number),
        rotations=np.asarray(ds.rotations, dtype=int),
        translations=np.asarray(ds.translations, dtype=float),
        wyckoffs=list(ds.wyckoffs),
        equivalent_atoms=np.asarray(ds.equivalent_atoms, dtype=int),
        site_symmetry_symbols=list(ds.site_symmetry_symbols),
        primitive=_cell_to_atoms(prim),
        conventional=_cell_to_atoms(conv),
        transformation_matrix=np.asarray(ds.transformation_matrix, dtype=float),
        origin_shift=np.asarray(ds.origin_shift, dtype=float),
        pointgroup=str(ds.pointgroup),
        pointgroup_order=pg_order,
        std_rotation_matrix=np.asarray(ds.std_rotation_matrix, dtype=float),
    )


def shift_origin(atoms: Atoms, index: int) -> Atoms:
    """Translate so that atom `index` sits at fractional (0, 0, 0); positions wrapped.

    Parameters
    ----------
    atoms : Atoms
    index : int
        Atom to put at the origin (negative indices allowed).

    Returns
    -------
    Atoms
        A copy with the same cell and atom order.
    """
    atoms = to_atoms(atoms)
    if not -len(atoms) <= index < len(atoms):
        raise ValueError(f"origin index {index} out of range for {len(atoms)} atoms")
    frac = atoms.get_scaled_positions(wrap=False)
    frac = wrap(frac - frac[index])
    out = atoms.copy()
    out.set_scaled_positions(frac)
    return out


def site_symmetry_orders(atoms: Atoms, info: SpaceGroupInfo, tol: float = 1e-3) -> NDArray:
    """(N,) order of the site-symmetry group of each atom (operations fixing it mod lattice)."""
    frac = atoms.get_scaled_positions(wrap=True)
    new = np.einsum("gij,nj->gni", info.rotations, frac) + info.translations[:, None, :]
    d = new - frac[None]
    fixed = np.all(np.abs(d - np.round(d)) < tol, axis=-1)  # (g, n)
    # count distinct rotations that fix the site (centring copies collapse onto one)
    out = []
    for n in range(len(atoms)):
        out.append(len({info.rotations[g].tobytes() for g in np.flatnonzero(fixed[:, n])}))
    return np.array(out)


def perovskite_b_site(atoms: Atoms) -> int | None:
    """Index of an octahedrally coordinated B cation of an ABX3 perovskite, or None."""
    syms = np.array(atoms.get_chemical_symbols())
    species, counts = np.unique(syms, return_counts=True)
    if len(species) != 3:
        return None
    n = counts.min()
    if sorted((counts // n).tolist()) != [1, 1, 3] or np.any(counts % n):
        return None
    x = species[counts == 3 * n][0]
    cations = species[counts == n]
    from ase.neighborlist import neighbor_list

    _, dmin = get_distances(atoms.positions, cell=atoms.cell, pbc=True)
    np.fill_diagonal(dmin, np.inf)
    cutoff = 1.8 * float(dmin.min())
    ii, jj, dd = neighbor_list("ijd", atoms, cutoff)
    best = None
    for c in cations:
        i = int(np.flatnonzero(syms == c)[0])
        sel = ii == i
        order = np.argsort(dd[sel])
        d = dd[sel][order]
        kinds = syms[jj[sel][order]]
        if len(d) < 6:
            continue
        shell = d[:6]
        gap_ok = len(d) == 6 or d[6] > 1.05 * shell.max()
        # six X neighbours forming the first coordination shell
        if np.all(kinds[:6] == x) and shell.max() < 1.15 * shell.min() and gap_ok:
            if best is None or shell.mean() < best[0]:
                best = (shell.mean(), i)
    return None if best is None else best[1]
