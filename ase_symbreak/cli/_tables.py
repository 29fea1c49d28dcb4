"""Rich tables of the library's results (the library itself returns data, never a table)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from rich.console import JustifyMethod
from rich.table import Table

if TYPE_CHECKING:
    from ase_symbreak.phonons import PhononModes
    from ase_symbreak.symmetry import ModeDecomposition
    from ase_symbreak.workflows.screening import ScreenResult
    from ase_symbreak.workflows.search import SearchResult
    from ase_symbreak.workflows.search_result import ChildResult

__all__ = [
    "children_table",
    "descent_table",
    "decompose_table",
    "fractions",
    "irreps_table",
    "phonon_modes_table",
    "screen_table",
    "soft_modes_table",
    "subgroups_table",
]


def fractions(k) -> str:
    """``(1/2,0,1/2)``: a k- or q-point in fractions of the reciprocal cell."""
    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in np.ravel(k)) + ")"


def _with_columns(title: str, columns: Iterable[str | tuple[str, JustifyMethod]]) -> Table:
    """A table with ``columns``: names, or (name, justify) pairs."""
    table = Table(title=title)
    for col in columns:
        if isinstance(col, str):
            table.add_column(col, justify="left")
        else:
            name, just = col
            table.add_column(name, justify=just)
    return table


# ----------------------------------------------------------------------------- symmetry
def irreps_table(rows: list[dict], title: str) -> Table:
    """The rows of ``ase-symbreak irreps``: k, arms of the star, irrep, dim, multiplicity,
    orbits.
    """
    table = _with_columns(title, ("k", "arms", "irrep", "dim", "mult", "orbits"))
    for r in rows:
        table.add_row(
            fractions(r["k"]),
            str(len(r["star"])),
            r["irrep"],
            str(r["dim"]),
            str(r["multiplicity"]),
            ", ".join(r["orbits"]),
        )
    return table


def decompose_table(result: ModeDecomposition, threshold: float, title: str) -> Table:
    """Irrep amplitudes above ``threshold`` (parent and supercell normalisation) and the total."""
    table = _with_columns(title, ("irrep", "k", "direction", "Ap (A)", "As (A)"))
    for ir in result.significant(threshold):
        table.add_row(
            ir.irrep,
            fractions(ir.k),
            ir.direction,
            f"{ir.amplitude:.5f}",
            f"{ir.amplitude_supercell:.5f}",
        )
    table.add_row("total", "", "", f"{result.amplitude:.5f}", f"{result.amplitude_supercell:.5f}")
    return table


def subgroups_table(rows: list[dict], title: str) -> Table:
    """The rows of ``ase-symbreak subgroups``: direction, space group, supercell."""
    table = _with_columns(title, ("direction", "space group", "#", "supercell"))
    for r in rows:
        table.add_row(
            r["direction"],
            r["space_group_symbol"],
            str(r["space_group_number"]),
            str(r["supercell_matrix"]),
        )
    return table


# ----------------------------------------------------------------------------- phonons
def phonon_modes_table(modes: PhononModes, title: str | None = None) -> Table:
    """Labelled phonon modes; imaginary frequencies marked ``i``, unstable ones in red."""
    title = title or (
        f"phonon modes, supercell {np.asarray(modes.supercell_matrix).tolist()}, "
        f"origin atom {modes.origin_index}"
    )
    table = _with_columns(
        title,
        (
            "q",
            "",
            "irrep",
            ("freq (THz)", "right"),
            ("deg", "right"),
            ("IR", "center"),
            ("Raman", "center"),
        ),
    )

    def yes_no(x):
        return "" if x is None else ("yes" if x else "-")

    for m in modes.modes:
        freq = f"{m.frequency_thz:.3f}" + ("i" if m.frequency_thz < -5e-4 else "")
        style = "red" if m.frequency_thz < -0.1 else None
        table.add_row(
            m.q_label,
            fractions(m.q),
            m.irrep,
            freq,
            str(m.degeneracy),
            yes_no(m.ir_active),
            yes_no(m.raman_active),
            style=style,
        )
    return table


# ----------------------------------------------------------------------------- searches
def thermal_table(thermo, temperatures_k=(0, 100, 200, 300, 500, 1000)) -> Table:
    """Free energy, entropy and heat capacity at a few temperatures (per mole of cells)."""
    table = _with_columns(
        f"harmonic thermal properties (mesh {list(thermo.mesh)}, per mole of "
        f"{thermo.n_atoms}-atom primitive cells; {thermo.n_imaginary} imaginary modes left out)",
        ["T (K)", "F (kJ/mol)", "F (eV/cell)", "S (J/K/mol)", "Cv (J/K/mol)"],
    )
    t_max = float(np.max(thermo.temperatures_k))
    for t in temperatures_k:
        if t > t_max:
            continue
        row = thermo.at(t)
        table.add_row(
            f"{t:g}",
            f"{row['free_energy_kj_per_mol']:.3f}",
            f"{row['free_energy_ev_per_cell']:.4f}",
            f"{row['entropy_j_per_k_mol']:.3f}",
            f"{row['heat_capacity_j_per_k_mol']:.3f}",
        )
    return table


def soft_modes_table(result: SearchResult) -> Table:
    """The soft modes of a search: irrep, q, frequency, degeneracy."""
    table = _with_columns(
        f"soft modes (< {result.soft_modes.threshold_thz} THz)",
        ("irrep", "q", "frequency (THz)", "deg"),
    )
    for m in result.soft_modes.modes:
        table.add_row(m.irrep, m.q_label, f"{m.frequency_thz:.3f}", str(m.degeneracy))
    return table


def _glazer(child) -> str:
    """``a0a0c- (0/0/7.1 deg)`` of a perovskite child, '' otherwise."""
    perovskite = (child.environments or {}).get("perovskite")
    if not perovskite:
        return ""
    angles = "/".join(f"{a:.1f}" for a in perovskite["tilt_angles_deg"])
    mark = "" if perovskite.get("tilt_irreps_consistent", True) else " (!)"
    return f"{perovskite['glazer']} ({angles} deg){mark}"


def _no_amplitude(idn) -> str:
    """What an empty amplitude cell means."""
    if idn.error:
        return f"(no decomposition: {idn.error[:60]})"
    if idn.irreps:
        return "(condensed irreps relaxed away)"
    return "(relaxed back to the parent)"


def merged_table(result: SearchResult) -> Table | None:
    """Relaxed children left out of the ranking, with what each merged into and why; None
    when there are none.
    """
    if not result.duplicates:
        return None
    # looked up by duplicate_of (int | None)
    rank: dict[int | None, int] = {c.candidate_index: r for r, c in enumerate(result.children, 1)}
    by_index: dict[int | None, ChildResult] = {
        c.candidate_index: c for c in (*result.children, *result.duplicates)
    }
    table = _with_columns(
        "relaxed children merged into a ranked one (files kept)",
        (
            "space group",
            "condensed",
            ("gain (meV/f.u.)", "right"),
            "merged into",
            "why",
            "CIF",
        ),
    )
    for c in result.duplicates:
        idn = c.identification
        target = by_index.get(c.duplicate_of)
        if target is None:
            into, why = f"candidate {c.duplicate_of}", ""
        else:
            tid = target.identification
            into = f"#{rank.get(c.duplicate_of, '?')} {tid.space_group_symbol}"
            why = (
                "same space group and energy"
                if tid.space_group_number == idn.space_group_number
                else f"no more gain than its supergroup {tid.space_group_symbol}"
            )
        table.add_row(
            f"{idn.space_group_symbol} ({idn.space_group_number})",
            f"{'+'.join(c.candidate.irreps)} {c.candidate.direction}",
            f"{idn.energy_gain_mev_per_fu:.2f}",
            into,
            why,
            c.cif or "",
        )
    return table


def children_table(result: SearchResult) -> Table:
    """Ranked children of a search (its caption says why when there are none)."""
    p = result.parent
    title = (
        f"children of {p.atoms.get_chemical_formula(mode='metal', empirical=True)} "
        f"{p.space_group_symbol} ({p.space_group_number}), ranked by energy gain"
    )
    tilts = [_glazer(c) for c in result.children]
    columns: tuple = (
        ("#", "right"),
        "space group",
        "condensed",
        "Ap (A)",
        "secondary",
        ("gain (meV/f.u.)", "right"),
        ("atoms", "right"),
    )
    if any(tilts):
        columns = (*columns[:3], "tilts (Glazer)", *columns[3:])
    table = _with_columns(title, columns)
    for rank, (c, tilt) in enumerate(zip(result.children, tilts), 1):
        idn = c.identification
        amps = " ".join(f"{ir.irrep} {ir.amplitude:.3f}" for ir in idn.primary)
        amps = amps or _no_amplitude(idn)
        sec = " ".join(f"{ir.irrep} {ir.amplitude:.3f}" for ir in idn.secondary[:3])
        row = [
            str(rank),
            f"{idn.space_group_symbol} ({idn.space_group_number})",
            f"{'+'.join(c.candidate.irreps)} {c.candidate.direction}",
            amps,
            sec,
            f"{idn.energy_gain_mev_per_fu:.2f}",
            str(len(c.relax.atoms)),
        ]
        if any(tilts):
            row.insert(3, tilt)
        table.add_row(*row)
    reason = result.no_children_reason()
    if reason is not None:
        table.caption = f"no children: {reason}"
    return table


def descent_table(result: SearchResult) -> Table:
    """Every structure of the descent: dynamically stable ones first, lowest energy first;
    the predicted ground state (the first row when there is one) is marked.
    """
    from ase_symbreak.workflows.records import NodeStatus
    from ase_symbreak.workflows.tree import ranked_nodes

    p = result.parent
    title = (
        f"structures below {p.atoms.get_chemical_formula(mode='metal', empirical=True)} "
        f"{p.space_group_symbol} ({p.space_group_number}): stable first, then by energy"
    )
    root = result.nodes[0] if result.nodes else None
    if root is not None and root.status == NodeStatus.STRAIN_UNSTABLE:
        title += " (the parent is unstable to strain: its strained children are rows here)"
    table = _with_columns(
        title,
        (
            ("#", "right"),
            "space group",
            ("depth", "right"),
            "condensed",
            "from",
            ("gain (meV/f.u.)", "right"),
            "stable",
            "softest mode",
            ("atoms", "right"),
        ),
    )
    for n in ranked_nodes(result.nodes):
        soft = n.softest_mode
        soft_text = "-" if soft is None else f"{soft.irrep} {soft.frequency_thz:.2f} THz"
        stable = {True: "yes", False: "[red]no[/red]", None: "-"}[n.dynamically_stable]
        if n.dynamically_stable is not True and n.status not in ("searched", "stable"):
            stable += f" ({n.status_text})"
        if n.index == result.ground_state:
            stable = "[bold]yes: ground state[/bold]"
        if n.off_grid_follow is not None:
            stable += f" ({n.off_grid_follow.short()})"
        elif n.off_grid is not None:
            stable += f" (off grid {n.off_grid.min_frequency_thz:.2f} THz?)"
        parents = ",".join(f"#{i}" for i in (n.parent, *n.other_parents))
        table.add_row(
            str(n.index),
            f"{n.space_group_symbol} ({n.space_group_number})",
            str(n.depth),
            n.via,
            parents,
            f"{n.energy_gain_mev_per_fu:.2f}",
            stable,
            soft_text,
            "-" if n.atoms is None else str(len(n.atoms)),
        )
    table.caption = result.ground_state_note()
    return table


def screen_table(result: ScreenResult) -> Table:
    """One row per structure of a screen (the errors: ``result.errors()``)."""
    title = f"screen of {len(result.entries)} structures ({len(result.failed)} failed)"
    table = _with_columns(
        title,
        (
            "name",
            "formula",
            "parent",
            "unstable irreps",
            "best child",
            ("gain (meV/f.u.)", "right"),
            "status",
        ),
    )
    for e in result.entries:
        status = ("done (earlier run)" if e.loaded else "done") if e.ok else "[red]failed[/red]"
        gain = f"{e.energy_gain_mev_per_fu:.2f}" if e.ok else "-"
        table.add_row(
            e.name,
            e.formula,
            e.parent_space_group,
            " ".join(e.unstable_irreps) or "-",
            e.best_child_space_group or "-",
            gain,
            status,
        )
    return table


def environments_table(report: dict, atoms) -> Table:
    """Site orbits of a structure: polyhedron, shape measure, bonds (``environments``)."""
    table = _with_columns(
        f"site environments of {atoms.get_chemical_formula(mode='metal', empirical=True)}",
        (
            "site",
            ("mult.", "right"),
            ("CN", "right"),
            "polyhedron",
            ("shape measure", "right"),
            ("<d> (A)", "right"),
            ("bond spread", "right"),
        ),
    )
    for site in report["sites"]:
        if site["polyhedron"] is None and "note" in site:
            table.add_row(site["site"], str(site["multiplicity"]), "", site["note"], "", "", "")
            continue
        score = "" if site["score"] is None else f"{site['score']:.3f}"
        table.add_row(
            site["site"],
            str(site["multiplicity"]),
            str(site["coordination"]),
            site["polyhedron"] or "(no reference)",
            score,
            f"{site['mean_bond_angstrom']:.3f}",
            f"{site['bond_spread']:.4f}",
        )
    table.caption = (
        "shape measure: 0 ideal .. 100; CN by the largest gap in the neighbour distances; "
        "--json adds the power spectrum and bispectrum"
    )
    return table


def environment_changes_table(rows: list[dict]) -> Table:
    """Each parent site orbit's polyhedron before and after (``environments --parent``)."""
    table = _with_columns(
        "parent sites in this structure",
        (
            "parent site",
            ("CN", "right"),
            "parent polyhedron",
            "here",
            ("shape measure here", "right"),
            ("bond spread", "right"),
        ),
    )
    for row in rows:
        scores = ", ".join("-" if s is None else f"{s:.3f}" for s in row["child_scores"])
        table.add_row(
            row["site"],
            str(row["coordination"]),
            row["parent_polyhedron"] or "(no reference)",
            row["child_polyhedron"] or "(no reference)",
            scores,
            f"{row['child_bond_spread']:.4f}",
        )
    return table


_SHORT = {"cuboctahedron": "cuboct.", "octahedron": "oct.", "tetrahedron": "tet."}


def child_sites_table(result: SearchResult) -> Table | None:
    """How far each child distorted every parent site's polyhedron (largest shape measure
    over the child orbits of that site; 0 = still ideal); None when no child has the data.
    """
    all_rows = [(c, (c.environments or {}).get("sites")) for c in result.children]
    rows = [(c, sites) for c, sites in all_rows if sites]
    if not rows:
        return None
    heads = [
        f"{s['site']} {_SHORT.get(s['parent_polyhedron'], s['parent_polyhedron'] or '?')}"
        for s in rows[0][1]
    ]
    table = _with_columns(
        "parent sites in the children: shape measure (0 ideal .. 100) / change of bond spread",
        ("space group", *((h, "right") for h in heads)),
    )
    for c, sites in rows:
        cells = []
        for site in sites:
            scores = [x for x in site["child_scores"] if x is not None]
            worst = f"{max(scores):.2f}" if scores else "-"
            change = site["child_bond_spread"] - (site.get("parent_bond_spread") or 0.0)
            cells.append(f"{worst} / {change:+.3f}")
        table.add_row(c.identification.space_group_symbol, *cells)
    return table
