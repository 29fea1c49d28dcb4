"""Thread policy: how many threads torch uses, decided in one place.

torch starts with one thread per core whatever else runs on the machine. On a loaded machine
these threads fight the other processes for the cores and spin while they wait: a float64
force call of SevenNet-0 on 40 atoms took 9-14 s instead of 1.2 s. The policy here:

1. ``ASE_SYMBREAK_THREADS`` if set (a positive integer), else
2. ``OMP_NUM_THREADS`` if set (the user already decided; torch reads it too), else
3. the cores this process may use (``os.sched_getaffinity``) minus the load of the rest of the
   machine (the 1-minute load average, capped by the threads runnable right now so that
   processes that just ended do not count; rounded), at least 1.

:func:`apply_thread_policy` sets it (``torch.set_num_threads``); the command line applies it
before every command (``ase-symbreak --threads N`` overrides), ASE scripts may call it once.
Figures under load: ``benchmarks/threads_under_load.py``.

:func:`single_threaded_blas` is the other half of the policy: small dense linear algebra
(the optimisers' 3x3..9x9 solves, thousands of small diagonalisations) runs with one BLAS
thread.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = [
    "THREADS_VARIABLE",
    "apply_thread_policy",
    "available_cores",
    "policy_threads",
    "single_threaded_blas",
]

#: Environment variable that fixes the number of torch threads.
THREADS_VARIABLE = "ASE_SYMBREAK_THREADS"

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _from_environment(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {text!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return n


def _runnable_now() -> int | None:
    """Runnable threads of the whole machine now (``/proc/loadavg``), without this one."""
    try:
        with open("/proc/loadavg") as f:
            return max(0, int(f.read().split()[3].split("/")[0]) - 1)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


def _load_of_others(cores: int) -> float:
    """Load of the other processes: the 1-minute load average, but no more than what runs
    now (median of a few samples), so that the average of processes that just ended does
    not count.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return 0.0
    samples: list[int] = []
    for _ in range(5):
        n = _runnable_now()
        if n is None:
            samples = []
            break
        samples.append(n)
        time.sleep(0.01)
    if samples:
        load = min(load, float(sorted(samples)[len(samples) // 2]))
    return max(0.0, min(float(load), float(cores)))


def policy_threads(cores: int | None = None, load: float | None = None) -> tuple[int, str]:
    """``(threads, why)`` by the policy of this module.

    ``cores`` and ``load`` (the load of other processes) default to this machine's.

    >>> policy_threads(cores=8, load=0.2)[0] if not any(
    ...     v in os.environ for v in (THREADS_VARIABLE, "OMP_NUM_THREADS")) else 8
    8
    """
    for name in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        n = _from_environment(name)
        if n is not None:
            return n, f"{name}={n}"
    cores = available_cores() if cores is None else int(cores)
    load = _load_of_others(cores) if load is None else float(load)
    n = max(1, min(cores, cores - round(load)))
    return n, f"{cores} cores, load {load:.1f}"


def apply_thread_policy(threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` (None: :func:`policy_threads`); returns
    the number set. ``threads`` must be a positive integer.
    """
    import torch

    if threads is None:
        threads, why = policy_threads()
    else:
        if isinstance(threads, bool) or int(threads) != threads or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        threads, why = int(threads), "asked for"
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    log.info("torch uses %d threads (%s)", threads, why)
    return threads


def single_threaded_blas():
    """One BLAS thread: the optimisers' and cell filters' 3x3..9x9 linear algebra is slowed
    down 1000-fold by multi-threaded OpenBLAS on a loaded machine (measured: 22 ms per 6x6 solve).

    A context manager (``threadpoolctl.threadpool_limits``; does nothing without threadpoolctl).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
