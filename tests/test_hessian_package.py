"""The exact-Hessian engine lives in ``ase_symbreak.hessian``; the old paths still import."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import ase_symbreak.hessian as hessian

#: old path -> new path (moved in issue 29; the old ones warn and will be removed)
MOVED = {
    "ase_symbreak.autodiff": "ase_symbreak.hessian.autodiff",
    "ase_symbreak.forceconstants": "ase_symbreak.hessian.forceconstants",
    "ase_symbreak.hessian_colouring": "ase_symbreak.hessian.colouring",
    "ase_symbreak.graph": "ase_symbreak.hessian.graph",
    "ase_symbreak.allocator": "ase_symbreak.hessian.allocator",
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_and_is_the_new_module(old: str, monkeypatch) -> None:
    new = importlib.import_module(MOVED[old])
    monkeypatch.delitem(sys.modules, old, raising=False)  # import it afresh: warn again
    with pytest.warns(FutureWarning, match=rf"{old} moved to {MOVED[old]}; the old path") as rec:
        __import__(old)
    moved = [w for w in rec if issubclass(w.category, FutureWarning)]
    assert moved[0].filename == __file__  # stacklevel=2: the warning points at the importer
    module = sys.modules[old]
    assert module is new
    assert getattr(importlib.import_module("ase_symbreak"), old.rpartition(".")[2]) is new
    for name in vars(new):  # public and private names alike (tests use _graph_inputs, ...)
        assert getattr(module, name) is getattr(new, name)


def test_old_names_are_the_new_objects(monkeypatch) -> None:
    for old in MOVED:
        monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(FutureWarning):
        from ase_symbreak.allocator import _applied, keep_freed_memory
        from ase_symbreak.autodiff import _graph_inputs, hessian_rows
        from ase_symbreak.forceconstants import symmetry_map
        from ase_symbreak.graph import neighbor_list
        from ase_symbreak.hessian_colouring import coloured_hessian
    from ase_symbreak.hessian import allocator, autodiff

    assert hessian_rows is hessian.hessian_rows and _graph_inputs is autodiff._graph_inputs
    assert symmetry_map is hessian.symmetry_map and neighbor_list is hessian.neighbor_list
    assert coloured_hessian is hessian.coloured_hessian
    assert keep_freed_memory is hessian.keep_freed_memory and _applied is allocator._applied


def test_package_exports_what_it_lists() -> None:
    assert len(hessian.__all__) == len(set(hessian.__all__))
    for name in hessian.__all__:
        assert getattr(hessian, name).__module__.startswith("ase_symbreak.hessian.")


def test_nothing_in_the_repo_imports_an_old_path() -> None:
    """The shims are for users: the package, its tests and benchmarks must not warn."""
    package = Path(hessian.__file__).resolve().parents[1]
    root = package.parent
    old_names = {old.rpartition(".")[2] for old in MOVED}
    paths = [
        p
        for folder in ("ase_symbreak", "tests", "benchmarks")
        for p in (root / folder).rglob("*.py")
    ]
    offenders = []
    for path in sorted(paths):
        if (path.parent == package and path.stem in old_names) or path == Path(__file__).resolve():
            continue  # the shims themselves, and this test of them
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                used = [a.name for a in node.names if a.name in MOVED]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                used = [node.module] if node.module in MOVED else []
                if node.module == "ase_symbreak":
                    used += [a.name for a in node.names if a.name in old_names]
            else:
                continue
            offenders += [f"{path.relative_to(root)}:{node.lineno}: {u}" for u in used]
    assert not offenders, "old import paths used inside the package:\n" + "\n".join(offenders)
