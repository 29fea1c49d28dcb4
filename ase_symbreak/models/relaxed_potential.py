"""A potential whose convolutions carry learnable symmetry-breaking weights (paper 001).

Same architecture as :class:`~ase_symbreak.models.e3nn_potential.E3nnPotential`, with every
convolution a :class:`~ase_symbreak.nn.relaxed_convolution.RelaxedConvolution`. While every
``theta`` is scalar-only (the initial state) the energy is E(3)-invariant; a trained
non-scalar ``theta`` plays the role of an external field or strain the atoms feel (a 1o
``theta`` an electric field, a 1e one a magnetic field, a 2e one a uniaxial strain), and the
readout
:func:`ase_symbreak.orderparams.relaxed_weights.theta_readout` tells which symmetry it left.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import torch
from e3nn import o3

from ase_symbreak.models.e3nn_potential import E3nnPotential, PotentialConfig
from ase_symbreak.nn.relaxed_convolution import RelaxedConvolution

__all__ = ["RelaxedPotential", "RelaxedPotentialConfig"]


@dataclass(frozen=True)
class RelaxedPotentialConfig(PotentialConfig):
    """:class:`PotentialConfig` plus the relaxed weights.

    Attributes
    ----------
    lmax_theta : int
        Highest ``l`` of ``theta`` (both parities) in every convolution.
    filter_lmax : int or None
        Highest ``l`` kept of ``theta (x) Y``; None = ``lmax``.
    """

    lmax_theta: int = 2
    filter_lmax: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lmax_theta < 0:
            raise ValueError(f"lmax_theta must be >= 0, got {self.lmax_theta!r}")
        if self.filter_lmax is not None and self.filter_lmax < 0:
            raise ValueError(f"filter_lmax must be >= 0 or None, got {self.filter_lmax!r}")

    @classmethod
    def from_potential_config(
        cls, config: PotentialConfig, **relaxed: Any
    ) -> RelaxedPotentialConfig:
        """The relaxed version of an equivariant config (``relaxed``: lmax_theta, filter_lmax)."""
        return cls(**dataclasses.asdict(config), **relaxed)


class RelaxedPotential(E3nnPotential):
    """Per-atom energies (eV) from relaxed interaction blocks.

    Parameters
    ----------
    config : RelaxedPotentialConfig
        Hyperparameters (a plain :class:`PotentialConfig` gets ``lmax_theta = 2``).
    dtype : torch.dtype, optional
        float32 or float64; built in float64 then cast, as :class:`E3nnPotential`.

    Notes
    -----
    Hidden blocks keep every irrep of ``irreps_hidden`` (a non-scalar ``theta`` can turn
    any of them into the energy, so the equivariant model's pruning does not apply); the
    last block keeps the even scalars. Parameters named ``*.theta`` are the relaxed weights;
    train them with :func:`ase_symbreak.nn.relaxed_convolution.relaxation_penalty` in the loss.
    """

    def __init__(self, config: PotentialConfig, dtype: torch.dtype | None = None) -> None:
        if not isinstance(config, RelaxedPotentialConfig):
            config = RelaxedPotentialConfig.from_potential_config(config)
        super().__init__(config, dtype=dtype)

    def _block_irreps(  # type: ignore[override]
        self, config: RelaxedPotentialConfig
    ) -> list[o3.Irreps]:
        """Every irrep of ``irreps_hidden`` in the hidden blocks, the even scalars in the last."""
        scalars = o3.Irreps(f"{config.hidden_mul}x0e")
        return [config.irreps_hidden] * (config.num_layers - 1) + [scalars]

    def _convolution_options(  # type: ignore[override]
        self, config: RelaxedPotentialConfig
    ) -> dict[str, Any]:
        """Relaxed convolutions with the config's ``lmax_theta`` and ``filter_lmax``."""
        return {
            "convolution_cls": RelaxedConvolution,
            "lmax_theta": config.lmax_theta,
            "filter_lmax": config.filter_lmax,
        }

    def relaxed_convolutions(self) -> list[RelaxedConvolution]:
        """The relaxed convolutions, one per block, in order."""
        return [cast(RelaxedConvolution, block.conv) for block in self.blocks]
