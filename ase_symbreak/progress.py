"""Progress of long computations: the callback types, and a reporter for scripts.

:data:`Progress` is the ``progress(done, total)`` callback of one computation (a step of the
search, the rows of a Hessian), :data:`SearchProgress` the ``progress(step, done, total)``
callback of a multi-step workflow; ``total`` is None where it is not known yet.

:class:`RowProgress` is a ``progress(done, total)`` callback for use outside the command line
(ASE scripts, notebooks) that reports at most every ``interval`` seconds (and at the end): as
a line on stderr (``stream=True``) or as an INFO record of the ``ase_symbreak`` logger
(``logging.basicConfig(level=logging.INFO)`` shows it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "RowProgress", "SearchProgress"]

#: ``progress(done, total)`` callback of one computation (e.g. a step of the search).
Progress = Callable[[int, "int | None"], None]

#: ``progress(step, done, total)`` callback of a multi-step workflow.
SearchProgress = Callable[[str, int, "int | None"], None]

log = logging.getLogger("ase_symbreak.progress")


class RowProgress:
    """A throttled ``progress(done, total)`` reporter for Hessian rows and similar loops."""

    def __init__(
        self,
        what: str = "exact Hessian rows",
        stream: TextIO | bool | None = None,
        interval: float = 10.0,
    ) -> None:
        self.what = what
        self.stream = sys.stderr if stream is True else (stream or None)
        self.interval = float(interval)
        self._start: float | None = None
        self._last = -1e300

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._start is None or done == 0:
            self._start, self._last = now, -1e300
        finished = total is not None and done >= total
        if not finished and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self._start
        text = f"{self.what}: {done}/{total} ({elapsed:.0f} s)"
        if total and 0 < done < total:
            text += f", about {elapsed * (total - done) / done:.0f} s left"
        if self.stream is not None:
            print(text, file=self.stream, flush=True)
        else:
            log.info(text)
