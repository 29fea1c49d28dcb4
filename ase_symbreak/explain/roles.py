"""Which irreps of a decomposition are primary order parameters and which are secondary.

The child's displacement field splits into one field per irrep of the parent (the
isotypic projections of :func:`~ase_symbreak.symmetry.decompose`; they add up to the whole
field). The *isotropy subgroup* of an irrep's part is the space group of the parent
displaced by that part alone, found by spglib in the child's cell; the group of several
parts together is the intersection of theirs (the representation is a direct sum), found
the same way with each part scaled to the same size, so that a small part is not lost
below the tolerance.

Roles: the **primary** irreps are the smallest set whose parts together already have the
symmetry of all the parts (ties: the set with the largest amplitude); every other irrep is
**secondary**: its part does not lower that symmetry further, so it is allowed (driven) by
the coupling to the primaries. An irrep whose part alone has the child's symmetry is a
primary on its own. The chain is the sequence of groups as the primaries are switched on,
largest first, down to the child.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record
from ase_symbreak.symmetry.decompose import ModeDecomposition
from ase_symbreak.symmetry.decompose import _displacement_modes as cached_displacement_modes
from ase_symbreak.symmetry.spacegroup import spglib_dataset

__all__ = ["GroupStep", "IrrepRoles", "assign_roles", "group_of", "irrep_fields"]

#: Each part is scaled to this largest displacement (Angstrom) before spglib looks at it,
#: with the tolerance below: symmetry broken by less than 1/30 of a part (noise of a
#: refinement, a few mA on a part of 0.05 A) is not counted.
_PART_SIZE = 0.3
_PART_SYMPREC = 1e-2
#: Sets of primaries tried, at most this many irreps in a set.
_MAX_PRIMARIES = 4


@dataclass(frozen=True)
class GroupStep(Record):
    """A space group on the way from the parent to the child."""

    space_group_number: int
    space_group_symbol: str
    irreps: tuple[str, ...]  # the parts switched on
    operations: int = 0  # in the child's cell (0: not counted)

    def text(self) -> str:
        return f"{self.space_group_symbol} ({self.space_group_number})"


@dataclass(frozen=True)
class IrrepRoles:
    """Roles of the significant irreps of one decomposition.

    Attributes
    ----------
    primary : tuple[str, ...]
        The primary irreps, largest amplitude first.
    secondary : tuple[str, ...]
        The others above the threshold.
    isotropy : dict[str, GroupStep]
        The isotropy subgroup of each irrep's part alone.
    combined : GroupStep
        The group of all significant parts together (the child's, strain aside).
    chain : tuple[GroupStep, ...]
        Parent, then the group after each primary is switched on (largest first), then the
        combined group where the secondaries lower it no further.
    """

    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    isotropy: dict
    combined: GroupStep
    chain: tuple[GroupStep, ...]


def irrep_fields(decomposition: ModeDecomposition, symprec: float = 1e-3) -> dict[str, NDArray]:
    """Each irrep's part of the child's displacements, on the child's atoms.

    Returns
    -------
    dict[str, NDArray]
        ``label -> (n_child, 3)`` Angstrom in the parent frame, child atom order; the parts
        add up to ``decomposition.mapping.displacements``.
    """
    mapping = decomposition.mapping
    n = decomposition.n
    ideal = decomposition.parent_idealization
    parent = ideal.atoms if ideal is not None else mapping.parent
    # the modes the decomposition built (its cache: same parent, n, origin and symprec)
    rep = cached_displacement_modes(parent, n, decomposition.origin_index, symprec)
    inv = np.linalg.inv(np.asarray(mapping.parent.cell[:]))
    sites = rep.supercell.get_positions() @ inv  # parent-fractional, (N_sc, 3)
    u_sc = mapping.displacement_field(sites)
    # each child atom sits on one site of the n x n x n supercell (its lattice is a
    # sublattice of the child's, so the fields are periodic on it)
    y = (np.asarray(mapping.reference_positions) - mapping.origin_shift) @ inv
    diff = y[:, None, :] - sites[None, :, :]
    off = np.abs(diff / n - np.round(diff / n)).max(axis=-1)
    site = off.argmin(axis=1)
    if off[np.arange(len(y)), site].max() > 1e-4:  # pragma: no cover - by construction
        raise ValueError("a child atom is not on a site of the parent supercell")
    fields = {}
    for modes in rep.irreps:
        basis = np.asarray(modes.basis)  # (mult, dim, N_sc, 3), orthonormal
        coeffs = np.einsum("mdna,na->md", basis, u_sc)
        part = np.einsum("md,mdna->na", coeffs, basis)
        fields[modes.irrep.label] = part[site]
    return fields


def assign_roles(
    ideal_child: Atoms, fields: dict[str, NDArray], labels: list[str], parent_group: GroupStep
) -> IrrepRoles:
    """Primary and secondary irreps among ``labels`` (largest amplitude first).

    Parameters
    ----------
    ideal_child : Atoms
        The undistorted child (parent sites in the child's cell, parent metric).
    fields : dict
        :func:`irrep_fields`.
    labels : list[str]
        The significant irreps, largest amplitude first.
    parent_group : GroupStep
        The parent's group (first step of the chain).
    """
    if not labels:
        return IrrepRoles((), (), {}, parent_group, (parent_group,))
    cache: dict[tuple[str, ...], GroupStep] = {}

    def group(subset: tuple[str, ...]) -> GroupStep:
        key = tuple(sorted(subset))
        if key not in cache:
            cache[key] = group_of(ideal_child, fields, key)
        return GroupStep(
            cache[key].space_group_number,
            cache[key].space_group_symbol,
            tuple(subset),
            cache[key].operations,
        )

    def n_ops(subset: tuple[str, ...]) -> int:
        return group(subset).operations

    everything = tuple(labels)
    target = n_ops(everything)
    primary = _smallest_generating_set(labels, target, n_ops)
    secondary = tuple(lab for lab in labels if lab not in primary)
    chain = [parent_group]
    previous = n_ops(())
    for i in range(1, len(primary) + 1):
        if n_ops(primary[:i]) != previous:
            chain.append(group(primary[:i]))
            previous = n_ops(primary[:i])
    combined = group(everything)
    return IrrepRoles(
        primary=primary,
        secondary=secondary,
        isotropy={lab: group((lab,)) for lab in labels},
        combined=combined,
        chain=tuple(chain),
    )


def group_of(ideal_child: Atoms, fields: dict[str, NDArray], parts: tuple[str, ...]) -> GroupStep:
    """The space group of the parent displaced by ``parts`` (each scaled to the same size),
    with the number of its operations in the child's cell as ``GroupStep.operations``.
    """
    u = sum((_scaled(fields[lab]) for lab in parts), np.zeros_like(ideal_child.positions))
    return _identify(ideal_child, u, parts)


# ----------------------------------------------------------------------------- internals
def _smallest_generating_set(labels: list[str], target: int, n_ops) -> tuple[str, ...]:
    """The fewest irreps whose parts have ``target`` operations; largest amplitude first."""
    for size in range(1, min(len(labels), _MAX_PRIMARIES) + 1):
        # combinations keep the order of ``labels`` (largest first): the first hit of a
        # size is the one with the largest amplitudes in lexicographic order
        for subset in itertools.combinations(labels, size):
            if n_ops(subset) == target:
                return subset
    return tuple(labels)


def _scaled(u: NDArray) -> NDArray:
    size = float(np.linalg.norm(u, axis=1).max())
    return u * (_PART_SIZE / size) if size > 0 else u


def _displaced(ideal: Atoms, u: NDArray) -> Atoms:
    atoms = ideal.copy()
    atoms.positions = ideal.positions + u
    return atoms


def _identify(ideal: Atoms, u: NDArray, irreps: tuple[str, ...]) -> GroupStep:
    ds = spglib_dataset(_displaced(ideal, u), _PART_SYMPREC)
    return GroupStep(int(ds.number), str(ds.international), tuple(irreps), len(ds.rotations))
