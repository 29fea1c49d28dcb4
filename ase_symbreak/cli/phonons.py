"""``ase-symbreak phonons STRUCTURE``: labelled phonons from the model's exact Hessian.

Reads the structure (a file that cannot be read exits with code 2 and a one-line message),
computes the force constants from the calculator's exact Hessian (phonopy's finite
displacements for a calculator without one) with a progress bar over the Hessian rows or
force calculations (:class:`ase_symbreak.phonons.Phonons` does the work), and prints the labelled
modes as a rich table or, with ``--json``, JSON. phonopy's ``phonopy_params.yaml`` (the force
constants included) goes into an output folder: ``--out``, by default ``STEM_phonons`` in the
current directory (``STEM_phonons_2``, ... when that exists, so another run's files are never
replaced), or to ``--phonopy-yaml``; ``--no-files`` writes none. A rejected input
(:class:`ValueError`, e.g. a singular supercell matrix or an element the model does not know)
exits with code 1; a model file that cannot be loaded exits with code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    BAD_INPUT,
    REJECTED,
    AllowCodeOption,
    DeviceOption,
    HessianDtypeOption,
    check_supercell_atoms,
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
            help="Model: .safetensors file, sevenn .pth or name (default: embedded SevenNet-0); "
            "a MACE .model file (needs mace-torch); with --allow-code-models an import path "
            "package.module:factory of any ASE calculator (e.g. ase.calculators.emt:EMT), "
            "whose phonons come from finite displacements unless it has a Hessian."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also plot the band structure with irrep labels (.png or .pdf)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder of phonopy_params.yaml (force constants; phonopy.load reads "
            "it). Default: STRUCTURE-NAME_phonons in the current directory, or a new "
            "STRUCTURE-NAME_phonons_N when that exists (another run's files are never replaced).",
        ),
    ] = None,
    phonopy_yaml: Annotated[
        Path | None,
        typer.Option(
            "--phonopy-yaml",
            help="Write phonopy's phonopy_params.yaml to this file instead (no output folder "
            "then, unless --out is given).",
        ),
    ] = None,
    no_files: Annotated[
        bool,
        typer.Option(
            "--no-files",
            help="Write no phonopy_params.yaml (only the files --plot, --force-constants, "
            "--pymatgen name).",
        ),
    ] = False,
    force_constants: Annotated[
        Path | None,
        typer.Option(
            "--force-constants",
            help="Also write the force constants in phonopy's FORCE_CONSTANTS format (eV/A^2).",
        ),
    ] = None,
    thermal: Annotated[
        bool,
        typer.Option(
            "--thermal",
            help="Also print the DOS-based harmonic free energy, entropy and heat capacity "
            "(phonopy's mesh; imaginary modes are left out and counted).",
        ),
    ] = False,
    pymatgen: Annotated[
        Path | None,
        typer.Option(
            "--pymatgen",
            help="Write pymatgen's PhononBandStructureSymmLine (standard path) and PhononDos "
            "as JSON here ({'band_structure': ..., 'dos': ...}, MontyDecoder reads it).",
        ),
    ] = None,
    displacement: Annotated[
        float,
        typer.Option(
            help="Finite-displacement amplitude (Angstrom) for a calculator without an exact "
            "Hessian.",
        ),
    ] = 0.01,
    device: DeviceOption = "cpu",
    hessian_dtype: HessianDtypeOption = "float64",
    allow_code_models: AllowCodeOption = False,
) -> None:
    """Phonon modes at Gamma and every commensurate q, labelled by irrep (exact Hessian).

    The structure is used as given, not relaxed (``ase-symbreak search`` relaxes first); the
    largest force is printed so that you can tell.
    """
    from ase_symbreak.workflows.storage import model_description

    atoms = read_structure(structure)
    _checked_outputs(supercell, plot, phonopy_yaml, force_constants, pymatgen)
    if no_files and (out is not None or phonopy_yaml is not None):
        fail(
            "--no-files writes no phonopy_params.yaml: leave out --out / --phonopy-yaml",
            code=BAD_INPUT,
        )
    replaced = False
    if phonopy_yaml is None and not no_files:
        folder = output_folder(structure, out)
        phonopy_yaml = folder / "phonopy_params.yaml"
        replaced = phonopy_yaml.exists()
    check_supercell_atoms(atoms, supercell)
    if not displacement > 0:
        fail(f"--displacement must be a positive length, got {displacement}", code=BAD_INPUT)
    calc = load_calculator(model, device, allow_code_models, hessian_dtype)
    calculation, modes = _labelled_phonons(
        atoms, calc, supercell, origin, quiet=as_json, displacement=displacement
    )
    largest_force = _largest_force(atoms, calc)
    with exit_on(OSError, code=BAD_INPUT, prefix="cannot write the output files: "):
        written = _write_phonopy_files(calculation, phonopy_yaml, force_constants)
    dos = calculation.dos() if (plot is not None or pymatgen is not None) else None
    band_path = _band_path(calculation)
    if plot is not None:
        formula = atoms.get_chemical_formula(mode="metal", empirical=True)
        calculation.plot(plot, title=f"{formula} ({structure.name})", dos=dos)
    if pymatgen is not None:
        written["pymatgen"] = _write_pymatgen(calculation, dos, pymatgen)
    thermo = calculation.thermal_properties() if thermal else None
    if as_json:
        echo_json(
            {
                **modes.summary(),
                "model": model_description(calc),
                **_json_outcome(band_path, thermo, largest_force, written),
            }
        )
        return
    from rich.console import Console

    console = Console()
    title = f"{structure.name}: phonon modes, supercell {list(supercell)}"
    _print_modes(console, modes, title, origin)
    console.print(f"force constants: {_how(calculation)}", highlight=False)
    _print_outcome(console, band_path, plot, thermo, largest_force, written, replaced)


#: The most ``STEM_phonons_N`` folders tried before giving up (then ``--out`` names one).
MAX_DEFAULT_FOLDERS = 1000


def output_folder(structure: Path, out: Path | None) -> Path:
    """Where ``phonopy_params.yaml`` goes: ``out`` (exit 2 unless it is or can be a writable
    folder), else ``STEM_phonons`` in the current directory, or the first free
    ``STEM_phonons_N`` when that exists: a default never replaces another run's files.
    """
    from ase_symbreak.workflows.storage import safe_filename

    if out is not None:
        return writable_folder(out, "--out")
    stem = safe_filename(structure.stem or structure.name).strip("._") or "structure"
    base = Path(f"{stem}_phonons")
    for n in range(1, MAX_DEFAULT_FOLDERS + 1):
        candidate = base if n == 1 else Path(f"{base}_{n}")
        if not os.path.lexists(candidate):
            return writable_folder(candidate, "the output folder")
    fail(
        f"{base} and {base}_2 ... {base}_{MAX_DEFAULT_FOLDERS} all exist; name a folder with --out",
        code=BAD_INPUT,
    )


def _checked_outputs(
    supercell: tuple[int, int, int],
    plot: Path | None,
    phonopy_yaml: Path | None,
    force_constants: Path | None,
    pymatgen: Path | None,
) -> None:
    """Exit 2 on a non-positive supercell, an unknown plot format or an output folder that
    cannot be written, before any work.
    """
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
    for path, option in (
        (phonopy_yaml, "--phonopy-yaml"),
        (force_constants, "--force-constants"),
        (pymatgen, "--pymatgen"),
    ):
        if path is not None:
            writable_folder(path.parent if str(path.parent) else Path("."), option)


def _how(calculation) -> str:
    """How the force constants were found, for the table's footer."""
    if calculation.force_constants_method == "finite displacements":
        return f"finite displacements of {calculation.displacement:g} A (no exact Hessian)"
    return str(calculation.force_constants_method)


def _labelled_phonons(
    atoms, calc, supercell, origin: int | None, quiet: bool, displacement: float = 0.01
):
    """``(Phonons, PhononModes)``: the force constants (a bar over the Hessian rows or force
    calculations on stderr, unless ``quiet`` and stderr is not a terminal), the labelled
    modes, and the dispersion check between the supercell's q points attached; a rejected
    input exits 1.
    """
    import dataclasses

    from rich.console import Console

    from ase_symbreak.phonons import Phonons

    err = Console(stderr=True)
    with exit_on(ValueError, code=REJECTED):
        calculation = Phonons(
            atoms, calc, supercell, origin_index=origin, displacement=displacement
        )
        from ase_symbreak.hessian.any_calculator import exact_hessian_of

        what = "exact Hessian rows" if exact_hessian_of(calc) else "displaced-cell force calls"
        with hessian_bar(err, disable=quiet and not err.is_terminal, what=what) as progress:
            calculation.run(progress=progress)
        modes = calculation.modes
    if calculation.n_cells > 1:  # the dispersion between the supercell's q points
        modes = dataclasses.replace(modes, dispersion=calculation.dispersion_check())
    return calculation, modes


def _origin_text(modes, requested: int | None) -> str:
    """'labels at origin (0, 0, 0) = atom 1 (Ti): perovskite B site, ...': the origin the
    labels refer to (a point of the ITA standard setting; an atom sits on it or not), as
    ``irreps`` and ``decompose`` print it (``requested``: the ``--origin`` given, or None).
    """
    from ase_symbreak.symmetry.origin import label_origin

    try:
        origin = label_origin(modes.unitcell, requested)
    except ValueError:  # pragma: no cover - the labels were computed with this origin
        atom = modes.unitcell[modes.origin_index].symbol
        return f"labels at origin atom {modes.origin_index} ({atom})"
    return f"labels at {origin.describe(modes.unitcell)}"


def _print_modes(console, modes, title: str, requested: int | None) -> None:
    """The table of labelled modes, the unstable ones and the off-grid warning."""
    from ._tables import phonon_modes_table

    console.print(phonon_modes_table(modes, title=f"{title}, {_origin_text(modes, requested)}"))
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


def _print_outcome(
    console, band_path, plot, thermo, largest_force: float, written, replaced: bool = False
) -> None:
    """The band path, the plot and files written (``replaced``: phonopy's yaml replaced an
    earlier file in ``--out``), the thermal table and the largest force.
    """
    from ._tables import thermal_table

    if band_path is not None:
        console.print(
            f"standard path ({band_path.source}): {band_path.text()}; "
            + ", ".join(p.describe() for p in band_path.points),
            highlight=False,
        )
    if plot is not None:
        console.print(f"band structure and DOS written to {plot}")
    if thermo is not None:
        console.print(thermal_table(thermo))
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
    for key, path in written.items():
        note = ""
        if key == "phonopy_yaml":
            note = " (force constants; phonopy.load reads it)"
            if replaced:
                note = note[:-1] + "; replaced the file of an earlier run)"
        console.print(f"written: {path}{note}", highlight=False, soft_wrap=True)


def _largest_force(atoms, calc) -> float:
    """Largest force on an atom of ``atoms`` (eV/A) with ``calc``."""
    from ase_symbreak.workflows.steps.common import max_force

    work = atoms.copy()
    work.calc = calc
    return max_force(work)


def _write_phonopy_files(calculation, phonopy_yaml: Path | None, fc_path: Path | None) -> dict:
    """phonopy's files of ``calculation``: ``{"phonopy_yaml": path, "force_constants": path}``;
    the yaml written atomically (a full disk leaves no half-written file).
    """
    from ase_symbreak.workflows.storage import atomic_write

    written = {}
    if phonopy_yaml is not None:
        phonopy_yaml.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(phonopy_yaml, calculation.save)
        written["phonopy_yaml"] = str(phonopy_yaml)
    if fc_path is not None:
        from phonopy.file_IO import write_FORCE_CONSTANTS

        fc_path.parent.mkdir(parents=True, exist_ok=True)
        write_FORCE_CONSTANTS(calculation.phonopy.force_constants, filename=str(fc_path))
        written["force_constants"] = str(fc_path)
    return written


def _band_path(calculation):
    """The standard band path named by the tables, or None when no path can be built."""
    import logging

    try:
        return calculation.band_path()
    except Exception as err:  # noqa: BLE001 - the path is extra information
        logging.getLogger(__name__).warning("no standard band path: %s", err)
        return None


def _write_pymatgen(calculation, dos, path: Path) -> str:
    """pymatgen's band structure (standard path) and DOS of ``calculation`` as JSON."""
    import json

    from monty.json import MontyEncoder

    from ase_symbreak.phonons import to_pymatgen_band_structure, to_pymatgen_dos

    bs = to_pymatgen_band_structure(calculation.band_structure(), calculation.phonopy)
    content = {"band_structure": bs, "dos": to_pymatgen_dos(dos)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, cls=MontyEncoder))
    return str(path)


def _json_outcome(band_path, thermo, largest_force: float, written: dict) -> dict:
    """The JSON keys after the modes and the model: input not relaxed, largest force, files,
    band path and (with ``--thermal``) the thermal summary.
    """
    return {
        "relaxed": False,
        "max_force_ev_per_angstrom": largest_force,
        "files": written,
        "band_path": None if band_path is None else band_path.summary(),
        **({} if thermo is None else {"thermal": _thermal_json(thermo)}),
    }


def _thermal_json(thermo) -> dict:
    """The thermal summary plus the values every 100 K (and 0 K)."""
    temps = [t for t in range(0, 1001, 100) if t <= float(max(thermo.temperatures_k))]
    return {**thermo.summary(), "table": [thermo.at(t) for t in temps]}
