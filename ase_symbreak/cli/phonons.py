"""``ase-symbreak phonons STRUCTURE``: labelled phonons from the model's exact Hessian.

Reads the structure (a file that cannot be read exits with code 2 and a one-line message),
computes the force constants from the model's exact Hessian with a progress bar over the
Hessian rows, and prints the labelled modes (:func:`ase_symbreak.phonons.labelled_modes`)
as a rich table or, with ``--json``, JSON. A rejected input (:class:`ValueError`, e.g. a
singular supercell matrix or an element the model does not know) exits with code 1; a
model file that cannot be loaded exits with code 2.
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
    hessian_bar,
    load_calculator,
    read_structure,
    writable_folder,
)

__all__ = ["phonons_command"]


def phonons_command(
    structure: Annotated[
        Path, typer.Argument(help="High-symmetry structure file (any ase.io format).")
    ],
    supercell: Annotated[
        tuple[int, int, int],
        typer.Option(help="Diagonal supercell N1 N2 N3; modes at every commensurate q."),
    ] = (2, 2, 2),
    origin: Annotated[
        int | None,
        typer.Option(
            help="Atom index put at the origin for the labels (default: B site of a perovskite)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model: .safetensors file, sevenn .pth or name (default: embedded SevenNet-0)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also plot the band structure with irrep labels (.png or .pdf)."),
    ] = None,
    phonopy_yaml: Annotated[
        Path | None,
        typer.Option(
            "--phonopy-yaml",
            help="Write phonopy's phonopy_params.yaml here (phonopy.load reads it); "
            "default: phonopy_params.yaml beside --plot, none without --plot.",
        ),
    ] = None,
    force_constants: Annotated[
        Path | None,
        typer.Option(
            "--force-constants",
            help="Also write the force constants in phonopy's FORCE_CONSTANTS format (eV/A^2).",
        ),
    ] = None,
    device: DeviceOption = "cpu",
    allow_code_models: AllowCodeOption = False,
) -> None:
    """Phonon modes at Gamma and every commensurate q, labelled by irrep (exact Hessian).

    The structure is used as given, not relaxed (``ase-symbreak search`` relaxes first); the
    largest force is printed so that you can tell.
    """
    import dataclasses

    import numpy as np
    from rich.console import Console

    from ase_symbreak.phonons import (
        check_dispersion,
        labelled_modes,
        phonopy_from_calculator,
        plot_band_structure,
    )
    from ase_symbreak.workflows.storage import model_description

    from ._tables import phonon_modes_table

    atoms = read_structure(structure)
    if any(n < 1 for n in supercell):
        fail(
            f"--supercell entries must be positive integers, got {list(supercell)}", code=BAD_INPUT
        )
    if plot is not None:
        import matplotlib.pyplot as plt

        formats = plt.gcf().canvas.get_supported_filetypes()
        plt.close()
        if plot.suffix.lstrip(".").lower() not in formats:
            fail(
                f"--plot {plot}: unknown image format {plot.suffix or '(none)'}; "
                f"use one of {', '.join('.' + f for f in sorted(formats))}",
                code=BAD_INPUT,
            )
    if phonopy_yaml is None and plot is not None:
        phonopy_yaml = plot.parent / "phonopy_params.yaml"
    for path, option in ((phonopy_yaml, "--phonopy-yaml"), (force_constants, "--force-constants")):
        if path is not None:
            writable_folder(path.parent if str(path.parent) else Path("."), option)
    calc = load_calculator(model, device, allow_code_models)
    err = Console(stderr=True)
    with exit_on(ValueError, code=REJECTED):
        with hessian_bar(err, disable=as_json and not err.is_terminal) as progress:
            phonon = phonopy_from_calculator(atoms, calc, supercell, progress=progress)
        modes = labelled_modes(atoms, phonon, supercell, origin_index=origin)
    if abs(round(np.prod(supercell))) > 1:  # the dispersion between the supercell's q points
        modes = dataclasses.replace(modes, dispersion=check_dispersion(phonon, np.diag(supercell)))
    largest_force = _largest_force(atoms, calc)
    written = _write_phonopy_files(phonon, phonopy_yaml, force_constants)
    if plot is not None:
        plot_band_structure(
            phonon,
            modes,
            plot,
            title=f"{atoms.get_chemical_formula(mode='metal', empirical=True)} ({structure.name})",
        )
    if as_json:
        echo_json(
            {
                **modes.summary(),
                "model": model_description(calc),
                "relaxed": False,
                "max_force_ev_per_angstrom": largest_force,
                "files": written,
            }
        )
        return
    console = Console()
    origin_atom = f"{modes.origin_index} ({atoms[modes.origin_index].symbol})"
    console.print(
        phonon_modes_table(
            modes,
            title=f"{structure.name}: phonon modes, supercell "
            f"{list(supercell)}, origin atom {origin_atom}",
        )
    )
    unstable = modes.unstable()
    if unstable:
        console.print(
            "unstable: "
            + ", ".join(
                f"{m.q_label} {m.irrep} ({abs(m.frequency_thz):.2f}i THz)" for m in unstable
            )
        )
    off_grid = None if modes.dispersion is None else modes.dispersion.warning()
    if off_grid is not None:
        console.print(off_grid, highlight=False, markup=False)
    if plot is not None:
        console.print(f"band structure written to {plot}")
    note = (
        ""
        if largest_force < 0.01
        else (
            " - not relaxed: imaginary modes may come from the residual forces; "
            "ase-symbreak search relaxes first"
        )
    )
    console.print(
        f"structure used as given (largest force {largest_force:.4f} eV/A){note}",
        highlight=False,
    )
    for path in written.values():
        console.print(f"written: {path}", highlight=False)
    if "phonopy_yaml" not in written:
        console.print("(--phonopy-yaml PATH writes the force constants for phonopy.load)")


def _largest_force(atoms, calc) -> float:
    """Largest force on an atom of ``atoms`` (eV/A) with ``calc``."""
    from ase_symbreak.workflows.steps.common import max_force

    work = atoms.copy()
    work.calc = calc
    return max_force(work)


def _write_phonopy_files(phonon, phonopy_yaml: Path | None, fc_path: Path | None) -> dict:
    """phonopy's files of ``phonon``: ``{"phonopy_yaml": path, "force_constants": path}``."""
    written = {}
    if phonopy_yaml is not None:
        phonopy_yaml.parent.mkdir(parents=True, exist_ok=True)
        phonon.save(str(phonopy_yaml))
        written["phonopy_yaml"] = str(phonopy_yaml)
    if fc_path is not None:
        from phonopy.file_IO import write_FORCE_CONSTANTS

        fc_path.parent.mkdir(parents=True, exist_ok=True)
        write_FORCE_CONSTANTS(phonon.force_constants, filename=str(fc_path))
        written["force_constants"] = str(fc_path)
    return written
