"""Parent-child correspondence and the training targets of the gradient method.

The child must be the parent with every atom moved a little (and, for crystals, the cell
deformed a little): child atom ``i`` is assigned to the parent atom of the same species at
the nearest (periodic) image. The assignment is refused when it is not a bijection or when
a child atom is nearly as close to a second parent atom as to its own.

Targets are e3nn tensors: per-site displacements ``1x1o`` (N, 3), or the homogeneous
deformation of the shape as a symmetric tensor ``1x0e+1x2e`` (6,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from e3nn import o3
from numpy.typing import NDArray

from ase_symbreak.symmetry.matching import nearest_sites
from ase_symbreak.validation import check_atoms

__all__ = [
    "Correspondence",
    "Target",
    "build_target",
    "match_atoms",
    "symmetric_to_irreps",
    "irreps_to_symmetric",
]

#: A child atom whose nearest parent site is farther than this fraction of the distance to
#: its second-nearest parent site (same species) cannot be assigned unambiguously.
AMBIGUITY = 0.5


@dataclass(frozen=True)
class Correspondence:
    """Child atoms matched to parent atoms.

    Attributes
    ----------
    child_index : NDArray[int]
        ``(N,)``: parent atom ``i`` corresponds to child atom ``child_index[i]``.
    displacements : NDArray[float]
        ``(N, 3)`` Angstrom, child minus parent position in the parent frame (crystals: child
        fractional coordinates times the parent cell, nearest image), mean removed.
    gradient : NDArray[float]
        ``(3, 3)`` homogeneous displacement gradient ``G`` (dimensionless), child shape
        ``= (1 + G)`` parent shape: from the cells for crystals, a least-squares fit of the
        displacements for point clouds (minimum norm along directions the cloud does not span).
    periodic : bool
        Both structures are 3-D periodic.
    """

    child_index: NDArray  # (N,) int
    displacements: NDArray  # (N, 3), Angstrom
    gradient: NDArray  # (3, 3)
    periodic: bool

    @property
    def strain(self) -> NDArray:
        """``(3, 3)`` symmetric Biot strain ``U - 1`` of ``F = 1 + G = R U``."""
        f = np.eye(3) + self.gradient
        w, v = np.linalg.eigh(f.T @ f)
        u = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        return u - np.eye(3)


def _check_pair(parent: Atoms, child: Atoms) -> bool:
    for name, atoms in (("parent", parent), ("child", child)):
        check_atoms(atoms, what=name)
    if len(parent) != len(child):
        raise ValueError(
            f"parent and child must have the same number of atoms, "
            f"got {len(parent)} and {len(child)} "
            "(give the parent as the supercell the child lives in)"
        )
    pp, pc = np.asarray(parent.pbc, bool), np.asarray(child.pbc, bool)
    if not ((pp.all() or not pp.any()) and (pc.all() or not pc.any())):
        raise ValueError(f"structures must be fully periodic or not at all, got pbc {pp} and {pc}")
    if pp.all() != pc.all():
        raise ValueError(
            f"parent and child must both be periodic or both point clouds, got pbc {pp} and {pc}"
        )
    if sorted(parent.numbers) != sorted(child.numbers):
        raise ValueError(
            f"parent ({parent.get_chemical_formula()}) and child ({child.get_chemical_formula()}) "
            "have different compositions"
        )
    return bool(pp.all())


def match_atoms(parent: Atoms, child: Atoms, max_strain: float = 0.2) -> Correspondence:
    """Assign each child atom to a parent atom of the same species (nearest image).

    Parameters
    ----------
    parent, child : Atoms
        Same number of atoms; both 3-D periodic (the child in the same supercell as the
        parent, cell deformed by less than ``max_strain``) or both non-periodic.
    max_strain : float
        Largest allowed ``|G|`` entry of the cell deformation for crystals.

    Raises
    ------
    ValueError
        Different numbers of atoms or compositions, mixed periodicity, a cell that is not a
        small deformation of the parent's, or no unambiguous one-to-one correspondence.
    """
    periodic = _check_pair(parent, child)
    pos_p = parent.positions
    if periodic:
        cell_p = np.asarray(parent.cell.array, float)
        grad = np.linalg.solve(cell_p, np.asarray(child.cell.array, float)).T - np.eye(3)
        if np.abs(grad).max() > max_strain:
            raise ValueError(
                f"child cell deviates from the parent cell by {np.abs(grad).max():.3g} "
                f"> max_strain={max_strain}; "
                "give both in the same supercell and setting"
            )
        frac = child.get_scaled_positions(wrap=False)  # child fractional in the parent cell
        reference = parent
    else:  # a point cloud: sites in a box larger than both clouds, no images within reach
        grad = None
        span = np.ptp(np.concatenate([pos_p, child.positions]), axis=0).max() + 1.0
        box = np.eye(3) * 3.0 * span
        reference = Atoms(numbers=parent.numbers, positions=pos_p, cell=box, pbc=False)
        frac = child.positions @ np.linalg.inv(box)
    match = nearest_sites(frac, child.numbers, reference)
    nearest, d1, d2 = match.index, match.distance, match.second_distance
    bad = np.flatnonzero(np.isfinite(d2) & (d1 > AMBIGUITY * d2))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"child atom {i} ({child[i].symbol}) is {d1[i]:.3f} A from parent atom {nearest[i]} "
            f"and {d2[i]:.3f} A from the next: the correspondence is ambiguous"
        )
    match.check_one_to_one(len(parent), what="child atoms to parent atoms")
    child_index = np.empty(len(parent), dtype=np.int64)
    child_index[nearest] = np.arange(len(child))
    u = match.vectors[child_index]
    u = u - u.mean(axis=0)
    if grad is None:  # point cloud: least-squares displacement gradient, u_i = G r_i
        r = pos_p - pos_p.mean(axis=0)
        sol, *_ = np.linalg.lstsq(r, u, rcond=1e-8)
        grad = sol.T
    return Correspondence(
        child_index=child_index, displacements=u, gradient=grad, periodic=periodic
    )


# --------------------------------------------------------------------------- tensors
def _symmetric_basis(dtype=torch.float64) -> torch.Tensor:
    """``(6, 3, 3)`` orthonormal change of basis from 0e+2e to symmetric 3x3 (Cartesian x,y,z)."""
    rtp = o3.ReducedTensorProducts("ij=ji", i="1o")
    q = rtp.change_of_basis.to(dtype)  # (6, 3, 3), rows follow rtp.irreps_out = 0e+2e
    return q / q.flatten(1).norm(dim=1)[:, None, None]


def symmetric_to_irreps(matrix: NDArray) -> NDArray:
    """Symmetric ``(3, 3)`` -> ``(6,)`` coefficients in ``1x0e+1x2e`` (Frobenius-orthonormal)."""
    q = _symmetric_basis().numpy()
    return np.einsum("kij,ij->k", q, 0.5 * (matrix + matrix.T))


def irreps_to_symmetric(coeffs: NDArray) -> NDArray:
    """Inverse of :func:`symmetric_to_irreps`: ``(6,)`` -> symmetric ``(3, 3)``."""
    q = _symmetric_basis().numpy()
    return np.einsum("kij,k->ij", q, coeffs)


@dataclass(frozen=True)
class Target:
    """What the network must produce from the parent.

    Attributes
    ----------
    irreps : Irreps
        Irreps of one target row.
    values : NDArray[float]
        ``(N, irreps.dim)`` per site or ``(irreps.dim,)`` for the whole structure.
    per_site : bool
        Node outputs (True) or the mean over nodes (False).
    name : str
    """

    irreps: o3.Irreps
    values: NDArray
    per_site: bool
    name: str


TargetFn = Callable[[Atoms, Atoms, Correspondence], tuple]


def build_target(
    parent: Atoms, child: Atoms, match: Correspondence, target: str | TargetFn
) -> Target:
    """The target tensor for ``target``.

    ``"displacements"``: ``1x1o`` per site (Angstrom). ``"cell_shape"``: the Biot strain of
    the homogeneous deformation as ``1x0e+1x2e`` (global). A callable
    ``f(parent, child, correspondence) -> (irreps, values)`` gives any other target,
    ``values`` of shape ``(N, dim)`` (per site) or ``(dim,)`` (global), sites in parent order.
    """
    if callable(target):
        irreps, values = target(parent, child, match)
        irreps = o3.Irreps(irreps)
        values = np.asarray(values, dtype=float)
        if values.shape == (irreps.dim,):
            return Target(irreps, values, False, getattr(target, "__name__", "custom"))
        if values.shape == (len(parent), irreps.dim):
            return Target(irreps, values, True, getattr(target, "__name__", "custom"))
        raise ValueError(
            f"custom target returned values of shape {values.shape}; expected ({irreps.dim},) or "
            f"({len(parent)}, {irreps.dim}) for irreps {irreps}"
        )
    if target == "displacements":
        return Target(o3.Irreps("1x1o"), match.displacements, True, "displacements")
    if target == "cell_shape":
        return Target(
            o3.Irreps("1x0e+1x2e"), symmetric_to_irreps(match.strain), False, "cell_shape"
        )
    raise ValueError(f"target must be 'displacements', 'cell_shape' or a callable, got {target!r}")
