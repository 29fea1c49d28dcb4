"""High-throughput distortion screening on Dask: many parents, one search each, in parallel.

:func:`screen` runs :func:`~ase_symbreak.workflows.search.plan_search` of every structure
as a Dask task, then each chosen candidate's relaxation (:func:`run_child`) as a task of
its own, then :func:`finish_search`; the client only orchestrates. Workers build the model
once (:class:`ModelPreload`, :mod:`.calcspec`); tasks carry structures and a small
:class:`~.calcspec.CalculatorSpec`, never a model.

Files in ``out_dir``::

    summary.csv  summary.json       one row per structure, rewritten as each one ends
    NAME/screen.json                status of NAME: key (inputs), done/failed, row, error
    NAME/01_parent.json ...         the search's step files (see :mod:`.search`)

A rerun skips structures whose ``screen.json`` says done with the same inputs, resumes the
others from their step files, and retries failures: an error of the input (``ValueError``,
``TypeError``: a P1 parent, unknown elements, overlapping atoms) is reported at once, any
other error (a worker that died, a runtime error) is retried up to ``retries`` times.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms

from ._serial import atoms_to_dict, fingerprint, to_jsonable, write_json
from .calcspec import CalculatorSpec, borrowed, model_loads
from .search import ChildResult, SearchPlan, SearchResult, SearchSettings, finish_search, plan_search, run_child

__all__ = ["screen", "ScreenEntry", "ScreenResult", "ModelPreload", "read_structures", "local_client",
           "open_client", "jobqueue_cluster", "load_jobqueue_config", "StructureInput", "SUMMARY_COLUMNS"]

#: ``progress(structures_done, structures_total, children_done, children_total)``
ScreenProgress = Callable[[int, int, int, int], None]

#: Columns of ``summary.csv`` (and keys of each row of ``summary.json``).
SUMMARY_COLUMNS = ("name", "formula", "parent_space_group", "unstable_irreps", "best_child_space_group",
                   "energy_gain_mev_per_fu", "n_children", "status", "attempts", "error", "source")

#: File endings read from a folder (plus files named POSCAR*/CONTCAR*).
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".xyz", ".extxyz", ".traj", ".json", ".pdb", ".xsf", ".in")


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ScreenEntry:
    """One structure of the screen.

    Attributes
    ----------
    name : folder name under ``out_dir``.
    source : where the structure came from (file path, or 'input').
    status : 'done' or 'failed'.
    formula, parent_space_group : of the (relaxed) parent; the input's when it failed early.
    unstable_irreps : labels of the soft modes, softest first.
    best_child_space_group : 'Pnma (62)' of the child with the largest energy gain, '' if none.
    energy_gain_mev_per_fu : that child's gain (meV per formula unit), 0.0 if none.
    n_children : unique relaxed children.
    attempts : tries this run (0 when loaded from an earlier run).
    error : 'Type: message' of the last failure, '' when done.
    loaded : True when taken from an earlier run's ``screen.json``.
    seconds : wall time from first submission to the end, this run.
    """

    name: str
    source: str
    status: str
    formula: str = ""
    parent_space_group: str = ""
    unstable_irreps: tuple[str, ...] = ()
    best_child_space_group: str = ""
    energy_gain_mev_per_fu: float = 0.0
    n_children: int = 0
    attempts: int = 0
    error: str = ""
    loaded: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def row(self) -> dict:
        """The row of ``summary.csv`` / ``summary.json``."""
        d = {k: getattr(self, k) for k in SUMMARY_COLUMNS}
        d["unstable_irreps"] = " ".join(self.unstable_irreps)
        return to_jsonable(d)

    def to_dict(self) -> dict:
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> ScreenEntry:
        return cls(**{**d, "unstable_irreps": tuple(d.get("unstable_irreps", ()))})


@dataclass(frozen=True)
class ScreenResult:
    """What :func:`screen` did: one :class:`ScreenEntry` per structure, in input order."""

    entries: tuple[ScreenEntry, ...]
    out_dir: str
    seconds: float = 0.0
    n_workers: int = 0
    model_loads: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[ScreenEntry]:
        return [e for e in self.entries if not e.ok]

    def __getitem__(self, name: str) -> ScreenEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def errors(self) -> list[str]:
        """``'NAME: error'`` of each failed structure."""
        return [f"{e.name}: {e.error}" for e in self.failed]

    def search(self, name: str) -> dict:
        """The ``search.json`` of structure ``name`` (ranked children, soft modes, tree)."""
        import json

        return json.loads((Path(self.out_dir) / name / "search.json").read_text())

    def table(self):
        """The summary as a :class:`rich.table.Table` (errors: :meth:`errors`)."""
        from rich.table import Table

        table = Table(title=f"screen of {len(self.entries)} structures ({len(self.failed)} failed)")
        for col, just in (("name", "left"), ("formula", "left"), ("parent", "left"), ("unstable irreps", "left"),
                          ("best child", "left"), ("gain (meV/f.u.)", "right"), ("status", "left")):
            table.add_column(col, justify=just)
        for e in self.entries:
            status = ("done (earlier run)" if e.loaded else "done") if e.ok else "[red]failed[/red]"
            table.add_row(e.name, e.formula, e.parent_space_group, " ".join(e.unstable_irreps) or "-",
                          e.best_child_space_group or "-", f"{e.energy_gain_mev_per_fu:.2f}" if e.ok else "-", status)
        return table


# ----------------------------------------------------------------------------- inputs
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "structure"


@dataclass(frozen=True)
class StructureInput:
    """A named structure to screen; ``atoms`` is None and ``error`` says why when it could not be read."""

    name: str
    source: str
    atoms: Atoms | None
    error: str = ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _read_one(path: Path) -> tuple[Atoms | None, str]:
    from ase.io import read

    try:
        atoms = read(str(path))
    except Exception as err:  # ase raises many types for malformed files
        reason = _first_line(err) or type(err).__name__
        return None, f"cannot read {path}: {reason}"
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        return None, f"cannot read {path}: no atoms"
    return atoms, ""


def _is_structure_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and (
        path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.upper().startswith(("POSCAR", "CONTCAR")))


Structures = Mapping[str, Atoms] | Iterable["Atoms | StructureInput | str | os.PathLike"] | str | os.PathLike


def read_structures(inputs: Structures) -> list[StructureInput]:
    """Named structures from a mapping, a list of ``Atoms``, files, folders or :class:`StructureInput`.

    Names are file stems (folders: every structure file inside, sorted) or ``NNN_FORMULA``
    for ``Atoms``; repeated names get ``-2``, ``-3``. A file that cannot be read becomes an
    input with its error (it fails alone). A missing path raises ``FileNotFoundError``.
    """
    items: list[tuple[str, str, Atoms | None, str]] = []
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        for name, atoms in inputs.items():
            items.append((str(name), "input", atoms, ""))
    else:
        for i, item in enumerate(inputs):
            if isinstance(item, StructureInput):
                items.append((item.name, item.source, item.atoms, item.error))
                continue
            if isinstance(item, Atoms):
                items.append((f"{i:03d}_{item.get_chemical_formula(mode='metal', empirical=True)}", "input", item, ""))
                continue
            path = Path(item)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if _is_structure_file(p))
                if not files:
                    raise FileNotFoundError(f"no structure files in folder {path}")
            elif path.exists():
                files = [path]
            else:
                raise FileNotFoundError(f"no such file or folder: {path}")
            for f in files:
                atoms, error = _read_one(f)
                items.append((f.stem if f.suffix else f.name, str(f), atoms, error))
    seen: dict[str, int] = {}
    out = []
    for name, source, atoms, error in items:
        base = _safe_name(name)
        seen[base] = seen.get(base, 0) + 1
        out.append(StructureInput(base if seen[base] == 1 else f"{base}-{seen[base]}", source, atoms, error))
    return out


def _check_input(atoms: Atoms, settings: SearchSettings) -> str:
    """'' for a usable parent, else the reason (checked before any task is sent)."""
    import numpy as np

    from ase_symbreak.validation import check_atoms

    from .steps import _check_supercell, check_parent

    try:
        check_atoms(atoms)
        check_parent(atoms, settings.symprec)
        _check_supercell(atoms, np.asarray(settings.supercell, dtype=int), settings.symprec)
    except (ValueError, TypeError) as err:
        return f"bad structure: {err}"
    return ""


# ----------------------------------------------------------------------------- worker side
try:  # the plugin base class, when distributed is installed
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - dask is an optional extra
    _WorkerPlugin = object


class ModelPreload(_WorkerPlugin):
    """Dask worker plugin: set torch's thread count and load the model once, at worker start.

    Parameters
    ----------
    spec : the calculator every task of the screen uses.
    torch_threads : intra-op threads of torch on each worker (None: leave torch's default).
    """

    name = "ase-symbreak-model"

    def __init__(self, spec: CalculatorSpec, torch_threads: int | None = None) -> None:
        self.spec = spec
        self.torch_threads = torch_threads

    def setup(self, worker=None) -> None:
        _set_torch_threads(self.torch_threads)
        from .calcspec import calculator_for

        calculator_for(self.spec)


def _set_torch_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def _plan_task(atoms: Atoms, settings: SearchSettings, spec: CalculatorSpec, out_dir: str) -> SearchPlan:
    with borrowed(spec) as calc:
        plan = plan_search(atoms, calc, settings, out_dir=out_dir)
    assert plan is not None
    return plan


def _child_task(plan: SearchPlan, index: int, spec: CalculatorSpec) -> ChildResult:
    with borrowed(spec) as calc:
        return run_child(plan, index, calc)


def _finish_task(plan: SearchPlan, *children: ChildResult) -> SearchResult:
    return finish_search(plan, sorted(children, key=lambda c: c.candidate_index))


def _worker_loads() -> dict[str, int]:
    return model_loads()


# ----------------------------------------------------------------------------- clients
def local_client(n_workers: int | None = None):
    """A :class:`distributed.Client` on a new ``LocalCluster`` of processes with one thread each.

    ``n_workers`` defaults to the machine's cores. Closing the client closes the cluster.
    """
    from distributed import Client, LocalCluster

    n = max(1, int(n_workers or os.cpu_count() or 1))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    return Client(cluster, set_as_default=False)


_JOBQUEUE_SYSTEMS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
                     "oar": "OARCluster", "moab": "MoabCluster", "htcondor": "HTCondorCluster"}


def load_jobqueue_config(config: str | os.PathLike) -> dict:
    """Parse and check a jobqueue YAML file (see ``workflows/jobqueue_slurm.yaml``).

    Keys: ``system`` (slurm, pbs, sge, lsf, oar, moab, htcondor), ``jobs`` (batch jobs to
    start) or ``adapt`` (``{minimum_jobs, maximum_jobs}``), ``torch_threads`` (per worker
    process) and ``cluster`` (keyword arguments of the dask-jobqueue cluster class).
    Raises ``ValueError`` naming what is wrong.
    """
    import yaml

    path = Path(config)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read jobqueue config {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"malformed YAML in {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'system' and 'cluster'")
    unknown = sorted(set(data) - {"system", "jobs", "adapt", "torch_threads", "cluster"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: adapt, cluster, jobs, system, torch_threads")
    system = str(data.get("system", "")).lower()
    if system not in _JOBQUEUE_SYSTEMS:
        raise ValueError(f"{path}: 'system' must be one of {sorted(_JOBQUEUE_SYSTEMS)}, got {data.get('system')!r}")
    if not isinstance(data.get("cluster") or {}, dict):
        raise ValueError(f"{path}: 'cluster' must be a mapping of {_JOBQUEUE_SYSTEMS[system]} arguments")
    if "jobs" in data and "adapt" in data:
        raise ValueError(f"{path}: give 'jobs' or 'adapt', not both")
    if data.get("adapt") is not None and not isinstance(data["adapt"], dict):
        raise ValueError(f"{path}: 'adapt' must be a mapping such as {{minimum_jobs: 1, maximum_jobs: 8}}")
    return {"system": system, "jobs": int(data.get("jobs", 1)), "adapt": data.get("adapt"),
            "torch_threads": data.get("torch_threads"), "cluster": dict(data.get("cluster") or {})}


def jobqueue_cluster(config: str | os.PathLike):
    """The dask-jobqueue cluster of a YAML config, not yet scaled (no job submitted)."""
    import dask_jobqueue

    cfg = load_jobqueue_config(config)
    try:
        return getattr(dask_jobqueue, _JOBQUEUE_SYSTEMS[cfg["system"]])(**cfg["cluster"])
    except TypeError as err:
        raise ValueError(f"{config}: bad 'cluster' arguments: {err}") from None


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None,
                jobqueue: str | os.PathLike | None = None) -> Iterator[tuple[Any, int | None]]:
    """``with open_client(...) as (client, torch_threads):`` the cluster of the CLI's options.

    ``scheduler``: address of a running scheduler (its workers are left as they are);
    ``jobqueue``: a YAML config (:func:`load_jobqueue_config`), batch jobs started here and
    stopped at the end; otherwise a :func:`local_client` with ``workers`` workers.
    ``torch_threads`` is what each worker's torch should use (None: leave it).
    """
    from distributed import Client

    if sum(x is not None for x in (scheduler, workers, jobqueue)) > 1:
        raise ValueError("give at most one of scheduler, workers, jobqueue")
    if scheduler is not None:
        client = Client(scheduler, set_as_default=False)
        try:
            yield client, None
        finally:
            client.close()
        return
    if jobqueue is not None:
        cfg = load_jobqueue_config(jobqueue)
        cluster = jobqueue_cluster(jobqueue)
        try:
            if cfg["adapt"]:
                cluster.adapt(**cfg["adapt"])
            else:
                cluster.scale(jobs=cfg["jobs"])
            client = Client(cluster, set_as_default=False)
            try:
                yield client, cfg["torch_threads"]
            finally:
                client.close()
        finally:
            cluster.close()
        return
    client = local_client(workers)
    try:
        yield client, max(1, (os.cpu_count() or 1) // (_worker_count(client) or 1))
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def _worker_count(client) -> int:
    return len(client.scheduler_info().get("workers", {}))


# ----------------------------------------------------------------------------- the screen
def _error_text(exc: BaseException) -> str:
    """'Type: first line of the message' (the type alone for an empty message)."""
    msg = _first_line(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    """Errors of the input are final; anything else (a dead worker, a runtime error) may pass."""
    return not isinstance(exc, (ValueError, TypeError, KeyError))


def _entry_of(inp: StructureInput, result: SearchResult, attempts: int, seconds: float) -> ScreenEntry:
    p = result.parent
    best = result.children[0].identification if result.children else None
    return ScreenEntry(
        name=inp.name, source=inp.source, status="done",
        formula=p.atoms.get_chemical_formula(mode="metal", empirical=True),
        parent_space_group=f"{p.space_group_symbol} ({p.space_group_number})",
        unstable_irreps=tuple(dict.fromkeys(m.irrep for m in result.soft_modes.modes)),
        best_child_space_group="" if best is None else f"{best.space_group_symbol} ({best.space_group_number})",
        energy_gain_mev_per_fu=0.0 if best is None else float(best.energy_gain_mev_per_fu),
        n_children=len(result.children), attempts=attempts, seconds=seconds,
    )


def _failed_entry(inp: StructureInput, error: str, attempts: int, seconds: float = 0.0) -> ScreenEntry:
    formula, sg = "", ""
    if inp.atoms is not None:
        formula = inp.atoms.get_chemical_formula(mode="metal", empirical=True)
        try:
            from ase_symbreak.symmetry import analyze

            info = analyze(inp.atoms)
            sg = f"{info.symbol} ({info.number})"
        except Exception:  # a structure spglib cannot read
            pass
    return ScreenEntry(name=inp.name, source=inp.source, status="failed", formula=formula, parent_space_group=sg,
                       attempts=attempts, error=error, seconds=seconds)


def _write_summary(out: Path, entries: list[ScreenEntry], meta: dict) -> None:
    rows = [e.row() for e in entries]
    write_json(out / "summary.json", {**meta, "structures": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    from ._serial import _atomic_write

    _atomic_write(out / "summary.csv", lambda h: h.write(buf.getvalue()))


def _screen_key(atoms: Atoms, settings: SearchSettings, spec: CalculatorSpec) -> str:
    return fingerprint("screen", atoms_to_dict(atoms), settings.to_dict(), spec.identity())


def _load_entry(path: Path, key: str) -> ScreenEntry | None:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key or data.get("entry", {}).get("status") != "done":
        return None
    try:
        return ScreenEntry.from_dict({**data["entry"], "loaded": True, "attempts": 0, "seconds": 0.0})
    except (TypeError, KeyError):
        return None


@dataclass
class _Job:
    """The tasks in flight of one structure."""

    input: StructureInput
    key: str
    t0: float
    attempts: dict = field(default_factory=dict)  # "plan" | ("child", i) | "finish" -> tries so far
    plan: Any = None  # future of the SearchPlan
    children: dict = field(default_factory=dict)  # index -> future of the ChildResult
    children_done: set = field(default_factory=set)
    over: bool = False

    @property
    def tries(self) -> int:
        return max(self.attempts.values(), default=0)


class _ScreenRun:
    """Submits the tasks of each structure (plan -> one per child -> finish) as the earlier ones end.

    ``on_end(job, entry)`` is called once per structure, done or failed.
    """

    def __init__(self, client, settings: SearchSettings, spec: CalculatorSpec, out: Path, retries: int,
                 on_end: Callable[[_Job, ScreenEntry], None]) -> None:
        from distributed import as_completed

        self.client, self.settings, self.spec, self.out, self.retries = client, settings, spec, out, retries
        self.on_end = on_end
        self.pending = as_completed(loop=client.loop)
        self.tasks: dict[Any, tuple[_Job, str, int]] = {}  # future -> (job, kind, child index)
        self.run_id = uuid.uuid4().hex[:8]  # task keys of this call only: never another screen's result
        self.children_done = 0
        self.children_total = 0

    def start(self, inp: StructureInput, key: str) -> None:
        job = _Job(input=inp, key=key, t0=time.perf_counter())
        job.plan = self._submit(job, "plan")

    def _submit(self, job: _Job, kind: str, index: int = -1):
        slot = ("child", index) if kind == "child" else kind
        job.attempts[slot] = job.attempts.get(slot, 0) + 1
        name = f"{kind}-{job.input.name}{'' if index < 0 else f'-{index}'}-{self.run_id}-{job.attempts[slot]}"
        # children and finish before new structures: a structure once started ends soon (its row
        # appears, its results are complete on disk) instead of every structure at the very end
        if kind == "plan":
            fut = self.client.submit(_plan_task, job.input.atoms, self.settings, self.spec,
                                     str(self.out / job.input.name), key=name, pure=False, priority=0)
        elif kind == "child":
            fut = self.client.submit(_child_task, job.plan, index, self.spec, key=name, pure=False, priority=1)
            job.children[index] = fut
        else:
            fut = self.client.submit(_finish_task, job.plan, *job.children.values(), key=name, pure=False,
                                     priority=2)
        self.tasks[fut] = (job, kind, index)
        self.pending.add(fut)
        return fut

    def wait(self, report: Callable[[], Any]) -> None:
        """Handle every task as it ends, until no structure has any left; ``report()`` after each."""
        for fut in self.pending:
            if fut in self.tasks:  # not cancelled with its structure
                self._handle(fut, *self.tasks.pop(fut))
                report()

    def _handle(self, fut, job: _Job, kind: str, index: int) -> None:
        if job.over or fut.status == "cancelled":
            return
        if fut.status == "error":
            exc = fut.exception()
            slot = ("child", index) if kind == "child" else kind
            if _retryable(exc) and job.attempts[slot] <= self.retries:
                new = self._submit(job, kind, index)
                if kind == "plan":
                    job.plan = new
                return
            self._end(job, _failed_entry(job.input, ("" if kind != "child" else f"child {index}: ") + _error_text(exc),
                                         job.tries, time.perf_counter() - job.t0))
        elif kind == "plan":
            plan: SearchPlan = fut.result()
            self.children_total += len(plan.chosen)
            for i in range(len(plan.chosen)):
                self._submit(job, "child", i)
            if not plan.chosen:
                self._submit(job, "finish")
        elif kind == "child":
            self.children_done += 1
            job.children_done.add(index)
            if len(job.children_done) == len(job.children):
                self._submit(job, "finish")
        else:
            self._end(job, _entry_of(job.input, fut.result(), job.tries, time.perf_counter() - job.t0))

    def _end(self, job: _Job, entry: ScreenEntry) -> None:
        job.over = True
        for fut in [f for f, (j, _, _) in self.tasks.items() if j is job]:
            fut.cancel()
            del self.tasks[fut]
        job.plan, job.children = None, {}
        self.on_end(job, entry)


def screen(
    structures: Structures,
    settings: SearchSettings | None = None,
    model: CalculatorSpec | str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "screen",
    client=None,
    n_workers: int | None = None,
    retries: int = 2,
    progress: ScreenProgress | None = None,
    torch_threads: int | None = None,
) -> ScreenResult:
    """Distortion search of many structures on a Dask cluster.

    Parameters
    ----------
    structures : a mapping name -> Atoms, a list of Atoms and/or structure files, or folders
        (see :func:`read_structures`).
    settings : :class:`SearchSettings` of every search (default: its defaults).
    model : :class:`CalculatorSpec`, or a model name/file/import path (None: SevenNet-0).
    out_dir : one folder per structure, plus ``summary.csv`` and ``summary.json``.
    client : a :class:`distributed.Client` (a running scheduler, a jobqueue cluster); None
        starts a :func:`local_client` with ``n_workers`` workers and closes it at the end.
    retries : further tries of a task that failed for a reason other than its input.
    progress : ``progress(structures_done, structures_total, children_done, children_total)``.
    torch_threads : torch threads per worker (default with ``client=None``: cores // workers;
        with a client given: left as the workers have it).

    Returns
    -------
    ScreenResult, entries in input order; failed structures carry their error.
    """
    settings = settings or SearchSettings()
    spec = CalculatorSpec.of(model)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    inputs = read_structures(structures)
    if not inputs:
        raise ValueError("no structures to screen")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"settings": settings.to_dict(), "model": spec.to_dict()}
    start = time.perf_counter()
    entries: dict[str, ScreenEntry] = {}
    todo: list[tuple[StructureInput, str]] = []
    for inp in inputs:
        error = inp.error or _check_input(inp.atoms, settings)
        if error:
            entries[inp.name] = _failed_entry(inp, error, attempts=0)
            continue
        key = _screen_key(inp.atoms, settings, spec)
        done = _load_entry(out / inp.name / "screen.json", key)
        if done is not None:
            entries[inp.name] = done
        else:
            todo.append((inp, key))

    def ordered() -> list[ScreenEntry]:
        return [entries[i.name] for i in inputs if i.name in entries]

    def record(inp: StructureInput, key: str, entry: ScreenEntry) -> None:
        entries[inp.name] = entry
        write_json(out / inp.name / "screen.json", {"key": key, "entry": entry.to_dict()})
        _write_summary(out, ordered(), meta)

    run: _ScreenRun | None = None

    def report() -> None:
        if progress is not None:
            children = (0, 0) if run is None else (run.children_done, run.children_total)
            progress(len(entries), len(inputs), *children)

    for inp in inputs:  # failures of the input are final: record them now
        if inp.name in entries and not entries[inp.name].ok:
            record(inp, "", entries[inp.name])
    _write_summary(out, ordered(), meta)
    report()
    if not todo:
        return ScreenResult(entries=tuple(ordered()), out_dir=str(out), seconds=time.perf_counter() - start)

    with contextlib.ExitStack() as stack:
        if client is None:  # a local cluster for this screen only
            client, local_threads = stack.enter_context(open_client(workers=n_workers))
            torch_threads = torch_threads or local_threads
        try:
            client.register_plugin(ModelPreload(spec, torch_threads))
        except Exception as err:  # the workers could not build the calculator
            raise ValueError(f"cannot load model {spec.model or 'SevenNet-0'} on the workers: "
                             f"{_error_text(err)}") from err
        run = _ScreenRun(client, settings, spec, out, retries,
                         on_end=lambda job, entry: record(job.input, job.key, entry))
        for inp, key in todo:
            run.start(inp, key)
        run.wait(report)
        loads = client.run(_worker_loads)
        n_workers_used = _worker_count(client)
    return ScreenResult(entries=tuple(ordered()), out_dir=str(out), seconds=time.perf_counter() - start,
                        n_workers=n_workers_used, model_loads=loads)
