"""The layers of ARCHITECTURE.md: each module imports only from its own layer or below.

Every import of every module of the package is read with :mod:`ast` (module level, inside
functions and under ``if TYPE_CHECKING:`` alike: a lower layer should not name an upper
layer's types either; relative imports resolved to absolute names) and checked against
:data:`LAYER_OF`. ``tests/cli/test_cli_layout.py`` checks the other rules (no cycles; only
``cli/`` imports typer or rich). Imports by a computed name (``importlib.import_module``:
the model registry's ``module:attr`` specs, ``workflows``' lazy ``screen``) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ase_symbreak"

#: Layers from the bottom up; a module may import from its own layer and those before it.
LAYERS = (
    "foundations",
    "calculators",
    "symmetry core",
    "analyses",
    "testing helpers",
    "workflows",
    "faces",
)

#: Layer of each module, by the longest dotted prefix listed (ARCHITECTURE.md's table).
LAYER_OF = {
    "ase_symbreak": "foundations",  # the package's __init__: the version only
    "ase_symbreak._moved": "foundations",  # forwards old module paths (imports nothing)
    "ase_symbreak.codec": "foundations",
    "ase_symbreak.validation": "foundations",
    "ase_symbreak.neighbors": "foundations",
    "ase_symbreak.tomlfile": "foundations",
    "ase_symbreak.structures": "foundations",
    "ase_symbreak.errors": "foundations",
    "ase_symbreak.protocols": "foundations",
    "ase_symbreak.threads": "foundations",
    "ase_symbreak.progress": "foundations",
    "ase_symbreak.htmlpage": "foundations",
    "ase_symbreak.torch_utils": "foundations",
    "ase_symbreak.calculator": "calculators",
    "ase_symbreak.hessian": "calculators",
    "ase_symbreak.models": "calculators",
    "ase_symbreak.nn": "calculators",
    # old paths of the modules moved into hessian/: shims that re-export them
    "ase_symbreak.allocator": "calculators",
    "ase_symbreak.autodiff": "calculators",
    "ase_symbreak.forceconstants": "calculators",
    "ase_symbreak.graph": "calculators",
    "ase_symbreak.hessian_colouring": "calculators",
    "ase_symbreak.io": "calculators",  # moved to hessian/files.py
    "ase_symbreak.symmetry": "symmetry core",
    "ase_symbreak.phonons": "analyses",
    "ase_symbreak.orderparams": "analyses",
    "ase_symbreak.training": "analyses",
    "ase_symbreak.environments": "analyses",
    "ase_symbreak.explain": "analyses",
    # physics checks and toy models for tests and users' models: they use calculators and
    # foundations today and may use the analyses; the package's own layers do not use them
    # (only workflows/ and cli/ could)
    "ase_symbreak.testing": "testing helpers",
    "ase_symbreak.workflows": "workflows",
    "ase_symbreak.cli": "faces",
}

#: Known imports against the layers, ``(importer, imported module) -> why``; empty today.
EXCEPTIONS: dict[tuple[str, str], str] = {}


# ----------------------------------------------------------------------------- reading
def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the package in ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _longest_prefix(name: str, known) -> str | None:
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return None


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of a module of the package by ``name``.

    ``from X import n`` counts as importing ``X.n`` where that is a module, else ``X``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                for a in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):
            hit = _longest_prefix(target, known)
            if hit is not None and hit != name:
                found.append((node.lineno, hit))
    return sorted(found)


def layer(module: str, layer_of: dict[str, str]) -> str | None:
    """The layer of ``module``: its own row, else its longest listed prefix below the root
    (the root package's row is its ``__init__`` alone: a new top-level module needs a row).
    """
    if module in layer_of:
        return layer_of[module]
    hit = _longest_prefix(module, layer_of)
    return None if hit is None or "." not in hit else layer_of[hit]


def violations(
    root: Path, layer_of: dict[str, str], layers: tuple[str, ...] = LAYERS
) -> dict[tuple[str, str], str]:
    """``(importer, imported) -> "file:line: a (layer) imports b (layer)"`` for every import
    of a module from a layer above the importer's.
    """
    known = modules(root)
    rank = {name: i for i, name in enumerate(layers)}
    found = {}
    for name, path in known.items():
        own = layer(name, layer_of)
        for line, target in imports(name, path, known):
            theirs = layer(target, layer_of)
            if own is None or theirs is None or rank[theirs] <= rank[own]:
                continue
            where = f"{path.relative_to(root.parent)}:{line}"
            found.setdefault((name, target), f"{where}: {name} ({own}) imports {target} ({theirs})")
    return found


# ----------------------------------------------------------------------------- the package
def test_every_module_has_a_layer():
    missing = [name for name in modules(PACKAGE) if layer(name, LAYER_OF) is None]
    assert not missing, f"modules without a layer (add them to LAYER_OF): {missing}"
    assert set(LAYER_OF.values()) <= set(LAYERS)


def test_modules_import_only_their_layer_or_below():
    found = violations(PACKAGE, LAYER_OF)
    new = [text for key, text in sorted(found.items()) if key not in EXCEPTIONS]
    assert not new, "imports from a higher layer (ARCHITECTURE.md, Layers):\n" + "\n".join(new)


def test_exceptions_are_still_needed():
    stale = sorted(set(EXCEPTIONS) - set(violations(PACKAGE, LAYER_OF)))
    assert not stale, f"EXCEPTIONS that no module needs any more: {stale}"


def test_every_row_names_a_module():
    """No stale rows: each module or package named in LAYER_OF exists (drop the row of a
    module that is gone, e.g. an old-path shim).
    """
    known = modules(PACKAGE)
    stale = [prefix for prefix in LAYER_OF if prefix not in known]
    assert not stale, f"LAYER_OF names modules that do not exist: {stale}"


# ----------------------------------------------------------------------------- the checker
@pytest.fixture
def toy_package(tmp_path) -> Path:
    """``pkg``: base (bottom), core (middle, a package), top (top)."""
    root = tmp_path / "pkg"
    (root / "core").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "base.py": "import os\nX = 1\n",
        "core/__init__.py": "from .engine import run\n",
        "core/engine.py": "from ..base import X\n\ndef run():\n    return X\n",
        "top.py": "from pkg.core import engine\nimport pkg.base\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


TOY_LAYERS = ("bottom", "middle", "top")
TOY_LAYER_OF = {"pkg": "bottom", "pkg.base": "bottom", "pkg.core": "middle", "pkg.top": "top"}


def test_checker_resolves_relative_and_from_imports(toy_package):
    known = modules(toy_package)
    assert imports("pkg.core", known["pkg.core"], known) == [(1, "pkg.core.engine")]
    assert imports("pkg.core.engine", known["pkg.core.engine"], known) == [(1, "pkg.base")]
    assert imports("pkg.top", known["pkg.top"], known) == [(1, "pkg.core.engine"), (2, "pkg.base")]
    assert violations(toy_package, TOY_LAYER_OF, TOY_LAYERS) == {}


def test_a_new_top_level_module_has_no_layer_until_listed():
    assert layer("pkg.core.engine", TOY_LAYER_OF) == "middle"
    assert layer("pkg", TOY_LAYER_OF) == "bottom"
    assert layer("pkg.extra", TOY_LAYER_OF) is None  # the root's row is not a prefix


def test_checker_finds_an_upward_import_inside_a_function(toy_package):
    (toy_package / "base.py").write_text("def f():\n    from .core.engine import run\n")
    found = violations(toy_package, TOY_LAYER_OF, TOY_LAYERS)
    assert list(found) == [("pkg.base", "pkg.core.engine")]
    assert "pkg/base.py:2: pkg.base (bottom) imports pkg.core.engine (middle)" in found.values()


def test_checker_finds_an_upward_import_under_type_checking(toy_package):
    (toy_package / "core" / "engine.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.top\n"
    )
    assert list(violations(toy_package, TOY_LAYER_OF, TOY_LAYERS)) == [
        ("pkg.core.engine", "pkg.top")
    ]
