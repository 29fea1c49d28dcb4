"""One codec for the package's records: dataclasses, numpy arrays and ASE ``Atoms`` <-> JSON.

Results are frozen dataclasses whose fields carry type hints; :func:`encode` turns one into
plain JSON types and :func:`decode` rebuilds it from those hints, so no record writes its
own ``to_dict`` / ``from_dict``. Inherit :class:`Record` to get both as methods (the habit
of ``ase.vibrations.VibrationsData.todict`` / ``fromdict``)::

    @dataclass(frozen=True)
    class Result(Record):
        atoms: Atoms
        energies: NDArray[np.float64]
        label: str = ""

    Result.from_dict(result.to_dict()) == result

Conventions: ``Atoms`` as ``{"numbers", "cell" (rows, A), "positions" (Cartesian, A),
"pbc"}`` plus ``masses``, ``info``, ``constraints`` and per-atom arrays (tags, momenta,
magnetic moments, charges, ...) when present; real arrays as nested lists; complex arrays
as ``{"real": ..., "imag": ...}``; tuples as lists; enums as their values. A field declared with
``field(metadata=NOT_SAVED)`` is left out and gets its default when decoded.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import numbers
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union, cast

import numpy as np
from ase import Atoms

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["NOT_SAVED", "Record", "atoms_from_dict", "atoms_to_dict", "decode", "encode"]

#: ``field(metadata=NOT_SAVED)``: a field that stays out of the JSON (e.g. a derived structure).
NOT_SAVED = {"saved": False}

T = TypeVar("T")

# per-atom arrays that Atoms keeps besides numbers and positions; masses are kept only when
# they differ from the standard ones
_SKIPPED_ARRAYS = {"numbers", "positions"}


# ----------------------------------------------------------------------------- Atoms
def atoms_to_dict(atoms: Atoms) -> dict:
    """JSON-ready dict of ``atoms``: cell, positions, pbc and what else it carries.

    Masses are stored when set explicitly; ``info`` and constraints go through
    :mod:`ase.io.jsonio` (numpy values, spacegroups and other ASE objects survive).
    """
    from ase.io import jsonio

    d: dict[str, Any] = {
        "numbers": [int(z) for z in atoms.numbers],
        "cell": np.asarray(atoms.cell[:], dtype=float).tolist(),
        "positions": np.asarray(atoms.positions, dtype=float).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
    }
    arrays = {k: v for k, v in atoms.arrays.items() if k not in _SKIPPED_ARRAYS}
    if arrays:
        d["arrays"] = {k: encode(np.asarray(v)) for k, v in arrays.items()}
    if atoms.info:
        d["info"] = json.loads(jsonio.encode(atoms.info))
    if atoms.constraints:
        d["constraints"] = [json.loads(jsonio.encode(c.todict())) for c in atoms.constraints]
    return d


def atoms_from_dict(d: dict) -> Atoms:
    """Inverse of :func:`atoms_to_dict` (also reads the older four-key form)."""
    from ase.constraints import dict2constraint
    from ase.io import jsonio

    atoms = Atoms(numbers=d["numbers"], cell=d["cell"], positions=d["positions"], pbc=d["pbc"])
    for name, value in d.get("arrays", {}).items():
        atoms.set_array(name, _decode_array(value, None))
    if d.get("info"):
        atoms.info.update(jsonio.decode(json.dumps(d["info"])))
    if d.get("constraints"):
        atoms.set_constraint(
            [dict2constraint(jsonio.decode(json.dumps(c))) for c in d["constraints"]]
        )
    return atoms


# ----------------------------------------------------------------------------- encode
def encode(obj: Any) -> Any:
    """Plain JSON types for records, ``Atoms``, numpy values, tuples, paths (recursively)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: encode(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.metadata.get("saved", True)
        }
    if isinstance(obj, Atoms):
        return atoms_to_dict(obj)
    if isinstance(obj, enum.Enum):
        return encode(obj.value)
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if np.iscomplexobj(obj):
            return {"real": obj.real.tolist(), "imag": obj.imag.tolist()}
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return {"real": float(obj.real), "imag": float(obj.imag)}
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------- decode
def decode(cls: type[T], data: dict, strict: bool = False) -> T:
    """Rebuild the dataclass ``cls`` from :func:`encode`'s dict, guided by its type hints.

    Keys missing from ``data`` take the field's default; unknown keys are ignored, or raise
    ``ValueError`` naming them when ``strict``.
    """
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be read from a dict, got {type(data).__name__}")
    # a dataclass (documented; dataclasses.fields raises TypeError otherwise)
    fields = [f for f in dataclasses.fields(cast("type[DataclassInstance]", cls)) if f.init]
    if strict:
        unknown = sorted(set(data) - {f.name for f in fields})
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} field(s) {unknown}; "
                f"known: {sorted(f.name for f in fields)}"
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields:
        if f.name in data and f.metadata.get("saved", True):
            try:
                kwargs[f.name] = _decode_value(hints[f.name], data[f.name])
            except (TypeError, ValueError) as err:
                raise ValueError(f"{cls.__name__}.{f.name}: {err}") from None
    return cls(**kwargs)


def _decode_value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return _decode_value(members[0], value)
        for member in members:  # first member whose kind fits the value
            if _fits(member, value):
                return _decode_value(member, value)
        return value
    if hint is Atoms:
        return atoms_from_dict(value)
    if origin is np.ndarray or hint is np.ndarray:
        return _decode_array(value, _array_dtype(args))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return decode(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple or hint is tuple:
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode_value(args[0], v) for v in value)
        return tuple(_decode_value(a, v) for a, v in zip(args, value))
    if origin is list or hint is list:
        return [_decode_value(args[0], v) for v in value] if args else list(value)
    if origin is dict or hint is dict:
        if len(args) == 2:
            return {k: _decode_value(args[1], v) for k, v in value.items()}
        return dict(value)
    if hint in (int, float, bool, str):
        return _scalar(hint, value)
    return value


def _scalar(hint: type, value: Any) -> Any:
    """``value`` as ``hint`` where it is of that kind; no coercion of strings or booleans
    (``bool("no")`` is True, ``int("2")`` hides a typo).
    """
    is_bool = isinstance(value, (bool, np.bool_))
    if hint is bool and is_bool:
        return bool(value)
    if hint is str and isinstance(value, str):
        return value
    if hint is float and isinstance(value, numbers.Real) and not is_bool:
        return float(value)
    if hint is int and not is_bool:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    kinds = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ValueError(f"expected {kinds[hint]}, got {value!r}")


def _fits(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin in (tuple, list, np.ndarray):
        return isinstance(value, (list, dict))
    if isinstance(origin, type) and (dataclasses.is_dataclass(origin) or origin is Atoms):
        return isinstance(value, dict)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return value in {m.value for m in origin}
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(origin, type) and isinstance(value, origin)


def _array_dtype(args: tuple) -> Any:
    """The scalar type of ``NDArray[np.float64]`` (``args`` of ``np.ndarray[shape, dtype[T]]``)."""
    if len(args) == 2:
        inner = typing.get_args(args[1])
        if inner and isinstance(inner[0], type) and issubclass(inner[0], np.generic):
            return inner[0]
    return None


def _decode_array(value: Any, dtype: Any) -> np.ndarray:
    if isinstance(value, dict) and set(value) == {"real", "imag"}:
        return np.asarray(value["real"], dtype=float) + 1j * np.asarray(value["imag"], dtype=float)
    array = np.asarray(value)
    if dtype is not None:
        return array.astype(dtype)
    if array.size == 0:
        return array.astype(float)
    return array


# ----------------------------------------------------------------------------- mixin
class Record:
    """Mixin of a dataclass record: ``to_dict()`` with :func:`encode`, ``from_dict()`` with
    :func:`decode`.
    """

    def to_dict(self) -> dict:
        """JSON-ready dict of every saved field."""
        return encode(self)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        """The record back from :meth:`to_dict`'s dict."""
        return decode(cls, data)
