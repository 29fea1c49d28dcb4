"""The package's own E(3)-equivariant interatomic potential (NequIP-style, small).

species one-hot -> linear to scalars -> ``num_layers`` interaction blocks
(convolution + gate) -> linear readout to one ``0e`` per atom -> per-species
scale and shift (eV). Hidden features carry both parities up to ``lmax``, so the
energy is invariant under rotations *and* inversion. The last block keeps only even
scalars, which is all the readout uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from e3nn import o3

from ase_symbreak.models.base import EnergyModel
from ase_symbreak.nn import InteractionBlock, RadialEmbedding, SpeciesEmbedding
from ase_symbreak.torch_utils import default_dtype as _default_dtype


@dataclass(frozen=True)
class PotentialConfig:
    """Hyperparameters of :class:`E3nnPotential` (all JSON-serialisable).

    Attributes
    ----------
    species : tuple of int
        Atomic numbers the model knows, in one-hot order.
    cutoff : float
        Neighbour cutoff, Angstrom.
    num_radial : int
        Number of Bessel functions of the edge length.
    envelope_p : int
        Order of the polynomial cutoff envelope (C2 at the cutoff for p >= 2).
    lmax : int
        Highest angular momentum of edge harmonics and hidden features.
    hidden_mul : int
        Channels per hidden irrep (``hidden_mul x l e + hidden_mul x l o`` for l <= lmax).
    num_layers : int
        Number of interaction blocks.
    radial_hidden : int
        Width of the radial weight MLP.
    avg_num_neighbors : float
        Normalisation of the neighbour sum.
    energy_shifts : tuple of float or None
        Per-species energy added to every atom (eV), in ``species`` order; None = 0.
    energy_scales : tuple of float or None
        Per-species factor on the network output (eV), in ``species`` order; None = 1.
    """

    species: tuple[int, ...]
    cutoff: float = 4.5
    num_radial: int = 8
    envelope_p: int = 6
    lmax: int = 2
    hidden_mul: int = 16
    num_layers: int = 3
    radial_hidden: int = 32
    avg_num_neighbors: float = 20.0
    energy_shifts: tuple[float, ...] | None = None
    energy_scales: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(int(z) for z in self.species))
        for name in ("energy_shifts", "energy_scales"):
            value = getattr(self, name)
            if value is not None:
                value = tuple(float(v) for v in value)
                object.__setattr__(self, name, value)
                if len(value) != len(self.species):
                    raise ValueError(
                        f"{name} has {len(value)} entries, "
                        f"expected one per species ({len(self.species)})"
                    )
        if not self.species:
            raise ValueError("species must list at least one atomic number")
        if len(set(self.species)) != len(self.species):
            raise ValueError(f"species must be unique, got {self.species}")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be positive (Angstrom), got {self.cutoff!r}")
        for name in ("num_radial", "hidden_mul", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.lmax <= 6:
            raise ValueError(f"lmax must be in 0..6, got {self.lmax!r}")
        if self.envelope_p < 2:
            raise ValueError(f"envelope_p must be >= 2 for a C2 cutoff, got {self.envelope_p!r}")
        if not self.avg_num_neighbors > 0:
            raise ValueError(f"avg_num_neighbors must be positive, got {self.avg_num_neighbors!r}")

    @property
    def irreps_hidden(self) -> o3.Irreps:
        """Hidden node irreps: both parities for every l <= lmax."""
        return o3.Irreps([(self.hidden_mul, (l, p)) for l in range(self.lmax + 1) for p in (1, -1)])

    @property
    def irreps_sh(self) -> o3.Irreps:
        """Edge spherical harmonics ``0e + 1o + 2e + ...`` up to lmax."""
        return o3.Irreps.spherical_harmonics(self.lmax)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples), for JSON."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PotentialConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown PotentialConfig fields {unknown}; expected a subset of {sorted(known)}"
            )
        if "species" not in data:
            raise ValueError("PotentialConfig needs 'species'")
        return cls(**data)


def _layer_irreps(config: PotentialConfig) -> list[o3.Irreps]:
    """Output irreps wanted from each block: hidden irreps that can still reach the energy.

    The last block keeps only even scalars (all the readout uses); earlier blocks drop
    irreps from which no chain of tensor products with the edge harmonics leads to what
    the next block keeps (such features would be computed and never used). With few
    layers this prunes the odd-parity irreps; the energy is the same function.
    """
    sh = config.irreps_sh
    scalars = o3.Irreps(f"{config.hidden_mul}x0e")
    wanted = [scalars]
    needed = {o3.Irrep("0e")}
    for _ in range(config.num_layers - 1):
        # inputs of the next block that feed one of its kept outputs (0e included: gates)
        needed = {
            ir for _, ir in config.irreps_hidden if any(set(ir * ir_sh) & needed for _, ir_sh in sh)
        }
        wanted.append(o3.Irreps([(mul, ir) for mul, ir in config.irreps_hidden if ir in needed]))
        needed |= {o3.Irrep("0e")}
    return wanted[::-1]


class E3nnPotential(EnergyModel):
    """Equivariant message-passing potential giving per-atom energies (eV).

    Parameters
    ----------
    config : PotentialConfig
        Hyperparameters; parameters are initialised from torch's global RNG
        (call ``torch.manual_seed`` first for a reproducible model).
    dtype : torch.dtype, optional
        float32 or float64; default ``torch.get_default_dtype()``.

    Notes
    -----
    ``edge_vec`` must have the model's dtype. The model is built in float64 and then
    cast, so its Clebsch-Gordan constants are exact in float64; casting a float32
    model up with ``.to(torch.float64)`` works but keeps float32-rounded constants
    (equivariance to ~1e-7): build or load in float64 for finite-difference work.
    Every operation is twice differentiable (Hessians by double backward).
    """

    # buffers (``register_buffer`` in ``_build``)
    energy_shifts: torch.Tensor
    energy_scales: torch.Tensor

    def __init__(self, config: PotentialConfig, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        with _default_dtype(torch.float64):
            self._build(config)
        self.to(dtype)

    def _build(self, config: PotentialConfig) -> None:
        self.config = config
        self.cutoff = float(config.cutoff)
        self.num_interactions = int(config.num_layers)
        self.species = frozenset(config.species)

        self.embedding = SpeciesEmbedding(config.species)
        irreps_scalars = o3.Irreps(f"{config.hidden_mul}x0e")
        self.embed_linear = o3.Linear(self.embedding.irreps_out, irreps_scalars)
        self.spherical_harmonics = o3.SphericalHarmonics(
            config.irreps_sh, normalize=True, normalization="component"
        )
        self.radial = RadialEmbedding(config.cutoff, config.num_radial, p=config.envelope_p)

        blocks = []
        irreps = irreps_scalars
        for hidden in self._block_irreps(config):
            block = InteractionBlock(
                irreps,
                config.irreps_sh,
                hidden,
                num_radial=config.num_radial,
                radial_hidden=config.radial_hidden,
                avg_num_neighbors=config.avg_num_neighbors,
                **self._convolution_options(config),
            )
            blocks.append(block)
            irreps = block.irreps_out
        self.blocks = torch.nn.ModuleList(blocks)
        self.readout = o3.Linear(irreps, "0e")
        n = len(config.species)
        shifts = config.energy_shifts if config.energy_shifts is not None else (0.0,) * n
        scales = config.energy_scales if config.energy_scales is not None else (1.0,) * n
        self.register_buffer("energy_shifts", torch.tensor(shifts, dtype=torch.get_default_dtype()))
        self.register_buffer("energy_scales", torch.tensor(scales, dtype=torch.get_default_dtype()))
        self.irreps_in = None
        self.irreps_out = o3.Irreps("0e")

    def _block_irreps(self, config: PotentialConfig) -> list[o3.Irreps]:
        """Output irreps wanted from each interaction block (pruned: :func:`_layer_irreps`)."""
        return _layer_irreps(config)

    def _convolution_options(self, config: PotentialConfig) -> dict[str, Any]:
        """Keyword arguments that choose the blocks' convolution (none: the equivariant one)."""
        return {}

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters."""
        return self.energy_shifts.dtype

    def with_dtype(self, dtype: torch.dtype) -> E3nnPotential:
        """A copy in ``dtype``, same class, rebuilt from the config so e3nn constants are exact."""
        if dtype == self.dtype:
            return self
        copy = type(self)(self.config, dtype=dtype)
        copy.load_state_dict(
            {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.state_dict().items()}
        )
        return copy

    def forward(
        self,
        numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vec: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom energies (N,) in eV; see :meth:`EnergyModel.forward`."""
        if edge_vec.dtype != self.dtype:
            raise TypeError(
                f"edge_vec is {edge_vec.dtype} but the model is {self.dtype}; "
                f"call model.to({edge_vec.dtype})"
            )
        species = self.embedding.index(numbers)
        x = self.embed_linear(self.embedding(numbers))
        edge_attr = self.spherical_harmonics(edge_vec)
        edge_radial = self.radial(torch.linalg.vector_norm(edge_vec, dim=-1))
        for block in self.blocks:
            x = block(x, edge_src, edge_dst, edge_attr, edge_radial)
        energy = self.readout(x).squeeze(-1)
        return energy * self.energy_scales[species] + self.energy_shifts[species]
