"""One step of a checkpointed workflow: fingerprint, load or compute, save, time, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ase_symbreak.errors import first_line
from ase_symbreak.progress import SearchProgress

from .storage import Checkpoints, fingerprint

__all__ = ["SearchProgress", "Step", "StepRunner", "load_record"]

R = TypeVar("R")


@dataclass(frozen=True)
class Step:
    """One checkpointed step of a search, declared once (the table of :mod:`.search`).

    Attributes
    ----------
    name : its name in progress reports and ``timings`` (one of ``STEPS``).
    file : its checkpoint, ``01_parent`` (``{index:02d}`` filled in for children).
    tag : first part of its fingerprint.
    record : the record type it computes (``from_dict`` reads its checkpoint).
    fields : the :class:`~.settings.SearchSettings` fields its result depends on.
    reads : earlier steps whose content hashes enter its fingerprint (a changed earlier
        result recomputes it).
    """

    name: str
    file: str
    tag: str
    record: type
    fields: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()

    def key(self, inputs: tuple, settings: Any, hashes: dict[str, str]) -> str:
        """Fingerprint of the step: its tag, ``inputs`` (the previous step's key, or what
        the first step starts from), the hashes of the steps it reads and its settings.
        """
        return fingerprint(
            self.tag,
            *inputs,
            *(hashes[r] for r in self.reads),
            *(getattr(settings, f) for f in self.fields),
        )


class StepRunner:
    """Runs the steps of one workflow against its checkpoints.

    Each :meth:`run` loads the step's record from ``checkpoints`` when its JSON has the same
    key (the fingerprint of the step's inputs), otherwise computes and saves it; it reports
    ``progress(step, 0, total)`` before and ``progress(step, 1, 1)`` after, and records
    ``timings[step] = {"seconds", "loaded"}`` (and ``"damaged": why`` when the step's file was
    damaged and recomputed). :attr:`hashes` holds each step's content hash: a later step puts
    it in its key, so that it is recomputed when an earlier result changed.
    """

    def __init__(self, checkpoints: Checkpoints, progress: SearchProgress | None = None) -> None:
        self.checkpoints = checkpoints
        self.progress = progress
        self.timings: dict[str, dict[str, Any]] = {}
        self.hashes: dict[str, str] = {}
        #: ``{step: True}`` for a step read from its checkpoint, False when computed.
        self.loaded: dict[str, bool] = {}
        #: ``{step: key}`` of every step run.
        self.keys: dict[str, str] = {}

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
        stored = load_record(self.checkpoints, name, key, record)
        loaded = stored is not None
        if stored is not None:
            result, self.hashes[step] = stored
        else:
            result = compute(self.step_progress(step))
            self.hashes[step] = self.checkpoints.save(name, key, result.to_dict())  # type: ignore[attr-defined]
            if on_computed is not None:
                on_computed(result)
        self.loaded[step] = loaded
        timing: dict[str, Any] = {"seconds": time.perf_counter() - start, "loaded": loaded}
        if f"{name}.json" in self.checkpoints.damaged:
            timing["damaged"] = self.checkpoints.damaged[f"{name}.json"]
        self.timings[step] = timing
        self.report(step, 1, 1)
        return result


def run_step(
    runner: StepRunner,
    step: Step,
    inputs: tuple,
    settings: Any,
    compute: Callable[[Callable[[int, int | None], None]], R],
    total: int | None = None,
    on_computed: Callable[[R], None] | None = None,
    file: str | None = None,
) -> R:
    """:meth:`StepRunner.run` of a declared :class:`Step`: its key derived from ``inputs``,
    the hashes of the steps it reads and its settings fields (``runner.keys[step.name]``).
    """
    key = step.key(inputs, settings, runner.hashes)
    runner.keys[step.name] = key
    return runner.run(
        step.name,
        file or step.file,
        key,
        step.record,
        compute,
        total=total,
        on_computed=on_computed,
    )


def load_record(
    checkpoints: Checkpoints, name: str, key: str, record: type[R]
) -> tuple[R, str] | None:
    """``(record, content hash)`` of step ``name`` from ``checkpoints``, or None (no file, other
    inputs, or damaged: a file whose result ``record.from_dict`` cannot read is reported as
    damaged like one that fails its hash).
    """
    stored = checkpoints.load(name, key)
    if stored is None:
        return None
    try:
        return record.from_dict(stored.result), stored.content_hash  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        checkpoints.mark_damaged(name, f"its result has the wrong shape: {first_line(err)}")
        return None
