"""One step of a checkpointed workflow: fingerprint, load or compute, save, time, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .storage import Checkpoints

__all__ = ["SearchProgress", "StepRunner"]

#: ``progress(step, done, total)`` callback of a multi-step workflow.
SearchProgress = Callable[[str, int, "int | None"], None]

R = TypeVar("R")


class StepRunner:
    """Runs the steps of one workflow against its checkpoints.

    Each :meth:`run` loads the step's record from ``checkpoints`` when its JSON has the same
    key (the fingerprint of the step's inputs), otherwise computes and saves it; it reports
    ``progress(step, 0, total)`` before and ``progress(step, 1, 1)`` after, and records
    ``timings[step] = {"seconds", "loaded"}``.
    """

    def __init__(self, checkpoints: Checkpoints, progress: SearchProgress | None = None) -> None:
        self.checkpoints = checkpoints
        self.progress = progress
        self.timings: dict[str, dict[str, Any]] = {}

    def report(self, step: str, done: int, total: int | None) -> None:
        """Forward one progress report."""
        if self.progress is not None:
            self.progress(step, done, total)

    def step_progress(self, step: str) -> Callable[[int, int | None], None]:
        """A ``progress(done, total)`` callback for the inside of ``step``."""
        return lambda done, total: self.report(step, done, total)

    def run(
        self,
        step: str,
        name: str,
        key: str,
        record: type[R],
        compute: Callable[[Callable[[int, int | None], None]], R],
        total: int | None = None,
        on_computed: Callable[[R], None] | None = None,
    ) -> R:
        """The record of ``step`` (checkpoint ``name``): loaded, or ``compute(progress)``.

        ``record`` has ``from_dict``; what ``compute`` returns has ``to_dict``.
        ``on_computed(result)`` runs after a fresh computation (e.g. to write a CIF).
        """
        self.report(step, 0, total)
        start = time.perf_counter()
        loaded = self.checkpoints.load(name, key)
        if loaded is not None:
            result = record.from_dict(loaded)
        else:
            result = compute(self.step_progress(step))
            self.checkpoints.save(name, key, result.to_dict())
            if on_computed is not None:
                on_computed(result)
        self.timings[step] = {"seconds": time.perf_counter() - start, "loaded": loaded is not None}
        self.report(step, 1, 1)
        return result
