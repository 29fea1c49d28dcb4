"""Calculators named by a small picklable spec and built once per process.

Distributed steps (Dask tasks, jobflow jobs) send a :class:`CalculatorSpec`, never a model:
:func:`calculator_for` builds the :class:`~ase_symbreak.calculator.SymBreakCalculator` on
first use in each process and returns the same one afterwards.

>>> spec = CalculatorSpec()                 # embedded SevenNet-0  # doctest: +SKIP
>>> calc = calculator_for(spec)             # loaded once here     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ase_symbreak.codec import Record

__all__ = ["CalculatorSpec", "calculator_for", "borrowed", "model_loads", "clear_cache"]


@dataclass(frozen=True)
class CalculatorSpec(Record):
    """What a worker needs to build the calculator.

    Attributes
    ----------
    model : str or None
        As for :class:`~ase_symbreak.calculator.SymBreakCalculator`: None (embedded SevenNet-0),
        a pretrained name, a model file, or an import path ``'package.module:factory'``.
    dtype : str or None
        Energy/force precision (None: the model's own).
    hessian_dtype : str
        Hessian precision.
    """

    model: str | None = None
    dtype: str | None = None
    hessian_dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.model is not None:
            object.__setattr__(self, "model", os.fspath(self.model))

    def build(self):
        """A new calculator (loads the model)."""
        from ase_symbreak.calculator import SymBreakCalculator

        return SymBreakCalculator(
            model=self.model, dtype=self.dtype, hessian_dtype=self.hessian_dtype
        )

    def identity(self) -> dict:
        """The spec plus, for a model file, its size and modification time (part of resume keys)."""
        d = asdict(self)
        if self.model is not None and Path(self.model).is_file():
            st = Path(self.model).stat()
            d["file"] = [str(Path(self.model).resolve()), st.st_size, st.st_mtime_ns]
        return d

    @classmethod
    def of(cls, spec: CalculatorSpec | str | os.PathLike | None) -> CalculatorSpec:
        """A spec from a spec, a model name/path/import path, or None."""
        return (
            spec
            if isinstance(spec, CalculatorSpec)
            else cls(model=None if spec is None else os.fspath(spec))
        )


_cache: dict[CalculatorSpec, object] = {}
_locks: dict[CalculatorSpec, threading.RLock] = {}
_loads: dict[CalculatorSpec, int] = {}
_lock = threading.Lock()


def calculator_for(spec: CalculatorSpec):
    """The calculator of ``spec`` in this process, built on the first call, the same one after."""
    with _lock:
        if spec not in _cache:
            _cache[spec] = spec.build()
            _locks[spec] = threading.RLock()
            _loads[spec] = _loads.get(spec, 0) + 1
        return _cache[spec]


@contextlib.contextmanager
def borrowed(spec: CalculatorSpec) -> Iterator:
    """``with borrowed(spec) as calc:`` the cached calculator, used by one thread at a time.

    ASE calculators keep per-structure state, so two threads of one process (a Dask worker
    with several threads) must not share one at once; they take turns here. Give each
    worker one thread and its cores to torch instead.
    """
    calc = calculator_for(spec)
    with _locks[spec]:
        yield calc


def model_loads() -> dict[str, int]:
    """How many times each spec's model was loaded in this process (for checks and logs)."""
    return {repr(spec): n for spec, n in _loads.items()}


def clear_cache() -> None:
    """Forget every cached calculator of this process."""
    with _lock:
        _cache.clear()
        _locks.clear()
        _loads.clear()
