"""Structures along a phonon mode, as phonopy's ``--modulation`` writes them: the supercell
displaced by ``Ap * pattern`` at chosen amplitudes, an extxyz trajectory per mode that ASE's
GUI and OVITO play as a film.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from .records import ModeSet, PhononModes

__all__ = ["mode_modulation", "write_modulations"]

#: Default amplitudes ``Ap`` (Angstrom per parent cell, ISODISTORT's normalisation).
AMPLITUDES = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)


def mode_modulation(
    modes: PhononModes,
    mode: ModeSet,
    amplitudes: Sequence[float] = AMPLITUDES,
    partner: int = 0,
) -> list[Atoms]:
    """The supercell of ``modes`` displaced along partner ``partner`` of ``mode`` at each
    ``Ap`` in ``amplitudes`` (Angstrom: the root-mean-square displacement summed over a parent
    cell's atoms, as ISODISTORT and :func:`~ase_symbreak.symmetry.decompose` measure it).

    Each frame's ``info`` holds ``irrep``, ``q``, ``frequency_thz``, ``partner`` and
    ``amplitude_angstrom``.
    """
    if modes.supercell is None or mode.displacements is None:
        raise ValueError(
            f"mode {mode.irrep} at {mode.q_label} has no displacement pattern (kept only for "
            "soft modes: PhononModes.keep_patterns)"
        )
    if not 0 <= partner < len(mode.displacements):
        raise ValueError(f"partner must be in 0..{len(mode.displacements) - 1}, got {partner}")
    amps = [float(a) for a in amplitudes]
    if not amps or not all(np.isfinite(amps)):
        raise ValueError(f"amplitudes must be finite numbers (Angstrom), got {list(amplitudes)}")
    pattern = np.asarray(mode.displacements[partner], dtype=float)
    if modes.unitcell is None:  # a record decoded without it; len(None) failed here before
        raise ValueError(f"modes at {mode.q_label} have no unit cell (PhononModes.unitcell)")
    n_cells = len(modes.supercell) / len(modes.unitcell)
    pattern = pattern / np.sqrt((pattern**2).sum() / n_cells)  # Ap = 1 Angstrom
    frames = []
    for a in amps:
        frame = modes.supercell.copy()
        frame.calc = None
        frame.positions += a * pattern
        frame.info.update(
            irrep=mode.irrep,
            q=[float(x) for x in mode.q],
            frequency_thz=float(mode.frequency_thz),
            partner=int(partner),
            amplitude_angstrom=a,
        )
        frames.append(frame)
    return frames


def write_modulations(
    modes: PhononModes,
    folder: str | os.PathLike,
    amplitudes: Sequence[float] = AMPLITUDES,
    which: Sequence[ModeSet] | None = None,
) -> list[Path]:
    """One ``modulation_<irrep>_<q>.extxyz`` per mode of ``which`` (default: every mode with
    a pattern) in ``folder``; returns the paths.
    """
    import re

    from ase.io import write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for mode in which if which is not None else modes.modes:
        if mode.displacements is None:
            continue
        frames = mode_modulation(modes, mode, amplitudes)
        name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"modulation_{mode.irrep}_{mode.q_label}")
        path = folder / f"{name}.extxyz"
        tmp = path.with_name(f".{path.name}.tmp")
        write(tmp, frames, format="extxyz")
        os.replace(tmp, path)  # a reader never sees half a file
        paths.append(path)
    return paths
