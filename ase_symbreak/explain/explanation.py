"""``explain``: from one distorted structure to its parent, its order parameters and energies.

1. The parent: given (a file or ``Atoms``), chosen by space-group number among the
   supergroups within reach, or the aristotype of :func:`~.parents.find_parents`.
2. The decomposition: :func:`~ase_symbreak.symmetry.decompose` (irrep, k, direction, ``Ap``
   and ``As``, strain by irrep), then the roles of :func:`~.roles.assign_roles` (primary,
   secondary), each irrep's isotropy subgroup and the chain of groups, and Glazer tilts
   for a perovskite parent.
3. With a calculator: :func:`~.energies.mode_energies` (each mode alone, the primaries, all
   modes, the child; the coupling).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.progress import SearchProgress
from ase_symbreak.symmetry.decompose import ModeDecomposition, decompose
from ase_symbreak.symmetry.idealize import idealize
from ase_symbreak.symmetry.mapping import map_to_parent
from ase_symbreak.symmetry.spacegroup import (
    analyze,
    perovskite_b_site,
    primitive_structure,
    spglib_dataset,
    to_atoms,
)

from .energies import DEFAULT_POINTS, EnergyBreakdown, mode_energies
from .parent_phonons import ParentPhonon, parent_phonons
from .parents import (
    CHILD_SYMPREC,
    DEFAULT_MAX_DISPLACEMENT,
    ParentCandidate,
    _standard_conventional,
    find_parents,
    intermediate_parent,
    primitive_of,
    quiet_spglib,
)
from .roles import GroupStep, IrrepRoles, assign_roles, group_of, irrep_fields

__all__ = ["DEFAULT_THRESHOLD", "ExplainedMode", "Explanation", "StrainPart", "explain"]

#: Irreps with a smaller amplitude (Ap, Angstrom) are not given a role (noise of a
#: refinement or a relaxation is spread over every irrep at about this level).
DEFAULT_THRESHOLD = 0.01
#: Relative size below which an order-parameter component counts as zero in the
#: direction strings: a few mA of noise on a part of 0.05 A is 5 %.
DIRECTION_TOL = 0.05


@dataclass(frozen=True)
class ExplainedMode(Record):
    """One irrep of the parent in the child's distortion, with its role.

    Attributes
    ----------
    irrep : str
        Label at the decomposition's origin (``GM4-``, ``R4+``, ...).
    k : NDArray
        ``(3,)`` wave vector, reciprocal basis of the parent's conventional cell.
    direction : str
        Canonical order-parameter direction, ``(a,0,0)``.
    domain_direction : str
        The direction of this child's domain.
    amplitude : float
        ``Ap``, Angstrom per parent primitive cell.
    amplitude_supercell : float
        ``As``, Angstrom over the child's primitive cell.
    role : str
        ``"primary"`` or ``"secondary"``.
    isotropy : GroupStep
        The space group of the parent displaced by this irrep's part alone.
    dim, multiplicity : int
        Order-parameter dimension and copies in the displacement representation.
    """

    irrep: str
    k: NDArray
    direction: str
    domain_direction: str
    amplitude: float
    amplitude_supercell: float
    role: str
    isotropy: GroupStep
    dim: int
    multiplicity: int


@dataclass(frozen=True)
class StrainPart(Record):
    """One irrep of the strain (Gamma label and point-group label), its size."""

    irrep: str
    point_group_label: str
    amplitude: float


@dataclass(frozen=True)
class Explanation(Record):
    """Everything :func:`explain` found about one distorted structure.

    Attributes
    ----------
    child_space_group_number, child_space_group_symbol
        The child's group (at :data:`CHILD_SYMPREC`).
    parent : ParentCandidate
        The parent used.
    candidates : tuple[ParentCandidate, ...]
        Every supergroup within reach, aristotype first (empty when the parent was given).
    origin_index : int
        Atom of the parent's primitive cell at the origin of the labels.
    supercell_matrix : NDArray
        ``(3, 3)`` the child's primitive cell = ``supercell_matrix @ parent.structure.cell``
        (the conventional cell; fractional entries where it is smaller, as ISODISTORT
        writes its basis), before strain.
    modes : tuple[ExplainedMode, ...]
        The irreps above ``threshold``, largest first.
    amplitude, amplitude_supercell : float
        Total ``Ap`` and ``As``, Angstrom.
    below_threshold : float
        Root-sum-square ``Ap`` of the irreps below ``threshold``, Angstrom.
    strain : NDArray
        ``(3, 3)`` Biot strain, parent frame.
    strain_parts : tuple[StrainPart, ...]
    chain : tuple[GroupStep, ...]
        Parent, the groups as the primaries are switched on, then the child.
    glazer : str
        Glazer tilt system of a perovskite child ("" otherwise).
    energies : EnergyBreakdown or None
        With a calculator.
    parent_phonons : tuple[ParentPhonon, ...]
        With a calculator (and ``phonons=True``): the parent's labelled modes, lowest
        first, those the child carries marked.
    threshold : float
        Angstrom.
    """

    child_space_group_number: int
    child_space_group_symbol: str
    parent: ParentCandidate
    candidates: tuple[ParentCandidate, ...]
    origin_index: int
    supercell_matrix: NDArray
    modes: tuple[ExplainedMode, ...]
    amplitude: float
    amplitude_supercell: float
    below_threshold: float
    strain: NDArray
    strain_parts: tuple[StrainPart, ...]
    chain: tuple[GroupStep, ...]
    glazer: str
    energies: EnergyBreakdown | None
    threshold: float
    parent_phonons: tuple[ParentPhonon, ...] = ()

    @property
    def primary(self) -> tuple[str, ...]:
        return tuple(m.irrep for m in self.modes if m.role == "primary")

    @property
    def secondary(self) -> tuple[str, ...]:
        return tuple(m.irrep for m in self.modes if m.role == "secondary")

    def __getitem__(self, irrep: str) -> ExplainedMode:
        for mode in self.modes:
            if mode.irrep == irrep:
                return mode
        raise KeyError(
            f"no irrep {irrep!r} above the threshold; have {self.primary + self.secondary}"
        )

    def summary(self) -> dict[str, Any]:
        """The JSON of ``ase-symbreak explain --json`` (Angstrom, meV per formula unit)."""
        out: dict[str, Any] = {
            "child": {
                "space_group_number": self.child_space_group_number,
                "space_group_symbol": self.child_space_group_symbol,
            },
            "parent": {
                "space_group_number": self.parent.space_group_number,
                "space_group_symbol": self.parent.space_group_symbol,
                "max_displacement_angstrom": self.parent.max_displacement,
                "max_strain": self.parent.max_strain,
                "formula": self.parent.structure.get_chemical_formula(),
            },
            "candidates": [
                {
                    "space_group_number": c.space_group_number,
                    "space_group_symbol": c.space_group_symbol,
                    "max_displacement_angstrom": c.max_displacement,
                    "max_strain": c.max_strain,
                }
                for c in self.candidates
            ],
            "origin_index": self.origin_index,
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "amplitude_angstrom": self.amplitude,
            "amplitude_supercell_angstrom": self.amplitude_supercell,
            "below_threshold_angstrom": self.below_threshold,
            "threshold_angstrom": self.threshold,
            "modes": [
                {
                    "irrep": m.irrep,
                    "k": np.round(np.asarray(m.k, dtype=float), 10).tolist(),
                    "direction": m.direction,
                    "domain_direction": m.domain_direction,
                    "amplitude_angstrom": m.amplitude,
                    "amplitude_supercell_angstrom": m.amplitude_supercell,
                    "role": m.role,
                    "isotropy_subgroup": m.isotropy.text(),
                    "isotropy_subgroup_number": m.isotropy.space_group_number,
                }
                for m in self.modes
            ],
            "strain": [
                {
                    "irrep": s.irrep,
                    "point_group_label": s.point_group_label,
                    "amplitude": s.amplitude,
                }
                for s in self.strain_parts
            ],
            "chain": [{"space_group": s.text(), "irreps": list(s.irreps)} for s in self.chain],
            "glazer": self.glazer or None,
        }
        if self.energies is not None:
            e = self.energies
            out["energies_mev_per_fu"] = {
                "model": e.model,
                "formula_units": e.formula_units,
                "child": e.child,
                "all_modes_no_strain": e.all_modes,
                "primaries_together": e.primaries,
                "coupling_of_primaries": e.coupling,
                "strain": e.strain,
                "modes": {
                    m.irrep: {
                        "alone": m.gain,
                        "unstable_in_parent": m.unstable_in_parent,
                        "scan": [[float(f), float(v)] for f, v in zip(m.fractions, m.energies)],
                    }
                    for m in e.modes
                },
            }
        if self.parent_phonons:
            out["parent_phonons"] = [
                {
                    "q": p.q_label,
                    "irrep": p.irrep,
                    "frequency_thz": p.frequency_thz,
                    "degeneracy": p.degeneracy,
                    "in_child": p.in_child,
                }
                for p in self.parent_phonons
            ]
        return out


def explain(
    child: Any,
    parent: Any = None,
    parent_group: int | None = None,
    calc: Any = None,
    max_displacement: float = DEFAULT_MAX_DISPLACEMENT,
    threshold: float = DEFAULT_THRESHOLD,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    points: int = DEFAULT_POINTS,
    model_name: str = "",
    phonons: bool = True,
    progress: SearchProgress | None = None,
) -> Explanation:
    """Explain a distorted structure: its parent, its modes and their roles, their energies.

    Parameters
    ----------
    child : ase.Atoms or pymatgen Structure
        The distorted structure, any setting, origin and atom order.
    parent : ase.Atoms or pymatgen Structure, optional
        The parent to use; default: found from the child.
    parent_group : int, optional
        Space-group number of the parent, among the supergroups within reach.
    calc : ase Calculator, optional
        Energies along the modes, of their combinations and of the child.
    max_displacement : float
        Largest atomic displacement from child to parent, Angstrom.
    threshold : float
        Irreps with a smaller ``Ap`` (Angstrom) get no role.
    origin_index : int, optional
        Parent atom at the origin of the labels (default as in :func:`decompose`).
    symprec : float
        Tolerance of the child's and the parent's groups, Angstrom.
    points : int
        Points of each mode's energy scan.
    model_name : str
        The calculator's name in the record (default: its class name).
    phonons : bool
        With a calculator, also the parent's labelled phonons with the child's modes marked.
    progress : callable, optional
        ``progress(step, done, total)`` for the steps "supergroups", "modes", "energies"
        and "parent phonons" (the command line's progress bars).

    Returns
    -------
    Explanation

    Raises
    ------
    ValueError
        No supergroup within reach, a parent the child does not derive from, bad options.

    Examples
    --------
    >>> from ase_symbreak.structures import cubic_perovskite
    >>> from ase_symbreak.symmetry import isotropy_subgroups
    >>> tilted = isotropy_subgroups(cubic_perovskite(3.9), "R4+", amplitude=0.2)[0].structure
    >>> e = explain(tilted)
    >>> e.parent.space_group_symbol, e.primary
    ('Pm-3m', ('R4+',))
    """
    with quiet_spglib():
        return _explain(
            child,
            parent,
            parent_group,
            calc,
            max_displacement,
            threshold,
            origin_index,
            symprec,
            points,
            model_name,
            phonons,
            progress,
        )


def _explain(
    child: Any,
    parent: Any,
    parent_group: int | None,
    calc: Any,
    max_displacement: float,
    threshold: float,
    origin_index: int | None,
    symprec: float,
    points: int,
    model_name: str,
    phonons: bool,
    progress: SearchProgress | None,
) -> Explanation:
    def step(name: str):
        """``progress(done, total)`` of one step, or None."""
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    if parent is not None and parent_group is not None:
        raise ValueError("give the parent or its space-group number, not both")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive number of Angstrom, got {threshold}")
    if parent_group is not None and not 1 <= int(parent_group) <= 230:
        raise ValueError(f"space group number must be in 1..230, got {parent_group}")
    child = to_atoms(child)
    candidates: tuple[ParentCandidate, ...] = ()
    if parent is not None:
        chosen = _given_parent(to_atoms(parent), symprec)
        found = _Analysis.of(chosen, child, origin_index, symprec, max_displacement, threshold)
    else:
        candidates = tuple(find_parents(child, max_displacement, progress=step("supergroups")))
        if not candidates:
            info = analyze(child, symprec)
            raise ValueError(
                f"no supergroup of {info.symbol} ({info.number}) within {max_displacement} A: "
                "the structure is its own aristotype at this reach (raise --max-displacement "
                "or give the parent)"
            )
        args = (child, origin_index, symprec, max_displacement, threshold)
        aristotype, found = _averaged(candidates[0], _Analysis.of(candidates[0], *args), args)
        candidates = _with_intermediates(
            (aristotype, *candidates[1:]), child, found, max_displacement
        )
        chosen = candidates[0]
        if parent_group is not None:
            chosen = _with_number(candidates, parent_group, max_displacement)
            if chosen is not candidates[0]:
                chosen, found = _averaged(chosen, _Analysis.of(chosen, *args), args)
    modes_step = step("modes")
    if modes_step is not None:
        modes_step(1, 1)
    decomposition, fields, roles = found.decomposition, found.fields, found.roles
    significant = [ir for ir in decomposition.irreps if ir.amplitude > threshold]
    labels = [ir.irrep for ir in significant]
    ideal_child = decomposition.mapping.ideal_child()
    child_info = analyze(child, CHILD_SYMPREC)
    chain = list(roles.chain)
    child_ops = _operation_count(decomposition.mapping.child)
    if child_ops is not None and child_ops < len(
        spglib_dataset(_displaced_all(ideal_child, fields, labels), CHILD_SYMPREC).rotations
    ):
        chain.append(GroupStep(child_info.number, child_info.symbol, ("strain",)))
    modes = tuple(
        ExplainedMode(
            irrep=ir.irrep,
            k=found.k_conventional(ir.k),
            direction=ir.direction,
            domain_direction=ir.domain_direction,
            amplitude=float(ir.amplitude),
            amplitude_supercell=float(ir.amplitude_supercell),
            role="primary" if ir.irrep in roles.primary else "secondary",
            isotropy=roles.isotropy[ir.irrep],
            dim=int(ir.dim),
            multiplicity=int(ir.multiplicity),
        )
        for ir in significant
    )
    small = [ir.amplitude for ir in decomposition.irreps if ir.amplitude <= threshold]
    energies: EnergyBreakdown | None = None
    if calc is not None:
        energies = mode_energies(
            ideal_child,
            decomposition.mapping.child,  # its primitive cell: the cell of the ideal child
            fields,
            labels,
            roles.primary,
            calc,
            points=points,
            model=model_name,
            progress=step("energies"),
        )
    marked: tuple[ParentPhonon, ...] = ()
    if calc is not None and phonons:
        ideal = decomposition.parent_idealization
        primitive = ideal.atoms if ideal is not None else decomposition.mapping.parent
        marked = parent_phonons(
            primitive,
            calc,
            decomposition.n,
            decomposition.origin_index,
            set(labels),
            progress=step("parent phonons"),
        )
    return Explanation(
        child_space_group_number=int(child_info.number),
        child_space_group_symbol=str(child_info.symbol),
        parent=chosen,
        candidates=candidates,
        origin_index=int(decomposition.origin_index),
        supercell_matrix=found.supercell_conventional(),
        modes=modes,
        amplitude=float(decomposition.amplitude),
        amplitude_supercell=float(decomposition.amplitude_supercell),
        below_threshold=float(np.sqrt(np.sum(np.square(small)))),
        strain=np.asarray(decomposition.strain, dtype=float),
        strain_parts=tuple(
            StrainPart(m.irrep, m.point_group_label, float(m.amplitude))
            for m in decomposition.strain_modes
        ),
        chain=tuple(chain),
        glazer=_glazer(chosen.structure, child),
        energies=energies,
        threshold=float(threshold),
        parent_phonons=marked,
    )


# ----------------------------------------------------------------------------- internals
@dataclass(frozen=True)
class _Analysis:
    """The decomposition against one parent, each irrep's part and the roles."""

    decomposition: ModeDecomposition  # against the parent's primitive cell
    fields: dict
    roles: IrrepRoles
    to_conventional: NDArray  # M: conventional cell = M @ primitive cell

    def k_conventional(self, k: NDArray) -> NDArray:
        """A wave vector of the primitive reciprocal basis in the conventional one."""
        return self.to_conventional @ np.asarray(k, dtype=float)

    def supercell_conventional(self) -> NDArray:
        """The child cell in units of the parent's conventional cell (may be fractional)."""
        s = np.asarray(self.decomposition.supercell_matrix, dtype=float)
        out = s @ np.linalg.inv(self.to_conventional)
        return np.where(np.abs(out - np.round(out)) < 1e-9, np.round(out), out)

    @classmethod
    def of(
        cls,
        parent: ParentCandidate,
        child: Atoms,
        origin_index: int | None,
        symprec: float,
        max_displacement: float,
        threshold: float,
    ) -> _Analysis:
        primitive, to_conventional = primitive_of(parent.structure)
        decomposition = decompose(
            primitive,
            _primitive_child(child),
            origin_index=origin_index,
            symprec=symprec,
            max_displacement=max(1.0, 1.5 * max_displacement),
            direction_tol=DIRECTION_TOL,
        )
        fields = irrep_fields(decomposition, symprec)
        labels = [ir.irrep for ir in decomposition.irreps if ir.amplitude > threshold]
        step = GroupStep(parent.space_group_number, parent.space_group_symbol, ())
        roles = assign_roles(decomposition.mapping.ideal_child(), fields, labels, step)
        return cls(decomposition, fields, roles, to_conventional)


def _averaged(
    candidate: ParentCandidate, found: _Analysis, args: tuple
) -> tuple[ParentCandidate, _Analysis]:
    """The parent moved to the child's average over its group, and the analysis against it.

    spglib's symmetrisation at a large tolerance puts the atoms on the supergroup's sites
    but not necessarily at the child's average (the free coordinates of quartz's O): the
    difference is the part of the displacements that keeps the parent's symmetry (GM1),
    which is added to the parent, so that the distortion is measured from its average.
    """
    mapping = found.decomposition.mapping
    ideal = mapping.ideal_child()
    none = group_of(ideal, found.fields, ())
    symmetric = [
        lab
        for lab, part in found.fields.items()
        if np.abs(part).max() > 1e-8
        and group_of(ideal, found.fields, (lab,)).operations == none.operations
    ]
    if not symmetric:
        return candidate, found
    u = sum((found.fields[lab] for lab in symmetric), np.zeros_like(ideal.positions))
    parent = mapping.parent.copy()
    for i in range(len(parent)):
        parent.positions[i] += u[int(np.flatnonzero(mapping.parent_index == i)[0])]
    structure = _standard_conventional(idealize(parent, 1e-4).atoms)
    child = args[0]
    moved = map_to_parent(primitive_of(structure)[0], child, max_displacement=2 * args[3] + 1.0)
    averaged = ParentCandidate(
        space_group_number=candidate.space_group_number,
        space_group_symbol=candidate.space_group_symbol,
        structure=structure,
        tolerance=candidate.tolerance,
        max_displacement=float(moved.max_displacement),
        max_strain=float(np.abs(moved.strain).max()),
        operations_per_child_cell=candidate.operations_per_child_cell,
    )
    return averaged, _Analysis.of(averaged, *args)


def _with_intermediates(
    candidates: tuple[ParentCandidate, ...],
    child: Atoms,
    found: _Analysis,
    max_displacement: float,
) -> tuple[ParentCandidate, ...]:
    """The sweep's candidates and the intermediates the decomposition names: for every
    proper set of primaries, the parent that keeps their parts and those they allow (the
    parts that do not lower its symmetry), the other parts taken off.
    """
    ideal = found.decomposition.mapping.ideal_child()
    on = found.decomposition.mapping.child  # the atoms the fields are on (primitive cell)
    scale = len(child) // len(on)  # operations are counted per cell of the child as given
    primary, fields = found.roles.primary, found.fields
    labels = list(primary) + list(found.roles.secondary)
    deformation = np.asarray(found.decomposition.mapping.deformation_gradient)
    have = {(c.space_group_number, c.operations_per_child_cell) for c in candidates}
    out = list(candidates)
    for size in range(1, len(primary)):
        for kept in itertools.combinations(primary, size):
            group = group_of(ideal, fields, kept)
            allowed = {
                lab
                for lab in labels
                if group_of(ideal, fields, (*kept, lab)).operations == group.operations
            }
            removed = sum(
                (fields[lab] for lab in fields if lab not in allowed),
                np.zeros_like(ideal.positions),
            )
            candidate = intermediate_parent(
                on,
                removed @ deformation.T,
                group.space_group_number,
                max_displacement=max_displacement,
            )
            if candidate is None or candidate.max_displacement > max_displacement:
                continue
            candidate = dataclasses.replace(
                candidate, operations_per_child_cell=candidate.operations_per_child_cell * scale
            )
            key = (candidate.space_group_number, candidate.operations_per_child_cell)
            if key not in have:
                have.add(key)
                out.append(candidate)
    return tuple(sorted(out, key=lambda c: (-c.operations_per_child_cell, c.max_displacement)))


def _primitive_child(child: Atoms) -> Atoms:
    """The child's primitive cell at :data:`CHILD_SYMPREC` (a refinement's noise does not
    hide its centring), same orientation.
    """
    return primitive_structure(child, CHILD_SYMPREC)


def _with_number(
    candidates: tuple[ParentCandidate, ...], number: int, max_displacement: float
) -> ParentCandidate:
    hits = [c for c in candidates if c.space_group_number == int(number)]
    if not hits:
        have = ", ".join(f"{c.space_group_symbol} ({c.space_group_number})" for c in candidates)
        raise ValueError(
            f"no supergroup of number {number} within {max_displacement} A of the structure "
            f"(found: {have}); raise --max-displacement or give the parent file"
        )
    return min(hits, key=lambda c: c.max_displacement)


def _given_parent(parent: Atoms, symprec: float) -> ParentCandidate:
    ideal = idealize(parent, symprec)
    exact = spglib_dataset(ideal.atoms, 1e-5)
    return ParentCandidate(
        space_group_number=ideal.number,
        space_group_symbol=ideal.symbol,
        structure=_standard_conventional(ideal.atoms),
        tolerance=symprec,
        max_displacement=0.0,
        max_strain=0.0,
        operations_per_child_cell=len(exact.rotations),
    )


def _displaced_all(ideal: Atoms, fields: dict, labels: list[str]) -> Atoms:
    atoms = ideal.copy()
    atoms.positions = ideal.positions + sum(
        (fields[lab] for lab in labels), np.zeros_like(ideal.positions)
    )
    return atoms


def _operation_count(atoms: Atoms) -> int | None:
    """Operations of a structure in its cell at :data:`CHILD_SYMPREC`, or None."""
    try:
        return len(spglib_dataset(atoms, CHILD_SYMPREC).rotations)
    except ValueError:
        return None


def _glazer(parent: Atoms, child: Atoms) -> str:
    """The Glazer tilt system of a perovskite child, or "" (not a perovskite, no octahedra)."""
    if perovskite_b_site(parent) is None:
        return ""
    from ase_symbreak.environments.tilts import octahedral_tilts

    try:
        return octahedral_tilts(child).glazer
    except ValueError:
        return ""
