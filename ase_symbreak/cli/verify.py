"""``ase-symbreak verify FOLDER --model MODEL``: a second opinion on a finished search.

Relaxes the search's parent and its top-ranked structures again with a second calculator
(:func:`ase_symbreak.workflows.verify.verify_search`), prints a table of both calculators'
gains, space groups and stability with every disagreement below it, and writes
``FOLDER/verify.json`` (and its short form into ``search.json`` and ``report.html``).
``--models a,b,c`` does it with each model and prints one table per structure: gain, space
group and stability under the search's model and every other. ``ase-symbreak search ...
--verify-with MODEL[,MODEL...]`` runs the same after its search. A folder without a
readable search, a model that cannot be loaded or a bad option exits with code 2; a rejected
input with code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ._common import (
    BAD_INPUT,
    REJECTED,
    AllowCodeOption,
    DeviceOption,
    HessianDtypeOption,
    echo_json,
    exit_on,
    fail,
    load_calculator,
    progress_bars,
)

__all__ = ["print_agreement", "print_verification", "verify_command", "verify_folder"]

TopOption = Annotated[
    int,
    typer.Option(
        "--top",
        min=1,
        help="How many of the search's ranked structures to relax again (descent nodes, "
        "stable ones first; the ranked children of a one-level search).",
    ),
]


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "-"}[value]


def _softest(text: str) -> str:
    """'R4+ at R, -1.23 THz' as 'R4+ -1.23' (irrep labels name their q point)."""
    irrep, _, rest = text.partition(" at ")
    return f"{irrep} {rest.partition(', ')[2].removesuffix(' THz')}" if rest else text


def verification_table(check) -> Any:
    """Both calculators side by side, one row per verified structure (parent first); a
    disagreement is marked '(!)'.
    """
    from rich.table import Table

    table = Table(title="second opinion: A the search's calculator, B the second")
    for name, justify in (
        ("", "left"),
        ("space group", "left"),
        ("gain A", "right"),
        ("gain B", "right"),
        ("rank A/B", "center"),
        ("stable A/B", "center"),
        ("softest B, THz", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    parent_mark = "" if check.parent_stable_a == check.parent_stable_b else " (!)"
    table.add_row(
        "parent",
        check.parent_space_group,
        "0",
        "0",
        "",
        f"{_yes_no(check.parent_stable_a)}/{_yes_no(check.parent_stable_b)}{parent_mark}",
        _softest(check.parent_softest_b),
    )
    for s in check.structures:
        if s.failed:
            table.add_row(s.name, s.space_group_a, f"{s.gain_a_mev_per_fu:.2f}", "-", "", "", "")
            continue
        group = s.space_group_a
        if not s.same_space_group:
            group += f" -> {s.space_group_b} (!)"
        table.add_row(
            s.name,
            group,
            f"{s.gain_a_mev_per_fu:.2f}",
            f"{s.gain_b_mev_per_fu or 0.0:.2f}",
            f"{s.rank_a}/{s.rank_b}" + ("" if s.rank_a == s.rank_b else " (!)"),
            f"{_yes_no(s.stable_a)}/{_yes_no(s.stable_b)}"
            + ("" if s.same_stability is not False else " (!)"),
            _softest(s.softest_b),
        )
    table.caption = (
        "gains: meV/f.u. below the parent relaxed with the same calculator; stable B: "
        f"{check.stability_check}; B's force constants: {check.force_constants_b}"
    )
    return table


def print_verification(check, console: Console | None = None) -> None:
    """The table, then every disagreement (or that there is none) and the file written."""
    console = console or Console()
    console.print(verification_table(check))
    n = len(check.structures)
    if check.agrees:
        console.print(
            f"the two calculators agree on the parent and the top {n} structure(s): ranking, "
            "space groups, stability",
            highlight=False,
        )
    else:
        console.print(
            f"the two calculators disagree ({len(check.disagreements)} point(s)):", highlight=False
        )
        for line in check.disagreements:
            console.print(f"  - {line}", highlight=False, markup=False)
    for line in check.notes:
        console.print(f"  note: {line}", highlight=False, markup=False)
    if check.folder:
        from ase_symbreak.workflows.verify import VERIFY_FILE

        console.print(
            f"written: {Path(check.folder) / VERIFY_FILE} ({check.seconds:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )


def agreement_tables(table) -> list[Any]:
    """One rich table per structure (the parent first) of an
    :class:`~ase_symbreak.workflows.verify.Agreement`: a row per calculator (the search's
    first) with its gain, rank, space group after relaxing, stability and softest mode; the
    caption says what the second calculators disagree on.
    """
    from rich.table import Table

    out = []
    for s in (table.parent, *table.structures):
        t = Table(title=f"{s.name} {s.space_group}", title_justify="left")
        for name, justify in (
            ("model", "left"),
            ("gain", "right"),
            ("rank", "right"),
            ("space group", "left"),
            ("stable", "center"),
            ("softest, THz", "left"),
        ):
            t.add_column(name, justify=justify)  # type: ignore[arg-type]
        for o in s.opinions:
            if o.failed:
                t.add_row(o.model, "-", "-", "-", "-", o.failed)
                continue
            t.add_row(
                o.model,
                "-" if o.gain_mev_per_fu is None else f"{o.gain_mev_per_fu:.2f}",
                "" if o.rank is None else str(o.rank),
                o.space_group,
                _yes_no(o.stable),
                _softest(o.softest),
            )
        t.caption = "agree" if s.agrees else "disagree: " + ", ".join(s.disagreements)
        out.append(t)
    return out


def print_agreement(checks, console: Console | None = None) -> None:
    """Several second opinions: a table per structure, then each calculator's
    disagreements and the file written.
    """
    from ase_symbreak.workflows.verify import VERIFY_FILE, agreement

    console = console or Console()
    table = agreement(checks)
    console.print(
        f"second opinions on the search's top {len(table.structures)} structure(s), gains in "
        "meV/f.u. below the parent relaxed with the same calculator; stable: "
        f"{checks[0].stability_check}",
        highlight=False,
        soft_wrap=True,
    )
    for t in agreement_tables(table):
        console.print(t)
    for c in checks:
        if c.agrees:
            console.print(f"{c.label_b}: agrees with the search", highlight=False, markup=False)
            continue
        console.print(
            f"{c.label_b}: disagrees ({len(c.disagreements)} point(s)):",
            highlight=False,
            markup=False,
        )
        for line in c.disagreements:
            console.print(f"  - {line}", highlight=False, markup=False)
    for x in checks[0].structures:  # the search's side: the same for every model
        if x.strain_unstable_a:
            console.print(
                f"note: {x.name} {x.space_group_a} is unstable to strain with the search's "
                "calculator, its phonons stable; the second opinions check phonons only",
                highlight=False,
                markup=False,
            )
    if checks[0].folder:
        seconds = sum(c.seconds for c in checks)
        console.print(
            f"written: {Path(checks[0].folder) / VERIFY_FILE} ({seconds:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )


def verify_folder(
    folder: Path,
    calc,
    top: int = 3,
    as_json: bool = False,
    console: Console | None = None,
) -> None:
    """Run :func:`~ase_symbreak.workflows.verify.verify_search` on ``folder`` with ``calc``
    (or :func:`~ase_symbreak.workflows.verify.verify_models` with ``{name: calc}`` of
    several) under progress bars and print it (or, ``as_json``, its summary as JSON).
    """
    from ase_symbreak.workflows.storage import FolderLocked
    from ase_symbreak.workflows.verify import agreement, verify_models

    console = console or Console()
    calcs = calc if isinstance(calc, dict) else {"": calc}
    with (
        exit_on(FolderLocked, code=BAD_INPUT),
        exit_on(ValueError, code=REJECTED),
        progress_bars(Console(stderr=True), disable=as_json) as progress,
    ):
        checks = verify_models(folder, calcs, top=top, progress=progress)
    if len(checks) == 1:
        if as_json:
            echo_json(checks[0].summary())
        else:
            print_verification(checks[0], console)
        return
    if as_json:
        echo_json(
            {
                "models": [c.label_b for c in checks],
                "agrees": all(c.agrees for c in checks),
                "verifications": [c.summary() for c in checks],
                "agreement": agreement(checks).summary(),
            }
        )
    else:
        print_agreement(checks, console)


def model_names(text: str) -> list[str]:
    """``--models a,b,c`` (or ``--verify-with a,b``) as names; exit 2 on an empty one or a
    name given twice.
    """
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        fail(f"empty model name in {text!r} (give a,b,c)", code=BAD_INPUT)
    if len(set(names)) != len(names):
        fail(f"a model is named twice in {text!r}", code=BAD_INPUT)
    return names


def load_calculators(names: list[str], device, allow_code, hessian_dtype) -> Any:
    """The calculator of one name, or ``{name: calculator}`` of several (each exits 2 in one
    line when it cannot be loaded, before any work).
    """
    calcs = {n: load_calculator(n, device, allow_code, hessian_dtype) for n in names}
    return calcs if len(calcs) > 1 else calcs[names[0]]


def check_search_folder(folder: Path) -> None:
    """Exit 2 unless ``folder`` holds a search :func:`~ase_symbreak.load_search` can read."""
    from ase_symbreak.workflows.folder import load_search

    if not folder.is_dir():
        fail(f"{folder}: not a folder", code=BAD_INPUT)
    with exit_on(FileNotFoundError, ValueError, code=BAD_INPUT):
        load_search(folder)


def verify_command(
    folder: Annotated[Path, typer.Argument(help="A finished search's folder (result.json).")],
    model: Annotated[
        str | None,
        typer.Option(
            help="The second calculator: a model name or file as --model of search takes "
            "(a MACE .model file; with --allow-code-models any ASE calculator by import path "
            "package.module:factory, e.g. DFT through ASE)."
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="Several second calculators, comma-separated (7net-l3i5,7net-mf-0-pbe): each "
            "relaxes the same structures, and a table per structure shows gain, space group "
            "and stability under every one (verify.json keeps each)."
        ),
    ] = None,
    top: TopOption = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print verify.json's summary instead of a table.")
    ] = False,
    device: DeviceOption = "cpu",
    hessian_dtype: HessianDtypeOption = "float64",
    allow_code_models: AllowCodeOption = False,
) -> None:
    """A second opinion: the search's top structures again with other calculators, compared.

    Relaxes them with the second calculator (or each of --models), compares gains, ranking,
    space groups and stability, and writes FOLDER/verify.json.
    """
    from ase_symbreak.workflows import storage

    if (model is None) == (models is None):
        fail("give one of --model or --models", code=BAD_INPUT)
    names = [model] if model is not None else model_names(str(models))
    check_search_folder(folder)
    with exit_on(storage.FolderLocked, code=BAD_INPUT):
        storage.check_unlocked(folder)
    calc = load_calculators(names, device, allow_code_models, hessian_dtype)
    verify_folder(folder, calc, top, as_json)
