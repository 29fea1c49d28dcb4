"""The screen itself: tasks submitted per structure and per child as earlier ones end, retries."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase_symbreak.errors import first_line

from ..calcspec import CalculatorSpec
from ..driver import search_steps
from ..settings import SearchSettings
from ..storage import folder_lock, write_json
from .cluster import open_client, worker_count
from .inputs import StructureInput, Structures, check_input, read_structures
from .results import (
    ScreenEntry,
    ScreenResult,
    done_entry,
    failed_entry,
    load_entry,
    screen_key,
    write_summary,
)
from .worker import ModelPreload, work_task, worker_loads

__all__ = ["ScreenProgress", "screen"]

#: ``progress(structures_done, structures_total, children_done, children_total)``
ScreenProgress = Callable[[int, int, int, int], None]


def _error_text(exc: BaseException) -> str:
    """'Type: first line of the message' (the type alone for an empty message)."""
    name = type(exc).__name__
    return f"{name}: {first_line(exc)}" if str(exc).strip() else name


def _retryable(exc: BaseException) -> bool:
    """Errors of the input are final; anything else (a dead worker, a runtime error) may pass."""
    return not isinstance(exc, (ValueError, TypeError, KeyError))


@dataclass
class _Job:
    """One structure's search (:func:`~ase_symbreak.workflows.driver.search_steps`) and the
    tasks in flight of its current batch of work.
    """

    input: StructureInput
    key: str
    t0: float
    steps: Any = None  # the search generator
    batch: tuple = ()  # the Work items in flight
    futures: dict = field(default_factory=dict)  # index in batch -> future
    results: dict = field(default_factory=dict)  # index in batch -> result
    attempts: dict = field(default_factory=dict)  # index in batch -> tries so far
    tries: int = 0  # most tries of any task of this structure
    over: bool = False


class _ScreenRun:
    """Drains the search generator of each structure: every item of its current batch is a
    task of its own (plan, one per child), and the results go back to the generator, which
    ranks, descends and yields the next batch (a descent node's plan, its children) until it
    returns the structure's :class:`~ase_symbreak.workflows.search.SearchResult`.

    ``on_end(job, entry)`` is called once per structure, done or failed.
    """

    def __init__(
        self,
        client,
        settings: SearchSettings,
        spec: CalculatorSpec,
        out: Path,
        retries: int,
        on_end: Callable[[_Job, ScreenEntry], None],
    ) -> None:
        from distributed import as_completed

        self.client, self.settings, self.spec = client, settings, spec
        self.out, self.retries = out, retries
        self.on_end = on_end
        self.pending = as_completed(loop=client.loop)
        self.tasks: dict[Any, tuple[_Job, int]] = {}  # future -> (job, index in its batch)
        # task keys of this call only: never another screen's result
        self.run_id = uuid.uuid4().hex[:8]
        self.batches = 0
        self.children_done = 0
        self.children_total = 0

    def start(self, inp: StructureInput, key: str) -> None:
        job = _Job(input=inp, key=key, t0=time.perf_counter())
        assert inp.atoms is not None  # structures that could not be read are not started
        job.steps = search_steps(inp.atoms, self.settings, self.out / inp.name)
        self._advance(job, lambda: next(job.steps))

    def _advance(
        self, job: _Job, step: Callable[[], Any], thrown: tuple[BaseException, str] | None = None
    ) -> None:
        """Run the generator one step (``next``, ``send`` or ``throw``) and submit the batch it
        yields; end the structure when it returns or raises (``thrown``: the error sent in and
        where it came from, named in the entry when the search ends with it).
        """
        try:
            batch = step()
        except StopIteration as stop:
            self._end(job, done_entry(job.input, stop.value, job.tries, self._seconds(job)))
            return
        except Exception as exc:  # noqa: BLE001 - a failed search is a failed entry
            where = thrown[1] if thrown is not None and exc is thrown[0] else ""
            error = where + _error_text(exc)
            self._end(job, failed_entry(job.input, error, job.tries, self._seconds(job)))
            return
        job.batch, job.futures, job.results, job.attempts = tuple(batch), {}, {}, {}
        self.batches += 1
        self.children_total += sum(w.kind == "child" for w in job.batch)
        if not job.batch:  # nothing to compute: the generator goes on at once
            self._advance(job, lambda: job.steps.send([]))
            return
        for i in range(len(job.batch)):
            self._submit(job, i)

    @staticmethod
    def _seconds(job: _Job) -> float:
        return time.perf_counter() - job.t0

    def _submit(self, job: _Job, index: int) -> None:
        work = job.batch[index]
        job.attempts[index] = job.attempts.get(index, 0) + 1
        job.tries = max(job.tries, job.attempts[index])
        name = (
            f"{work.kind}-{job.input.name}-{self.batches}-{index}-{self.run_id}"
            f"-{job.attempts[index]}"
        )
        # children before new structures: a structure once started ends soon (its row
        # appears, its results are complete on disk) instead of every structure at the very end
        fut = self.client.submit(
            work_task,
            work,
            self.spec,
            key=name,
            pure=False,
            priority=0 if work.kind == "plan" else 1,
        )
        job.futures[index] = fut
        self.tasks[fut] = (job, index)
        self.pending.add(fut)

    def wait(self, report: Callable[[], Any]) -> None:
        """Handle every task as it ends, until no structure has any left; ``report()`` after
        each.
        """
        for fut in self.pending:
            if fut in self.tasks:  # not cancelled with its structure
                self._handle(fut, *self.tasks.pop(fut))
                report()

    def _handle(self, fut, job: _Job, index: int) -> None:
        if job.over or fut.status == "cancelled" or index not in job.futures:
            return
        if job.futures[index] is not fut:  # an earlier try of a retried task
            return
        work = job.batch[index]
        if fut.status == "error":
            exc = fut.exception()
            if _retryable(exc) and job.attempts[index] <= self.retries:
                self._submit(job, index)
                return
            self._cancel(job)
            where = "" if work.kind != "child" else f"{work.label}: "
            self._advance(job, lambda: job.steps.throw(exc), thrown=(exc, where))
            return
        job.results[index] = fut.result()
        if work.kind == "child":
            self.children_done += 1
        if len(job.results) == len(job.batch):
            results = [job.results[i] for i in range(len(job.batch))]
            self._advance(job, lambda: job.steps.send(results))

    def _cancel(self, job: _Job) -> None:
        for fut in [f for f, (j, _) in self.tasks.items() if j is job]:
            fut.cancel()
            del self.tasks[fut]
        job.futures = {}

    def _end(self, job: _Job, entry: ScreenEntry) -> None:
        job.over = True
        self._cancel(job)
        job.steps, job.batch, job.results = None, (), {}
        self.on_end(job, entry)


def screen(
    structures: Structures,
    settings: SearchSettings | None = None,
    model: CalculatorSpec | str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "screen",
    client=None,
    n_workers: int | None = None,
    retries: int = 2,
    progress: ScreenProgress | None = None,
    torch_threads: int | None = None,
) -> ScreenResult:
    """Distortion search of many structures on a Dask cluster.

    Parameters
    ----------
    structures : a mapping name -> Atoms, a list of Atoms and/or structure files, or folders
        (see :func:`~ase_symbreak.workflows.screening.read_structures`).
    settings : :class:`SearchSettings` of every search (default: its defaults).
    model : :class:`CalculatorSpec`, or a model name/file/import path (None: SevenNet-0).
    out_dir : one folder per structure, plus ``summary.csv`` and ``summary.json``; locked
        while the screen runs (a second screen on it raises
        :class:`~ase_symbreak.workflows.storage.FolderLocked`).
    client : a :class:`distributed.Client` (a running scheduler, a jobqueue cluster); None
        starts a :func:`~ase_symbreak.workflows.screening.local_client` with ``n_workers``
        workers and closes it at the end.
    retries : further tries of a task that failed for a reason other than its input.
    progress : ``progress(structures_done, structures_total, children_done, children_total)``.
    torch_threads : torch threads per worker (default with ``client=None``: cores // workers;
        with a client given: left as the workers have it).

    Returns
    -------
    ScreenResult, entries in input order; failed structures carry their error.

    Examples
    --------
    >>> from ase_symbreak import screen                                    # doctest: +SKIP
    >>> result = screen(["BaTiO3.cif", "SrTiO3.cif"], n_workers=2)    # doctest: +SKIP
    >>> [(e.name, e.ground_state) for e in result.entries]                # doctest: +SKIP
    [('BaTiO3', 'R3m (160)'), ('SrTiO3', 'I4/mcm (140)')]
    """
    settings = settings or SearchSettings()
    spec = CalculatorSpec.of(model)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    inputs = read_structures(structures)
    if not inputs:
        raise ValueError("no structures to screen")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):  # one screen per folder at a time
        return _screen_in(
            out, inputs, settings, spec, client, n_workers, torch_threads, retries, progress
        )


def _screen_in(
    out: Path,
    inputs: list[StructureInput],
    settings: SearchSettings,
    spec: CalculatorSpec,
    client,
    n_workers: int | None,
    torch_threads: int | None,
    retries: int,
    progress: ScreenProgress | None,
) -> ScreenResult:
    """The body of :func:`screen`, with ``out`` locked."""
    meta = {"settings": settings.to_dict(), "model": spec.to_dict()}
    start = time.perf_counter()
    entries: dict[str, ScreenEntry] = {}
    todo: list[tuple[StructureInput, str]] = []
    for inp in inputs:
        error = inp.error or (None if inp.atoms is None else check_input(inp.atoms, settings))
        if error or inp.atoms is None:
            entries[inp.name] = failed_entry(inp, error or "no structure", attempts=0)
            continue
        key = screen_key(inp.atoms, settings, spec)
        done = load_entry(out / inp.name / "screen.json", key)
        if done is not None:
            entries[inp.name] = done
        else:
            todo.append((inp, key))

    def ordered() -> list[ScreenEntry]:
        return [entries[i.name] for i in inputs if i.name in entries]

    def record(inp: StructureInput, key: str, entry: ScreenEntry) -> None:
        entries[inp.name] = entry
        write_json(out / inp.name / "screen.json", {"key": key, "entry": entry.to_dict()})
        write_summary(out, ordered(), meta)

    run: _ScreenRun | None = None

    def report() -> None:
        if progress is not None:
            children = (0, 0) if run is None else (run.children_done, run.children_total)
            progress(len(entries), len(inputs), *children)

    for inp in inputs:  # failures of the input are final: record them now
        if inp.name in entries and not entries[inp.name].ok:
            record(inp, "", entries[inp.name])
    write_summary(out, ordered(), meta)
    report()
    if not todo:
        return ScreenResult(
            entries=tuple(ordered()), out_dir=str(out), seconds=time.perf_counter() - start
        )

    with contextlib.ExitStack() as stack:
        if client is None:  # a local cluster for this screen only
            client, local_threads = stack.enter_context(open_client(workers=n_workers))
            torch_threads = torch_threads or local_threads
        try:
            client.register_plugin(ModelPreload(spec, torch_threads))
        except Exception as err:  # the workers could not build the calculator
            raise ValueError(
                f"cannot load model {spec.model or 'SevenNet-0'} on the workers: {_error_text(err)}"
            ) from err
        run = _ScreenRun(
            client,
            settings,
            spec,
            out,
            retries,
            on_end=lambda job, entry: record(job.input, job.key, entry),
        )
        for inp, key in todo:
            run.start(inp, key)
        run.wait(report)
        loads = client.run(worker_loads)
        n_workers_used = worker_count(client)
    return ScreenResult(
        entries=tuple(ordered()),
        out_dir=str(out),
        seconds=time.perf_counter() - start,
        n_workers=n_workers_used,
        model_loads=loads,
    )
