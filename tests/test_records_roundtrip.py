"""Every ``codec.Record`` of the package survives ``to_dict`` -> JSON -> ``from_dict``.

The records are found, not listed: every module of the package is imported (``cli`` left
out; modules whose optional dependency is missing are skipped with the reason) and every
subclass of :class:`~ase_symbreak.codec.Record` is collected. An instance of each is built
from its type hints by :func:`build` (ints, floats, str, bool, None-able, tuples, lists,
dicts, real and complex numpy arrays, ``Atoms``, enums, literals, nested dataclasses); a
record the factory cannot build needs a hand-written sample in :data:`SAMPLES`, so a new
record with a field type that neither the factory nor the codec knows fails here.

The check: ``json.dumps(obj.to_dict())`` works, ``cls.from_dict`` of the JSON gives back
the same field values with the same types (tuples stay tuples, arrays keep dtype and shape,
``Atoms`` keep cell, positions, info and per-atom arrays), and a second ``to_dict`` equals
the first.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import pkgutil
import types
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms

import ase_symbreak
from ase_symbreak.codec import Record

#: Subpackages not imported: the command line (typer, rich; no records of its own).
NOT_WALKED = ("ase_symbreak.cli",)

#: Top-level modules of the optional extras (pyproject ``[project.optional-dependencies]``):
#: a package module that fails to import for want of one of these is skipped, any other
#: import error fails :func:`test_every_module_imports`.
OPTIONAL = {"dask", "distributed", "dask_jobqueue", "yaml", "jobflow", "pyxtal"}


# ----------------------------------------------------------------------------- discovery
def _walk(package, imported: list, skipped: dict, broken: dict) -> None:
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name.startswith(NOT_WALKED):
            continue
        try:
            with warnings.catch_warnings():  # old module paths kept as shims warn on import
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                module = importlib.import_module(info.name)
        except ModuleNotFoundError as err:
            top = (err.name or "").partition(".")[0]
            if top in OPTIONAL:
                skipped[info.name] = f"optional dependency {err.name!r} is not installed"
            else:
                broken[info.name] = f"{type(err).__name__}: {err}"
            continue
        except Exception as err:  # noqa: BLE001 - reported by test_every_module_imports
            broken[info.name] = f"{type(err).__name__}: {err}"
            continue
        imported.append(info.name)
        if info.ispkg:
            _walk(module, imported, skipped, broken)


def _import_package() -> tuple[list[str], dict[str, str], dict[str, str]]:
    imported: list[str] = []
    skipped: dict[str, str] = {}
    broken: dict[str, str] = {}
    _walk(ase_symbreak, imported, skipped, broken)
    return imported, skipped, broken


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


IMPORTED, SKIPPED, BROKEN = _import_package()
RECORDS = sorted(
    {c for c in _subclasses(Record) if c.__module__.startswith("ase_symbreak.")},
    key=lambda c: f"{c.__module__}.{c.__qualname__}",
)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------------------- factory
class CannotBuild(TypeError):
    """The factory knows no value for this type hint."""


def _atoms() -> Atoms:
    """Two atoms in a small triclinic cell, with info and a per-atom array."""
    atoms = Atoms(
        "SrTi",
        positions=[[0.0, 0.0, 0.0], [1.1, 1.2, 1.3]],
        cell=[[3.0, 0.0, 0.0], [0.2, 3.1, 0.0], [0.1, 0.3, 3.2]],
        pbc=True,
    )
    atoms.info["label"] = "sample"
    atoms.set_tags([1, 2])
    return atoms


def _array(dtype: Any) -> np.ndarray:
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        return np.array([[0.5 + 1.0j, -0.25j], [2.0, 1.5 - 0.5j]], dtype=dtype)
    if dtype is not None and np.issubdtype(dtype, np.bool_):
        return np.array([[True, False], [False, True]])
    if dtype is not None and np.issubdtype(dtype, np.integer):
        return np.array([[1, -2], [3, 4]], dtype=dtype)
    return np.array([[0.5, -1.25], [2.0, 3.75]], dtype=dtype or np.float64)


def _array_dtype(hint: Any) -> Any:
    """The scalar type of ``NDArray[T]``; None for ``np.ndarray`` or ``NDArray[Any]``."""
    args = typing.get_args(hint)
    if len(args) == 2:
        inner = typing.get_args(args[1])
        if inner and isinstance(inner[0], type) and issubclass(inner[0], np.generic):
            return inner[0]
    return None


def build(hint: Any) -> Any:
    """A value of type ``hint``, different from the usual defaults where it can be."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return "any"
    if hint is type(None):
        return None
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        errors = []
        for member in members:  # the first member the factory can build
            try:
                return build(member)
            except CannotBuild as err:
                errors.append(str(err))
        raise CannotBuild("; ".join(errors))
    if origin is typing.Literal:
        return args[-1]
    if hint is bool:
        return True
    if hint is int:
        return 7
    if hint is float:
        return 1.5
    if hint is complex:
        return 1.5 - 0.5j
    if hint is str:
        return "sample"
    if hint is bytes:
        return b"sample"
    if isinstance(hint, type) and issubclass(hint, Path):
        return Path("some/file.json")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[-1]
    if hint is Atoms:
        return _atoms()
    if hint is np.ndarray or origin is np.ndarray:
        return _array(_array_dtype(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build_dataclass(hint)
    if hint is tuple or origin is tuple:
        if not args:
            return (1, 2)
        if len(args) == 2 and args[1] is Ellipsis:
            return (build(args[0]), build(args[0]))
        return tuple(build(a) for a in args)
    if hint is list or origin is list:
        return [build(args[0]), build(args[0])] if args else [1, 2]
    if hint in (set, frozenset) or origin in (set, frozenset):
        kind = origin or hint
        return kind({build(args[0])} if args else {1, 2})
    if hint is dict or origin is dict:
        if len(args) == 2:
            return {build(args[0]): build(args[1])}
        return {"a": 1, "b": [0.5, 2.0], "c": None}
    raise CannotBuild(f"no sample value for the type hint {hint!r}")


#: Hand-written samples, by qualified class name, for the records (or nested dataclasses)
#: that :func:`build_dataclass` cannot build from their hints, each with the reason.
#: Empty today: the factory builds every record of the package.
SAMPLES: dict[str, Callable[[], Any]] = {}


def _saved(f: dataclasses.Field) -> bool:
    """False for a ``field(metadata=NOT_SAVED)``."""
    return bool(f.metadata.get("saved", True))


def _try(cls: type, kwargs: dict) -> Any:
    try:
        return cls(**kwargs)
    except Exception:  # noqa: BLE001 - a value the record's checks refuse
        return None


def build_dataclass(cls: type) -> Any:
    """An instance of the dataclass ``cls`` with a built value in every saved field.

    Fields whose built value the class refuses (``__post_init__`` checks: a choice of
    strings, a sign, a shape) keep their defaults; a required field it refuses makes the
    class need a sample in :data:`SAMPLES`.
    """
    if _name(cls) in SAMPLES:
        return SAMPLES[_name(cls)]()
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    has_default = {
        f.name: f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in fields
    }
    # NOT_SAVED fields are not written: they keep their default (as from_dict gives them)
    wanted = {f.name: build(hints[f.name]) for f in fields if _saved(f) or not has_default[f.name]}
    obj = _try(cls, wanted)
    if obj is not None:
        return obj
    kwargs = {n: v for n, v in wanted.items() if not has_default[n]}
    obj = _try(cls, kwargs)
    if obj is None:
        try:
            cls(**kwargs)
        except Exception as err:  # noqa: BLE001 - reported as the reason
            raise CannotBuild(
                f"{_name(cls)} refuses the built values of its required fields "
                f"({type(err).__name__}: {err}): add a sample to SAMPLES"
            ) from err
    for name, value in wanted.items():  # one default field at a time, where accepted
        if has_default[name]:
            candidate = _try(cls, {**kwargs, name: value})
            if candidate is not None:
                kwargs[name] = value
                obj = candidate
    return obj


# ----------------------------------------------------------------------------- check
def _differences(a: Any, b: Any, where: str) -> list[str]:
    """Where ``b`` (read back) differs from ``a`` (written) in value or type."""
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(a, Atoms):
        if not isinstance(b, Atoms):
            return [f"{where}: Atoms came back as {type(b).__name__}"]
        same = (
            a == b
            and a.info == b.info
            and sorted(a.arrays) == sorted(b.arrays)
            and all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)
        )
        return [] if same else [f"{where}: Atoms differ"]
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} came back as {type(b).__name__} ({b!r})"]
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
            return [f"{where}: array {a.dtype}{a.shape} came back as {b.dtype}{b.shape}: {b!r}"]
        return []
    if dataclasses.is_dataclass(a):
        found = []
        for f in dataclasses.fields(a):
            if _saved(f):
                found += _differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        return found
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items came back as {len(b)}"]
        return [
            d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)!r} came back as {list(b)!r}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}[{k!r}]")]
    return [] if a == b else [f"{where}: {a!r} came back as {b!r}"]


def check_round_trip(obj: Any) -> None:
    """Assert that the record ``obj`` survives to_dict -> JSON -> from_dict unchanged."""
    cls = type(obj)
    data = obj.to_dict()
    try:
        text = json.dumps(data)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{_name(cls)}.to_dict() is not JSON: {err}") from None
    back = cls.from_dict(json.loads(text))
    differences = _differences(obj, back, cls.__name__)
    assert not differences, f"{_name(cls)} changes in the round trip:\n" + "\n".join(differences)
    assert back.to_dict() == data, f"{_name(cls)}: a second to_dict() differs from the first"


# ----------------------------------------------------------------------------- tests
def test_every_module_imports():
    """Only a missing optional dependency may keep a module of the package from importing."""
    assert not BROKEN, "modules that fail to import:\n" + "\n".join(
        f"{n}: {e}" for n, e in BROKEN.items()
    )
    for name, reason in SKIPPED.items():
        print(f"skipped {name}: {reason}")


def test_records_are_found():
    names = {c.__name__ for c in RECORDS}
    assert len(RECORDS) >= 10, names
    assert {"PhononModes", "ModeSet"} <= names


@pytest.mark.parametrize("cls", RECORDS, ids=_name)
def test_record_round_trips(cls):
    assert dataclasses.is_dataclass(cls), f"{_name(cls)} inherits Record but is no dataclass"
    try:
        obj = build_dataclass(cls)
    except CannotBuild as err:
        pytest.fail(f"cannot build a {_name(cls)} ({err}): add a sample to SAMPLES")
    check_round_trip(obj)


def test_samples_name_records_or_their_fields():
    """Every hand-written sample still names a class that exists."""
    known = {_name(c) for c in RECORDS}
    for cls in RECORDS:
        for hint in typing.get_type_hints(cls).values():
            known |= {_name(t) for t in _dataclasses_in(hint)}
    assert set(SAMPLES) <= known, sorted(set(SAMPLES) - known)


def _dataclasses_in(hint: Any) -> list[type]:
    found = [hint] if isinstance(hint, type) and dataclasses.is_dataclass(hint) else []
    for arg in typing.get_args(hint):
        found += _dataclasses_in(arg)
    return found


# ----------------------------------------------------------------------------- the check fails
class _Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _throwaway(hint: Any) -> type:
    """A frozen Record with one field of type ``hint``, made where the test runs."""
    cls = dataclasses.make_dataclass("Throwaway", [("value", hint)], bases=(Record,), frozen=True)
    cls.__module__ = __name__
    return cls


@pytest.mark.parametrize(
    "hint",
    [Path, frozenset[int], dict[int, float], complex],
    ids=["Path", "frozenset", "int-keys", "complex"],
)
def test_check_fails_on_a_field_the_codec_cannot_round_trip(hint):
    """Field types the codec does not read back (or write as JSON) make the check fail."""
    obj = build_dataclass(_throwaway(hint))
    with pytest.raises(AssertionError):
        check_round_trip(obj)


def test_enum_fields_round_trip():
    """Enums are written as their values and read back as members (``NodeStatus``)."""
    check_round_trip(build_dataclass(_throwaway(_Colour)))


def test_check_fails_on_a_field_the_factory_cannot_build():
    class Opaque:
        pass

    with pytest.raises(CannotBuild):
        build_dataclass(_throwaway(Opaque))


def test_check_passes_a_record_the_codec_knows():
    cls = _throwaway(dict[str, tuple[np.ndarray, Atoms | None]])
    check_round_trip(build_dataclass(cls))
