"""The interface every potential of the package implements.

A model maps a graph (atomic numbers, directed edges, edge vectors) to per-atom
energies. The calculator builds the graph from positions, cell and strain in torch,
so forces, stress and Hessians follow by autograd through ``edge_vec``.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import torch


class EnergyModel(torch.nn.Module, ABC):
    """Per-atom energies (eV) of a graph of atoms.

    Subclasses set ``cutoff`` (Angstrom) and ``species`` (atomic numbers the model
    knows, ``None`` for all) and implement :meth:`forward`; those that hold constants
    computed at construction override :meth:`with_dtype`. Message-passing models set
    ``num_interactions`` (layers that pass messages along edges): an atom's energy then
    depends only on atoms within that many edges, so force constants vanish between atoms
    more than ``2 * num_interactions`` edges apart (used by Hessian colouring); ``None``
    means unknown.
    """

    cutoff: float
    species: frozenset[int] | None = None
    num_interactions: int | None = None

    @abstractmethod
    def forward(
        self,
        numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vec: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom energies.

        Parameters
        ----------
        numbers : (N,) int64 atomic numbers
        edge_src, edge_dst : (E,) int64, a directed edge ``src -> dst`` for every pair
            closer than ``cutoff`` (both directions are present; periodic images too)
        edge_vec : (E, 3) float, ``r_dst + shift - r_src`` in Angstrom

        Returns
        -------
        (N,) per-atom energies in eV, same dtype as ``edge_vec``.
        """

    def with_dtype(self, dtype: torch.dtype) -> EnergyModel:
        """A copy of the model in ``dtype`` (``torch.float32`` or ``torch.float64``).

        The default deep-copies the model and casts the copy with ``.to(dtype)``. Models
        whose constants are computed at construction (e3nn's Clebsch-Gordan coefficients,
        say) override it to rebuild the model in ``dtype``, so that those constants are
        exact, and may return the model itself when it is in ``dtype`` already.
        """
        return copy.deepcopy(self).to(dtype)

    def unknown_species(self, numbers: list[int] | tuple[int, ...]) -> list[int]:
        """Atomic numbers in ``numbers`` that this model has not been trained on."""
        if self.species is None:
            return []
        return sorted({int(z) for z in numbers} - set(self.species))
