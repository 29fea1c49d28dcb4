"""Structures: reading one from a file, and the cubic perovskite of the demo, examples and tests."""

from __future__ import annotations

import os

from ase import Atoms

from ase_symbreak.errors import first_line

__all__ = ["StructureReadError", "cubic_perovskite", "read_structure"]


class StructureReadError(ValueError):
    """A structure file that cannot be read; the message is ``cannot read PATH: REASON``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path, self.reason = path, reason

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def as_atoms(structure) -> Atoms:
    """``structure`` as ASE ``Atoms``: Atoms unchanged, a pymatgen ``Structure`` converted
    (``AseAtomsAdaptor``); ``TypeError`` naming the type otherwise.
    """
    if isinstance(structure, Atoms):
        return structure
    try:
        from pymatgen.core import Structure
    except ImportError:  # pragma: no cover - pymatgen is a dependency
        pass
    else:
        if isinstance(structure, Structure):
            from pymatgen.io.ase import AseAtomsAdaptor

            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.pbc = True
            return atoms
    raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(structure).__name__}")


def read_structure(path: str | os.PathLike, index: int | str = -1) -> Atoms:
    """One structure from a file in any :mod:`ase.io` format (the last image by default).

    Raises :class:`StructureReadError` (a ``ValueError``) with a one-line message naming the
    file: no such file, the first line of the reader's error, or no atoms in the file.
    """
    from ase.io import read

    if not os.path.exists(path):
        raise StructureReadError(path, "no such file")
    if isinstance(index, int) and not isinstance(index, bool) and index not in (0, -1):
        try:
            count = len(read(os.fspath(path), index=":"))
        except Exception as err:  # ase raises many types for malformed files
            raise StructureReadError(path, first_line(err)) from None
        if not -count <= index < count:
            raise StructureReadError(
                path, f"index {index} is out of range: the file holds {count} structure(s)"
            )
    try:
        atoms = read(os.fspath(path), index=index)
    except Exception as err:  # ase raises many types for malformed files
        raise StructureReadError(path, first_line(err)) from None
    if isinstance(atoms, list):  # an index that selects several images
        atoms = atoms[-1] if atoms else Atoms()
    if len(atoms) == 0:
        raise StructureReadError(path, "no atoms in file")
    return atoms


def cubic_perovskite(a: float = 3.9, symbols: str = "SrTiO3") -> Atoms:
    """Cubic ABX3 perovskite (Pm-3m) with the B site at the origin."""
    return Atoms(
        symbols,
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )
