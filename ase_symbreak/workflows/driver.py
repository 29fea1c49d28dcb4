"""The one search driver: from a high-symmetry structure to its descent, for every executor.

:func:`search_steps` is the whole search (:func:`~.search.level_steps` for the parent's
children, then :func:`~.descent.descent_steps` below them) as one generator of independent
work (:mod:`.work`). :func:`distortion_search` drains it here or through an executor; the
Dask screen (:mod:`.screening`) and the jobflow flow (:mod:`.flows`) drain the same
generator, so every path runs the same steps, descent included.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ase_symbreak.structures import as_atoms
from ase_symbreak.validation import check_calculator_reach

from .budget import Deadline
from .descent import descent_steps
from .runner import SearchProgress
from .search import SearchResult, _default_calculator, level_steps
from .settings import SearchSettings
from .storage import folder_lock
from .work import Executor, Steps, drain

__all__ = ["search_steps", "distortion_search"]


def search_steps(
    atoms: Atoms,
    settings: SearchSettings | None = None,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
) -> Steps:
    """The whole search as a generator (:mod:`.work`): the parent's children, then the
    descent (``settings.max_depth`` levels). Returns the :class:`~.search.SearchResult`,
    or None when ``stop_after`` stops it early.
    """
    s = settings or SearchSettings()  # supercell="auto" is resolved by the plan
    deadline = Deadline.start(s.time_budget_s)
    result = yield from level_steps(
        as_atoms(atoms), s, out_dir, progress, stop_after, deadline=deadline
    )
    if result is None or s.max_depth == 0:
        return result
    return (yield from descent_steps(result, progress, deadline))


def distortion_search(
    atoms: Atoms,
    calc=None,
    settings: SearchSettings | None = None,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
    executor: Executor | None = None,
    executor_calc=None,
) -> SearchResult | None:
    """Find the lower-symmetry children of a high-symmetry structure, down to stable ones.

    Relax the parent, label its phonons, condense its soft irreps, relax and identify the
    children (steps 1-6 of :data:`~.settings.STEPS`), then descend: every child's own
    phonons, unstable children searched again, ``settings.max_depth`` levels
    (:mod:`.descent`). :func:`ase_symbreak.workflows.screen` runs the same search for many
    structures on a Dask cluster.

    Parameters
    ----------
    atoms : Atoms
        High-symmetry parent (not P1), 3-D periodic.
    calc : ASE calculator; default :class:`~ase_symbreak.calculator.SymBreakCalculator`
        (SevenNet-0). With an ``executor`` whose workers are other processes, a
        :class:`~.calcspec.CalculatorSpec` (each process builds the model once).
    settings : SearchSettings
    out_dir : folder for the step JSONs, CIFs, plots and ``search.json`` (None: nothing written).
    progress : ``progress(step, done, total)`` with ``step`` in :data:`~.settings.STEPS`
        or ``"descent"``.
    stop_after : a name in :data:`~.settings.STEPS`: stop after that step (returns None).
    executor : anything with ``map(fn, iterable)`` in order (``concurrent.futures``,
        :func:`~.work.process_pool`): the relaxations of each structure's candidates run
        through it; plans and checks run here. None: everything here, one after another.
        The result does not depend on it.
    executor_calc : what the executor's workers build their calculator from (a
        :class:`~.calcspec.CalculatorSpec` for other processes; default ``calc``).

    ``out_dir`` is locked while the search runs (:func:`~.storage.folder_lock`): a second
    search on the same folder raises :class:`~.storage.FolderLocked`. Step files are checked
    on reuse; damaged ones are reported and recomputed (:class:`~.storage.Checkpoints`).

    Returns
    -------
    SearchResult, or None when stopped early. ``result.nodes`` holds the descent (parent
    first) and ``result.predicted_ground_state`` its lowest-energy stable structure.

    Examples
    --------
    >>> from ase_symbreak import SearchSettings, distortion_search        # doctest: +SKIP
    >>> from ase_symbreak.structures import cubic_perovskite               # doctest: +SKIP
    >>> result = distortion_search(cubic_perovskite(3.9), out_dir="SrTiO3")  # doctest: +SKIP
    >>> result.predicted_ground_state.label                                # doctest: +SKIP
    'I4/mcm (140)'
    """
    atoms = as_atoms(atoms)
    if executor is None:
        calc = _default_calculator(calc)
        check_calculator_reach(atoms, calc, "the parent")  # free atoms: zero phonons, "stable"
    elif calc is None:
        from .calcspec import CalculatorSpec

        calc = CalculatorSpec()
    with folder_lock(out_dir):
        steps = search_steps(atoms, settings, out_dir, progress, stop_after)
        return drain(steps, calc, progress, executor, executor_calc)
