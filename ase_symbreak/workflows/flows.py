"""The distortion search as jobflow jobs and flows (for atomate2 / quacc users).

Every job takes and returns JSON-able dicts: structures as
:func:`~ase_symbreak.codec.atoms_to_dict`, results as their ``to_dict()``, the
model as a :class:`~ase_symbreak.workflows.calcspec.CalculatorSpec` dict (the calculator is
built once per process by :func:`~ase_symbreak.workflows.calcspec.calculator_for`). The jobs
call the functions of :mod:`.search` and :mod:`.steps`; no logic lives here.

====================  ==================================================================
:func:`search_flow`   the whole search: :func:`plan_job`, then :func:`children_job`
:func:`plan_job`      relax parent, phonons, soft modes, condense -> plan dict
:func:`children_job`  replaces itself by one :func:`child_job` per chosen candidate and
                      :func:`finish_job` (rank, then the descent; its output becomes
                      ``search.json``)
:func:`relax_job` ... single steps: relax, phonons, soft modes, condense, identify
====================  ==================================================================

>>> from jobflow import run_locally                                      # doctest: +SKIP
>>> flow = search_flow(atoms, SearchSettings(supercell=(2, 2, 2)))        # doctest: +SKIP
>>> responses = run_locally(flow, ensure_success=True)                    # doctest: +SKIP
>>> search = search_output(flow, responses)    # the search.json dict     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ase import Atoms

try:
    from jobflow import Flow, OutputReference, Response, job
except ImportError as err:  # pragma: no cover - optional dependency
    raise ImportError(
        "ase_symbreak.workflows.flows needs jobflow: pip install 'ase-symbreak[jobflow]'"
    ) from err

from ase_symbreak.codec import atoms_from_dict, atoms_to_dict
from ase_symbreak.phonons import PhononModes

from .calcspec import CalculatorSpec, calculator_for
from .descent import descend
from .search import ChildResult, SearchPlan, finish_search, plan_search, run_child
from .settings import DEFAULTS, SearchSettings
from .steps import (
    RelaxResult,
    condense,
    identify,
    phonons,
    relax,
    soft_modes,
)

__all__ = [
    "search_flow",
    "search_output",
    "plan_job",
    "children_job",
    "child_job",
    "finish_job",
    "relax_job",
    "phonons_job",
    "soft_modes_job",
    "condense_job",
    "identify_job",
]


# ----------------------------------------------------------------------------- helpers
def _calc(spec: dict | None):
    """The cached calculator of a spec dict (None: the default spec, SevenNet-0)."""
    return calculator_for(CalculatorSpec() if spec is None else CalculatorSpec.from_dict(spec))


def _spec_dict(model: CalculatorSpec | dict | str | os.PathLike | None) -> dict:
    if isinstance(model, dict):
        return CalculatorSpec.from_dict(model).to_dict()
    return CalculatorSpec.of(model).to_dict()


def _settings_dict(settings: SearchSettings | dict | None) -> dict:
    if settings is None:
        settings = SearchSettings()
    elif isinstance(settings, dict):
        settings = SearchSettings.from_dict(settings)
    return settings.to_dict()


def _relaxed(d: dict) -> RelaxResult | Atoms:
    """A RelaxResult dict (has ``"atoms"``) or a plain atoms dict."""
    return RelaxResult.from_dict(d) if "atoms" in d else atoms_from_dict(d)


# ----------------------------------------------------------------------------- the search
@job
def plan_job(
    atoms: dict, settings: dict | None = None, spec: dict | None = None, out_dir: str | None = None
) -> dict:
    """Steps 1-4 of the search (:func:`~ase_symbreak.workflows.search.plan_search`).

    Parameters
    ----------
    atoms : dict
        The parent, :func:`~ase_symbreak.codec.atoms_to_dict`.
    settings : dict
        :meth:`SearchSettings.to_dict` (None: defaults).
    spec : dict
        :meth:`CalculatorSpec.to_dict` (None: SevenNet-0).
    out_dir : str
        Folder for step JSONs and CIFs, shared by the later jobs (None: nothing written).

    Returns
    -------
    dict
        :meth:`SearchPlan.to_dict`.
    """
    s = SearchSettings() if settings is None else SearchSettings.from_dict(settings)
    plan = plan_search(atoms_from_dict(atoms), _calc(spec), s, out_dir)
    assert plan is not None  # no stop_after: the plan is complete
    return plan.to_dict()


@job
def child_job(plan: dict, index: int, spec: dict | None = None) -> dict:
    """Relax and identify ``plan["chosen"][index]``
    (:func:`~ase_symbreak.workflows.search.run_child`).
    """
    return run_child(SearchPlan.from_dict(plan), int(index), _calc(spec)).to_dict()


@job
def finish_job(plan: dict, children: Sequence[dict], spec: dict | None = None) -> dict:
    """Rank, deduplicate, family tree (:func:`~ase_symbreak.workflows.search.finish_search`),
    then the descent to dynamic stability (:func:`~ase_symbreak.workflows.descent.descend`,
    in this job) when the plan's ``settings.max_depth`` is above 0.

    Returns
    -------
    dict
        The content of ``search.json`` (:meth:`SearchResult.to_dict`).
    """
    p = SearchPlan.from_dict(plan)
    result = finish_search(p, [ChildResult.from_dict(c) for c in children])
    if p.settings.max_depth > 0:
        result = descend(result, _calc(spec))
    return result.summary()


@job
def children_job(plan: dict, spec: dict | None = None) -> Response:
    """Fan out: replaced by one :func:`child_job` per chosen candidate and a :func:`finish_job`.

    The output of this job (after the replacement) is that of :func:`finish_job`.
    """
    children = [child_job(plan, i, spec) for i in range(len(plan["chosen"]))]
    for i, c in enumerate(children):
        c.name = f"child {i:02d}"
    finish = finish_job(plan, [c.output for c in children], spec)
    return Response(replace=Flow([*children, finish], output=finish.output, name="children"))


def search_flow(
    atoms: Atoms,
    settings: SearchSettings | dict | None = None,
    model: CalculatorSpec | dict | str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    name: str = "distortion search",
) -> Flow:
    """The distortion search as a jobflow :class:`~jobflow.Flow`.

    Parameters
    ----------
    atoms : Atoms
        High-symmetry parent.
    settings : SearchSettings or dict (None: defaults).
    model : CalculatorSpec, its dict, or a model name / file / import path (None: SevenNet-0).
    out_dir : folder every job can reach for step JSONs, CIFs and ``search.json``
        (None: nothing written).
    name : name of the flow.

    Returns
    -------
    Flow
        ``plan -> children``; its ``output`` resolves to ``distortion_search(...).summary()``
        (the content of ``search.json``; ``timings`` aside).
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"expected an ase.Atoms, got {type(atoms).__name__}")
    spec = _spec_dict(model)
    plan = plan_job(
        atoms_to_dict(atoms),
        _settings_dict(settings),
        spec,
        None if out_dir is None else os.fspath(out_dir),
    )
    plan.name = "plan"
    children = children_job(plan.output, spec)
    children.name = "children"
    return Flow([plan, children], output=children.output, name=name)


def search_output(flow: Flow, responses: dict | None = None, store=None) -> dict:
    """The ``search.json`` dict of a finished :func:`search_flow`.

    Parameters
    ----------
    flow : Flow
        From :func:`search_flow`.
    responses : dict
        What :func:`jobflow.run_locally` returned; or
    store : JobStore
        The job store the flow ran with (any manager).
    """
    if store is not None:
        return flow.output.resolve(store)
    if responses is None:
        raise ValueError("give the responses of run_locally or the job store")
    value = flow.output
    # the replaced job's output is a reference to the finish job's output: follow it
    while isinstance(value, OutputReference):
        by_index = responses[value.uuid]
        data = by_index[max(by_index)].output
        for kind, attr in value.attributes:
            data = data[attr] if kind == "i" or isinstance(data, dict) else getattr(data, attr)
        value = data
    return value


# ----------------------------------------------------------------------------- single steps
@job
def relax_job(
    atoms: dict,
    spec: dict | None = None,
    fmax: float = DEFAULTS.parent_fmax,
    relax_cell: bool = True,
    keep_symmetry: bool = False,
    steps: int = DEFAULTS.max_steps,
    optimizer: str = DEFAULTS.optimizer,
    symprec: float = DEFAULTS.symprec,
) -> dict:
    """:func:`~ase_symbreak.workflows.steps.relax` of an atoms dict -> :meth:`RelaxResult.to_dict`.

    ``keep_symmetry=True`` (cell relaxed) is :func:`~ase_symbreak.workflows.steps.relax_child`;
    pass a candidate's ``"structure"``.
    """
    return relax(
        atoms_from_dict(atoms),
        _calc(spec),
        fmax=fmax,
        relax_cell=relax_cell,
        keep_symmetry=keep_symmetry,
        steps=steps,
        optimizer=optimizer,
        symprec=symprec,
    ).to_dict()


@job
def phonons_job(
    atoms: dict,
    spec: dict | None = None,
    supercell: Any = DEFAULTS.supercell,
    origin_index: int | None = DEFAULTS.origin_index,
    symprec: float = DEFAULTS.symprec,
    keep_patterns_below_thz: float = 0.5,
) -> dict:
    """:func:`~ase_symbreak.workflows.steps.phonons` of an atoms dict ->
    :meth:`PhononModes.to_dict`.
    """
    structure = atoms_from_dict(atoms)
    if isinstance(supercell, str):  # "auto": chosen for the cell
        from ase_symbreak.phonons.supercell import auto_supercell

        supercell = auto_supercell(structure, symprec=symprec)
    return phonons(
        structure,
        _calc(spec),
        supercell,
        origin_index=origin_index,
        symprec=symprec,
        keep_patterns_below_thz=keep_patterns_below_thz,
    ).to_dict()


@job
def soft_modes_job(phonon_result: dict, threshold_thz: float = DEFAULTS.threshold_thz) -> dict:
    """:func:`~ase_symbreak.workflows.steps.soft_modes` -> :meth:`PhononModes.to_dict`."""
    return soft_modes(PhononModes.from_dict(phonon_result), threshold_thz).to_dict()


@job
def condense_job(
    parent: dict,
    soft: dict,
    spec: dict | None = None,
    amplitudes: Sequence[float] = DEFAULTS.amplitudes,
    couple: bool = DEFAULTS.couple,
    max_params: int = DEFAULTS.max_params,
    min_gain_mev: float = DEFAULTS.min_gain_mev,
    parent_energy: float | None = None,
    symprec: float = DEFAULTS.symprec,
) -> dict:
    """:func:`~ase_symbreak.workflows.steps.condense` -> :meth:`CondenseResult.to_dict`.

    ``parent`` is an atoms dict or a RelaxResult dict (its energy is then used when
    ``parent_energy`` is None).
    """
    p = _relaxed(parent)
    if isinstance(p, RelaxResult):
        parent_energy = p.energy if parent_energy is None else parent_energy
        p = p.atoms
    return condense(
        p,
        PhononModes.from_dict(soft),
        _calc(spec),
        amplitudes=amplitudes,
        couple=couple,
        max_params=max_params,
        min_gain_mev=min_gain_mev,
        parent_energy=parent_energy,
        symprec=symprec,
    ).to_dict()


@job
def identify_job(
    child: dict,
    parent: dict,
    condensed: Sequence[str] = (),
    child_energy: float | None = None,
    parent_energy: float | None = None,
    origin_index: int | None = DEFAULTS.origin_index,
    symprec: float = DEFAULTS.symprec,
    threshold: float = 2e-3,
) -> dict:
    """:func:`~ase_symbreak.workflows.steps.identify` -> :meth:`Identification.to_dict`.

    ``child`` and ``parent`` are RelaxResult dicts, or atoms dicts with ``child_energy`` /
    ``parent_energy`` (eV, e.g. from a DFT job).
    """
    return identify(
        _relaxed(child),
        _relaxed(parent),
        condensed=tuple(condensed),
        child_energy=child_energy,
        parent_energy=parent_energy,
        origin_index=origin_index,
        symprec=symprec,
        threshold=threshold,
    ).to_dict()
