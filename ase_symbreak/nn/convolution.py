"""Equivariant point convolution: node features (x) edge spherical harmonics.

A message along ``src -> dst`` is the tensor product of the (linearly mixed) source
features with a *filter* (by default the edge spherical harmonics), weighted per edge
by an MLP of the radial basis. Messages are summed on ``dst`` and divided by
``sqrt(avg_num_neighbors)``.

Subclasses add inputs to the filter (for instance learnable symmetry-breaking weights)
by passing ``irreps_filter`` to ``__init__`` and overriding :meth:`edge_filter`.
"""

from __future__ import annotations

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet


def uvu_instructions(
    irreps_in1: o3.Irreps, irreps_in2: o3.Irreps, irreps_out: o3.Irreps
) -> tuple[o3.Irreps, list[tuple[int, int, int, str, bool]]]:
    """Channel-wise ('uvu') paths ``in1 x in2 -> ir`` for every ``ir`` present in ``irreps_out``.

    Returns
    -------
    irreps_mid : Irreps
        Sorted output irreps of the tensor product (one entry per path, mul of in1).
    instructions : list
        ``(i_in1, i_in2, i_mid, "uvu", True)`` e3nn instructions indexing ``irreps_mid``.
    """
    wanted = {ir for _, ir in irreps_out}
    mid: list[tuple[int, o3.Irrep]] = []
    paths: list[tuple[int, int, int]] = []
    for i1, (mul, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_in2):
            for ir in ir1 * ir2:
                if ir in wanted:
                    paths.append((i1, i2, len(mid)))
                    mid.append((mul, ir))
    irreps_mid, perm, _ = o3.Irreps(mid).sort()
    instructions = [(i1, i2, perm[k], "uvu", True) for i1, i2, k in paths]
    return irreps_mid, instructions


class EquivariantConvolution(torch.nn.Module):
    """Radially weighted tensor-product convolution with sum aggregation.

    Parameters
    ----------
    irreps_node_in : Irreps
        Node features entering the block.
    irreps_edge_attr : Irreps
        Edge attributes, the spherical harmonics of the edge direction.
    irreps_out : Irreps
        Node features produced (irreps with no tensor-product path get zeros).
    num_radial : int
        Size of the radial basis fed to the weight MLP.
    radial_hidden : int
        Width of the single hidden layer of the weight MLP (0: linear map).
    avg_num_neighbors : float
        Typical number of neighbours; the sum over messages is divided by its sqrt.
    irreps_filter : Irreps, optional
        Irreps of the second tensor-product operand returned by :meth:`edge_filter`;
        defaults to ``irreps_edge_attr``. Subclasses that extend the filter set it.

    Notes
    -----
    e3nn stores Clebsch-Gordan constants in the default dtype at construction: build
    under ``torch.set_default_dtype(torch.float64)`` for exact float64 equivariance.

    Attributes
    ----------
    irreps_in, irreps_out : Irreps
        Node features in and out.
    irreps_mid : Irreps
        Output of the tensor product, before the output linear map.
    """

    def __init__(
        self,
        irreps_node_in: o3.Irreps | str,
        irreps_edge_attr: o3.Irreps | str,
        irreps_out: o3.Irreps | str,
        num_radial: int,
        radial_hidden: int = 32,
        avg_num_neighbors: float = 1.0,
        irreps_filter: o3.Irreps | str | None = None,
    ) -> None:
        super().__init__()
        if not avg_num_neighbors > 0:
            raise ValueError(f"avg_num_neighbors must be positive, got {avg_num_neighbors!r}")
        self.irreps_in = o3.Irreps(irreps_node_in)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_filter = (
            o3.Irreps(irreps_filter) if irreps_filter is not None else self.irreps_edge_attr
        )
        self.irreps_out = o3.Irreps(irreps_out)
        self.avg_num_neighbors = float(avg_num_neighbors)

        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.irreps_mid, instructions = uvu_instructions(
            self.irreps_in, self.irreps_filter, self.irreps_out
        )
        if not instructions:
            raise ValueError(
                f"no tensor-product path {self.irreps_in} x {self.irreps_filter} "
                f"reaches {self.irreps_out}"
            )
        self.tp = o3.TensorProduct(
            self.irreps_in,
            self.irreps_filter,
            self.irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        hidden = [radial_hidden] if radial_hidden > 0 else []
        # no biases and silu(0) = 0: weights vanish with the radial basis at the cutoff
        self.radial_mlp = FullyConnectedNet(
            [num_radial, *hidden, self.tp.weight_numel], torch.nn.functional.silu
        )
        self.linear_out = o3.Linear(self.irreps_mid, self.irreps_out)

    def edge_filter(self, edge_attr: torch.Tensor) -> torch.Tensor:
        """Second operand of the tensor product, (E, irreps_filter.dim).

        The base class uses the edge attributes unchanged; override to append
        more irreps (and pass the matching ``irreps_filter`` to ``__init__``).
        """
        return edge_attr

    def forward(
        self,
        node_features: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_radial: torch.Tensor,
    ) -> torch.Tensor:
        """Convolve node features over the graph.

        Parameters
        ----------
        node_features : (N, irreps_in.dim)
        edge_src, edge_dst : (E,) int64, message ``src -> dst``
        edge_attr : (E, irreps_edge_attr.dim), spherical harmonics of the edge vectors
        edge_radial : (E, num_radial), radial basis of the edge lengths

        Returns
        -------
        (N, irreps_out.dim) node features.
        """
        x = self.linear_in(node_features)
        weight = self.radial_mlp(edge_radial)
        messages = self.tp(x[edge_src], self.edge_filter(edge_attr), weight)
        # index_add (not scatter_reduce) keeps double backward cheap and exact
        summed = messages.new_zeros(x.shape[0], messages.shape[1]).index_add(0, edge_dst, messages)
        return self.linear_out(summed * self.avg_num_neighbors**-0.5)
