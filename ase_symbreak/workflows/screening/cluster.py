"""Dask clients of a screen: a local cluster, a running scheduler, or batch jobs (dask-jobqueue)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ase_symbreak.errors import first_line

__all__ = [
    "jobqueue_cluster",
    "load_jobqueue_config",
    "local_client",
    "open_client",
    "worker_count",
]

_JOBQUEUE_SYSTEMS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "oar": "OARCluster",
    "moab": "MoabCluster",
    "htcondor": "HTCondorCluster",
}
_JOBQUEUE_KEYS = {"system", "jobs", "adapt", "torch_threads", "cluster"}


def local_client(n_workers: int | None = None):
    """A :class:`distributed.Client` on a new ``LocalCluster`` of processes with one thread each.

    ``n_workers`` defaults to the machine's cores. Closing the client closes the cluster.
    """
    from distributed import Client, LocalCluster

    n = max(1, int(n_workers or os.cpu_count() or 1))
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    return Client(cluster, set_as_default=False)


def load_jobqueue_config(config: str | os.PathLike) -> dict:
    """Parse and check a jobqueue YAML file (see ``recipes/jobqueue_slurm.yaml``).

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
        raise ValueError(f"malformed YAML in {path}: {first_line(err)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'system' and 'cluster'")
    unknown = sorted(set(data) - _JOBQUEUE_KEYS)
    if unknown:
        known = ", ".join(sorted(_JOBQUEUE_KEYS))
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {known}")
    system = str(data.get("system", "")).lower()
    if system not in _JOBQUEUE_SYSTEMS:
        raise ValueError(
            f"{path}: 'system' must be one of {sorted(_JOBQUEUE_SYSTEMS)}, "
            f"got {data.get('system')!r}"
        )
    if not isinstance(data.get("cluster") or {}, dict):
        raise ValueError(
            f"{path}: 'cluster' must be a mapping of {_JOBQUEUE_SYSTEMS[system]} arguments"
        )
    if "jobs" in data and "adapt" in data:
        raise ValueError(f"{path}: give 'jobs' or 'adapt', not both")
    if data.get("adapt") is not None and not isinstance(data["adapt"], dict):
        raise ValueError(
            f"{path}: 'adapt' must be a mapping such as {{minimum_jobs: 1, maximum_jobs: 8}}"
        )
    return {
        "system": system,
        "jobs": int(data.get("jobs", 1)),
        "adapt": data.get("adapt"),
        "torch_threads": data.get("torch_threads"),
        "cluster": dict(data.get("cluster") or {}),
    }


def jobqueue_cluster(config: str | os.PathLike):
    """The dask-jobqueue cluster of a YAML config, not yet scaled (no job submitted)."""
    import dask_jobqueue

    cfg = load_jobqueue_config(config)
    try:
        return getattr(dask_jobqueue, _JOBQUEUE_SYSTEMS[cfg["system"]])(**cfg["cluster"])
    except TypeError as err:
        raise ValueError(f"{config}: bad 'cluster' arguments: {err}") from None


@contextlib.contextmanager
def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    jobqueue: str | os.PathLike | None = None,
) -> Iterator[tuple[Any, int | None]]:
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
        yield client, max(1, (os.cpu_count() or 1) // (worker_count(client) or 1))
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def worker_count(client) -> int:
    """Workers the scheduler of ``client`` knows now."""
    return len(client.scheduler_info().get("workers", {}))
