"""Per-species node attributes: a one-hot vector of ``num_species x 0e`` scalars."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from e3nn import o3

_MAX_Z = 118


class SpeciesEmbedding(torch.nn.Module):
    """One-hot encoding of atomic numbers over a fixed list of species.

    Parameters
    ----------
    species : sequence of int
        Atomic numbers the model knows, in the order of the one-hot channels.

    Attributes
    ----------
    irreps_out : Irreps
        ``len(species) x 0e``.

    Examples
    --------
    >>> emb = SpeciesEmbedding([8, 22, 38])
    >>> emb(torch.tensor([38, 8])).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    # buffers (``register_buffer`` in ``__init__``)
    _index_of: torch.Tensor
    _eye: torch.Tensor

    def __init__(self, species: Sequence[int]) -> None:
        super().__init__()
        species = tuple(int(z) for z in species)
        if not species:
            raise ValueError("species must list at least one atomic number")
        if len(set(species)) != len(species):
            raise ValueError(f"species must be unique, got {species}")
        bad = [z for z in species if not 1 <= z <= _MAX_Z]
        if bad:
            raise ValueError(f"atomic numbers must be in 1..{_MAX_Z}, got {bad}")
        self.species = species
        table = torch.full((_MAX_Z + 1,), -1, dtype=torch.long)
        table[list(species)] = torch.arange(len(species))
        self.register_buffer("_index_of", table, persistent=False)
        # float buffer: follows ``module.to(dtype)`` so the one-hot has the model's dtype
        self.register_buffer("_eye", torch.eye(len(species)), persistent=False)
        self.irreps_in = None
        self.irreps_out = o3.Irreps(f"{len(species)}x0e")

    @property
    def num_species(self) -> int:
        """Number of one-hot channels."""
        return len(self.species)

    def index(self, numbers: torch.Tensor) -> torch.Tensor:
        """Channel index (N,) int64 of each atomic number in ``numbers`` (N,).

        Raises
        ------
        ValueError
            If an atomic number is not in ``species``.
        """
        numbers = numbers.long()
        out_of_range = (numbers < 0) | (numbers > _MAX_Z)
        idx = self._index_of[numbers.clamp(0, _MAX_Z)]
        unknown = out_of_range | (idx < 0)
        if bool(unknown.any()):
            bad = sorted({int(z) for z in numbers[unknown]})
            raise ValueError(
                f"atomic numbers {bad} are not among the model's species {self.species}"
            )
        return idx

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        """One-hot (N, num_species) of atomic numbers (N,), in the module's dtype."""
        return self._eye[self.index(numbers)]
