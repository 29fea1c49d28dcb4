"""Labelled phonons of the parent and its soft modes, as
:class:`~ase_symbreak.phonons.PhononModes`, computed by :class:`~ase_symbreak.phonons.Phonons`.

:func:`check_supercell` (the parent's point group must leave the supercell invariant) is
:func:`ase_symbreak.phonons.calculation.check_supercell`, re-exported for the search.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from ase import Atoms
from numpy.typing import ArrayLike

from ase_symbreak.phonons import OffGridInstabilityWarning, PhononModes, Phonons
from ase_symbreak.phonons.calculation import check_supercell
from ase_symbreak.protocols import Calculator

from .common import Progress

__all__ = ["check_supercell", "phonons", "soft_modes"]


def phonons(
    atoms: Atoms,
    calc: Calculator,
    supercell: ArrayLike = (2, 2, 2),
    origin_index: int | None = None,
    symprec: float = 1e-3,
    keep_patterns_below_thz: float = 0.5,
    plot: str | Path | None = None,
    save_phonopy: str | Path | None = None,
    progress: Progress | None = None,
    check_off_grid: bool = True,
    displacement: float = 0.01,
) -> PhononModes:
    """Labelled phonon modes of ``atoms`` (:func:`ase_symbreak.phonons.labelled_modes`).

    Any ASE calculator: its exact Hessian where it has one, phonopy's finite displacements
    and its forces otherwise; the record's ``force_constants_method`` says which.

    Parameters
    ----------
    supercell : (3,) or (3, 3) int
        Commensurate q-points: Gamma and every q with ``supercell @ q`` integer.
    keep_patterns_below_thz : float
        Keep eigenvectors and displacement patterns of modes below this frequency (THz) only.
    plot : path of a band-structure plot to write (optional).
    save_phonopy : path of a ``phonopy_params.yaml`` to write (optional).
    progress : ``progress(done, total)`` over the exact Hessian rows or force calculations.
    check_off_grid : bool
        Check the dispersion interpolated from the supercell force constants on a dense mesh
        and the band path (:func:`ase_symbreak.phonons.check_dispersion`, below -0.1 THz),
        attach it as ``dispersion`` and warn (``OffGridInstabilityWarning``) when it is
        unstable at q the supercell does not contain. Not done for a 1x1x1 supercell (its
        force constants hold Gamma only).
    displacement : float
        Finite-displacement amplitude (Angstrom) for a calculator without an exact Hessian.
    """
    calculation = Phonons(
        atoms,
        calc,
        supercell,
        origin_index=origin_index,
        symprec=symprec,
        displacement=displacement,
    )
    calculation.run(progress=progress)
    modes = calculation.modes
    if check_off_grid and calculation.n_cells > 1:  # a 1x1x1 cell knows Gamma only
        try:
            dispersion = calculation.dispersion_check()
        except Exception as err:  # an optional check must never lose the computed modes
            warnings.warn(f"off-grid dispersion check failed: {err}", stacklevel=2)
        else:
            modes = dataclasses.replace(modes, dispersion=dispersion)
            message = dispersion.warning()
            if message is not None:
                warnings.warn(message, OffGridInstabilityWarning, stacklevel=2)
    if plot is not None:
        try:
            calculation.plot(plot)  # titled "<formula> phonons"
        except Exception as err:  # a plot must never lose the computed modes
            warnings.warn(f"band-structure plot failed: {err}", stacklevel=2)
    if save_phonopy is not None:
        calculation.save(save_phonopy)
    return modes.keep_patterns(below_thz=keep_patterns_below_thz)


def soft_modes(phonon_result: PhononModes, threshold_thz: float = -0.1) -> PhononModes:
    """Irreps with a frequency below ``threshold_thz`` (THz, imaginary as negative).

    When an irrep occurs in several copies, its softest copy is kept
    (:meth:`PhononModes.soft`).
    """
    return phonon_result.soft(threshold_thz)
