"""``ase-symbreak explain CHILD``: the parent, the order parameters and their energies.

Reads one distorted structure, finds its parent (or takes ``--parent`` / ``--parent-group``),
prints the supergroups within reach, the chain of groups, the modes with their roles and
isotropy subgroups, the strain, and with ``--model`` the energies; ``--json`` prints
:meth:`~ase_symbreak.explain.Explanation.summary`. The page ``STEM_explain.html`` (tables
and plots) is written in the current directory, or to ``--html``; ``--no-html`` writes
none. A structure with no supergroup within reach, or a parent it does not derive from,
exits with code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    BAD_INPUT,
    REJECTED,
    AllowCodeOption,
    DeviceOption,
    echo_json,
    exit_on,
    fail,
    load_calculator,
    progress_bars,
    read_structure,
)
from ._tables import _with_columns, fractions

__all__ = ["explain_command"]


def explain_command(
    child: Annotated[Path, typer.Argument(help="Distorted structure file (any ase.io format).")],
    parent: Annotated[
        Path | None,
        typer.Option(help="The parent structure file (default: found from the child)."),
    ] = None,
    parent_group: Annotated[
        int | None,
        typer.Option(help="Space-group number of the parent, among the supergroups within reach."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model for the energies along the modes (a name or file as for search; "
            "default: no energies)."
        ),
    ] = None,
    max_displacement: Annotated[
        float, typer.Option(help="Largest atomic displacement from child to parent, Angstrom.")
    ] = 1.0,
    threshold: Annotated[
        float, typer.Option(help="Irreps with a smaller Ap get no role, Angstrom.")
    ] = 0.01,
    origin: Annotated[
        int | None, typer.Option(help="Parent atom put at the origin of the labels.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the page here (default: STEM_explain.html in this directory)."),
    ] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Write no page.")] = False,
    parent_out: Annotated[
        Path | None,
        typer.Option(help="Also write the ideal parent to this file (CIF, POSCAR, ...)."),
    ] = None,
    no_phonons: Annotated[
        bool,
        typer.Option("--no-phonons", help="With --model, skip the parent's labelled phonons."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    device: DeviceOption = "cpu",
    allow_code_models: AllowCodeOption = False,
) -> None:
    """Explain CHILD: its parent, its modes (primary, secondary) and their energies."""
    from ase_symbreak.explain import explain

    if parent is not None and parent_group is not None:
        fail("give --parent or --parent-group, not both", code=BAD_INPUT)
    if no_html and html is not None:
        fail("--no-html writes no page: leave out --html", code=BAD_INPUT)
    if not (0 < max_displacement <= 5):
        fail(f"--max-displacement must be in (0, 5] Angstrom, got {max_displacement}", BAD_INPUT)
    if not threshold > 0:
        fail(f"--threshold must be a positive length, got {threshold}", code=BAD_INPUT)
    atoms = read_structure(child)
    parent_atoms = read_structure(parent) if parent is not None else None
    calc = load_calculator(model, device, allow_code_models) if model is not None else None
    from rich.console import Console

    bars = progress_bars(Console(stderr=True), disable=as_json)
    with exit_on(ValueError, code=REJECTED), bars as progress:
        result = explain(
            atoms,
            parent=parent_atoms,
            parent_group=parent_group,
            calc=calc,
            max_displacement=max_displacement,
            threshold=threshold,
            origin_index=origin,
            model_name=model or "",
            phonons=not no_phonons,
            progress=progress,
        )
    written = []
    with exit_on(OSError, code=BAD_INPUT, prefix="cannot write the output files: "):
        if parent_out is not None:
            from ase.io import write

            write(parent_out, result.parent.structure)
            written.append(str(parent_out))
        if not no_html:
            from ase_symbreak.explain.page import write_page

            page = html if html is not None else Path(f"{child.stem}_explain.html")
            written.append(str(write_page(result, page, title=child.name)))
    if as_json:
        echo_json({**result.summary(), "files": written})
        return
    _print(result, child.name, written)


def _print(result, name: str, written: list[str]) -> None:
    from rich.console import Console

    console = Console()
    parents = _with_columns(
        f"{name}: {result.child_space_group_symbol} ({result.child_space_group_number}), "
        "supergroups within reach",
        ("supergroup", ("max displacement (A)", "right"), ("max strain", "right"), ""),
    )
    for c in result.candidates or (result.parent,):
        parents.add_row(
            f"{c.space_group_symbol} ({c.space_group_number})",
            f"{c.max_displacement:.4f}",
            f"{c.max_strain:.4f}",
            "parent" if c == result.parent else "",
        )
    console.print(parents)
    console.print("chain: " + " -> ".join(s.text() for s in result.chain))
    if result.glazer:
        console.print(f"Glazer tilts: {result.glazer}")
    modes = _with_columns(
        f"modes of {result.parent.space_group_symbol}, origin at parent atom "
        f"{result.origin_index}, supercell {result.supercell_matrix.tolist()}",
        (
            "irrep",
            "k",
            "direction",
            ("As (A)", "right"),
            ("Ap (A)", "right"),
            "role",
            "isotropy subgroup alone",
        ),
    )
    for m in result.modes:
        modes.add_row(
            m.irrep,
            fractions(m.k),
            m.direction,
            f"{m.amplitude_supercell:.5f}",
            f"{m.amplitude:.5f}",
            m.role,
            m.isotropy.text(),
        )
    modes.add_row(
        "total", "", "", f"{result.amplitude_supercell:.5f}", f"{result.amplitude:.5f}", "", ""
    )
    console.print(modes)
    console.print(
        f"irreps below {result.threshold:g} A: {result.below_threshold:.5f} A together; strain: "
        + (", ".join(f"{s.irrep} {s.amplitude:.2e}" for s in result.strain_parts) or "none")
    )
    if result.energies is not None:
        e = result.energies
        table = _with_columns(
            f"energies with {e.model}, meV per formula unit relative to the parent",
            ("", ("meV/f.u.", "right"), "unstable in the parent"),
        )
        for m in e.modes:
            table.add_row(
                f"{m.irrep} alone", f"{m.gain:.3f}", "yes" if m.unstable_in_parent else "no"
            )
        table.add_row("primaries together", f"{e.primaries:.3f}", "")
        table.add_row("coupling of the primaries", f"{e.coupling:+.3f}", "")
        table.add_row("all modes, no strain", f"{e.all_modes:.3f}", "")
        table.add_row("the child", f"{e.child:.3f}", "")
        console.print(table)
    if result.parent_phonons:
        phonons = _with_columns(
            "parent phonons (ideal parent), the child's irreps marked *",
            ("q", "irrep", ("THz", "right"), ("deg.", "right"), ""),
        )
        for p in result.parent_phonons:
            phonons.add_row(
                p.q_label,
                p.irrep,
                f"{p.frequency_thz:.3f}",
                str(p.degeneracy),
                "*" if p.in_child else "",
            )
        console.print(phonons)
    for path in written:
        console.print(f"written: {path}")
