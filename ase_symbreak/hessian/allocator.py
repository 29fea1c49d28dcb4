"""Allocator policy: keep freed memory for reuse instead of handing it back at once.

An exact Hessian-vector product allocates and frees edge-sized tensors (tens of MB on a
40-atom cell) dozens of times. glibc's ``malloc`` serves blocks above its mmap threshold
(adaptive, at most 32 MB) by fresh ``mmap`` and unmaps them when freed, so each reuse
faults the pages in again: system time that was a third of a float64 HVP here. Raising the
mmap threshold and the trim threshold (``mallopt``) keeps such blocks in the heap:
float64 HVPs and force calls get faster, float32 ones hardly change
(``benchmarks/allocator.py``). The price: up to :data:`TRIM_THRESHOLD` bytes of freed
memory stay with the process instead of returning to the system.

:func:`keep_freed_memory` applies it (glibc on Linux only; elsewhere it does nothing); the
calculator calls it for SevenNet models on CPUs, where it was measured. For small models
it does not pay: the phonon sweep of the tests (small e3nn models) took 66 s instead of
57 s with it, so it is not applied there. Set ``ASE_SYMBREAK_MALLOC=system`` to leave the
allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["MALLOC_VARIABLE", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: Environment variable: ``system`` leaves glibc's malloc settings alone.
MALLOC_VARIABLE = "ASE_SYMBREAK_MALLOC"
#: Blocks below this many bytes come from the heap, not from fresh ``mmap`` calls.
MMAP_THRESHOLD = 1 << 30
#: Freed memory kept by the process before the heap is trimmed, bytes.
TRIM_THRESHOLD = 2 * (1 << 30) - 1

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_applied: bool | None = None
log = logging.getLogger(__name__)


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are set.

    Does nothing (False) where the C library is not glibc, or with
    ``ASE_SYMBREAK_MALLOC=system``. Any other value of that variable is an error.
    """
    global _applied
    choice = os.environ.get(MALLOC_VARIABLE, "keep").strip().lower() or "keep"
    if choice not in ("keep", "system"):
        raise ValueError(f"{MALLOC_VARIABLE} must be 'keep' or 'system', got {choice!r}")
    if choice == "system":
        return False
    if _applied is None:
        _applied = _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(
            _M_TRIM_THRESHOLD, TRIM_THRESHOLD
        )
        log.debug("glibc malloc thresholds %s", "raised" if _applied else "left as they are")
    return _applied


def _mallopt(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(option, value))
