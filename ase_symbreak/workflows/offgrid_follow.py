"""Following an off-grid dip: is a minimum between the supercell's q points real?

The labelled modes of a structure cover the q points commensurate with its phonon
supercell; :func:`~ase_symbreak.phonons.check_dispersion` also scans the dispersion
interpolated from the supercell force constants and reports unstable minima between those
q points, each with the point-group-invariant supercell that holds its star
(``OffGridInstability.symmetric_supercell``). Interpolation from a small supercell can make
such a dip up, or show a real one. For a structure with no soft mode at its own q points,
the deepest dip is settled here: the structure's phonons are recomputed in that supercell
(the plan of a search, :func:`~.search.level_steps`, in the structure's ``offgrid/``
folder, checkpointed like any search). At that q the modes are then labelled exactly:

- an imaginary mode there: the dip is real, the structure is unstable, and the same
  search condenses its soft modes in that supercell (children become nodes of the descent);
- none: the dip was an interpolation artefact, and the record says in which supercell it
  was checked.

The supercell is bounded by the limits the automatic supercell uses (at most
:data:`~ase_symbreak.phonons.supercell.MAX_CELLS` cells and :data:`MAX_FOLLOW_ATOMS` atoms,
and the package's atom limit); beyond them, or for an incommensurate dip, the dip is left
unchecked and the verdict says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from ase import Atoms

from ase_symbreak.phonons import DispersionCheck, OffGridInstability, PhononModes
from ase_symbreak.phonons.supercell import MAX_CELLS

from .records import OffGridFollow, OffGridOutcome, matrix_text
from .search_result import SearchResult
from .settings import SearchSettings

__all__ = [
    "MAX_FOLLOW_ATOMS",
    "OFFGRID_FOLDER",
    "deepest_dip",
    "follow_settings",
    "follow_supercell",
    "mode_at",
    "not_checked",
    "off_grid_verdict",
]

#: Most atoms in the supercell of an off-grid check: the cap of
#: :func:`~ase_symbreak.phonons.supercell.auto_supercell` (its ``max_atoms``).
MAX_FOLLOW_ATOMS = 200

#: Folder of a structure's off-grid check, inside the structure's search folder.
OFFGRID_FOLDER = "offgrid"

#: Fractional tolerance of "the same q" (as the dispersion check's).
_SAME_Q_TOL = 2e-3


def deepest_dip(check: DispersionCheck) -> OffGridInstability:
    """The softest off-grid minimum (the check lists them softest first)."""
    return min(check.instabilities, key=lambda i: i.frequency_thz)


def follow_supercell(atoms: Atoms, dip: OffGridInstability) -> tuple[tuple | None, str]:
    """The supercell that captures ``dip`` for ``atoms`` and ``''``, or the supercell (None
    when there is none) and why it is refused.
    """
    from ase_symbreak.validation import max_atoms

    sc = dip.symmetric_supercell
    if sc is None:
        note = f" ({dip.note})" if dip.note else ""
        return None, f"no commensurate supercell holds it{note}"
    cells = round(abs(np.linalg.det(np.asarray(sc, dtype=float))))
    n_atoms = cells * len(atoms)
    limit = min(MAX_FOLLOW_ATOMS, max_atoms())
    if cells > MAX_CELLS or n_atoms > limit:
        return sc, (
            f"its supercell {matrix_text(sc)} has {cells} cells, {n_atoms} atoms, beyond the "
            f"limits of an off-grid check ({MAX_CELLS} cells, {limit} atoms)"
        )
    return sc, ""


def follow_settings(settings: SearchSettings, supercell) -> SearchSettings:
    """The settings of the off-grid check of a structure searched with ``settings``: the
    capturing supercell, the structure taken as relaxed (its energy evaluated, not relaxed
    again), one level.
    """
    return dataclasses.replace(
        settings,
        supercell=supercell,
        relax_parent=False,
        max_depth=0,
        max_nodes=None,
        time_budget_s=None,
    )


def _same_q(a, b) -> bool:
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return bool(np.abs(d - np.round(d)).max() < _SAME_Q_TOL)


def mode_at(phonons: PhononModes, q) -> tuple[float, str] | None:
    """The lowest labelled mode (THz, irrep) whose star holds ``q`` or ``-q`` (reciprocal
    basis of the unit cell), None when no mode does.
    """
    found = []
    for m in phonons.modes:
        arms = np.atleast_2d(m.star if m.star is not None else m.q)
        if any(_same_q(arm, sign * np.asarray(q)) for arm in arms for sign in (1, -1)):
            found.append((float(m.frequency_thz), m.irrep))
    return min(found) if found else None


def not_checked(
    dip: OffGridInstability,
    from_supercell,
    reason: str,
    supercell=None,
    n_cell_atoms: int | None = None,
) -> OffGridFollow:
    """The record of a dip left unchecked, and why."""
    n_atoms = None
    if supercell is not None and n_cell_atoms is not None:
        n_atoms = round(abs(np.linalg.det(np.asarray(supercell, dtype=float)))) * n_cell_atoms
    return OffGridFollow(
        q=tuple(float(x) for x in dip.q),
        q_fraction=dip.q_fraction,
        interpolated_thz=float(dip.frequency_thz),
        from_supercell=tuple(tuple(int(x) for x in row) for row in np.asarray(from_supercell)),
        outcome=OffGridOutcome.NOT_CHECKED,
        supercell=None if supercell is None else _matrix(supercell),
        n_atoms=n_atoms,
        reason=reason,
    )


def _matrix(p) -> tuple:
    return tuple(tuple(int(x) for x in row) for row in np.asarray(p))


def off_grid_verdict(
    dip: OffGridInstability,
    from_supercell,
    checked: SearchResult,
    folder: str | None,
) -> OffGridFollow:
    """What the search ``checked`` (the structure in the capturing supercell) says about
    ``dip``: real when a mode at its q is below the threshold, else an artefact.
    """
    s = checked.settings
    at = mode_at(checked.phonons, dip.q)
    threshold = s.threshold_thz
    real = at is not None and at[0] < threshold
    lowest = min((float(m.frequency_thz) for m in checked.phonons.modes), default=None)
    elsewhere = tuple(
        f"{m.irrep} at {m.q_label} ({m.frequency_thz:.2f} THz)"
        for m in checked.soft_modes.modes
        if at is None or m.irrep != at[1]
    )
    return OffGridFollow(
        q=tuple(float(x) for x in dip.q),
        q_fraction=dip.q_fraction,
        interpolated_thz=float(dip.frequency_thz),
        from_supercell=_matrix(from_supercell),
        outcome=OffGridOutcome.REAL if real else OffGridOutcome.ARTEFACT,
        supercell=_matrix(s.supercell),
        n_atoms=len(checked.parent.atoms) * round(abs(np.linalg.det(np.asarray(s.supercell)))),
        frequency_thz=None if at is None else at[0],
        irrep=None if at is None else at[1],
        lowest_thz=lowest,
        soft_elsewhere=elsewhere,
        folder=folder,
    )
