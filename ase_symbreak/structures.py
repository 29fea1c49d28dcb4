"""Structures: reading one from a file, and the cubic perovskite of the demo, examples and tests."""

from __future__ import annotations

import os
import re

from ase import Atoms

from ase_symbreak.errors import first_line

__all__ = ["StructureReadError", "cubic_perovskite", "read_structure", "right_handed"]


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
    """One ordered structure from a file in any :mod:`ase.io` format (the last image by default).

    Raises :class:`StructureReadError` (a ``ValueError``) with a one-line message naming the
    file: no such file, a symbolic-link loop, a folder or a named pipe in place of a file, an
    unknown format, a POSCAR whose count line asks for more atoms than the file holds, the
    first line of the reader's error, no atoms in the file, or partial occupancies (a CIF
    site shared by two elements or not fully occupied: the analysis needs an ordered
    structure). A left-handed 3-D cell comes back as ``-a, -b, -c``: the same lattice and
    atoms, in the right-handed cell phonopy needs.
    """
    from ase.io import read
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    _check_regular_file(path)
    try:
        format = filetype(os.fspath(path))
    except UnknownFileTypeError as err:
        raise StructureReadError(path, _unknown_format(path, err)) from None
    except Exception:  # noqa: BLE001 - the reader below says what is wrong
        format = None
    if format is not None and format not in ioformats:
        raise StructureReadError(path, _unknown_format(path, f"no reader for {format!r}"))
    if format == "vasp":
        _check_poscar_counts(path)
    if isinstance(index, int) and not isinstance(index, bool) and index not in (0, -1):
        try:
            count = len(read(os.fspath(path), index=":"))
        except Exception as err:  # ase raises many types for malformed files
            raise StructureReadError(path, _reason(err)) from None
        if not -count <= index < count:
            raise StructureReadError(
                path, f"index {index} is out of range: the file holds {count} structure(s)"
            )
    try:
        atoms = read(os.fspath(path), index=index)
    except UnknownFileTypeError as err:
        raise StructureReadError(path, _unknown_format(path, err)) from None
    except Exception as err:  # ase raises many types for malformed files
        raise StructureReadError(path, _reason(err)) from None
    if isinstance(atoms, list):  # an index that selects several images
        atoms = atoms[-1] if atoms else Atoms()
    if len(atoms) == 0:
        raise StructureReadError(path, "no atoms in file")
    _check_occupancy(path, atoms)
    return right_handed(atoms)


def _check_regular_file(path: str | os.PathLike) -> None:
    """:class:`StructureReadError` unless ``path`` is a regular file (or a link to one).

    A named pipe would block the reader forever; a folder reads as a BundleTrajectory.
    """
    import errno
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StructureReadError(path, "symbolic link loop") from None
        if os.path.lexists(path) and err.errno == errno.ENOENT:
            raise StructureReadError(path, "broken symbolic link (its target does not exist)")
        if err.errno == errno.ENOENT:
            raise StructureReadError(path, "no such file") from None
        raise StructureReadError(path, err.strerror or str(err)) from None
    if stat.S_ISDIR(mode):
        raise StructureReadError(path, "is a folder, not a structure file")
    if stat.S_ISFIFO(mode):
        raise StructureReadError(path, "is a named pipe, not a regular file")
    if not stat.S_ISREG(mode):
        raise StructureReadError(path, "is not a regular file (a device or socket)")


def _unknown_format(path: str | os.PathLike, err: Exception | str) -> str:
    suffix = os.path.splitext(os.fspath(path))[1] or "(no suffix)"
    why = err if isinstance(err, str) else first_line(err)
    return (
        f"unknown file format {suffix} ({why}); use a format ase.io reads, "
        "e.g. .cif, POSCAR/.vasp, .extxyz, .traj"
    )


def _reason(err: Exception) -> str:
    """The reader's error as a reason: its first line, or what the type says when empty."""
    text = str(err).strip()
    if text:
        return first_line(err)
    if isinstance(err, (AssertionError, IndexError, KeyError, StopIteration)):
        return f"malformed or truncated file (the reader stopped with {type(err).__name__})"
    return type(err).__name__


def _check_poscar_counts(path: str | os.PathLike) -> None:
    """Compare a POSCAR's count line with its coordinate lines before ASE reads it.

    More atoms counted than coordinates given: :class:`StructureReadError` (ASE would try to
    read them all, a hang for a count of 999999999). Fewer: a warning, since ASE then reads
    another compound from the first lines. A file this check cannot parse is left to ASE.
    """
    import itertools
    import logging

    try:
        with open(path, errors="replace") as handle:
            head = [line.split() for line in itertools.islice(handle, 9)]
            if len(head) < 8:
                return
            counts_line = 6 if not _all_ints(head[5]) else 5
            counts = [int(c) for c in head[counts_line]]
            rest = head[counts_line + 1 :]
            if rest and rest[0] and rest[0][0][:1].lower() == "s":  # Selective dynamics
                rest = rest[1:]
            if not rest or not rest[0] or rest[0][0][:1].lower() not in "cdk":
                return
            expected = sum(counts)
            given = len(rest) - 1
            for line in handle:  # read at most expected + 1 coordinate lines
                if given > expected:
                    break
                if len(line.split()) < 3:
                    break
                given += 1
    except (OSError, ValueError, IndexError):
        return
    if any(c < 0 for c in counts):
        raise StructureReadError(path, f"negative atom count in the POSCAR count line {counts}")
    if expected > given:
        raise StructureReadError(
            path,
            f"the POSCAR count line {counts} asks for {expected} atoms but the file holds "
            f"only {given} coordinate line(s)",
        )
    if expected < given:
        logging.getLogger(__name__).warning(
            "%s: the POSCAR count line %s counts %d atoms but more coordinate lines follow; "
            "only the first %d are read (is an element missing from the count line?)",
            path,
            counts,
            expected,
            expected,
        )


def _all_ints(words: list[str]) -> bool:
    return bool(words) and all(re.fullmatch(r"[+-]?\d+", w) for w in words)


#: Occupancies this close to 1 count as full (CIFs round, e.g. 0.9999).
OCCUPANCY_TOLERANCE = 0.01


def _check_occupancy(path: str | os.PathLike, atoms: Atoms) -> None:
    """:class:`StructureReadError` naming the sites of a CIF that are shared by several
    elements or not fully occupied (ASE would pick one element and take it as full).
    """
    occupancy = atoms.info.get("occupancy")
    kinds = atoms.arrays.get("spacegroup_kinds")
    if not isinstance(occupancy, dict) or kinds is None:
        return
    sites = []
    for kind, species in occupancy.items():
        if not isinstance(species, dict):
            continue
        total = sum(float(v) for v in species.values())
        if len(species) == 1 and abs(total - 1.0) <= OCCUPANCY_TOLERANCE:
            continue
        where = [int(i) for i in (kinds == int(kind)).nonzero()[0]]
        if not where:  # a kind merged into another site (the same position): named there
            continue
        held = " + ".join(f"{el} {float(v):g}" for el, v in species.items())
        atom = where[0]
        frac = ", ".join(f"{x:.4g}" for x in atoms.get_scaled_positions(wrap=False)[atom])
        more = f" and {len(where) - 1} equivalent atom(s)" if len(where) > 1 else ""
        sites.append(f"atom {atom} at ({frac}){more} holds {held}")
    if sites:
        raise StructureReadError(
            path,
            f"partial occupancy on {len(sites)} site(s): {'; '.join(sites)}; the analysis "
            "needs an ordered structure (one element per site, occupancy 1): order it first "
            "(e.g. in a supercell with pymatgen's OrderDisorderedStructureTransformation)",
        )


def right_handed(atoms: Atoms) -> Atoms:
    """``atoms`` with a right-handed cell: a 3-D periodic cell with a negative determinant
    becomes ``-a, -b, -c`` (the same lattice, the same Cartesian positions); others unchanged.
    """
    import logging

    import numpy as np

    if not atoms.pbc.all() or not np.isfinite(atoms.cell.array).all():
        return atoms
    if np.linalg.det(atoms.cell.array) >= 0:
        return atoms
    logging.getLogger(__name__).info("left-handed cell: using -a, -b, -c (the same lattice)")
    atoms = atoms.copy()
    atoms.set_cell(-atoms.cell.array, scale_atoms=False)
    return atoms


def cubic_perovskite(a: float = 3.9, symbols: str = "SrTiO3") -> Atoms:
    """Cubic ABX3 perovskite (Pm-3m) with the B site at the origin."""
    return Atoms(
        symbols,
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )
