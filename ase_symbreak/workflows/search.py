"""The distortion search: relax -> phonons -> soft modes -> condense -> relax children -> identify.

:func:`distortion_search` runs every step of :mod:`.steps` and writes each result as it is
made into ``out_dir`` (one JSON per step, written atomically), so a killed run resumes
where it stopped: a step whose JSON exists with the same inputs is loaded, not recomputed.

Files in ``out_dir``::

    01_parent.json  02_phonons.json  03_soft_modes.json  04_condense.json
    05_child_00.json ...            one per relaxed candidate
    parent_relaxed.cif  child_00_I4_mcm.cif ...
    phonon_bands.png  phonopy_params.yaml
    search.json                     summary: soft modes, ranked children, family tree
    report.html  family_tree.png    the summary as one self-contained page (:mod:`.report`)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ase_symbreak.codec import atoms_to_dict
from ase_symbreak.errors import first_line
from ase_symbreak.phonons import PhononModes
from ase_symbreak.protocols import HessianCalculator
from ase_symbreak.structures import as_atoms

from .budget import Deadline
from .folder import write_search_files
from .records import ChildTimings, SkippedCandidate
from .runner import SearchProgress, Step, StepRunner, run_step
from .search_result import ChildResult, SearchPlan, SearchResult
from .settings import STEPS, SearchSettings
from .steps import (
    Candidate,
    CondenseResult,
    Identification,
    RelaxResult,
    check_parent,
    check_supercell,
    condense,
    identify,
    phonons,
    relax,
    relax_child,
    same_structures,
    soft_modes,
)
from .steps.common import rank_value, ranking_energy
from .steps.condense import SAME_STRUCTURE_TOL, candidate_rank
from .storage import (
    Checkpoints,
    fingerprint,
    model_description,
    model_fingerprint,
    safe_filename,
    write_structure_files,
)
from .tree import FamilyTree, family_tree
from .work import Steps, Work, drain

log = logging.getLogger(__name__)

__all__ = [
    "SearchSettings",
    "SearchPlan",
    "ChildResult",
    "SearchResult",
    "search_one_level",
    "level_steps",
    "plan_work",
    "child_work",
    "choose_candidates",
    "distinct_candidates",
    "plan_search",
    "run_child",
    "finish_search",
    "STEPS",
]


def choose_candidates(
    candidates: Sequence[Candidate],
    max_children: int | None = None,
    max_candidates: int | None = None,
) -> tuple[list[Candidate], list[SkippedCandidate]]:
    """The candidates to relax, most promising first, and the ones the budgets leave out.

    Single-irrep candidates come first (largest scan gain first), then candidates of
    coupled irrep pairs (at most ``max_children`` of them, largest gain first); at most
    ``max_candidates`` in all (None: no limit). The order is canonical
    (:func:`~.steps.condense.candidate_rank`), so a budget always keeps the same ones.
    """
    order = sorted(candidates, key=candidate_rank)
    singles = [c for c in order if len(c.irreps) == 1]
    pairs = [c for c in order if len(c.irreps) > 1]
    n_pairs = len(pairs) if max_children is None else max(int(max_children), 0)
    ranked = singles + pairs[:n_pairs]
    n_total = len(ranked) if max_candidates is None else max(int(max_candidates), 0)
    left = [(c, "max_children") for c in pairs[n_pairs:]]
    left = [(c, "max_candidates") for c in ranked[n_total:]] + left
    reasons = {
        "max_children": f"count budget: max_children={max_children} coupled-pair candidates",
        "max_candidates": (
            f"work budget: max_candidates={max_candidates} candidates per structure, "
            "single irreps first, then by scan gain"
        ),
    }
    skipped = [SkippedCandidate.of(c, reasons[budget], budget) for c, budget in left]
    return ranked[:n_total], skipped


def supercell_operations(parent: Atoms, supercell, origin_index: int | None, symprec: float):
    """The operations of the parent supercell the candidates' patterns live in (every point
    operation with every lattice translation): the soft modes' supercell and atom order.
    """
    from ase_symbreak.symmetry import displacement_modes

    return displacement_modes(
        parent,
        np.asarray(supercell, dtype=int),
        origin_index=origin_index,
        symprec=symprec,
        kpoints=np.zeros((1, 3)),  # the operations only: the Gamma block is the cheapest
    ).operations


def distinct_candidates(
    candidates: Sequence[Candidate], operations
) -> tuple[list[Candidate], list[SkippedCandidate]]:
    """The candidates whose scanned structures differ, in canonical order, and a record of
    each of the others naming the candidate relaxed in its place.

    ``operations``: the parent supercell's operations, or a function of no arguments that
    returns them (called only when two candidates share a space group, so that searches
    whose candidates all differ in group pay nothing). Two candidates are one structure when
    an operation carries one's scanned displacements onto the other's
    (:func:`~.steps.condense.same_structures`); the first in canonical order
    (:func:`~.steps.condense.candidate_rank`) is kept and relaxed once.
    """
    order = sorted(candidates, key=candidate_rank)
    groups = [(c.space_group_number, np.shape(c.pattern)) for c in order]
    if len(set(groups)) == len(groups):
        return order, []
    ops = operations() if callable(operations) else operations
    same = same_structures(order, ops)
    kept = [c for c, j in zip(order, same, strict=True) if j is None]
    dups = [
        SkippedCandidate.of(
            c,
            f"the same structure as candidate '{order[j].name}' up to the parent's symmetry "
            f"(scanned displacements within {SAME_STRUCTURE_TOL:g} A): relaxed once, as that one",
            duplicate_of=order[j].name,
        )
        for c, j in zip(order, same, strict=True)
        if j is not None
    ]
    return kept, dups


def _default_calculator(calc):
    if calc is not None:
        return calc
    from ase_symbreak.calculator import SymBreakCalculator

    return SymBreakCalculator()


def _report(progress: SearchProgress | None, step: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(step, done, total)


def _unrelaxed(atoms: Atoms, calc, settings: SearchSettings) -> RelaxResult:
    """The parent as given, with its energy (``relax_parent=False``)."""
    from ase_symbreak.symmetry import analyze

    work = atoms.copy()
    work.calc = calc
    info = analyze(atoms, symprec=settings.symprec)
    return RelaxResult(
        atoms=atoms.copy(),
        energy=ranking_energy(calc, atoms),
        n_steps=0,
        converged=False,
        fmax=settings.parent_fmax,
        max_force=float(np.abs(work.get_forces()).max()),
        relax_cell=False,
        space_group_number=info.number,
        space_group_symbol=info.symbol,
    )


#: The checkpointed steps of one structure's plan, in order: file, record type, the settings
#: each depends on and the earlier results it reads. Keys are derived from this table.
PLAN_STEPS = (
    Step(
        STEPS[0],
        "01_parent",
        "parent",
        RelaxResult,
        fields=("relax_parent", "parent_fmax", "max_steps", "optimizer", "symprec"),
    ),
    Step(
        STEPS[1],
        "02_phonons",
        "phonons",
        PhononModes,
        fields=("supercell", "origin_index", "symprec"),
        reads=(STEPS[0],),
    ),
    Step(
        STEPS[2],
        "03_soft_modes",
        "soft",
        PhononModes,
        fields=("threshold_thz",),
        reads=(STEPS[1],),
    ),
    Step(
        STEPS[3],
        "04_condense",
        "condense",
        CondenseResult,
        fields=("amplitudes", "couple", "max_params", "min_gain_mev"),
        reads=(STEPS[0], STEPS[2]),
    ),
)

#: One relaxed child (``05_child_NN``), keyed by its plan, index and candidate.
CHILD_STEP = Step(
    STEPS[4],
    "05_child_{index:02d}",
    "child",
    ChildResult,
    fields=(
        "child_fmax",
        "max_steps",
        "optimizer",
        "child_symprec",
        "max_strain",
        "max_displacement",
    ),
)


#: Settings in no step's fingerprint, and why (a test checks every setting is in one or here).
UNKEYED_SETTINGS = {
    "plot": "presentation only: the band plot is redrawn, results do not change",
    "max_children": "chooses which candidates are relaxed; each child's key names its candidate",
    "max_depth": "the descent's extent, not a step's result",
    "child_supercell": "the descent's node searches carry it in their own supercell setting",
    "time_budget_s": "how much of the search runs, not a step's result",
    "max_candidates": "chooses which candidates are relaxed; each child's key names its candidate",
    "max_nodes": "the descent's extent, not a step's result",
    "random_trials": "how many trials run; each trial's key names it (its seed is fixed)",
    "check_strain": "the descent's strain checks have their own checkpoint (06_elastic)",
    "follow_off_grid": "the descent's off-grid checks are searches of their own (offgrid/)",
}


class _Plan:
    """The compute functions and side files of the plan's steps for one structure."""

    def __init__(self, atoms: Atoms, calc, s: SearchSettings, out: Path | None) -> None:
        self.atoms, self.calc, self.s, self.out = atoms, calc, s, out
        self.results: dict[str, Any] = {}

    def compute(self, step: str, progress) -> object:
        s, r = self.s, self.results
        if step == STEPS[0]:
            if not s.relax_parent:
                return _unrelaxed(self.atoms, self.calc, s)
            return relax(
                self.atoms,
                self.calc,
                fmax=s.parent_fmax,
                relax_cell=True,
                keep_symmetry=True,
                steps=s.max_steps,
                optimizer=s.optimizer,
                symprec=s.symprec,
                progress=progress,
            )
        if step == STEPS[1]:
            return phonons(
                r[STEPS[0]].atoms,
                self.calc,
                np.asarray(s.supercell, dtype=int),
                origin_index=s.origin_index,
                symprec=s.symprec,
                plot=self.file("phonon_bands.png") if s.plot else None,
                save_phonopy=self.file("phonopy_params.yaml"),
                progress=progress,
            )
        if step == STEPS[2]:
            return soft_modes(r[STEPS[1]], s.threshold_thz)
        parent = r[STEPS[0]]
        return condense(
            parent.atoms,
            r[STEPS[2]],
            self.calc,
            amplitudes=s.amplitudes,
            couple=s.couple,
            max_params=s.max_params,
            min_gain_mev=s.min_gain_mev,
            parent_energy=parent.energy,
            symprec=s.symprec,
            progress=progress,
        )

    def file(self, name: str) -> Path | None:
        return None if self.out is None else self.out / name

    def total(self, step: str) -> int | None:
        """Progress total of a step (None: the step reports its own)."""
        if step == STEPS[0]:
            return self.s.max_steps if self.s.relax_parent else 1
        return 1 if step == STEPS[2] else None

    def written(self, step: str, result) -> None:
        """Side files of a freshly computed step: the parent's CIF, the soft modulations."""
        if self.out is None:
            return
        if step == STEPS[0]:
            write_structure_files(self.out / "parent_relaxed.cif", result.atoms, self.s.symprec)
        elif step == STEPS[2]:
            from ase_symbreak.phonons import write_modulations

            write_modulations(result, self.out / "modulations")


def plan_search(
    atoms: Atoms,
    calc: HessianCalculator | None = None,
    settings: SearchSettings | None = None,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
    condense_modes: bool = True,
) -> SearchPlan | None:
    """Steps 1-4 of :func:`~.driver.distortion_search` (:data:`PLAN_STEPS`) and the choice of
    candidates to relax.

    Arguments as for :func:`~.driver.distortion_search` (``stop_after``: None is returned
    after one of the first four steps; a later step returns the plan). Each step is loaded
    from ``out_dir`` when its JSON has the same inputs. ``condense_modes=False``: the soft
    modes are found but not condensed (a plan with no candidates: a stability check).
    """
    atoms = as_atoms(atoms)
    s = settings or SearchSettings()
    if stop_after is not None and stop_after not in STEPS:
        raise ValueError(f"stop_after must be one of {STEPS}, got {stop_after!r}")
    check_parent(atoms, s.symprec, allow_p1=not condense_modes)
    s = s.for_structure(atoms)
    check_supercell(atoms, np.asarray(s.supercell, dtype=int), s.symprec)
    calc = _default_calculator(calc)
    out = None if out_dir is None else Path(out_dir)
    run = StepRunner(Checkpoints(out_dir), progress)
    plan = _Plan(atoms, calc, s, out)
    steps = PLAN_STEPS if condense_modes else PLAN_STEPS[:3]
    inputs: tuple = (atoms_to_dict(atoms), model_fingerprint(calc))
    for step in steps:
        plan.results[step.name] = run_step(
            run,
            step,
            inputs,
            s,
            functools.partial(plan.compute, step.name),
            total=plan.total(step.name),
            on_computed=functools.partial(plan.written, step.name),
        )
        inputs = (run.keys[step.name],)
        if stop_after == step.name:
            return None
    r = plan.results
    parent, soft = r[STEPS[0]], r[STEPS[2]]
    if condense_modes:
        cond = r[STEPS[3]]
        distinct, same = distinct_candidates(
            cond.candidates,
            functools.partial(
                supercell_operations,
                parent.atoms,
                s.supercell,
                soft.origin_index,
                s.symprec,
            ),
        )
        chosen, skipped = choose_candidates(distinct, s.max_children, s.max_candidates)
        skipped = skipped + same
        key = fingerprint("plan", run.keys[STEPS[3]], run.hashes[STEPS[3]])
    else:
        cond = CondenseResult(parent_energy_per_fu=parent.energy_per_fu, candidates=())
        chosen, skipped, key = [], [], run.keys[STEPS[2]]
    return SearchPlan(
        settings=s,
        parent=parent,
        phonons=r[STEPS[1]],
        soft_modes=soft,
        condense=cond,
        chosen=tuple(chosen),
        skipped=tuple(skipped),
        model=model_description(calc),
        key=key,
        timings=run.timings,
        out_dir=None if out is None else str(out),
    )


def _environments(plan: SearchPlan, child: Atoms, idn: Identification) -> dict:
    """The child's site environments and tilts; a failure is recorded, never raised (it
    must not cost a relaxed child).
    """
    from ase_symbreak.environments.sites import environment_report

    amplitudes = {ir.irrep: float(ir.amplitude) for ir in (*idn.primary, *idn.secondary)}
    s = plan.settings
    try:
        return environment_report(plan.parent.atoms, child, amplitudes, s.symprec, s.child_symprec)
    except Exception as err:  # noqa: BLE001 - descriptors are extra information
        log.warning("site environments of a child failed: %s", first_line(err))
        return {"error": first_line(err)}


def run_child(plan: SearchPlan, index: int, calc=None) -> ChildResult:
    """Step 5 for one candidate (:data:`CHILD_STEP`): relax ``plan.chosen[index]`` in its
    subgroup and identify it.

    Loaded from ``plan.out_dir`` (``05_child_NN.json``) when done before with the same inputs;
    otherwise written there atomically, with the child's CIF. ``timings`` of the result holds
    the seconds of the relaxation and the identification.
    """
    cand = plan.chosen[index]
    run = StepRunner(Checkpoints(plan.out_dir))
    child = run_step(
        run,
        CHILD_STEP,
        (plan.key, index, cand.name),
        plan.settings,
        lambda _: _relaxed_child(plan, index, _default_calculator(calc)),
        file=CHILD_STEP.file.format(index=index),
    )
    if run.loaded[CHILD_STEP.name]:
        return dataclasses.replace(child, candidate=cand, timings=ChildTimings(loaded=True))
    return child


def _relaxed_child(plan: SearchPlan, index: int, calc) -> ChildResult:
    """Relax, identify and describe one candidate; its CIF and POSCAR in ``plan.out_dir``."""
    s = plan.settings
    cand = plan.chosen[index]
    t0 = time.perf_counter()
    rel = relax_child(
        cand,
        calc,
        fmax=s.child_fmax,
        steps=s.max_steps,
        optimizer=s.optimizer,
        symprec=s.symprec,
        displacement_hessian=plan.hessian_seed,
    )
    t1 = time.perf_counter()
    idn = identify(
        rel,
        plan.parent,
        condensed=cand.irreps,
        origin_index=plan.soft_modes.origin_index,
        symprec=s.symprec,
        child_symprec=s.child_symprec,
        max_strain=s.max_strain,
        max_displacement=s.max_displacement,
    )
    structure = rel.atoms if idn.symmetrized is None else idn.symmetrized
    environments = _environments(plan, structure, idn)
    t2 = time.perf_counter()
    cif = None
    if plan.out_dir is not None:
        cif = f"child_{index:02d}_{safe_filename(idn.space_group_symbol)}.cif"
        write_structure_files(
            Path(plan.out_dir) / cif, structure, max(idn.child_symprec, s.symprec)
        )
    return ChildResult(
        candidate_index=index,
        candidate=cand,
        relax=rel,
        identification=idn,
        cif=cif,
        timings=ChildTimings(relax=t1 - t0, identify=t2 - t1),
        environments=environments,
    )


#: Two relaxed children are one minimum when their gains differ by at most
#: ``max(SAME_MINIMUM_MEV, rel * |gain|)`` meV per formula unit: ``rel`` is
#: :data:`SAME_GROUP_REL` for two children of one space group, :data:`SUPERGROUP_REL` for a
#: child and one of its supergroups among the children (it relaxed into that minimum's basin).
SAME_MINIMUM_MEV = 0.05
SAME_GROUP_REL = 1e-3
SUPERGROUP_REL = 1e-2


def _same_minimum(gain: float, other: float, rel: float) -> bool:
    """Whether ``other`` gains at least as much as ``gain`` within the tolerance."""
    return other >= gain - max(SAME_MINIMUM_MEV, rel * abs(gain))


def _gain(c: ChildResult) -> float:
    return c.identification.energy_gain_mev_per_fu


def _ranked_unique(children: Sequence[ChildResult]) -> tuple[list, list]:
    """Children by energy gain (then fewer parameters), duplicates of one group removed.

    A minimum found several times is kept once, as its canonical copy (fewest free
    parameters, then first candidate), not the copy whose gain is larger by relaxation
    noise: which copy that is can change between runs.
    """
    ranked = sorted(
        children, key=lambda c: (-rank_value(_gain(c)), c.candidate.n_params, c.candidate_index)
    )
    clusters: list[list[ChildResult]] = []
    for c in ranked:
        group = c.identification.space_group_number
        same = [
            k
            for k in clusters
            if k[0].identification.space_group_number == group
            and abs(_gain(k[0]) - _gain(c)) <= max(SAME_MINIMUM_MEV, SAME_GROUP_REL * abs(_gain(c)))
        ]
        if same:
            same[0].append(c)
        else:
            clusters.append([c])
    unique: list[ChildResult] = []
    dups: list[ChildResult] = []
    for cluster in clusters:
        rep = min(cluster, key=lambda c: (c.candidate.n_params, c.candidate_index))
        unique.append(rep)
        dups += [
            dataclasses.replace(c, duplicate_of=rep.candidate_index)
            for c in cluster
            if c is not rep
        ]
    return unique, dups


def _merge_into_supergroups(unique: list, ops) -> tuple[list, list]:
    """A lower-symmetry child that gains no more than one of its supergroups among the
    children is that minimum: merged into it.
    """
    if len(unique) < 2:
        return unique, []
    pre = family_tree(ops, [c.candidate.pattern for c in unique], [""] * len(unique), root="")
    keep, merged = [], []
    for i, c in enumerate(unique):
        sup = [
            j
            for j in pre.supergroups[i]
            if _same_minimum(_gain(c), _gain(unique[j]), SUPERGROUP_REL)
        ]
        if sup:
            merged.append(dataclasses.replace(c, duplicate_of=unique[sup[0]].candidate_index))
        else:
            keep.append(c)
    return keep, merged


def _children_tree(plan: SearchPlan, children: list, ops) -> FamilyTree:
    parent = plan.parent
    labels = [
        f"{c.identification.space_group_symbol} ({c.identification.space_group_number})  "
        f"{'+'.join(c.candidate.irreps)} {c.candidate.direction}  "
        f"{_gain(c):.2f} meV/f.u."
        for c in children
    ]
    return family_tree(
        ops,
        [c.candidate.pattern for c in children],
        labels,
        root=f"{parent.space_group_symbol} ({parent.space_group_number}) parent",
    )


def finish_search(
    plan: SearchPlan, children: Sequence[ChildResult], progress: SearchProgress | None = None
) -> SearchResult:
    """Step 6: rank the relaxed children by energy gain, drop duplicates, build the family tree.

    Writes ``search.json`` and ``result.json`` into ``plan.out_dir``, and ``report.html``
    beside them (:func:`~.report.write_report`; a report that fails is a logged warning,
    never an error). ``children`` may come in any order; None in it is a candidate the
    wall-clock limit left (listed in ``skipped``).
    """
    s = plan.settings
    done = {c.candidate_index for c in children if c is not None}
    limit = "None" if s.time_budget_s is None else f"{s.time_budget_s:g}"
    not_started = f"time budget: relaxation not started (time_budget_s={limit})"
    left = tuple(
        SkippedCandidate.of(c, not_started, "time_budget_s")
        for i, c in enumerate(plan.chosen)
        if i not in done
    )
    children = [c for c in children if c is not None]
    timings = {k: dict(v) for k, v in plan.timings.items()}
    timings[STEPS[4]] = {
        "seconds": sum(c.timings.relax for c in children),
        "loaded": sum(c.timings.loaded for c in children),
        "children": len(plan.chosen),
    }
    timings[STEPS[5]] = {"seconds": sum(c.timings.identify for c in children)}
    t0 = time.perf_counter()
    _report(progress, STEPS[5], 0, 1)
    unique, dups = _ranked_unique(children)
    tree = None
    if unique:
        ops = supercell_operations(
            plan.parent.atoms, s.supercell, plan.soft_modes.origin_index, s.symprec
        )
        unique, merged = _merge_into_supergroups(unique, ops)
        dups += merged
        tree = _children_tree(plan, unique, ops)
    timings[STEPS[5]]["seconds"] += time.perf_counter() - t0
    result = SearchResult(
        settings=s,
        parent=plan.parent,
        phonons=plan.phonons,
        soft_modes=plan.soft_modes,
        condense=plan.condense,
        children=tuple(unique),
        duplicates=tuple(dups),
        tree=tree,
        timings=timings,
        out_dir=plan.out_dir,
        skipped=plan.skipped + left,
        model=dict(plan.model),
    )
    if plan.out_dir is not None:
        write_search_files(result)
        from .html_report import write_report_safely

        write_report_safely(result, tree_plot=s.plot)  # a failure is a logged warning
    _report(progress, STEPS[5], 1, 1)
    return result


def plan_work(
    atoms: Atoms,
    settings: SearchSettings,
    out_dir: str | None,
    stop_after: str | None = None,
    condense_modes: bool = True,
    quiet: bool = False,
    *,
    calc=None,
    progress: SearchProgress | None = None,
) -> SearchPlan | None:
    """:func:`plan_search` as a :class:`~.work.Work` function (``quiet``: the phonons'
    off-grid warning is recorded in the result, not raised: descent nodes).
    """
    import warnings

    from ase_symbreak.phonons import OffGridInstabilityWarning

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", OffGridInstabilityWarning)
        return plan_search(
            atoms, calc, settings, out_dir, progress, stop_after, condense_modes=condense_modes
        )


def child_work(
    plan: SearchPlan,
    index: int,
    deadline: Deadline | None = None,
    *,
    calc=None,
    progress: SearchProgress | None = None,
) -> ChildResult | None:
    """:func:`run_child` as a :class:`~.work.Work` function; None when ``deadline`` passed
    before it started (the candidate is left, not half-relaxed).
    """
    if deadline is not None and deadline.passed():
        return None
    return run_child(plan, index, calc)


def level_steps(
    atoms: Atoms,
    settings: SearchSettings,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
    condense_modes: bool = True,
    quiet: bool = False,
    deadline: Deadline | None = None,
) -> Steps:
    """The children of one structure, as a search generator (:mod:`.work`): its plan
    (steps 1-4), then its chosen candidates' relaxations (step 5) in one batch, then
    :func:`finish_search` (step 6) here. Returns the :class:`SearchResult`, or None when
    ``stop_after`` stops it early. Candidates not started when ``deadline`` passes are
    left (``skipped``, budget ``time_budget_s``).

    ``progress`` is given to the plan and the children (None: a quiet search, as for the
    nodes of the descent).
    """
    report = progress is not None
    out = None if out_dir is None else str(out_dir)
    (plan,) = yield (
        Work(
            "plan",
            plan_work,
            (atoms, settings, out, stop_after, condense_modes, quiet),
            label="plan",
            report=report,
        ),
    )
    if plan is None:
        return None
    if plan.chosen:
        children = yield tuple(
            Work("child", child_work, (plan, i, deadline), label=f"child {i}", report=report)
            for i in range(len(plan.chosen))
        )
    else:
        children = []
        _report(progress, STEPS[4], 0, 0)
    if stop_after == STEPS[4]:
        return None
    return finish_search(plan, children, progress)


def search_one_level(
    atoms: Atoms,
    calc=None,
    settings: SearchSettings | None = None,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
) -> SearchResult | None:
    """The children of one structure, without the descent: :func:`level_steps` run here.

    Arguments as for :func:`~ase_symbreak.workflows.driver.distortion_search`, which adds
    the descent below the children.
    """
    atoms = as_atoms(atoms)
    calc = _default_calculator(calc)
    steps = level_steps(atoms, settings or SearchSettings(), out_dir, progress, stop_after)
    return drain(steps, calc, progress)
