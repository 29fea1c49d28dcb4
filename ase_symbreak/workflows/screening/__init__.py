"""High-throughput distortion screening on Dask: many parents, one search each, in parallel.

:func:`screen` runs the search of every structure
(:func:`~ase_symbreak.workflows.driver.search_steps`, the same generator as
:func:`~ase_symbreak.workflows.distortion_search`, descent included): each plan and each
chosen candidate's relaxation is a Dask task of its own; the client ranks, de-duplicates
and walks the descent between batches, and writes each structure's ``search.json``. Workers
build the model once (:class:`ModelPreload`, :mod:`ase_symbreak.workflows.calcspec`); tasks
carry structures and a small :class:`~ase_symbreak.workflows.calcspec.CalculatorSpec`, never
a model.

Modules: :mod:`.inputs` (structure files and folders, names, parent checks),
:mod:`.cluster` (local cluster, running scheduler, dask-jobqueue YAML), :mod:`.worker`
(the model preload plugin and the task functions), :mod:`.results` (entries, summary
files, resume records), :mod:`.run` (:func:`screen`: submission as tasks end, retries).

Files in ``out_dir``::

    summary.csv  summary.json       one row per structure, rewritten as each one ends
    NAME/screen.json                status of NAME: key (inputs), done/failed, row, error
    NAME/01_parent.json ...         the search's step files (see workflows/search.py)

A rerun skips structures whose ``screen.json`` says done with the same inputs, resumes the
others from their step files, and retries failures: an error of the input (``ValueError``,
``TypeError``: a P1 parent, unknown elements, overlapping atoms) is reported at once, any
other error (a worker that died, a runtime error) is retried up to ``retries`` times.
"""

from __future__ import annotations

from .cluster import jobqueue_cluster, load_jobqueue_config, local_client, open_client
from .inputs import STRUCTURE_SUFFIXES, StructureInput, read_structures
from .results import SUMMARY_COLUMNS, ScreenEntry, ScreenResult
from .run import ScreenProgress, screen
from .worker import ModelPreload

__all__ = [
    "screen",
    "ScreenEntry",
    "ScreenResult",
    "ModelPreload",
    "read_structures",
    "local_client",
    "open_client",
    "jobqueue_cluster",
    "load_jobqueue_config",
    "StructureInput",
    "SUMMARY_COLUMNS",
    "STRUCTURE_SUFFIXES",
    "ScreenProgress",
]
