"""Distortion-search recipes (TOML), run by ``ase-symbreak run recipes/FILE.toml``.

Example::

    name = "srtio3"
    [structure]
    file = "structures/SrTiO3_cubic.cif"   # relative to the recipe
    # or: builtin = "cubic_perovskite", a = 3.9, symbols = "SrTiO3"
    [model]
    name = "7net-0"                          # optional; default: embedded SevenNet-0
    [search]                                 # any field of SearchSettings
    supercell = [2, 2, 2]
    threshold_thz = -0.1
    [output]
    dir = "results/srtio3"                   # relative to the working directory

A recipe is data that people share, so it is confined: its results go to a folder inside
the working directory (``[output] dir``, relative and without ``..``; by default
``results/NAME`` with ``NAME`` sanitised like the search's file names), and every size it
controls (atoms of the supercell, amplitudes, steps, depth, nesting) is bounded before any
work. ``ase-symbreak run --out FOLDER`` writes elsewhere.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from ase import Atoms

from ase_symbreak.errors import first_line
from ase_symbreak.structures import StructureReadError, cubic_perovskite, read_structure
from ase_symbreak.tomlfile import TomlFileError, read_toml
from ase_symbreak.validation import check_atom_count

from .search import SearchSettings
from .storage import safe_filename

__all__ = ["Recipe", "RecipeError", "load_recipe", "check_search_sizes", "BUILTINS"]

BUILTINS = ("cubic_perovskite",)
_SECTIONS = {"name", "description", "structure", "model", "search", "output"}

#: Lattice parameters a builtin structure may have (Angstrom).
BUILTIN_A_RANGE = (1.0, 100.0)
#: Most entries of ``[search] amplitudes``, and the largest one (Angstrom).
MAX_AMPLITUDES = 100
MAX_AMPLITUDE = 10.0
#: Largest ``[search] max_steps`` and ``max_depth``.
MAX_STEPS = 100_000
MAX_DEPTH = 20


class RecipeError(ValueError):
    """A recipe that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True)
class Recipe:
    name: str
    structure: Atoms
    structure_source: str
    model: str | None
    settings: SearchSettings
    out_dir: Path


def _structure(spec: dict, base: Path) -> tuple[Atoms, str]:
    if not isinstance(spec, dict):
        raise RecipeError("[structure] must be a table with 'file' or 'builtin'")
    if ("file" in spec) == ("builtin" in spec):
        raise RecipeError("[structure] needs exactly one of 'file' or 'builtin'")
    if "file" in spec:
        unknown = sorted(set(spec) - {"file", "index"})
        if unknown:
            raise RecipeError(f"unknown key(s) {unknown} in [structure]")
        if not isinstance(spec["file"], str):
            raise RecipeError(f"[structure] file must be a string, got {spec['file']!r}")
        index = spec.get("index", -1)
        if not isinstance(index, int) or isinstance(index, bool):
            raise RecipeError(f"[structure] index must be an integer, got {index!r}")
        path = (base / spec["file"]).resolve()
        try:
            atoms = read_structure(path, index=index)
        except StructureReadError as err:
            raise RecipeError(f"cannot read structure {path}: {err.reason}") from None
        return atoms, str(path)
    kind = spec["builtin"]
    if kind not in BUILTINS:
        raise RecipeError(f"unknown builtin structure {kind!r}; known: {list(BUILTINS)}")
    unknown = sorted(set(spec) - {"builtin", "a", "symbols"})
    if unknown:
        raise RecipeError(f"unknown key(s) {unknown} in [structure] for builtin {kind!r}")
    a, symbols = spec.get("a", 3.9), spec.get("symbols", "SrTiO3")
    low, high = BUILTIN_A_RANGE
    if not _is_number(a) or not low <= a <= high:
        raise RecipeError(
            f"[structure] a must be a lattice parameter in Angstrom between {low:g} and "
            f"{high:g}, got {a!r}"
        )
    if not isinstance(symbols, str):
        raise RecipeError(f"[structure] symbols must be a string like 'SrTiO3', got {symbols!r}")
    try:
        atoms = cubic_perovskite(a=float(a), symbols=symbols)
    except Exception as err:
        raise RecipeError(f"bad builtin structure {spec}: {err}") from None
    return atoms, f"builtin {kind} {spec}"


def load_recipe(path: str | Path, allow_import: bool = False) -> Recipe:
    """Parse and validate a recipe; raises :class:`RecipeError` with a one-line message.

    A recipe is data that people share: a ``[model] name`` that is an import path
    (``package.module:ClassName``, which imports and runs code) is refused unless
    ``allow_import`` (CLI ``run --allow-code-models``).
    """
    path = Path(path)
    try:
        data = read_toml(path, "recipe")
    except TomlFileError as err:
        raise RecipeError(str(err)) from None
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise RecipeError(
            f"unknown section(s) or key(s) {unknown} in {path}; known: {sorted(_SECTIONS)}"
        )
    if "structure" not in data:
        raise RecipeError(f"{path} has no [structure] section")
    atoms, source = _structure(data["structure"], path.parent)
    model_spec = data.get("model", {})
    if not isinstance(model_spec, dict) or sorted(set(model_spec) - {"name", "file"}):
        raise RecipeError("[model] accepts 'name' or 'file' only")
    model = model_spec.get("name")
    if model is not None and not isinstance(model, str):
        raise RecipeError(f"[model] name must be a string, got {model!r}")
    if model is not None and ":" in model and not allow_import:
        raise RecipeError(
            f"[model] name {model!r} is an import path, which runs code; a recipe may name "
            "it only when you allow it (ase-symbreak run --allow-code-models)"
        )
    if "file" in model_spec:
        model = str((path.parent / str(model_spec["file"])).resolve())
    search = data.get("search", {})
    if not isinstance(search, dict):
        raise RecipeError("[search] must be a table")
    check_search_sizes(search, len(atoms))
    try:
        settings = SearchSettings.from_dict(search)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"bad [search] in {path}: {first_line(err)}") from None
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise RecipeError(f"name must be a string, got {name!r}")
    output = data.get("output", {})
    if not isinstance(output, dict) or sorted(set(output) - {"dir"}):
        raise RecipeError("[output] accepts 'dir' only")
    if "dir" in output:
        out_dir = _output_dir(output["dir"])
    else:
        out_dir = Path("results") / _folder_name(name)
    return Recipe(
        name=name,
        structure=atoms,
        structure_source=source,
        model=model,
        settings=settings,
        out_dir=out_dir,
    )


def _is_number(value: Any) -> bool:
    """A finite real number (TOML int or float; not a boolean)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _folder_name(name: str) -> str:
    """``name`` as one folder name: characters other than letters, digits, ``_.-`` as ``_``
    (:func:`~.storage.safe_filename`) and no leading dots, so that ``../../x`` stays inside
    ``results/``.
    """
    folder = safe_filename(name).lstrip(".")
    if not any(c.isalnum() for c in folder):
        raise RecipeError(
            f"name {name!r} has no letters or digits to name the results folder "
            "results/NAME; give another name or an [output] dir"
        )
    return folder


def _output_dir(value: Any) -> Path:
    """``[output] dir`` as a relative folder inside the working directory.

    Absolute paths and ``..`` are refused: a shared recipe must not write, replace or remove
    anything outside the folder it runs in (``run --out`` writes elsewhere).
    """
    if not isinstance(value, str):
        raise RecipeError(f"[output] dir must be a string, got {value!r}")
    parts = PurePath(value).parts
    if not value.strip() or PurePath(value).is_absolute() or value.startswith("~"):
        problem = "an absolute path" if value.strip() else "empty"
    elif ".." in parts:
        problem = "a path with '..'"
    elif not [p for p in parts if p != "."]:
        problem = "the working directory itself"
    else:
        return Path(value)
    raise RecipeError(
        f"[output] dir {value!r} is {problem}; a recipe writes only to a folder inside the "
        "working directory (pass --out FOLDER to write elsewhere)"
    )


def check_search_sizes(search: dict, n_atoms: int = 1) -> None:
    """:class:`RecipeError` (a ``ValueError``) for a ``[search]`` size above its limit, before
    any work: a supercell of more than :func:`~ase_symbreak.validation.max_atoms` atoms for a
    parent of ``n_atoms`` (or not of integers), more than :data:`MAX_AMPLITUDES` amplitudes
    or one that is not a number in (0, :data:`MAX_AMPLITUDE`], ``max_steps`` or
    ``max_depth`` above their limits.
    """
    for key in ("supercell", "child_supercell"):
        if key in search and not (key == "supercell" and search[key] == "auto"):
            _check_supercell(key, search[key], n_atoms)
    if "amplitudes" in search:
        amplitudes = search["amplitudes"]
        if not isinstance(amplitudes, list) or not amplitudes:
            raise RecipeError(f"[search] amplitudes must be a list of numbers, got {amplitudes!r}")
        if len(amplitudes) > MAX_AMPLITUDES:
            raise RecipeError(
                f"[search] amplitudes has {len(amplitudes)} entries; at most {MAX_AMPLITUDES}"
            )
        bad = [a for a in amplitudes if not _is_number(a) or not 0 < a <= MAX_AMPLITUDE]
        if bad:
            raise RecipeError(
                f"[search] amplitudes must be numbers in (0, {MAX_AMPLITUDE:g}] Angstrom, "
                f"got {bad[0]!r}"
            )
    for key, limit in (("max_steps", MAX_STEPS), ("max_depth", MAX_DEPTH)):
        value = search.get(key, 0)
        if _is_number(value) and value > limit:
            raise RecipeError(f"[search] {key} = {value!r} is above the limit {limit}")


def _check_supercell(key: str, value: Any, n_atoms: int) -> None:
    """3 positive integers or a 3x3 integer matrix whose supercell has at most the atom
    limit; booleans and floats are refused (TOML ``true`` is not 1, ``1e6`` not an integer).
    """
    rows = value if isinstance(value, list) else None
    flat = rows if rows is not None and all(not isinstance(r, list) for r in rows) else None
    matrix = (
        rows
        if rows is not None and len(rows) == 3 and all(isinstance(r, list) for r in rows)
        else None
    )
    entries = flat if flat is not None else [x for r in (matrix or []) for x in r]
    shape_ok = (flat is not None and len(flat) == 3) or (
        matrix is not None and all(len(r) == 3 for r in matrix)
    )
    integers = all(isinstance(x, int) and not isinstance(x, bool) for x in entries)
    if not shape_ok or not integers:
        raise RecipeError(
            f"[search] {key} must be 3 integers or a 3x3 integer matrix, got {value!r}"
        )
    array = np.array(entries, dtype=float)
    if flat is not None:
        if (array < 1).any():
            raise RecipeError(f"[search] {key} entries must be positive, got {value!r}")
        cells = float(np.prod(array))
    else:
        cells = abs(float(np.linalg.det(array.reshape(3, 3))))
    try:
        check_atom_count(round(cells * n_atoms), what=f"[search] {key} {value!r}")
    except ValueError as err:
        raise RecipeError(str(err)) from None
