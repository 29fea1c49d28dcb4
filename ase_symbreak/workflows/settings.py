"""Settings of the distortion search: the one place where its defaults live.

Steps, jobs and the CLI take a :class:`SearchSettings` (or read their defaults from
:data:`DEFAULTS`) instead of re-declaring keyword defaults.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ase_symbreak.codec import decode, encode
from ase_symbreak.symmetry.mapping import DEFAULT_MAX_STRAIN

__all__ = ["STEPS", "OPTIMIZERS", "SearchSettings", "DEFAULTS"]

#: Optimisers of the relaxation steps (:func:`~ase_symbreak.workflows.steps.relax`).
#: ``SearchSettings.supercell`` chosen for the cell when the search starts.
AUTO = "auto"

OPTIMIZERS = ("newton", "BFGS", "FIRE", "LBFGS", "BFGSLineSearch")

#: Step names, in order, as passed to ``progress`` and accepted by ``stop_after``.
STEPS = ("relax parent", "phonons", "soft modes", "condense", "relax children", "identify")


@dataclass(frozen=True)
class SearchSettings:
    """Settings of :func:`distortion_search` (all have defaults; units in the names).

    Attributes
    ----------
    supercell : 3 ints, 3x3 ints or "auto"
        Phonon supercell (q-points searched: Gamma and every commensurate q). Default
        ``"auto"``: chosen for the cell when the search starts
        (:func:`~ase_symbreak.phonons.supercell.auto_supercell`: the fewest cells, among
        superlattices invariant under the point group, non-diagonal ones included, with
        periodic images at least 7 A apart: 2x2x2 for a 3.9 A perovskite, the 16-atom cube
        for bcc Zr); the result's settings hold the matrix used.
    threshold_thz : float
        Modes below this frequency (THz, imaginary negative) are soft.
    relax_parent : bool
        Relax the parent first (``FixSymmetry``, cell included); energy gains are relative
        to it.
    parent_fmax, child_fmax : float
        Force criteria, eV/A.
    max_steps : int
        Optimiser step limit per relaxation.
    optimizer : str
        'newton' (Newton steps in the symmetric coordinates with their small Hessian,
        :mod:`~ase_symbreak.workflows.steps.newton`: 2.4x faster than BFGS on SrTiO3
        children, same energies), 'BFGS', 'FIRE', 'LBFGS' or 'BFGSLineSearch'.
    amplitudes : tuple[float, ...]
        ``Ap`` values of the amplitude scan, Angstrom.
    couple : bool
        Also condense pairs of soft irreps (e.g. R4+ with M3+ -> Pnma).
    max_params : int
        Skip order-parameter directions with more free parameters.
    max_children : int or None
        Count budget for candidates of coupled irrep pairs: single-irrep candidates come
        first, then at most this many pairs (largest scan gain first), all within
        ``max_candidates``; the ones left out are listed in ``skipped`` with the reason.
        None: all.
    min_gain_mev : float
        A candidate must lower the energy in the scan by more (meV per formula unit).
    symprec : float
        spglib tolerance, Angstrom.
    check_strain : bool
        Descent: a node stable at its supercell's q points is also checked against strain
        (relaxed-ion elastic tensor positive definite, :mod:`ase_symbreak.phonons.elastic`);
        a strain saddle is not called stable.
    follow_off_grid : bool
        Descent: a structure (parent or node) with no soft mode at its supercell's q points
        whose interpolated dispersion dips below the threshold between them has its phonons
        recomputed in the point-group-invariant supercell that holds the deepest dip
        (:mod:`~ase_symbreak.workflows.offgrid_follow`; at most
        :data:`~ase_symbreak.phonons.supercell.MAX_CELLS` cells and
        :data:`~ase_symbreak.workflows.offgrid_follow.MAX_FOLLOW_ATOMS` atoms): a real dip
        makes it unstable and it is searched again in that supercell; an artefact is
        recorded as checked. False: off-grid dips are only reported.
    max_strain, max_displacement : float
        Limits of the parent-child mapping when a relaxed child is decomposed into the
        parent's irreps: largest principal Biot strain of its cell (dimensionless; the
        least-strained lattice correspondence is used) and largest atomic displacement
        (Angstrom). Raise them for strongly strained children (monoclinic zirconia).
    child_symprec : float
        Tolerance (Angstrom) at which relaxed children are identified and symmetrised before
        their CIF is written (a relaxation to ``child_fmax`` leaves residual displacements
        of order 1e-3 A along soft directions).
    origin_index : int or None
        Parent atom at the origin for irrep labels (default: B site of a perovskite).
    plot : bool
        Write the phonon band structure plot.
    max_depth : int
        Descent to dynamic stability (:mod:`.descent`): every relaxed child gets its own
        labelled phonons and an unstable child is searched again, down to this many
        condensations from the parent (children at the limit are checked, not searched).
        0: one level, children not checked.
    child_supercell : 3 ints, 3x3 ints or None
        Phonon supercell of the children (of their primitive cells); None: the parent's
        ``supercell`` written in each child's cell, so that every child's phonons see the
        q points the parent's did (:func:`~ase_symbreak.workflows.descent.child_supercell`).
    random_trials : int
        Minima past barriers (:mod:`~ase_symbreak.workflows.random_trials`): this many
        random structures around the parent (a small symmetric supercell, strained and
        displaced at random with fixed seeds) are relaxed without symmetry, and their
        minima searched as nodes of the descent, beside the soft-mode children. Default 8;
        0: soft modes only. Needs ``max_depth >= 1``.
    max_candidates : int or None
        Work budget of each searched structure (the parent and every descent node): at
        most this many candidates are relaxed, most promising first (single-irrep
        candidates by scan gain, then coupled ones by scan gain); the rest are listed in
        ``skipped`` with the reason and make the result incomplete. Default 8. None: all.
    max_nodes : int or None
        Work budget of the descent: at most this many nodes are checked (their phonons,
        strain and, when unstable, their own children), lowest energy first; the rest are
        left with status "work budget". Default 6. None: no limit. Budgets count work,
        not seconds, so the same input gives the same answer on any machine and under
        any load; a rerun with a larger budget resumes from the folder.
    time_budget_s : float or None
        Optional wall-clock limit (seconds from the start of the search; default None):
        candidates not yet relaxed and nodes not yet checked when it runs out are left,
        with status "time budget", and the result says it is incomplete. The answer then
        depends on the machine's speed: prefer the work budgets; a rerun without the limit
        resumes the cut work.

    Examples
    --------
    >>> s = SearchSettings(supercell=(2, 2, 2), max_depth=1)
    >>> s.supercell, s.optimizer
    (((2, 0, 0), (0, 2, 0), (0, 0, 2)), 'newton')
    """

    supercell: tuple | str = AUTO
    threshold_thz: float = -0.1
    relax_parent: bool = True
    parent_fmax: float = 1e-3
    child_fmax: float = 1e-3
    max_steps: int = 300
    optimizer: str = "newton"
    amplitudes: tuple = (0.05, 0.1, 0.2, 0.3)
    couple: bool = True
    max_params: int = 2
    max_children: int | None = None
    min_gain_mev: float = 0.05
    symprec: float = 1e-3
    origin_index: int | None = None
    plot: bool = True
    child_symprec: float = 1e-2
    max_strain: float = DEFAULT_MAX_STRAIN
    check_strain: bool = True
    follow_off_grid: bool = True
    max_displacement: float = 1.0
    max_depth: int = 3
    child_supercell: tuple | None = None
    random_trials: int = 8
    max_candidates: int | None = 8
    max_nodes: int | None = 6
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        from ase_symbreak.phonons import supercell_matrix_3x3

        _check_field_types(self)
        if isinstance(self.supercell, str):
            if self.supercell != AUTO:
                raise ValueError(
                    f"supercell must be 3 integers, a 3x3 matrix or 'auto', got {self.supercell!r}"
                )
        else:
            sc = supercell_matrix_3x3(self.supercell)
            object.__setattr__(self, "supercell", tuple(tuple(int(x) for x in row) for row in sc))
        if self.child_supercell is not None:
            sc = supercell_matrix_3x3(self.child_supercell)
            object.__setattr__(
                self, "child_supercell", tuple(tuple(int(x) for x in row) for row in sc)
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if int(self.max_depth) != self.max_depth or self.max_depth < 0:
            raise ValueError(f"max_depth must be an integer >= 0, got {self.max_depth}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be positive or None, got {self.time_budget_s}")
        object.__setattr__(self, "amplitudes", tuple(float(a) for a in self.amplitudes))
        if not (math.isfinite(self.threshold_thz) and self.threshold_thz <= 0):
            raise ValueError(
                f"threshold_thz must be a finite number <= 0, got {self.threshold_thz}"
            )
        if not 0 < self.max_strain < 0.5:
            raise ValueError(f"max_strain must be in (0, 0.5), got {self.max_strain}")
        for name in ("parent_fmax", "child_fmax", "symprec", "child_symprec", "max_displacement"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if (
            not self.amplitudes
            or not all(math.isfinite(a) for a in self.amplitudes)
            or min(self.amplitudes) <= 0
        ):
            raise ValueError(f"amplitudes must be positive (Angstrom), got {list(self.amplitudes)}")
        if self.random_trials < 0:
            raise ValueError(f"random_trials must be >= 0, got {self.random_trials}")
        for name in ("max_candidates", "max_nodes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.max_children is not None and self.max_children < 0:
            raise ValueError(f"max_children must be >= 0 or None, got {self.max_children}")

    def for_structure(self, atoms) -> SearchSettings:
        """These settings with ``supercell="auto"`` resolved for ``atoms`` (unchanged when
        the supercell is given).
        """
        if self.supercell != AUTO:
            return self
        from ase_symbreak.phonons.supercell import auto_supercell

        return dataclasses.replace(self, supercell=auto_supercell(atoms, symprec=self.symprec))

    def to_dict(self) -> dict:
        return encode(self)

    @classmethod
    def from_dict(cls, d: dict) -> SearchSettings:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        return decode(cls, d, strict=True)


_SCALAR_TYPES = {
    "bool": (bool, np.bool_),
    "int": (numbers.Integral,),
    "float": (numbers.Real,),
    "str": (str,),
}


def _check_field_types(settings: SearchSettings) -> None:
    """``ValueError`` naming the field when a scalar setting has the wrong type (or is a NaN
    or infinite number).

    Recipes are TOML: ``relax_parent = "no"`` would be truthy and ``max_params = "two"``
    would loop; booleans are not numbers here, nor numbers booleans.
    """
    for f in dataclasses.fields(settings):
        kind, _, optional = str(f.type).partition(" | ")
        if kind not in _SCALAR_TYPES:
            continue
        value = getattr(settings, f.name)
        if value is None and optional == "None":
            continue
        allowed = _SCALAR_TYPES[kind]
        if not isinstance(value, allowed) or (
            kind != "bool" and isinstance(value, (bool, np.bool_))
        ):
            expected = {"float": "a number", "int": "an integer", "bool": "true or false"}.get(
                kind, "a string"
            )
            raise ValueError(f"{f.name} must be {expected}, got {value!r}")
        if kind == "float" and not math.isfinite(float(value)):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")


#: The default settings (steps take their keyword defaults from here).
DEFAULTS = SearchSettings()
