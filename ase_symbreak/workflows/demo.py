"""The main job: the distortion search on cubic SrTiO3 with the embedded default (SevenNet-0).

Settings chosen to finish in a few minutes on 2 CPU cores: 2x2x2 phonon supercell (Gamma,
X, M, R), three scan amplitudes (Ap 0.05, 0.1, 0.2 A), loose force criteria (0.01 eV/A for
the parent, 0.02 eV/A for children) and at most 6 children relaxed (the best candidate of
each irrep set first, then second choices).
"""

from __future__ import annotations

import time
from pathlib import Path

from .search import SearchResult, SearchSettings, distortion_search

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
    max_children=6,
)


def run_search_demo(
    model: str | None = None,
    lattice: float = 3.9,
    out_dir: str | Path | None = None,
    settings: SearchSettings | None = None,
    show: bool = True,
) -> SearchResult:
    """Distortion search on cubic SrTiO3 (``a = lattice``, Ti at the origin); prints the ranked table.

    Parameters
    ----------
    model : model spec for :class:`~ase_symbreak.calculator.SymBreakCalculator` (None: SevenNet-0).
    lattice : cubic lattice parameter, Angstrom (the parent is relaxed first, keeping Pm-3m).
    out_dir : where the step JSONs, CIFs and plots go (None: nothing written).
    settings : default :data:`DEMO_SETTINGS`.
    show : print progress bars, the soft modes, the ranked children and the family tree.
    """
    from rich.console import Console

    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.demo import cubic_perovskite

    from .cli import progress_bars

    console = Console()
    atoms = cubic_perovskite(lattice)
    calc = SymBreakCalculator(model=model)
    start = time.perf_counter()
    with progress_bars(console, disable=not show) as progress:
        result = distortion_search(atoms, calc, settings or DEMO_SETTINGS, out_dir=out_dir, progress=progress)
    if show:
        print_result(result, console, seconds=time.perf_counter() - start)
    return result


def print_result(result: SearchResult, console=None, seconds: float | None = None) -> None:
    """Soft modes, ranked children and the family tree."""
    from rich.console import Console

    console = console or Console()
    p = result.parent
    console.print(f"parent {p.atoms.get_chemical_formula(mode='metal', empirical=True)} {p.space_group_symbol}: "
                  f"a = {p.atoms.cell.lengths()[0]:.4f} A, E = {p.energy_per_fu:.4f} eV/f.u.")
    if not result.soft_modes.modes:
        console.print("no soft modes: the parent is dynamically stable at this supercell")
        return
    console.print(result.soft_table())
    console.print(result.table())
    if result.tree is not None:
        console.print(result.tree.text(), highlight=False)
    if seconds is not None:
        steps = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in result.timings.items())
        console.print(f"total {seconds:.1f} s ({steps})", highlight=False)
    if result.out_dir:
        console.print(f"results in {result.out_dir}/ (search.json, CIFs, phonon_bands.png)")
