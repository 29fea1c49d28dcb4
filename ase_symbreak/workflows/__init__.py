"""Distortion-search workflow: each step a function of ASE ``Atoms`` returning a
serialisable result.

>>> from ase_symbreak.workflows import distortion_search, SearchSettings   # doctest: +SKIP
>>> result = distortion_search(                                            # doctest: +SKIP
...     atoms, settings=SearchSettings(supercell=(2, 2, 2)), out_dir="run"
... )

Many structures on a Dask cluster: :func:`screen` (extra ``[dask]``); the search as jobflow
jobs: :mod:`ase_symbreak.workflows.flows` (extra ``[jobflow]``).
"""

from .calcspec import CalculatorSpec
from .descent import descend
from .driver import distortion_search, search_steps
from .folder import load_search
from .html_report import write_report
from .search import (
    STEPS,
    ChildResult,
    SearchPlan,
    SearchResult,
    finish_search,
    plan_search,
    run_child,
    search_one_level,
)
from .settings import DEFAULTS, SearchSettings
from .steps import (
    Candidate,
    CondenseResult,
    Identification,
    RelaxResult,
    condense,
    formula_units,
    identify,
    phonons,
    relax,
    relax_child,
    soft_modes,
)
from .tree import FamilyTree, Node, family_tree
from .tree_plot import family_tree_layout, plot_family_tree

__all__ = [
    "relax",
    "phonons",
    "soft_modes",
    "condense",
    "relax_child",
    "identify",
    "distortion_search",
    "search_steps",
    "load_search",
    "DEFAULTS",
    "descend",
    "search_one_level",
    "Node",
    "plan_search",
    "run_child",
    "finish_search",
    "screen",
    "family_tree",
    "family_tree_layout",
    "plot_family_tree",
    "write_report",
    "formula_units",
    "RelaxResult",
    "Candidate",
    "CondenseResult",
    "Identification",
    "ChildResult",
    "SearchResult",
    "SearchSettings",
    "SearchPlan",
    "CalculatorSpec",
    "ScreenResult",
    "ScreenEntry",
    "FamilyTree",
    "STEPS",
]


_LAZY = {"screen": "screening", "ScreenResult": "screening", "ScreenEntry": "screening"}


def __getattr__(name: str):
    """``screen`` and its results import Dask only when first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
