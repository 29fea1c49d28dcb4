"""Command-line layer for the symmetry tools: ``irreps``, ``decompose``, ``subgroups``.

Each command reads structures with :func:`ase.io.read`, calls one library function and
prints a rich table or, with ``--json``, JSON on stdout. A file that cannot be read exits
with code 2 and a one-line message naming the file; an analysis that rejects its input
(:class:`ValueError`, e.g. a child that does not derive from the parent) exits with code 1.

Use :func:`register` to add the commands to the package's main typer app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Callable

import numpy as np
import typer
from ase import Atoms
from rich.console import Console
from rich.table import Table

__all__ = ["decompose_command", "irreps_command", "register", "subgroups_command"]

_ORIGIN_HELP = "Parent atom index put at the origin (default: B site of a perovskite)."
_JSON_HELP = "Print JSON instead of a table."


# --------------------------------------------------------------------------- helpers
def read_structure(path: Path) -> Atoms:
    """Read one structure with ase.io.read; exit 2 with a clear message if that fails."""
    from ase.io import read

    if not path.exists():
        _fail(f"cannot read {path}: no such file", code=2)
    try:
        atoms = read(str(path))
    except Exception as err:  # ase raises many types for malformed files
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _fail(f"cannot read {path}: {reason}", code=2)
    if isinstance(atoms, list):  # pragma: no cover - read() without index returns one
        atoms = atoms[-1]
    if len(atoms) == 0:
        _fail(f"cannot read {path}: no atoms in file", code=2)
    return atoms


def _fail(message: str, code: int) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def _run(func: Callable[..., Any], *args, **kwargs) -> Any:
    """Call a library function, turning a ValueError into a clean exit 1."""
    try:
        return func(*args, **kwargs)
    except ValueError as err:
        _fail(str(err), code=1)


def _fmt_k(k) -> str:
    from fractions import Fraction

    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in np.ravel(k)) + ")"


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2))


# --------------------------------------------------------------------------- commands
def irreps_command(
    structure: Annotated[Path, typer.Argument(help="Parent structure file (any ase.io format).")],
    supercell: Annotated[
        tuple[int, int, int], typer.Option(help="Diagonal supercell of the parent: N1 N2 N3.")
    ] = (1, 1, 1),
    origin: Annotated[int | None, typer.Option(help=_ORIGIN_HELP)] = None,
    symprec: Annotated[float, typer.Option(help="Symmetry tolerance, Angstrom.")] = 1e-3,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Labelled irreps of the displacement representation at every commensurate k."""
    from .modes import displacement_modes

    atoms = read_structure(structure)
    if any(n < 1 for n in supercell):
        _fail(f"--supercell entries must be positive, got {list(supercell)}", code=2)
    rep = _run(displacement_modes, atoms, supercell, origin_index=origin, symprec=symprec)
    rows = [
        {
            "irrep": m.irrep.label,
            "k": np.asarray(m.irrep.k, dtype=float).tolist(),
            "star": np.asarray(m.irrep.star, dtype=float).tolist(),
            "dim": int(m.dim),
            "multiplicity": int(m.multiplicity),
            "orbits": list(m.orbits),
        }
        for m in rep.irreps
    ]
    if as_json:
        _echo_json({"origin_index": rep.origin_index, "supercell": list(supercell), "irreps": rows})
        return
    table = Table(
        title=f"{structure.name}: displacement irreps, supercell {supercell}, "
        f"origin atom {rep.origin_index} ({rep.parent[rep.origin_index].symbol})"
    )
    for col in ("k", "arms", "irrep", "dim", "mult", "orbits"):
        table.add_column(col)
    for r in rows:
        table.add_row(_fmt_k(r["k"]), str(len(r["star"])), r["irrep"], str(r["dim"]),
                      str(r["multiplicity"]), ", ".join(r["orbits"]))
    Console().print(table)


def decompose_command(
    parent: Annotated[Path, typer.Argument(help="High-symmetry parent structure file.")],
    child: Annotated[Path, typer.Argument(help="Distorted child structure file.")],
    origin: Annotated[int | None, typer.Option(help=_ORIGIN_HELP)] = None,
    max_displacement: Annotated[
        float, typer.Option(help="Largest allowed atomic displacement, Angstrom.")
    ] = 1.0,
    threshold: Annotated[
        float, typer.Option(help="Show irreps with amplitude above this, Angstrom.")
    ] = 1e-4,
    symprec: Annotated[float, typer.Option(help="Symmetry tolerance, Angstrom.")] = 1e-3,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Decompose CHILD's distortion into irreps of PARENT (ISODISTORT amplitudes)."""
    from .decompose import decompose

    p_atoms, c_atoms = read_structure(parent), read_structure(child)
    result = _run(decompose, p_atoms, c_atoms, origin_index=origin, symprec=symprec,
                  max_displacement=max_displacement)
    if as_json:
        _echo_json(result.to_dict(threshold))
        return
    table = Table(
        title=f"{child.name} from {parent.name}: supercell {result.supercell_matrix.tolist()}, "
        f"origin atom {result.origin_index}"
    )
    for col in ("irrep", "k", "direction", "Ap (A)", "As (A)"):
        table.add_column(col)
    for ir in result.significant(threshold):
        table.add_row(ir.irrep, _fmt_k(ir.k), ir.direction, f"{ir.amplitude:.5f}",
                      f"{ir.amplitude_supercell:.5f}")
    table.add_row("total", "", "", f"{result.amplitude:.5f}", f"{result.amplitude_supercell:.5f}")
    console = Console()
    console.print(table)
    strain = ", ".join(f"{k}: {np.linalg.norm(v):.2e}" for k, v in result.strain_parts.items())
    console.print(f"strain (Biot, |part|): {strain or 'none'}")


def subgroups_command(
    structure: Annotated[Path, typer.Argument(help="Parent structure file.")],
    irrep: Annotated[
        list[str], typer.Option("--irrep", help="Irrep label, e.g. R4+ (repeat for coupled irreps).")
    ],
    origin: Annotated[int | None, typer.Option(help=_ORIGIN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Isotropy subgroups of the parent for one or more irreps."""
    from .isotropy import isotropy_subgroups

    atoms = read_structure(structure)
    groups = _run(isotropy_subgroups, atoms, list(irrep), origin_index=origin)
    rows = [
        {
            "direction": g.direction,
            "space_group_number": int(g.space_group_number),
            "space_group_symbol": str(g.space_group_symbol),
            "supercell_matrix": np.asarray(g.supercell_matrix).tolist(),
        }
        for g in groups
    ]
    if as_json:
        _echo_json(rows)
        return
    table = Table(title=f"{structure.name}: isotropy subgroups of {' + '.join(irrep)}")
    for col in ("direction", "space group", "#", "supercell"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["direction"], r["space_group_symbol"], str(r["space_group_number"]),
                      str(r["supercell_matrix"]))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``irreps``, ``decompose`` and ``subgroups`` commands to ``app``."""
    app.command("irreps")(irreps_command)
    app.command("decompose")(decompose_command)
    app.command("subgroups")(subgroups_command)
