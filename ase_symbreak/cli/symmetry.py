"""``ase-symbreak irreps``, ``decompose``, ``subgroups``: the symmetry tools on structure files.

Each command reads structures with :func:`ase_symbreak.structures.read_structure`, calls one
library function and prints a rich table or, with ``--json``, JSON on stdout. A file that
cannot be read exits with code 2 and a one-line message naming the file; an analysis that
rejects its input (:class:`ValueError`, e.g. a child that does not derive from the parent)
exits with code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import BAD_INPUT, REJECTED, echo_json, exit_on, fail, read_structure

__all__ = ["decompose_command", "irreps_command", "subgroups_command"]

_ORIGIN_HELP = (
    "Parent atom index put at the origin of the labels (used when it sits on an origin of "
    "the ITA standard setting). Default: the perovskite B site, else the cell's own origin "
    "when it is a standard origin, else the most symmetric atom on one, else spglib's "
    "standard origin."
)
_JSON_HELP = "Print JSON instead of a table."


#: largest supercell (atoms) the irreps command analyses; memory grows as its square
MAX_SUPERCELL_ATOMS = 1000


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
    import numpy as np
    from rich.console import Console

    from ase_symbreak.symmetry import displacement_modes

    from ._tables import irreps_table

    atoms = read_structure(structure)
    if any(n < 1 for n in supercell):
        fail(f"--supercell entries must be positive, got {list(supercell)}", code=BAD_INPUT)
    n_super = len(atoms) * supercell[0] * supercell[1] * supercell[2]
    if n_super > MAX_SUPERCELL_ATOMS:
        fail(
            f"--supercell {' '.join(map(str, supercell))} gives {n_super} atoms; the mode "
            f"analysis handles up to {MAX_SUPERCELL_ATOMS} (320 atoms take about a minute)",
            code=BAD_INPUT,
        )
    with exit_on(ValueError, code=REJECTED):
        rep = displacement_modes(atoms, supercell, origin_index=origin, symprec=symprec)
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
    origin_line = _origin_line(rep.origin, rep.parent, rep.origin_index)
    if as_json:
        echo_json(
            {
                "origin_index": rep.origin_index,
                **({"origin": rep.origin.to_dict(rep.parent)} if rep.origin else {}),
                "supercell": list(supercell),
                "irreps": rows,
            }
        )
        return
    console = Console()
    console.print(
        irreps_table(rows, f"{structure.name}: displacement irreps, supercell {supercell}")
    )
    console.print(origin_line)


def _origin_line(origin, atoms, index: int) -> str:
    """'labels at origin (0, 0, 0) = atom 1 (Ti): perovskite B site, ...' (the point
    fractional in the parent cell given).
    """
    if origin is None:
        return f"labels at origin atom {index} ({atoms[index].symbol})"
    return f"labels at {origin.describe(atoms)}"


def decompose_command(
    parent: Annotated[Path, typer.Argument(help="High-symmetry parent structure file.")],
    child: Annotated[Path, typer.Argument(help="Distorted child structure file.")],
    origin: Annotated[int | None, typer.Option(help=_ORIGIN_HELP)] = None,
    max_displacement: Annotated[
        float, typer.Option(help="Largest allowed atomic displacement, Angstrom.")
    ] = 1.0,
    max_strain: Annotated[
        float,
        typer.Option(
            help="Largest principal (Biot) strain of the child cell against the parent's; the "
            "lattice correspondence with the least strain is used."
        ),
    ] = 0.2,  # symmetry.mapping.DEFAULT_MAX_STRAIN (not imported: the CLI starts light)
    threshold: Annotated[
        float, typer.Option(help="Show irreps with amplitude above this, Angstrom.")
    ] = 1e-4,
    symprec: Annotated[float, typer.Option(help="Symmetry tolerance, Angstrom.")] = 1e-3,
    isodistort: Annotated[
        Path | None,
        typer.Option(
            help="Also write the amplitudes as ISODISTORT lists them ([k]irrep(direction) As "
            "Ap, strain) to this text file."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Decompose CHILD's distortion into irreps of PARENT (ISODISTORT amplitudes)."""
    from rich.console import Console

    from ase_symbreak.symmetry import decompose

    from ._tables import decompose_table

    p_atoms, c_atoms = read_structure(parent), read_structure(child)
    with exit_on(ValueError, code=REJECTED):
        result = decompose(
            p_atoms,
            c_atoms,
            origin_index=origin,
            symprec=symprec,
            max_displacement=max_displacement,
            max_strain=max_strain,
        )
    if isodistort is not None:
        isodistort.write_text(result.isodistort_text(threshold))
    if as_json:
        echo_json(result.to_dict(threshold))
        return
    console = Console()
    if isodistort is not None:
        console.print(f"ISODISTORT-style amplitudes written to {isodistort}")
    console.print(
        decompose_table(
            result,
            threshold,
            f"{child.name} from {parent.name}: supercell {result.supercell_matrix.tolist()}",
        )
    )
    console.print(_origin_line(result.origin, result.mapping.parent, result.origin_index))
    strain = ", ".join(
        f"{m.irrep} ({m.point_group_label}) {m.amplitude:.2e}" for m in result.strain_modes
    )
    principal = " ".join(f"{e:+.4f}" for e in result.principal_strains)
    console.print(f"strain (Biot U-1, |part|): {strain or 'none'}; principal strains {principal}")


def subgroups_command(
    structure: Annotated[Path, typer.Argument(help="Parent structure file.")],
    irrep: Annotated[
        list[str],
        typer.Option("--irrep", help="Irrep label, e.g. R4+ (repeat for coupled irreps)."),
    ],
    origin: Annotated[int | None, typer.Option(help=_ORIGIN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Isotropy subgroups of the parent for one or more irreps."""
    import numpy as np
    from rich.console import Console

    from ase_symbreak.symmetry import isotropy_subgroups
    from ase_symbreak.symmetry.origin import label_origin

    from ._tables import subgroups_table

    atoms = read_structure(structure)
    with exit_on(ValueError, code=REJECTED):
        groups = isotropy_subgroups(atoms, list(irrep), origin_index=origin)
        chosen = label_origin(atoms, origin)
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
        echo_json(rows)
        return
    title = f"{structure.name}: isotropy subgroups of {' + '.join(irrep)}"
    console = Console()
    console.print(subgroups_table(rows, title))
    console.print(_origin_line(chosen, atoms, chosen.index))
