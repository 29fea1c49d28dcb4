"""e3nn building blocks: radial basis, species embedding, convolution, gated blocks."""

from ase_symbreak.nn.convolution import EquivariantConvolution
from ase_symbreak.nn.embedding import SpeciesEmbedding
from ase_symbreak.nn.gate_block import InteractionBlock
from ase_symbreak.nn.radial import BesselBasis, PolynomialCutoff, RadialEmbedding
from ase_symbreak.nn.relaxed_convolution import (
    RelaxedConvolution,
    relaxation_penalty,
    relaxation_prox_,
)

__all__ = [
    "BesselBasis",
    "EquivariantConvolution",
    "InteractionBlock",
    "PolynomialCutoff",
    "RadialEmbedding",
    "RelaxedConvolution",
    "SpeciesEmbedding",
    "relaxation_penalty",
    "relaxation_prox_",
]
