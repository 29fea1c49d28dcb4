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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from ase_symbreak.errors import first_line
from ase_symbreak.structures import StructureReadError, cubic_perovskite, read_structure

from .search import SearchSettings

__all__ = ["Recipe", "RecipeError", "load_recipe", "BUILTINS"]

BUILTINS = ("cubic_perovskite",)
_SECTIONS = {"name", "description", "structure", "model", "search", "output"}


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
    try:
        atoms = cubic_perovskite(
            a=float(spec.get("a", 3.9)), symbols=str(spec.get("symbols", "SrTiO3"))
        )
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
        text = path.read_text()
    except OSError as err:
        raise RecipeError(f"cannot read recipe {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path} is not a text (TOML) file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"malformed TOML in {path}: {err}") from None
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
    if not isinstance(output.get("dir", ""), str):
        raise RecipeError(f"[output] dir must be a string, got {output['dir']!r}")
    out_dir = Path(output.get("dir", f"results/{name}"))
    return Recipe(
        name=name,
        structure=atoms,
        structure_source=source,
        model=model,
        settings=settings,
        out_dir=out_dir,
    )
