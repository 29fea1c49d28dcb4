"""What runs on the Dask workers: the model preloaded once per worker, and the screen's tasks.

The task functions are module-level so that workers import them by name
(``ase_symbreak.workflows.screening.worker``); tasks carry structures and a small
:class:`~ase_symbreak.workflows.calcspec.CalculatorSpec`, never a model.
"""

from __future__ import annotations

from typing import Any

from ..calcspec import CalculatorSpec, model_loads
from ..work import Work, run_work

__all__ = ["ModelPreload", "work_task", "worker_loads"]

try:  # the plugin base class, when distributed is installed
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - dask is an optional extra
    _WorkerPlugin = object  # type: ignore[misc,assignment]  # a plain base without dask


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


def work_task(work: Work, spec: CalculatorSpec) -> Any:
    """One item of a structure's search (its plan, or one child's relaxation), with the
    worker's calculator for ``spec``.
    """
    return run_work(work, spec)


def worker_loads() -> dict[str, int]:
    """Models built in this worker process (run with ``client.run``)."""
    return model_loads()
