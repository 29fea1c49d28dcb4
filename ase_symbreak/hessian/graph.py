"""Periodic graphs: neighbour lists and differentiable edge vectors in torch.

The neighbour list is built once per structure by vesin (a C++ cell list; 60x faster than
ASE's ``primitive_neighbor_list`` on 5-40-atom cells, the same pairs: the searches build
thousands of lists), in a canonical order (source, destination, shift) so that the energy
sums the same edges in the same order whatever built the list; edge vectors are then
rebuilt in torch from positions, cell and a strain so that autograd reaches positions
(forces, Hessians) and strain (stress).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.neighbors import pairs_within


@dataclass(frozen=True)
class NeighborList:
    """Directed edges ``src -> dst`` of all pairs closer than ``cutoff``.

    ``edge_vec = positions[dst] - positions[src] + shifts @ cell`` (Angstrom).
    """

    edge_src: NDArray[np.int64]  # (E,)
    edge_dst: NDArray[np.int64]  # (E,)
    shifts: NDArray[np.int64]  # (E, 3) integer cell shifts
    cutoff: float  # Angstrom


def neighbor_list(atoms: Atoms, cutoff: float) -> NeighborList:
    """All directed pairs within ``cutoff``, periodic images included.

    Works for triclinic and small cells (an atom may see its own images) and for
    non-periodic directions (no images along them).
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=float)
    if not pbc.all():
        # the cell list needs an invertible cell along non-periodic axes too:
        # give a box that holds every atom without images.
        cell = _padded_cell(atoms.positions, cell, pbc, cutoff)
    src, dst, shifts = pairs_within(atoms.positions, cell, pbc, cutoff)
    return NeighborList(edge_src=src, edge_dst=dst, shifts=shifts, cutoff=float(cutoff))


def _padded_cell(
    positions: NDArray[np.float64], cell: NDArray[np.float64], pbc: NDArray[np.bool_], cutoff: float
) -> NDArray[np.float64]:
    cell = cell.copy()
    extent = np.ptp(positions, axis=0).max() + 2.0 * cutoff + 1.0 if len(positions) else 1.0
    for axis in np.flatnonzero(~pbc):
        others = [cell[a] for a in range(3) if a != axis and np.linalg.norm(cell[a]) > 0]
        direction = np.eye(3)[axis]
        if len(others) == 2:
            direction = np.cross(others[0], others[1])
        elif len(others) == 1:
            direction = direction - others[0] * (others[0] @ direction) / (others[0] @ others[0])
            if np.linalg.norm(direction) < 1e-8:
                direction = np.eye(3)[(axis + 1) % 3]
        cell[axis] = extent * direction / np.linalg.norm(direction)
    return cell


def edge_vectors(
    positions: torch.Tensor,
    cell: torch.Tensor,
    nl: NeighborList,
    strain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Edge vectors (E, 3) from positions (N, 3) and cell (3, 3), optionally strained.

    With ``strain`` (3, 3) the positions and cell are deformed by ``(1 + strain)``; the
    derivative of the energy with respect to a zero strain gives the virial.
    """
    src = torch.as_tensor(nl.edge_src, device=positions.device)
    dst = torch.as_tensor(nl.edge_dst, device=positions.device)
    shifts = torch.as_tensor(nl.shifts, dtype=positions.dtype, device=positions.device)
    if strain is not None:
        deform = torch.eye(3, dtype=positions.dtype, device=positions.device) + strain
        positions = positions @ deform
        cell = cell @ deform
    return positions[dst] - positions[src] + shifts @ cell
