"""``ase-symbreak environments``: coordination polyhedra, e3nn invariants and octahedral tilts
of every site orbit of a structure (and, with ``--parent``, what the structure did to the
parent's sites).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import REJECTED, echo_json, exit_on, read_structure

__all__ = ["environments_command"]


def environments_command(
    structure: Annotated[Path, typer.Argument(help="Structure file (any ase.io format).")],
    cutoff: Annotated[
        float, typer.Option(help="Neighbour cutoff of the invariants, Angstrom.")
    ] = 5.0,
    lmax: Annotated[int, typer.Option(help="Largest l of the spherical harmonics (0-8).")] = 4,
    parent: Annotated[
        Path | None,
        typer.Option(help="Parent structure: also compare each parent site orbit's polyhedron."),
    ] = None,
    symprec: Annotated[float, typer.Option(help="Symmetry tolerance, Angstrom.")] = 1e-3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Site environments: polyhedra (shape measure), power spectrum and bispectrum (e3nn), \
Glazer tilts of perovskites.
    """
    from rich.console import Console

    from ase_symbreak.environments.sites import environment_changes, structure_environments
    from ase_symbreak.validation import check_symprec

    from ._tables import environment_changes_table, environments_table

    atoms = read_structure(structure)
    parent_atoms = None if parent is None else read_structure(parent)
    with exit_on(ValueError, code=REJECTED):
        check_symprec(symprec)
        report = structure_environments(atoms, cutoff=cutoff, lmax=lmax, symprec=symprec)
        changes = (
            None if parent_atoms is None else environment_changes(parent_atoms, atoms, symprec)
        )
    if changes is not None:
        report["parent_sites"] = [c.to_dict() for c in changes]
    if as_json:
        echo_json(report)
        return
    console = Console()
    console.print(environments_table(report, atoms))
    tilt = report["perovskite"]
    if tilt is not None:
        angles = " / ".join(f"{a:.2f}" for a in tilt["tilt_angles_deg"])
        console.print(
            f"perovskite: tilts {tilt['glazer']} ({angles} deg; per axis x y z: "
            f"{tilt['glazer_axes']}), B off-centring {tilt['b_off_centring_angstrom']:.3f} A, "
            f"B-X bond distortion {tilt['b_bond_distortion_index']:.4f}",
            highlight=False,
        )
    if changes is not None:
        console.print(environment_changes_table(report["parent_sites"]))
