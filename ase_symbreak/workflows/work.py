"""The search as a generator of independent work, and the executors that drain it.

A search is written once, as a generator (:data:`Steps`): it yields a batch of
:class:`Work` items that do not depend on each other (one parent's plan, or the relaxations
of its chosen candidates), receives their results in the same order, and returns its
result. Everything between batches (ranking, de-duplication, the descent's bookkeeping)
runs in the generator itself, so it is the same code whoever does the work:

- :func:`drain` runs each item here, one after another, or through any executor with a
  ``map(fn, iterable)`` method (``concurrent.futures``, a Dask client wrapper);
- the Dask screen submits each item as a task of its own and sends the results back
  (:mod:`~ase_symbreak.workflows.screening.run`).

Items are picklable: a module-level function and its arguments. The calculator is not part
of an item; the executor gives it (a calculator object here, or a
:class:`~ase_symbreak.workflows.calcspec.CalculatorSpec` that each process resolves once).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .runner import SearchProgress
from .settings import STEPS

__all__ = ["Work", "Steps", "Executor", "drain", "process_pool", "run_work"]


@dataclass(frozen=True)
class Work:
    """One independent piece of a search: ``fn(*args, calc=..., progress=...)``.

    Attributes
    ----------
    kind : 'plan' (steps 1-4 of one structure) or 'child' (one candidate's relaxation).
    fn : a module-level function (picklable by name).
    args : its positional arguments.
    label : shown in task names and logs.
    report : whether ``fn`` gets the search's progress callback (the top-level search only;
        the searches of descent nodes run quietly).
    """

    kind: str
    fn: Callable[..., Any]
    args: tuple
    label: str = ""
    report: bool = False

    def __call__(self, calc: Any, progress: SearchProgress | None = None) -> Any:
        return self.fn(*self.args, calc=calc, progress=progress if self.report else None)


#: A search: yields batches of independent work, is sent their results, returns its result.
Steps = Generator[tuple[Work, ...], list, Any]


class Executor(Protocol):
    """What :func:`drain` needs of an executor: ``map`` in order (``concurrent.futures``)."""

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterable[Any]: ...


def run_work(work: Work, calc: Any, progress: SearchProgress | None = None) -> Any:
    """``work(calc)``, with ``calc`` a calculator or a ``CalculatorSpec`` resolved here
    (once per process, :func:`~ase_symbreak.workflows.calcspec.borrowed`).
    """
    from .calcspec import CalculatorSpec, borrowed

    if isinstance(calc, CalculatorSpec):
        with borrowed(calc) as built:
            return work(built, progress)
    return work(calc, progress)


def drain(
    steps: Steps,
    calc: Any,
    progress: SearchProgress | None = None,
    executor: Executor | None = None,
    executor_calc: Any = None,
) -> Any:
    """Run a search to its end and return its result.

    ``executor=None``: every item runs here, in order, with ``calc`` (children report
    ``progress("relax children", i, n)``). With an executor, the children of each batch go
    through ``executor.map`` with ``executor_calc`` (default ``calc``; a ``CalculatorSpec``
    for processes and clusters, which each builds once), while plans and checks, one at a
    time anyway, run here with ``calc`` and report progress. An item that raises is thrown
    back into the search, which may record it (a failed descent node) or end with it.
    """
    remote = calc if executor_calc is None else executor_calc
    try:
        batch = next(steps)
        while True:
            try:
                if executor is not None and all(w.kind == "child" for w in batch):
                    results = list(executor.map(run_work, batch, [remote] * len(batch)))
                else:
                    results = _run_here(batch, calc, progress)
            except Exception as err:  # noqa: BLE001 - the search decides what an error means
                batch = steps.throw(err)
            else:
                batch = steps.send(results)
    except StopIteration as stop:
        return stop.value


def process_pool(workers: int) -> Any:
    """``workers`` local processes for a search's child relaxations (spawned, so that torch
    starts clean; the cores shared out as torch threads). Use as a context manager.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    threads = max(1, (os.cpu_count() or 1) // int(workers))
    return ProcessPoolExecutor(
        int(workers),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(threads,),
    )


def _start_worker(threads: int) -> None:
    from ase_symbreak.threads import apply_thread_policy

    apply_thread_policy(threads)


def _run_here(batch: tuple[Work, ...], calc: Any, progress: SearchProgress | None) -> list:
    """The items of a batch one after another here; children report ``relax children``."""
    children = any(w.kind == "child" and w.report for w in batch)
    results = []
    for i, work in enumerate(batch):
        if children and progress is not None:
            progress(STEPS[4], i, len(batch))
        results.append(run_work(work, calc, progress))
    if children and progress is not None:
        progress(STEPS[4], len(batch), len(batch))
    return results
