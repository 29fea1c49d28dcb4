"""Group-subgroup family tree of the children found by a distortion search, and the nodes of
the descent below it (:class:`Node`, built by :mod:`.descent`).

Each child is represented by its condensed displacement pattern in the parent supercell;
its group is the stabiliser of that pattern among the parent's supercell operations
(:class:`~ase_symbreak.symmetry.SupercellOperations`). Child ``i`` is a subgroup of child
``j`` (up to conjugation, i.e. of some domain of ``j``) when some image ``g u_j`` is fixed
by every operation fixing ``u_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import Record, encode
from ase_symbreak.phonons import DispersionCheck
from ase_symbreak.phonons.elastic import ElasticCheck

from .records import NodeStatus, OffGridFollow, SkippedCandidate, SoftestMode
from .steps.common import rank_value

__all__ = ["FamilyTree", "family_tree", "Node", "ground_state", "ranked_nodes", "node_tree_text"]


@dataclass(frozen=True)
class FamilyTree(Record):
    """Children arranged under their smallest supergroup among the children (or the parent).

    Attributes
    ----------
    root : str
        Parent label, e.g. 'Pm-3m (221)'.
    labels : tuple[str, ...]
        One per child.
    orders : tuple[int, ...]
        Number of supercell operations in each child's group.
    supergroups : tuple[tuple[int, ...], ...]
        For each child, every other child whose group contains it properly (some domain).
    tree_parent : tuple[int | None, ...]
        The smallest proper supergroup among the children, None for the root.
    """

    root: str
    labels: tuple[str, ...]
    orders: tuple[int, ...]
    supergroups: tuple[tuple[int, ...], ...]
    tree_parent: tuple[int | None, ...]

    def text(self) -> str:
        """Indented tree, one child per line."""
        lines = [self.root]

        def walk(node: int | None, depth: int) -> None:
            kids = [i for i, p in enumerate(self.tree_parent) if p == node]
            kids.sort(key=lambda i: (-self.orders[i], i))
            for i in kids:
                lines.append("  " * depth + "└─ " + self.labels[i])
                walk(i, depth + 1)

        walk(None, 1)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The record (:mod:`ase_symbreak.codec`) plus its drawing as ``"text"``."""
        return {**encode(self), "text": self.text()}


def _stabilizer(ops, u: NDArray, tol: float) -> NDArray:
    images = ops.act(u)  # (n_ops, N, 3)
    return np.flatnonzero(np.abs(images - u[None]).max(axis=(1, 2)) < tol)


def family_tree(
    ops, patterns: Sequence[NDArray], labels: Sequence[str], root: str, tol: float = 1e-6
) -> FamilyTree:
    """Subgroup relations between children given by their supercell displacement patterns.

    Parameters
    ----------
    ops : SupercellOperations of the parent supercell the patterns live in.
    patterns : one (N, 3) pattern per child (any normalisation).
    labels : one label per child.
    root : label of the parent.
    """
    pats = [np.asarray(p, dtype=float) / max(np.abs(p).max(), 1e-300) for p in patterns]
    stabs = [_stabilizer(ops, p, tol) for p in pats]
    n = len(pats)
    contained = np.zeros((n, n), dtype=bool)  # contained[i, j]: H_i <= some conjugate of H_j
    for j in range(n):
        images = ops.act(pats[j])  # (n_ops, N, 3): every domain of child j
        moved_t = np.moveaxis(images, 0, -1)  # (N, 3, n_ops)
        for i in range(n):
            if i == j:
                continue
            ok = np.ones(len(images), dtype=bool)
            for h in stabs[i]:
                ok &= np.abs(ops.act(moved_t, int(h)) - moved_t).max(axis=(0, 1)) < tol
                if not ok.any():
                    break
            contained[i, j] = bool(ok.any())
    orders = [len(s) for s in stabs]
    supergroups = []
    tree_parent: list[int | None] = []
    for i in range(n):
        sup = [j for j in range(n) if contained[i, j] and orders[j] > orders[i]]
        supergroups.append(tuple(sup))
        tree_parent.append(min(sup, key=lambda j: (orders[j], j)) if sup else None)
    return FamilyTree(
        root=root,
        labels=tuple(labels),
        orders=tuple(orders),
        supergroups=tuple(supergroups),
        tree_parent=tuple(tree_parent),
    )


@dataclass(frozen=True)
class Node(Record):
    """One structure of the descent; node 0 is the parent.

    Attributes
    ----------
    index, depth : int
        Position in the list and number of condensations from the parent.
    parent : int or None
        Node it was first condensed from (None for the parent).
    via : str
        What was condensed from ``parent``, e.g. 'R4+ (a,0,0)'.
    space_group_number, space_group_symbol
        Of the node relaxed in its own group.
    energy_per_fu : float
        eV per formula unit.
    energy_gain_mev_per_fu : float
        Parent minus node energy, meV per formula unit (positive: lower than the parent).
    dynamically_stable : bool or None
        No mode below the threshold at the q points of the node's phonon supercell (exact
        Hessian, labelled) and, where ``elastic`` was checked, a positive definite relaxed-ion
        elastic tensor (no strain saddle); None when not checked (``status`` says why).
        Instabilities that only the interpolated dispersion shows between those q points are
        in ``off_grid``; with ``SearchSettings.follow_off_grid`` the deepest is checked in
        the supercell that captures it (``off_grid_follow``): a real one makes the node
        unstable, an artefact leaves it stable, one that could not be checked leaves it
        'stable at the computed q' (``status``).
    softest_mode : SoftestMode or None
        Irrep, q point and frequency of the lowest labelled mode.
    phonon_supercell : tuple or None
        3x3 supercell matrix of the node's phonons.
    status : NodeStatus
        'stable', 'stable at the computed q' (an off-grid dip not checked), 'searched'
        (unstable, its soft modes condensed), 'depth limit' (unstable, not searched), 'time
        budget' / 'work budget' (not checked), 'unstable to strain' or 'failed'; compares
        equal to those strings.
    status_detail : str
        Why, for 'time budget' and 'failed' ('' otherwise); :attr:`status_text` joins both.
    other_parents : tuple[int, ...]
        Further nodes whose search also led here (merged).
    children : tuple[int, ...]
        Nodes found by this node's search (including merged ones).
    skipped : tuple[SkippedCandidate, ...]
        Candidates of this node's search that were not relaxed or not kept, with reasons.
    off_grid : DispersionCheck or None
        The check of the interpolated dispersion between the supercell's q points when it
        found instabilities there (:class:`~ase_symbreak.phonons.DispersionCheck`), None when
        there are none. After an off-grid check: the check of the larger supercell's
        dispersion for a node it found stable (None when clean), None for a real dip.
    off_grid_follow : OffGridFollow or None
        The check of the deepest off-grid dip in the supercell that captures it: where,
        what was found ('real', 'interpolation artefact') or why it was not checked;
        None when there was nothing to check or ``follow_off_grid`` was off.
    folder, cif : str or None
        The node's search folder and structure file, relative to the search's ``out_dir``.
    elastic : ElasticCheck or None
        The strain check of a node stable at its q points
        (:func:`~ase_symbreak.phonons.elastic.elastic_check`); None when not made.
    atoms : Atoms
        The node's structure (primitive cell, relaxed in its group).
    """

    index: int
    depth: int
    parent: int | None
    via: str
    space_group_number: int
    space_group_symbol: str
    energy_per_fu: float
    energy_gain_mev_per_fu: float
    dynamically_stable: bool | None
    softest_mode: SoftestMode | None
    phonon_supercell: tuple | None
    status: NodeStatus
    other_parents: tuple[int, ...] = ()
    children: tuple[int, ...] = ()
    skipped: tuple[SkippedCandidate, ...] = ()
    off_grid: DispersionCheck | None = None
    folder: str | None = None
    cif: str | None = None
    atoms: Atoms | None = field(default=None, repr=False, compare=False)
    status_detail: str = ""
    elastic: ElasticCheck | None = None
    off_grid_follow: OffGridFollow | None = None

    @property
    def label(self) -> str:
        return f"{self.space_group_symbol} ({self.space_group_number})"

    @property
    def status_text(self) -> str:
        """'stable', 'failed: <reason>', 'time budget: not checked (...)', ..."""
        return (
            f"{self.status.value}: {self.status_detail}"
            if self.status_detail
            else str(self.status.value)
        )

    def summary(self) -> dict:
        """The entry of ``search.json``: the structure as its CIF file name, the energy as
        ``energy_ev_per_fu``.
        """
        d = encode(self)
        d.pop("atoms", None)
        d.pop("status_detail", None)
        d["status"] = self.status_text
        d["skipped"] = [s.summary() for s in self.skipped]
        d["off_grid"] = None if self.off_grid is None else self.off_grid.summary()
        d["elastic"] = None if self.elastic is None else self.elastic.summary()
        follow = self.off_grid_follow
        d["off_grid_follow"] = (
            None
            if follow is None
            else {**encode(follow), "text": follow.describe(), "short": follow.short()}
        )
        d = {("energy_ev_per_fu" if k == "energy_per_fu" else k): v for k, v in d.items()}
        d["n_atoms"] = None if self.atoms is None else len(self.atoms)
        return d


#: Stable nodes within this many meV/f.u. of the lowest are one degenerate minimum: the
#: ground state is the most symmetric of them (a lower-symmetry copy is the same minimum
#: with a flat mode condensed), as for the children of one search (``SAME_MINIMUM_MEV``).
DEGENERATE_MEV = 0.05


def _symmetry_order(node: Node) -> int:
    """Point-group order of the node's structure (0 when its structure is not kept)."""
    if node.atoms is None:
        return 0
    from ase_symbreak.symmetry import analyze

    return int(analyze(node.atoms, symprec=1e-3).pointgroup_order)


def ground_state(nodes: Sequence[Node]) -> int | None:
    """Index of the lowest-energy dynamically stable node (None: no stable node); among
    stable nodes within :data:`DEGENERATE_MEV` of it, the most symmetric one.
    """
    stable = [n for n in nodes if n.dynamically_stable]
    if not stable:
        return None
    lowest = min(n.energy_per_fu for n in stable)
    degenerate = [n for n in stable if (n.energy_per_fu - lowest) * 1000.0 <= DEGENERATE_MEV]
    return min(
        degenerate,
        key=lambda n: (-_symmetry_order(n), rank_value(n.energy_per_fu, 1e-9), n.depth, n.index),
    ).index


def ranked_nodes(nodes: Sequence[Node]) -> list[Node]:
    """Nodes below the parent: dynamically stable ones first, then by energy (lowest first)."""
    return sorted(
        nodes[1:],
        key=lambda n: (
            n.dynamically_stable is not True,
            rank_value(n.energy_per_fu, 1e-9),
            n.depth,
            n.index,
        ),
    )


def node_tree_text(nodes: Sequence[Node]) -> str:
    """The descent drawn as a tree (merged nodes appear once, under their first parent)."""

    def line(n: Node) -> str:
        state = {True: "stable", False: "unstable", None: n.status_text}[n.dynamically_stable]
        soft = n.softest_mode
        if n.dynamically_stable is False and soft is not None:
            state += f" ({soft.irrep} {soft.frequency_thz:.2f} THz)"
        more = (
            f", also from {', '.join(f'#{p}' for p in n.other_parents)}" if n.other_parents else ""
        )
        gain = f"{n.energy_gain_mev_per_fu:.2f} meV/f.u."
        return f"#{n.index} {n.label} {n.via}  {gain}  {state}{more}"

    root = nodes[0]
    lines = [f"#0 {root.label} parent  {'stable' if root.dynamically_stable else 'unstable'}"]

    def walk(parent: int, depth: int) -> None:
        for n in nodes:
            if n.parent == parent:
                lines.append("  " * depth + "└─ " + line(n))
                walk(n.index, depth + 1)

    walk(0, 1)
    return "\n".join(lines)
