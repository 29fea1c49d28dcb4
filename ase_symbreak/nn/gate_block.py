"""One interaction block: equivariant convolution + self-interaction, then a gate.

``out = Gate(conv(x) + self_interaction(x))``: scalars go through silu (even) or
tanh (odd); every ``l > 0`` irrep is multiplied by its own sigmoid of an even scalar
gate. Irreps of ``irreps_hidden`` that no tensor-product path can reach from the
input are dropped, so ``irreps_out`` may be smaller than ``irreps_hidden``.
"""

from __future__ import annotations

from typing import Any

import torch
from e3nn import o3
from e3nn.nn import Gate

from ase_symbreak.nn.convolution import EquivariantConvolution

_SCALAR_ACT = {1: torch.nn.functional.silu, -1: torch.tanh}


def reachable_irreps(irreps_in1: o3.Irreps, irreps_in2: o3.Irreps, irreps: o3.Irreps) -> o3.Irreps:
    """The entries of ``irreps`` that appear in some product ``ir1 x ir2``."""
    products = {ir for _, ir1 in irreps_in1 for _, ir2 in irreps_in2 for ir in ir1 * ir2}
    return o3.Irreps([(mul, ir) for mul, ir in irreps if ir in products])


def build_gate(irreps_hidden: o3.Irreps) -> Gate:
    """Gate with scalars of ``irreps_hidden`` activated and one even gate per ``l > 0`` irrep."""
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l > 0])
    gates = o3.Irreps([(mul, "0e") for mul, _ in gated])
    return Gate(
        scalars,
        [_SCALAR_ACT[ir.p] for _, ir in scalars],
        gates,
        [torch.sigmoid] * len(gates),
        gated,
    )


class InteractionBlock(torch.nn.Module):
    """Convolution, linear self-interaction and gated nonlinearity.

    Parameters
    ----------
    irreps_node_in : Irreps
        Node features entering the block.
    irreps_edge_attr : Irreps
        Spherical harmonics of the edge directions.
    irreps_hidden : Irreps
        Wanted output features (unreachable irreps are dropped; an even scalar
        must be reachable when ``l > 0`` irreps are kept, for the gates).
    num_radial, radial_hidden, avg_num_neighbors
        Passed to the convolution.
    convolution_cls : type
        Convolution class (a subclass of :class:`EquivariantConvolution`).
    **convolution_kwargs
        Extra keyword arguments for ``convolution_cls``.

    Attributes
    ----------
    irreps_in, irreps_out : Irreps
        Node features in and out.
    """

    def __init__(
        self,
        irreps_node_in: o3.Irreps | str,
        irreps_edge_attr: o3.Irreps | str,
        irreps_hidden: o3.Irreps | str,
        num_radial: int,
        radial_hidden: int = 32,
        avg_num_neighbors: float = 1.0,
        convolution_cls: type[EquivariantConvolution] = EquivariantConvolution,
        **convolution_kwargs: Any,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_node_in)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        filter_irreps = o3.Irreps(convolution_kwargs.get("irreps_filter") or self.irreps_edge_attr)
        hidden = reachable_irreps(self.irreps_in, filter_irreps, o3.Irreps(irreps_hidden))
        if hidden.dim == 0:
            raise ValueError(
                f"none of {irreps_hidden} is reachable from {self.irreps_in} x {filter_irreps}"
            )
        if any(ir.l > 0 for _, ir in hidden) and o3.Irrep("0e") not in reachable_irreps(
            self.irreps_in, filter_irreps, o3.Irreps("0e")
        ):
            raise ValueError(
                f"gated irreps in {hidden} need an even scalar reachable from {self.irreps_in}"
            )
        self.gate = build_gate(hidden)
        self.conv = convolution_cls(
            self.irreps_in,
            self.irreps_edge_attr,
            self.gate.irreps_in,
            num_radial,
            radial_hidden,
            avg_num_neighbors,
            **convolution_kwargs,
        )
        self.self_interaction = o3.Linear(self.irreps_in, self.gate.irreps_in)
        self.irreps_out = self.gate.irreps_out

    def forward(
        self,
        node_features: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_radial: torch.Tensor,
    ) -> torch.Tensor:
        """Update node features (N, irreps_in.dim) -> (N, irreps_out.dim).

        Edge arguments as in :meth:`EquivariantConvolution.forward`.
        """
        h = self.conv(node_features, edge_src, edge_dst, edge_attr, edge_radial)
        h = (h + self.self_interaction(node_features)) * 0.5**0.5
        return self.gate(h)
