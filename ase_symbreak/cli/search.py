"""``ase-symbreak search`` and ``ase-symbreak run``: one distortion search, printed as it ends.

Both are thin layers over :func:`ase_symbreak.workflows.distortion_search`. An unreadable
structure, a malformed recipe or a model that cannot be loaded exits with code 2 and a
one-line message; a rejected input (P1 structure, incompatible supercell) exits with code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ._common import (
    BAD_INPUT,
    REJECTED,
    AllowCodeOption,
    DeviceOption,
    HessianDtypeOption,
    check_model_name,
    check_supercell_atoms,
    exit_on,
    fail,
    load_calculator,
    progress_bars,
    read_structure,
    writable_folder,
)

if TYPE_CHECKING:
    from ase_symbreak.workflows.search import SearchProgress, SearchResult

__all__ = ["print_search", "run_command", "search_and_print", "search_command"]


def conventional_lattice_text(atoms, symprec: float) -> str:
    """``a = 5.1500 A`` (cubic), ``a = ..., c = ...`` (tetragonal, hexagonal), or every
    parameter, of the conventional cell spglib finds (not the primitive vectors: an fcc
    cell's primitive vector is a/sqrt(2)).
    """
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    standard = spglib.standardize_cell(cell, to_primitive=False, no_idealize=False, symprec=symprec)
    if standard is None:
        lengths, angles = atoms.cell.cellpar()[:3], atoms.cell.cellpar()[3:]
    else:
        from ase.geometry import cell_to_cellpar

        par = cell_to_cellpar(standard[0])
        lengths, angles = par[:3], par[3:]
    a, b, c = lengths
    if abs(a - b) < 1e-4 and abs(b - c) < 1e-4 and all(abs(x - 90) < 1e-3 for x in angles):
        return f"a = {a:.4f} A"
    if abs(a - b) < 1e-4:
        return f"a = {a:.4f} A, c = {c:.4f} A"
    text = f"a = {a:.4f} A, b = {b:.4f} A, c = {c:.4f} A"
    if any(abs(x - 90) > 1e-3 for x in angles):
        text += ", angles " + "/".join(f"{x:.2f}" for x in angles) + " deg"
    return text


def print_search(
    result: SearchResult, console: Console | None = None, seconds: float | None = None
) -> None:
    """Parent, soft modes, ranked children, the family tree and the timings."""
    from ase_symbreak.workflows.tree import node_tree_text

    from ._tables import (
        child_sites_table,
        children_table,
        descent_table,
        merged_table,
        soft_modes_table,
    )

    console = console or Console()
    p = result.parent
    console.print(
        f"parent {p.atoms.get_chemical_formula(mode='metal', empirical=True)} "
        f"{p.space_group_symbol}: {conventional_lattice_text(p.atoms, result.settings.symprec)}, "
        f"E = {p.energy_per_fu:.4f} eV/f.u."
    )
    if not result.soft_modes.modes:
        console.print("no soft modes: the parent is dynamically stable at this supercell")
        return
    console.print(soft_modes_table(result))
    if result.nodes:
        console.print(descent_table(result))
        console.print(node_tree_text(result.nodes), highlight=False)
    else:
        console.print(children_table(result))
        if result.tree is not None:
            console.print(result.tree.text(), highlight=False)
    merged = merged_table(result)
    if merged is not None:
        console.print(merged)
    sites = child_sites_table(result)
    if sites is not None:
        console.print(sites)
    if seconds is not None:
        steps = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in result.timings.items())
        console.print(f"total {seconds:.1f} s ({steps})", highlight=False)
    if result.out_dir:
        console.print(f"results in {result.out_dir}/ (search.json, CIFs, phonon_bands.png)")
        report = Path(result.out_dir) / "report.html"
        if report.is_file():
            console.print(f"report: {report} (one page: tables, plots, links)", highlight=False)


def search_and_print(
    search: Callable[[Any, SearchProgress], SearchResult],
    model: str | None,
    device: str = "cpu",
    allow_code: bool = False,
    hessian_dtype: str = "float64",
) -> None:
    """Load the model, run ``search(calc, progress)`` under progress bars, print the result.

    A ``ValueError`` of the search exits with code 1; the time printed leaves out the model load.
    """
    import time

    calc = load_calculator(model, device, allow_code, hessian_dtype)
    console = Console()
    start = time.perf_counter()
    from ase_symbreak.workflows.storage import FolderLocked

    with (
        exit_on(FolderLocked, code=BAD_INPUT),
        exit_on(ValueError, code=REJECTED),
        progress_bars(console) as progress,
    ):
        result = search(calc, progress)
    print_search(result, console, seconds=time.perf_counter() - start)


def check_unlocked(out_dir: Path) -> None:
    """Exit 2 before any work when another run holds ``out_dir``'s lock."""
    from ase_symbreak.workflows import storage

    if out_dir.is_dir():
        with exit_on(storage.FolderLocked, code=BAD_INPUT):
            storage.check_unlocked(out_dir)


def _search(
    atoms,
    model: str | None,
    settings,
    out_dir: Path,
    device: str = "cpu",
    allow_code: bool = False,
    hessian_dtype: str = "float64",
    workers: int = 1,
    verify_with: str | None = None,
) -> None:
    import contextlib

    from ase_symbreak.workflows.calcspec import CalculatorSpec
    from ase_symbreak.workflows.driver import distortion_search
    from ase_symbreak.workflows.steps import check_parent
    from ase_symbreak.workflows.work import process_pool

    if not isinstance(settings.supercell, str):  # "auto" is chosen small by the search
        check_supercell_atoms(atoms, settings.supercell, "supercell")
    with exit_on(ValueError, code=REJECTED):  # reject bad inputs before loading the model
        check_parent(atoms, settings.symprec)
    writable_folder(out_dir, "--out")
    check_unlocked(out_dir)
    check_model_name(model, allow_code)

    if workers > 1 and device != "cpu":
        fail("--workers runs CPU processes; on a GPU use one process", code=BAD_INPUT)
    second = None  # --verify-with: loaded before the search, so that a bad name costs nothing
    if verify_with is not None:
        from .verify import load_calculators, model_names

        second = load_calculators(model_names(verify_with), device, allow_code, hessian_dtype)

    def search(calc, progress):
        with contextlib.ExitStack() as stack:
            pool, spec = None, None
            if workers > 1:
                pool = stack.enter_context(process_pool(workers))
                spec = CalculatorSpec(model=model, hessian_dtype=hessian_dtype)
            return distortion_search(
                atoms,
                calc,
                settings,
                out_dir=out_dir,
                progress=progress,
                executor=pool,
                executor_calc=spec,
            )

    search_and_print(search, model, device, allow_code, hessian_dtype)
    if second is not None:
        from .verify import verify_folder

        verify_folder(out_dir, second)


def search_command(
    structure: Annotated[
        Path, typer.Argument(help="High-symmetry parent structure (any ase.io format).")
    ],
    supercell: Annotated[
        tuple[int, int, int] | None,
        typer.Option(
            help="Diagonal phonon supercell N1 N2 N3 (default: chosen for the cell, the fewest "
            "cells with periodic images >= 7 A apart; printed with the phonons)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model: name, .safetensors or .pth (default: SevenNet-0).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Output folder (JSON per step, CIFs, plots; reruns resume).")
    ] = Path("results/search"),
    threshold: Annotated[
        float, typer.Option(help="Soft-mode threshold, THz (imaginary negative).")
    ] = -0.1,
    max_children: Annotated[
        int | None,
        typer.Option(
            help="Relax at most this many coupled-pair candidates (single irreps come first; "
            "--max-candidates bounds them all)."
        ),
    ] = None,
    max_depth: Annotated[
        int,
        typer.Option(
            help="Descent: search unstable children again, down to this many condensations "
            "(0: one level, children not checked)."
        ),
    ] = 3,
    max_candidates: Annotated[
        int,
        typer.Option(
            min=0,
            help="Work budget: candidates relaxed per searched structure, most promising "
            "first (the rest are listed as left). 0: all.",
        ),
    ] = 8,  # SearchSettings.max_candidates
    max_nodes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Work budget: descent nodes checked, lowest energy first. 0: all. The "
            "budgets count work, not seconds: the same input gives the same answer anywhere.",
        ),
    ] = 6,  # SearchSettings.max_nodes
    time_budget: Annotated[
        float,
        typer.Option(
            min=0,
            help="Optional wall-clock limit, seconds for the whole search: work not started "
            "by then is left and listed (the answer then depends on the machine). 0: none.",
        ),
    ] = 0.0,
    origin: Annotated[
        int | None,
        typer.Option(
            help="Atom index put at the origin for the irrep labels (default: B site of a "
            "perovskite, else the most symmetric site)."
        ),
    ] = None,
    fmax: Annotated[
        float, typer.Option(help="Force criterion of the child relaxations, eV/A.")
    ] = 1e-3,
    optimizer: Annotated[
        str, typer.Option(help="Relaxations: newton (default), BFGS, FIRE, LBFGS, BFGSLineSearch.")
    ] = "newton",
    no_couple: Annotated[
        bool, typer.Option("--no-couple", help="Do not condense pairs of soft irreps.")
    ] = False,
    max_strain: Annotated[
        float,
        typer.Option(
            help="Decomposition of the children: largest principal strain of a child's cell "
            "against the parent's (raise it for strongly strained children)."
        ),
    ] = 0.2,  # SearchSettings.max_strain (not imported: the CLI starts light)
    max_displacement: Annotated[
        float,
        typer.Option(help="Decomposition of the children: largest atomic displacement, Angstrom."),
    ] = 1.0,
    device: DeviceOption = "cpu",
    hessian_dtype: HessianDtypeOption = "float64",
    allow_code_models: AllowCodeOption = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes for the child relaxations (each loads the model once; the cores "
            "are shared out as torch threads). 1: all in this process.",
        ),
    ] = 1,
    verify_with: Annotated[
        str | None,
        typer.Option(
            "--verify-with",
            help="After the search, relax its top 3 structures again with this second model "
            "(any name or file --model takes; several comma-separated: a table per structure) "
            "and report where they agree (verify.json, search.json, report.html; "
            "ase-symbreak verify FOLDER --model MODEL does the same later).",
        ),
    ] = None,
) -> None:
    """Distortion search: soft phonons -> isotropy subgroups -> relaxed children, ranked, \
with a family tree.
    """
    from ase_symbreak.workflows.search import SearchSettings

    atoms = read_structure(structure)
    with exit_on(ValueError, code=REJECTED):
        settings = SearchSettings(
            supercell=supercell or "auto",
            threshold_thz=threshold,
            max_children=max_children,
            max_depth=max_depth,
            max_candidates=max_candidates or None,
            max_nodes=max_nodes or None,
            time_budget_s=time_budget or None,
            child_fmax=fmax,
            optimizer=optimizer,
            couple=not no_couple,
            origin_index=origin,
            max_strain=max_strain,
            max_displacement=max_displacement,
        )
    _search(
        atoms, model, settings, out, device, allow_code_models, hessian_dtype, workers, verify_with
    )


def run_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe (TOML), e.g. recipes/srtio3_search.toml.")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: the recipe's [output] dir).")
    ] = None,
    allow_code_models: AllowCodeOption = False,
) -> None:
    """Run a distortion-search recipe (TOML): structure, model, supercell, thresholds, steps."""
    from ase_symbreak.workflows.recipe import RecipeError, load_recipe

    with exit_on(RecipeError, code=BAD_INPUT):
        r = load_recipe(recipe, allow_import=allow_code_models)
    _search(r.structure, r.model, r.settings, out or r.out_dir, allow_code=allow_code_models)
