"""The main job: the distortion search on cubic SrTiO3 with the embedded default (SevenNet-0).

Settings chosen to finish in a few minutes on 2 CPU cores: 2x2x2 phonon supercell (Gamma,
X, M, R), three scan amplitudes (Ap 0.05, 0.1, 0.2 A), loose force criteria (0.01 eV/A for
the parent, 0.02 eV/A for children), the 8 most promising candidates relaxed (the default
``max_candidates``: single irreps first, then at most the two best coupled pairs; the
others listed as left), and one level of the descent: each child's phonons in the parent's 2x2x2
supercell say whether it is dynamically stable (``max_depth=1``: unstable children are
marked, not searched further). ``ase-symbreak demo`` runs
it and prints the result.
"""

from __future__ import annotations

from pathlib import Path

from ase_symbreak.structures import cubic_perovskite

from .driver import distortion_search
from .search import SearchProgress, SearchResult, SearchSettings

__all__ = ["DEMO_SETTINGS", "run_search_demo"]

DEMO_SETTINGS = SearchSettings(
    supercell=(2, 2, 2),
    threshold_thz=-0.1,
    relax_parent=True,
    parent_fmax=0.01,
    child_fmax=0.02,
    max_steps=150,
    amplitudes=(0.05, 0.1, 0.2),
    couple=True,
    max_params=2,
    max_children=2,
    max_depth=1,
    random_trials=0,  # soft modes only: the quick tour (the default search adds 8 trials)
)


def run_search_demo(
    calc=None,
    lattice: float = 3.9,
    out_dir: str | Path | None = None,
    settings: SearchSettings | None = None,
    progress: SearchProgress | None = None,
) -> SearchResult:
    """Distortion search on cubic SrTiO3 (``a = lattice``, Ti at the origin).

    Parameters
    ----------
    calc : ASE calculator (None: :class:`~ase_symbreak.calculator.SymBreakCalculator`, SevenNet-0).
    lattice : cubic lattice parameter, Angstrom (the parent is relaxed first, keeping Pm-3m).
    out_dir : where the step JSONs, CIFs and plots go (None: nothing written).
    settings : default :data:`DEMO_SETTINGS`.
    progress : ``progress(step, done, total)``, as for
        :func:`~ase_symbreak.workflows.driver.distortion_search`.
    """
    result = distortion_search(
        cubic_perovskite(lattice),
        calc,
        settings or DEMO_SETTINGS,
        out_dir=out_dir,
        progress=progress,
    )
    assert result is not None  # no stop_after: the search runs to the end
    return result
