"""Layout of the package: the command line alone uses typer and rich; no import cycles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ase_symbreak"
_UI_IMPORT = re.compile(r"^\s*(import|from)\s+(typer|rich)\b")


# ----------------------------------------------------------------------------- typer and rich
def test_only_the_cli_imports_typer_or_rich():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if rel.parts[1] == "cli":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _UI_IMPORT.match(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "typer/rich imported outside ase_symbreak/cli/:\n" + "\n".join(offenders)


# ----------------------------------------------------------------------------- import graph
def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the package in ``root``."""
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Every import statement, in functions too, except under ``if TYPE_CHECKING:``."""

    def __init__(self) -> None:
        self.found: list[tuple[str, tuple[str, ...], int]] = []  # (module, names, level)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(alias.name, (), 0) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node.module or "", tuple(a.name for a in node.names), node.level))


def _known(name: str, modules: dict) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return None


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> modules of the package its imports execute.

    ``from X import n`` goes to ``X.n`` when that is a module, else to ``X``; relative imports
    are resolved. Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, except those
    that contain the importing module (they are being imported already).
    """
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        targets = set()
        for module, names, level in visitor.found:
            if level:
                base = package.split(".")[: len(package.split(".")) - (level - 1)]
                module = ".".join(base + ([module] if module else []))
            full = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if len(full) < len(names) or not names:
                full.append(module)
            targets.update(t for t in (_known(f, modules) for f in full) if t is not None)
        own = set(_ancestors(name))
        runs = {m for t in targets for m in (*_ancestors(t), t)}
        graph[name] = {m for m in runs if m in modules and m not in own and m != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of ``graph`` found by depth-first search, each as ``[a, b, ..., a]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph(PACKAGE))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.fixture
def toy_package(tmp_path) -> Path:
    """``pkg``: a <-> b through an import inside a function; c <-> d only under TYPE_CHECKING."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from . import b\n",
        "b.py": "from pkg.a import f\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import D\n",
        "d.py": "from .c import TYPE_CHECKING\nimport pkg.sub.e\n",
        "sub/__init__.py": "from .e import E\n",
        "sub/e.py": "from ..c import TYPE_CHECKING\nE = 1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_cycle_finder_sees_function_level_and_relative_imports(toy_package):
    graph = import_graph(toy_package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == set()  # TYPE_CHECKING imports are left out
    assert graph["pkg.d"] == {"pkg.c", "pkg.sub", "pkg.sub.e"}  # the package pkg.sub runs too
    assert graph["pkg.sub.e"] == {"pkg.c"}  # its own package is already being imported
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_cycle_finder_fails_on_a_cycle_through_a_package(toy_package):
    """d imports pkg.sub.e, which runs pkg.sub first; e importing d closes a cycle."""
    (toy_package / "sub" / "e.py").write_text("from pkg.d import x\n")
    cycles = find_cycles(import_graph(toy_package))
    assert ["pkg.d", "pkg.sub", "pkg.sub.e", "pkg.d"] in cycles
