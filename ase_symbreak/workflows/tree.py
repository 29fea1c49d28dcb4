"""Group-subgroup family tree of the children found by a distortion search.

Each child is represented by its condensed displacement pattern in the parent supercell;
its group is the stabiliser of that pattern among the parent's supercell operations
(:class:`~ase_symbreak.symmetry.SupercellOperations`). Child ``i`` is a subgroup of child
``j`` (up to conjugation, i.e. of some domain of ``j``) when some image ``g u_j`` is fixed
by every operation fixing ``u_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ase_symbreak.codec import Record, encode

__all__ = ["FamilyTree", "family_tree"]


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
