"""The structures of a screen: files and folders read, names made unique, parents checked."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from ase_symbreak.structures import StructureReadError, read_structure

from ..search import SearchSettings

__all__ = ["STRUCTURE_SUFFIXES", "StructureInput", "Structures", "check_input", "read_structures"]

#: File endings read from a folder (plus files named POSCAR*/CONTCAR*).
STRUCTURE_SUFFIXES = (
    ".cif",
    ".vasp",
    ".poscar",
    ".xyz",
    ".extxyz",
    ".traj",
    ".json",
    ".pdb",
    ".xsf",
    ".in",
)


@dataclass(frozen=True)
class StructureInput:
    """A named structure to screen; ``atoms`` is None and ``error`` says why when unreadable."""

    name: str
    source: str
    atoms: Atoms | None
    error: str = ""


Structures = (
    Mapping[str, Atoms] | Iterable["Atoms | StructureInput | str | os.PathLike"] | str | os.PathLike
)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "structure"


def _read_one(path: Path) -> tuple[Atoms | None, str]:
    try:
        return read_structure(path), ""
    except StructureReadError as err:
        return None, str(err)


def _is_structure_file(path: Path) -> bool:
    return (
        path.is_file()
        and not path.name.startswith(".")
        and (
            path.suffix.lower() in STRUCTURE_SUFFIXES
            or path.name.upper().startswith(("POSCAR", "CONTCAR"))
        )
    )


def _files(path: Path) -> list[Path]:
    """``path`` itself, or the structure files of a folder, sorted."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _is_structure_file(p))
        if not files:
            raise FileNotFoundError(f"no structure files in folder {path}")
        return files
    if path.exists():
        return [path]
    raise FileNotFoundError(f"no such file or folder: {path}")


def read_structures(inputs: Structures) -> list[StructureInput]:
    """Named structures from a mapping, or a list of ``Atoms``, files, folders, inputs.

    Names are file stems (folders: every structure file inside, sorted) or ``NNN_FORMULA``
    for ``Atoms``; repeated names get ``-2``, ``-3``; a :class:`StructureInput` is kept. A
    file that cannot be read becomes an input with its error (it fails alone). A missing
    path raises ``FileNotFoundError``.
    """
    items: list[tuple[str, str, Atoms | None, str]] = []
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        for name, atoms in inputs.items():
            items.append((str(name), "input", atoms, ""))
    else:
        for i, item in enumerate(inputs):
            if isinstance(item, StructureInput):
                items.append((item.name, item.source, item.atoms, item.error))
            elif isinstance(item, Atoms):
                formula = item.get_chemical_formula(mode="metal", empirical=True)
                items.append((f"{i:03d}_{formula}", "input", item, ""))
            else:
                for f in _files(Path(item)):
                    atoms, error = _read_one(f)
                    items.append((f.stem if f.suffix else f.name, str(f), atoms, error))
    seen: dict[str, int] = {}
    out = []
    for name, source, atoms, error in items:
        base = _safe_name(name)
        seen[base] = seen.get(base, 0) + 1
        unique = base if seen[base] == 1 else f"{base}-{seen[base]}"
        out.append(StructureInput(unique, source, atoms, error))
    return out


def check_input(atoms: Atoms, settings: SearchSettings) -> str:
    """'' for a usable parent, else the reason (checked before any task is sent): also a
    supercell of more atoms than :func:`~ase_symbreak.validation.max_atoms`.
    """
    import numpy as np

    from ase_symbreak.validation import check_atom_count

    from ..steps import check_parent, check_supercell

    try:
        check_parent(atoms, settings.symprec)
        settings = settings.for_structure(atoms)
        cells = abs(round(float(np.linalg.det(np.asarray(settings.supercell, dtype=float)))))
        check_atom_count(len(atoms) * cells, what=f"supercell {list(settings.supercell)}")
        check_parent(atoms, settings.symprec)
        check_supercell(atoms, np.asarray(settings.supercell, dtype=int), settings.symprec)
    except (ValueError, TypeError) as err:
        return f"bad structure: {err}"
    return ""
