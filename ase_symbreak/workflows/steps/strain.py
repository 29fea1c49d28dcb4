"""The strain check of a node of the descent: its relaxed-ion elastic tensor, checkpointed.

A structure with no soft phonon at its supercell's q points can still be a saddle along a
strain; :func:`~ase_symbreak.phonons.elastic.elastic_check` decides it (generalised Born
criteria). The result is kept as ``06_elastic.json`` in the node's folder, keyed by the
structure and the model.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ase_symbreak.codec import atoms_to_dict
from ase_symbreak.phonons.elastic import ElasticCheck, elastic_check

from ..runner import Step, StepRunner, run_step
from ..storage import Checkpoints, model_fingerprint

__all__ = ["ELASTIC_STEP", "strain_check", "strain_work"]

#: The strain check as a declared step (its own checkpoint in a node's folder).
ELASTIC_STEP = Step("strain", "06_elastic", "elastic", ElasticCheck)


def strain_check(atoms: Atoms, calc, out_dir: str | Path | None = None) -> ElasticCheck:
    """:func:`~ase_symbreak.phonons.elastic.elastic_check` of ``atoms``, loaded from
    ``out_dir/06_elastic.json`` when computed before for the same structure and model.
    """
    run = StepRunner(Checkpoints(out_dir))
    inputs = (atoms_to_dict(atoms), model_fingerprint(calc))
    return run_step(run, ELASTIC_STEP, inputs, None, lambda _: elastic_check(atoms, calc))


def strain_work(atoms: Atoms, out_dir: str | None, *, calc=None, progress=None) -> ElasticCheck:
    """:func:`strain_check` as a :class:`~ase_symbreak.workflows.work.Work` function."""
    return strain_check(atoms, calc, out_dir)
