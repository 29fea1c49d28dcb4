"""What runs on the Dask workers: the model preloaded once per worker, and the screen's tasks.

The task functions are module-level so that workers import them by name
(``ase_symbreak.workflows.screening.worker``); tasks carry structures and a small
:class:`~ase_symbreak.workflows.calcspec.CalculatorSpec`, never a model.
"""

from __future__ import annotations

from ase import Atoms

from ..calcspec import CalculatorSpec, borrowed, model_loads
from ..search import (
    ChildResult,
    SearchPlan,
    SearchResult,
    SearchSettings,
    finish_search,
    plan_search,
    run_child,
)

__all__ = ["ModelPreload", "child_task", "finish_task", "plan_task", "worker_loads"]

try:  # the plugin base class, when distributed is installed
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - dask is an optional extra
    _WorkerPlugin = object


class ModelPreload(_WorkerPlugin):
    """Dask worker plugin: set torch's thread count and load the model once, at worker start.

    Parameters
    ----------
    spec : the calculator every task of the screen uses.
    torch_threads : intra-op threads of torch on each worker (None: leave torch's default).
    """

    name = "ase-symbreak-model"

    def __init__(self, spec: CalculatorSpec, torch_threads: int | None = None) -> None:
        self.spec = spec
        self.torch_threads = torch_threads

    def setup(self, worker=None) -> None:
        _set_torch_threads(self.torch_threads)
        from ..calcspec import calculator_for

        calculator_for(self.spec)


def _set_torch_threads(n: int | None) -> None:
    if n:
        from ase_symbreak.threads import apply_thread_policy

        apply_thread_policy(int(n))


def plan_task(
    atoms: Atoms, settings: SearchSettings, spec: CalculatorSpec, out_dir: str
) -> SearchPlan:
    """Steps 1-4 of one structure's search (:func:`~ase_symbreak.workflows.search.plan_search`)."""
    with borrowed(spec) as calc:
        plan = plan_search(atoms, calc, settings, out_dir=out_dir)
    assert plan is not None
    return plan


def child_task(plan: SearchPlan, index: int, spec: CalculatorSpec) -> ChildResult:
    """The relaxation of the plan's candidate ``index``."""
    with borrowed(spec) as calc:
        return run_child(plan, index, calc)


def finish_task(plan: SearchPlan, *children: ChildResult) -> SearchResult:
    """The ranked result of one structure, from its plan and relaxed children."""
    return finish_search(plan, sorted(children, key=lambda c: c.candidate_index))


def worker_loads() -> dict[str, int]:
    """Models built in this worker process (run with ``client.run``)."""
    return model_loads()
