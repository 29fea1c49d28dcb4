"""The optional wall-clock limit of a search (``SearchSettings.time_budget_s``).

The default bounds of a search count work (``max_candidates``, ``max_nodes``), so the answer
does not depend on the machine. A :class:`Deadline` is the explicit wall-clock limit on top:
it is fixed when the search starts and travels with the work items (it pickles), so a
candidate or node that has not started when it passes is left, never half-done, and the
result lists it; a rerun without the limit resumes from the folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Deadline"]


@dataclass(frozen=True)
class Deadline:
    """``time_budget_s`` seconds after ``started`` (``time.time()``); None: no limit."""

    time_budget_s: float | None = None
    started: float = 0.0

    @classmethod
    def start(cls, time_budget_s: float | None) -> Deadline:
        return cls(time_budget_s, time.time())

    def passed(self) -> bool:
        """Whether the limit has run out (never, without one)."""
        if self.time_budget_s is None:
            return False
        return time.time() - self.started > self.time_budget_s

    def reason(self, what: str) -> str:
        """Why ``what`` was left: the limit and the time spent."""
        spent = time.time() - self.started
        return (
            f"{what} not started (time_budget_s={self.time_budget_s:g}: {spent:.0f} s spent; "
            "a rerun without the limit resumes it)"
        )
