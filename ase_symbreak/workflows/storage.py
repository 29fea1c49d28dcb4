"""Files of the workflow: atomic writes, fingerprints of inputs, one JSON checkpoint per step.

Records become JSON through :mod:`ase_symbreak.codec`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import Atoms

from ase_symbreak.codec import encode

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoints",
    "DamagedCheckpoint",
    "FolderLocked",
    "StoredStep",
    "content_hash",
    "check_unlocked",
    "folder_lock",
    "lock_holder",
    "atomic_write",
    "write_text",
    "fingerprint",
    "model_fingerprint",
    "write_atoms",
    "write_structure_files",
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

    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    return atomic_write(path, write)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (records and numpy values through
    :func:`~ase_symbreak.codec.encode`).
    """
    return write_text(path, json.dumps(encode(obj), indent=1))


def write_atoms(path: str | os.PathLike, atoms: Atoms, format: str = "cif") -> Path:
    """Write a structure file atomically (any ``ase.io`` format)."""
    from ase.io import write

    return atomic_write(path, lambda tmp: write(tmp, atoms, format=format))


def write_structure_files(path: str | os.PathLike, atoms: Atoms, symprec: float) -> Path:
    """``path`` (.cif) in its space group at ``symprec`` (symmetry operations and the
    asymmetric unit, pymatgen's ``CifWriter``; P1 through ASE when that fails) and a POSCAR
    beside it (same name, ``.vasp``). Both atomic; returns the CIF's path.
    """
    path = Path(path)
    try:
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.io.cif import CifWriter

        text = str(CifWriter(AseAtomsAdaptor.get_structure(atoms), symprec=symprec))
    except Exception as err:  # noqa: BLE001 - a P1 CIF is still a correct structure
        log.warning("symmetrised CIF of %s failed (%s); writing it in P1", path.name, err)
        write_atoms(path, atoms)
    else:
        write_text(path, text)
    from ase.io import write

    poscar = path.with_suffix(".vasp")
    atomic_write(poscar, lambda tmp: write(tmp, atoms, format="vasp", direct=True, sort=True))
    return path


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
    hessian_dtype = getattr(calc, "hessian_dtype", None)
    if hessian_dtype is not None and str(hessian_dtype) != "torch.float64":  # keys as before
        parts.append(["hessian_dtype", str(hessian_dtype)])
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
    dtype and Hessian dtype; ``{"calculator": <class>}`` for a calculator without a model.
    """
    model = getattr(calc, "model", None)
    if model is None:
        return {"calculator": type(calc).__name__}
    out: dict[str, Any] = {"model": type(model).__name__}
    for key in ("name", "modality"):
        value = getattr(model, key, None)
        if isinstance(value, str):
            out[key] = value
    for key in ("dtype", "hessian_dtype"):
        dtype = getattr(calc, key, None)
        if dtype is not None:
            out[key] = str(dtype).replace("torch.", "")
    return out


#: Version of the step files: ``{"format", "key", "content_hash", "result"}``.
CHECKPOINT_FORMAT = 2

log = logging.getLogger(__name__)


def content_hash(result: Any) -> str:
    """Hash of a step's result as it is written to JSON (:func:`~ase_symbreak.codec.encode`,
    sorted keys): the same for a result and for that result read back from its file.
    """
    text = json.dumps(encode(result), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DamagedCheckpoint(ValueError):
    """A step file that cannot be trusted: unreadable, the wrong shape, or edited."""


@dataclass(frozen=True)
class StoredStep:
    """A step read back from its file: the result (JSON) and its verified content hash."""

    result: dict
    content_hash: str


class Checkpoints:
    """One JSON per step in ``out_dir``:
    ``{"format": 2, "key": ..., "content_hash": ..., "result": ...}``.

    ``key`` is the fingerprint of the step's inputs, which include the content hashes of the
    steps it was computed from, so recomputing a step that then differs invalidates every later
    step. A file with the same key is loaded instead of recomputed. A file that does not parse,
    has the wrong shape or whose result does not match its ``content_hash`` is *damaged*:
    reported (a warning on the ``ase_symbreak.workflows.storage`` logger, and in
    :attr:`damaged`) and recomputed, never used. ``out_dir=None`` keeps nothing.
    """

    def __init__(self, out_dir: str | os.PathLike | None) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        #: ``{file name: why}`` of the damaged files met so far.
        self.damaged: dict[str, str] = {}

    def path(self, name: str) -> Path | None:
        return None if self.out_dir is None else self.out_dir / f"{name}.json"

    def read(self, name: str) -> dict | None:
        """The verified contents of step ``name``'s file; None when there is no file.

        Raises :class:`DamagedCheckpoint` saying why the file cannot be used.
        """
        path = self.path(name)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DamagedCheckpoint(f"it does not parse ({type(err).__name__})") from None
        if not isinstance(data, dict):
            raise DamagedCheckpoint(f"it holds a JSON {type(data).__name__}, not an object")
        missing = [k for k in ("key", "content_hash", "result") if k not in data]
        if missing:
            raise DamagedCheckpoint(f"it lacks {', '.join(map(repr, missing))}")
        if data.get("format") != CHECKPOINT_FORMAT:
            raise DamagedCheckpoint(f"format {data.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        if not isinstance(data["result"], dict):
            raise DamagedCheckpoint("its result is not an object")
        if content_hash(data["result"]) != data["content_hash"]:
            raise DamagedCheckpoint("its content does not match its hash (edited or corrupted)")
        return data

    def mark_damaged(self, name: str, why: str) -> None:
        """Record and report that step ``name``'s file is damaged and will be recomputed."""
        file = f"{name}.json"
        self.damaged[file] = why
        log.warning("%s is damaged (%s), recomputing", file, why)

    def load(self, name: str, key: str) -> StoredStep | None:
        """Step ``name`` when its file holds a trustworthy result for inputs ``key``.

        None when there is no file, when it was computed from other inputs, or when it is
        damaged (then reported, see :meth:`mark_damaged`).
        """
        try:
            data = self.read(name)
        except DamagedCheckpoint as err:
            self.mark_damaged(name, str(err))
            return None
        if data is None or data["key"] != key:
            return None
        return StoredStep(result=data["result"], content_hash=data["content_hash"])

    def save(self, name: str, key: str, result: Any) -> str:
        """Write step ``name`` atomically; returns its content hash (the hash is returned
        even without a folder, so that later keys can depend on it).
        """
        result = encode(result)
        digest = content_hash(result)
        path = self.path(name)
        if path is not None:
            write_json(
                path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "key": key,
                    "content_hash": digest,
                    "result": result,
                },
            )
        return digest


#: Name of the lock file of a result folder.
LOCK_NAME = ".ase-symbreak.lock"


class FolderLocked(RuntimeError):
    """Another run is using the result folder."""


_held: dict[Path, int] = {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def lock_holder(out_dir: str | os.PathLike) -> str | None:
    """Who holds ``out_dir``'s lock (``"process PID on HOST"``), or None when it is free.

    A lock of a process of this machine that no longer exists is stale: it is removed (with a
    warning) and None returned. An unreadable lock file counts as held.
    """
    path = Path(out_dir) / LOCK_NAME
    if not path.exists():
        return None
    try:
        holder = json.loads(path.read_text())
        pid, host = int(holder["pid"]), str(holder["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return "a lock file that cannot be read"
    if host == socket.gethostname() and not _pid_alive(pid):
        log.warning("removing the stale lock of process %d in %s", pid, Path(out_dir))
        path.unlink(missing_ok=True)
        return None
    return f"process {pid} on {host}"


def check_unlocked(out_dir: str | os.PathLike) -> None:
    """:class:`FolderLocked`, naming the holder and how to clear it, when another run holds
    ``out_dir``'s lock (a stale lock is removed, see :func:`lock_holder`).
    """
    holder = lock_holder(out_dir)
    if holder is not None:
        path = Path(out_dir) / LOCK_NAME
        raise FolderLocked(
            f"{Path(out_dir)} is in use by another run ({holder}); wait for it to finish, or "
            f"delete {path} if no run is using the folder"
        )


@contextlib.contextmanager
def folder_lock(out_dir: str | os.PathLike | None) -> Iterator[None]:
    """Hold ``out_dir``'s lock file for the duration of a run.

    A second run on the same folder (another process, on this or another machine sharing the
    folder) raises :class:`FolderLocked` naming the holder; a lock left by a process of this
    machine that no longer exists is stale and is taken over (with a warning). The same
    process may enter the lock again (nested workflows). ``None`` locks nothing.
    """
    if out_dir is None:
        yield
        return
    folder = Path(out_dir).resolve()
    if _held.get(folder):
        _held[folder] += 1
        try:
            yield
        finally:
            _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            check_unlocked(folder)  # raises unless the lock was stale (and is now removed)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:  # a stale lock came back at once: another run is taking the folder
        raise FolderLocked(f"{folder} is being locked by another run; try again")
    _held[folder] = 1
    try:
        yield
    finally:
        _held.pop(folder, None)
        path.unlink(missing_ok=True)
