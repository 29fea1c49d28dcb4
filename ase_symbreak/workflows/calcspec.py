"""Calculators named by a small picklable spec and built once per process.

Distributed steps (Dask tasks, jobflow jobs) send a :class:`CalculatorSpec`, never a model:
:func:`calculator_for` builds the :class:`~ase_symbreak.calculator.SymBreakCalculator` on
first use in each process and returns the same one afterwards.

>>> spec = CalculatorSpec()                 # embedded SevenNet-0  # doctest: +SKIP
>>> calc = calculator_for(spec)             # loaded once here     # doctest: +SKIP

Besides our models, a spec may name any ASE calculator (:func:`other_calculator`): a
calculator factory by import path (``'ase.calculators.emt:EMT'``, ``'mypkg.calcs:make'``:
called without arguments; it imports and runs code, so the command line and recipes accept it
only with ``--allow-code-models``), or a model file of another package (a MACE ``.model``
file through ``mace-torch``). A package that is not installed is named in a one-line
:class:`MissingPackageError`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ase_symbreak.codec import Record

__all__ = [
    "CalculatorSpec",
    "MissingPackageError",
    "borrowed",
    "calculator_for",
    "clear_cache",
    "model_loads",
    "other_calculator",
]


@dataclass(frozen=True)
class CalculatorSpec(Record):
    """What a worker needs to build the calculator.

    Attributes
    ----------
    model : str or None
        As for :class:`~ase_symbreak.calculator.SymBreakCalculator`: None (embedded SevenNet-0),
        a pretrained name, a model file, or an import path ``'package.module:factory'``; or
        any ASE calculator that :func:`other_calculator` builds (a calculator factory by
        import path, a model file of another package).
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

        other = other_calculator(self.model)
        if other is not None:
            return other
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


class MissingPackageError(ImportError):
    """An optional package that the named calculator or model file needs is not installed."""


#: pip names of packages whose import name differs (for the message of a missing package).
PIP_NAMES = {"mace": "mace-torch", "fairchem": "fairchem-core", "orb_models": "orb-models"}

#: Model files of other packages: suffix -> (what it is, import name, pip name).
OTHER_MODEL_FILES = {".model": ("MACE model file", "mace", "mace-torch")}


def other_calculator(model: str | os.PathLike | None, device: str = "cpu") -> Any | None:
    """The ASE calculator ``model`` names when it is not one of our models, else None.

    - an import path ``'package.module:factory'`` whose target is not an ase_symbreak
      ``EnergyModel``: the target (a calculator class or a function) is called without
      arguments and must return an ASE calculator (``get_forces``); this runs code, so
      callers check the user's opt-in first
      (:func:`~ase_symbreak.models.registry.is_import_path`);
    - a model file of another package (:data:`OTHER_MODEL_FILES`; a MACE ``.model`` file:
      ``mace.calculators.MACECalculator`` in float64 on ``device``).

    Raises
    ------
    MissingPackageError
        The package it needs is not installed (the message names it, one line).
    ValueError, TypeError
        No such attribute, or the factory returned something that is not a calculator.
    """
    from ase_symbreak.models.registry import is_import_path

    if model is None:
        return None
    spec = os.fspath(model)
    suffix = Path(spec).suffix.lower()
    if suffix in OTHER_MODEL_FILES and Path(spec).is_file():
        what, module, pip_name = OTHER_MODEL_FILES[suffix]
        _import(module, f"{what} {spec}", pip_name)
        return _mace_calculator(spec, device)
    if not is_import_path(spec):
        return None
    target = _import_target(spec)
    from ase_symbreak.models.base import EnergyModel

    if isinstance(target, EnergyModel) or (
        isinstance(target, type) and issubclass(target, EnergyModel)
    ):
        return None  # one of ours: SymBreakCalculator(model=spec)
    if not callable(target):
        raise TypeError(f"{spec!r} names a {type(target).__name__}, not a calculator factory")
    try:
        calc = target()
    except TypeError as err:
        raise TypeError(f"{spec!r}: calling it without arguments failed ({err})") from None
    if not callable(getattr(calc, "get_forces", None)):
        raise TypeError(
            f"{spec!r} returned a {type(calc).__name__}, not an ASE calculator (no get_forces)"
        )
    return calc


def _import(module: str, what: str, pip_name: str | None = None):
    """``importlib.import_module(module)``, a missing package named in one line."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = (err.name or module).partition(".")[0]
        if not module.startswith(missing):  # the module exists but needs another package
            pip_name = None
        name = pip_name or PIP_NAMES.get(missing, missing)
        raise MissingPackageError(
            f"{what} needs the package {name!r}, which is not installed (pip install {name})"
        ) from None


def _import_target(spec: str) -> Callable[..., Any] | Any:
    """The object ``'package.module:attr.attr'`` names (the module imported)."""
    module_name, attr = spec.split(":")
    target = _import(module_name, f"model {spec!r}")
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model {spec!r}: {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    return target


def _mace_calculator(path: str, device: str):  # pragma: no cover - needs mace-torch
    from mace.calculators import MACECalculator  # type: ignore[import-not-found]

    return MACECalculator(model_paths=path, device=device, default_dtype="float64")


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
