"""Small typed records of the search: what were dicts in its results.

Each reads like the dict it replaces (``record["irrep"]``) so that scripts written against
the dicts keep working; new code uses the attributes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ase_symbreak.codec import Record, encode

__all__ = [
    "SCHEMA_VERSION",
    "ChildTimings",
    "IrrepRole",
    "NodeStatus",
    "OffGridFollow",
    "OffGridOutcome",
    "SkippedCandidate",
    "SoftestMode",
]

#: Version of the search's files (step JSONs, ``search.json``, ``result.json``): raised when
#: a record changes shape, so that files of an older version are recomputed or refused,
#: never misread. 2: typed records (this module), ``result.json``.
SCHEMA_VERSION = 2


class _ReadsLikeADict:
    """``record["name"]`` and ``record.get("name")`` for the fields of a record."""

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class IrrepRole(_ReadsLikeADict, Record):
    """One irrep of the parent in a relaxed child's distortion.

    Attributes
    ----------
    irrep : str
        Label, e.g. 'R4+'.
    amplitude : float
        ``Ap``, Angstrom (normalised to the parent cell).
    direction : str
        Order-parameter direction, e.g. '(a,0,0)'.
    role : str
        'primary' (condensed) or 'secondary' (appeared by coupling).
    """

    irrep: str
    amplitude: float
    direction: str
    role: str

    def summary(self) -> dict:
        """The entry of ``search.json`` (``amplitude_angstrom``)."""
        return {
            "irrep": self.irrep,
            "amplitude_angstrom": self.amplitude,
            "direction": self.direction,
            "role": self.role,
        }


@dataclass(frozen=True)
class SoftestMode(_ReadsLikeADict, Record):
    """The lowest labelled phonon mode of a structure.

    Attributes
    ----------
    irrep : str
    q_label : str
        'GM', 'R', ... (the irrep tables' name of the q point).
    q : tuple[float, float, float]
        Reduced coordinates of the primitive cell's reciprocal lattice.
    frequency_thz : float
        THz; imaginary frequencies negative.
    """

    irrep: str
    q_label: str
    q: tuple[float, ...]
    frequency_thz: float

    @classmethod
    def of(cls, modes) -> SoftestMode | None:
        """The softest of a :class:`~ase_symbreak.phonons.PhononModes` (None: no modes)."""
        if not modes.modes:
            return None
        m = min(modes.modes, key=lambda m: m.frequency_thz)
        return cls(
            irrep=m.irrep,
            q_label=m.q_label,
            q=tuple(float(x) for x in np.asarray(m.q, dtype=float)),
            frequency_thz=float(m.frequency_thz),
        )


@dataclass(frozen=True)
class SkippedCandidate(_ReadsLikeADict, Record):
    """A candidate that was not relaxed, or not kept, and why.

    Attributes
    ----------
    candidate : str
        Its name ('R4+ (a,0,0) I4/mcm').
    reason : str
    irreps, direction, space_group_symbol, scan_gain_mev_per_fu
        Of the candidate, where known (meV per formula unit).
    budget : str or None
        The setting whose budget left it unrelaxed (``"max_candidates"``,
        ``"max_children"``, ``"time_budget_s"``): work a rerun with a larger budget adds.
        None: it was relaxed and not kept (same minimum, back to the node's group), or it
        is a duplicate.
    duplicate_of : str or None
        The candidate relaxed in its place: the two scanned structures are one structure up
        to the parent's symmetry operations and lattice translations, so it was not relaxed
        again (None: not a duplicate).
    """

    candidate: str
    reason: str
    irreps: tuple[str, ...] = ()
    direction: str | None = None
    space_group_symbol: str | None = None
    scan_gain_mev_per_fu: float | None = None
    budget: str | None = None
    duplicate_of: str | None = None

    @classmethod
    def of(
        cls,
        candidate,
        reason: str,
        budget: str | None = None,
        duplicate_of: str | None = None,
    ) -> SkippedCandidate:
        """The record of a :class:`~.steps.condense.Candidate` left out, and why."""
        return cls(
            candidate=candidate.name,
            irreps=tuple(candidate.irreps),
            direction=candidate.direction,
            space_group_symbol=candidate.space_group_symbol,
            scan_gain_mev_per_fu=candidate.energy_gain_mev_per_fu,
            reason=reason,
            budget=budget,
            duplicate_of=duplicate_of,
        )

    def summary(self) -> dict:
        """The entry of ``search.json``: the fields that are known."""
        return {k: v for k, v in encode(self).items() if v not in (None, [])}


class NodeStatus(str, enum.Enum):
    """What the descent did with a node (``Node.status``; ``Node.status_detail`` says more)."""

    PENDING = "pending"
    STABLE = "stable"  # no soft mode at the q points of its phonon supercell
    SEARCHED = "searched"  # unstable, its soft modes condensed
    DEPTH_LIMIT = "depth limit"  # unstable, at max_depth: not searched
    TIME_BUDGET = "time budget"  # not checked: the wall-clock limit time_budget_s was spent
    WORK_BUDGET = "work budget"  # not checked: max_nodes nodes were checked before it
    STRAIN_UNSTABLE = "unstable to strain"  # stable phonons, but the elastic tensor is not
    #: no soft mode at its supercell's q points, but an off-grid dip of the interpolated
    #: dispersion could not be checked in the supercell that captures it (too large, ...)
    OFF_GRID_UNCHECKED = "stable at the computed q"
    FAILED = "failed"  # its search raised; the detail holds the error

    def __str__(self) -> str:
        return self.value


class OffGridOutcome(str, enum.Enum):
    """What the check of an off-grid dip in its capturing supercell found."""

    REAL = "real"  # an imaginary mode at that q in the capturing supercell
    ARTEFACT = "interpolation artefact"  # no mode below the threshold at that q
    NOT_CHECKED = "not checked"  # the reason says why (size limits, budget, failure)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class OffGridFollow(_ReadsLikeADict, Record):
    """The follow-up of the deepest off-grid dip of a structure stable at its supercell's
    q points: its phonons recomputed in the point-group-invariant supercell that holds the
    dip's star (:mod:`~ase_symbreak.workflows.offgrid_follow`).

    Attributes
    ----------
    q : tuple[float, float, float]
        The dip's q (reciprocal basis of the structure's cell).
    q_fraction : str or None
        ``'(0,0,1/3)'``; None for an incommensurate dip.
    interpolated_thz : float
        Its frequency interpolated from ``from_supercell`` (THz, negative).
    from_supercell : 3x3 ints
        The supercell whose force constants showed the dip.
    outcome : OffGridOutcome
        'real', 'interpolation artefact' or 'not checked' (``reason`` says why).
    supercell : 3x3 ints or None
        The capturing supercell (checked, or refused); None when the dip has none.
    n_atoms : int or None
        Atoms in ``supercell``.
    frequency_thz, irrep : float or None, str or None
        The lowest labelled mode at the star of ``q`` in ``supercell`` (THz).
    lowest_thz : float or None
        The lowest labelled mode at any q of ``supercell`` (THz).
    soft_elsewhere : tuple[str, ...]
        Other soft modes of ``supercell`` ('irrep at q_label'): instabilities at its other q.
    folder : str or None
        The check's search folder, relative to the search's ``out_dir``.
    reason : str
        Why it was not checked (empty otherwise).
    budget : str or None
        ``"time_budget_s"`` when the wall-clock limit left it unchecked (a rerun without
        the limit checks it); None otherwise.
    """

    q: tuple[float, ...]
    q_fraction: str | None
    interpolated_thz: float
    from_supercell: tuple[tuple[int, ...], ...]
    outcome: OffGridOutcome
    supercell: tuple[tuple[int, ...], ...] | None = None
    n_atoms: int | None = None
    frequency_thz: float | None = None
    irrep: str | None = None
    lowest_thz: float | None = None
    soft_elsewhere: tuple[str, ...] = ()
    folder: str | None = None
    reason: str = ""
    budget: str | None = None

    @property
    def checked(self) -> bool:
        return self.outcome != OffGridOutcome.NOT_CHECKED

    def dip_text(self) -> str:
        """'the off-grid dip at q=(0,0,1/3) (-9.57 THz interpolated from the 2x2x7 supercell)'."""
        q = self.q_fraction or "(" + ",".join(f"{x:.4f}" for x in self.q) + ")"
        return (
            f"the off-grid dip at q={q} ({self.interpolated_thz:.2f} THz interpolated from "
            f"the {matrix_text(self.from_supercell)} supercell)"
        )

    def supercell_text(self) -> str:
        """'supercell 1x1x3 (3 atoms)'."""
        atoms = "" if self.n_atoms is None else f" ({self.n_atoms} atoms)"
        return f"supercell {matrix_text(self.supercell)}{atoms}"

    def short(self) -> str:
        """A table cell: 'off-grid dip: artefact (1x1x3)', '... real (1x1x3)', '... not checked'."""
        if self.outcome == OffGridOutcome.NOT_CHECKED:
            return "off-grid dip not checked"
        kind = "real" if self.outcome == OffGridOutcome.REAL else "artefact"
        return f"off-grid dip: {kind} ({matrix_text(self.supercell)})"

    def describe(self) -> str:
        """One sentence on what was checked and what it found."""
        dip = self.dip_text()
        if self.outcome == OffGridOutcome.NOT_CHECKED:
            return f"{dip} not checked: {self.reason}"
        at = (
            f"{self.irrep} at {self.frequency_thz:.2f} THz there"
            if self.frequency_thz is not None
            else "no labelled mode matched its q"
        )
        text = f"{dip} checked in {self.supercell_text()}: "
        if self.outcome == OffGridOutcome.REAL:
            text += f"real ({at})"
        else:
            text += f"an interpolation artefact ({at})"
        if self.soft_elsewhere:
            text += f"; soft there at other q: {', '.join(self.soft_elsewhere)}"
        return text


def matrix_text(p) -> str:
    """'2x2x7' for a diagonal 3x3 supercell matrix, its rows otherwise ('?' for None)."""
    if p is None:
        return "?"
    a = np.asarray(p, dtype=int)
    if np.array_equal(a, np.diag(np.diag(a))):
        return "x".join(str(int(x)) for x in np.diag(a))
    return str(a.tolist())


@dataclass(frozen=True)
class ChildTimings(_ReadsLikeADict, Record):
    """Seconds of one child's relaxation and identification; ``loaded`` from its checkpoint."""

    relax: float = 0.0
    identify: float = 0.0
    loaded: bool = False
