"""Files of the workflow: atomic writes, fingerprints of inputs, one JSON checkpoint per step.

Records become JSON through :mod:`ase_symbreak.codec`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ase import Atoms

from ase_symbreak.codec import encode

__all__ = [
    "Checkpoints",
    "atomic_write",
    "write_text",
    "fingerprint",
    "model_fingerprint",
    "write_atoms",
    "write_json",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then move the file onto ``path`` (same folder, so
    ``os.replace`` is atomic): a reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (records and numpy values through
    :func:`~ase_symbreak.codec.encode`).
    """
    return write_text(path, json.dumps(encode(obj), indent=1))


def write_atoms(path: str | os.PathLike, atoms: Atoms, format: str = "cif") -> Path:
    """Write a structure file atomically (any ``ase.io`` format)."""
    from ase.io import write

    return atomic_write(path, lambda tmp: write(tmp, atoms, format=format))


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-able parts (floats rounded to 1e-9)."""

    def norm(x):
        x = encode(x)
        if isinstance(x, float):
            return round(x, 9)
        if isinstance(x, list):
            return [norm(v) for v in x]
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        return x

    text = json.dumps([norm(p) for p in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_fingerprint(calc) -> str:
    """Identity of the calculator's model: class, parameter shapes and sums, scalar settings."""
    model = getattr(calc, "model", None)
    if model is None:
        return type(calc).__name__
    parts: list[Any] = [type(model).__name__, str(getattr(calc, "dtype", None))]
    try:
        for name, tensor in model.state_dict().items():
            t = tensor.detach().double()
            parts.append([name, list(t.shape), float(t.sum()), float(t.abs().sum())])
    except Exception:  # pragma: no cover - exotic models
        pass
    skip = {"calls", "training"}
    for key, value in sorted(vars(model).items()):
        if key.startswith("_") or key in skip:
            continue
        if isinstance(value, (int, float, str, bool)):
            parts.append([key, value])
        elif isinstance(value, frozenset):
            parts.append([key, sorted(value)])
    return fingerprint(parts)


def safe_filename(name: str) -> str:
    """``name`` with every run of characters other than letters, digits, ``_.-`` as ``_``
    (space-group symbols in file and folder names: 'I4/mcm' -> 'I4_mcm').
    """
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def model_description(calc) -> dict:
    """What a result records about the model: class, name, modality (multi-fidelity models),
    dtype; ``{"calculator": <class>}`` for a calculator without a model.
    """
    model = getattr(calc, "model", None)
    if model is None:
        return {"calculator": type(calc).__name__}
    out: dict[str, Any] = {"model": type(model).__name__}
    for key in ("name", "modality"):
        value = getattr(model, key, None)
        if isinstance(value, str):
            out[key] = value
    dtype = getattr(calc, "dtype", None)
    if dtype is not None:
        out["dtype"] = str(dtype).replace("torch.", "")
    return out


class Checkpoints:
    """One JSON per step in ``out_dir``: ``{"key": ..., "result": ...}``.

    A step whose file exists with the same key (hash of its inputs) is loaded instead of
    recomputed; a different key means the inputs changed and the step runs again.
    ``out_dir=None`` keeps nothing.
    """

    def __init__(self, out_dir: str | os.PathLike | None) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path | None:
        return None if self.out_dir is None else self.out_dir / f"{name}.json"

    def load(self, name: str, key: str) -> dict | None:
        path = self.path(name)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("key") != key:
            return None
        return data.get("result")

    def save(self, name: str, key: str, result: Any) -> None:
        path = self.path(name)
        if path is not None:
            write_json(path, {"key": key, "result": result})
