"""The equivariant network of the gradient method: parent + per-site input features -> target.

Node inputs are the fixed species one-hot (``n_species x 0e``) followed by the learnable
order-parameter features (``0e+0o+1e+1o+...+lmax e+lmax o``). A stack of
:class:`~ase_symbreak.nn.InteractionBlock` on the parent's (fixed) graph is followed by a
linear map to the target irreps; global targets are the mean over nodes.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from e3nn import o3

from ase_symbreak.hessian.graph import edge_vectors, neighbor_list
from ase_symbreak.nn import InteractionBlock, RadialEmbedding

__all__ = ["OrderParameterNetwork", "default_cutoff", "feature_irreps"]


def feature_irreps(lmax: int, parities: str = "both") -> o3.Irreps:
    """``0e+0o+1e+1o+...`` up to ``lmax``; ``parities`` "both", "even" (e only) or "spherical"
    (``(-1)^l``).
    """
    if lmax < 0:
        raise ValueError(f"lmax must be >= 0, got {lmax}")
    out = []
    for l in range(lmax + 1):
        if parities == "both":
            out += [(1, (l, 1)), (1, (l, -1))]
        elif parities == "even":
            out += [(1, (l, 1))]
        elif parities == "spherical":
            out += [(1, (l, (-1) ** l))]
        else:
            raise ValueError(f"parities must be 'both', 'even' or 'spherical', got {parities!r}")
    irreps = o3.Irreps(out)
    if o3.Irrep("0e") not in [ir for _, ir in irreps]:
        irreps = o3.Irreps("0e") + irreps
    return irreps


def default_cutoff(parent: Atoms) -> float:
    """Cutoff that reaches every site's first shell: 1.2 x the largest nearest-neighbour
    distance.
    """
    pos = parent.positions
    if len(parent) < 2:
        raise ValueError("the parent needs at least two sites")
    if all(parent.pbc):
        nl = neighbor_list(parent, float(np.max(parent.cell.lengths())) * 1.01)
        vec = edge_vectors(
            torch.as_tensor(pos), torch.as_tensor(parent.cell.array, dtype=torch.float64), nl
        ).numpy()
        d = np.linalg.norm(vec, axis=1)
        nearest = np.full(len(parent), np.inf)
        np.minimum.at(nearest, nl.edge_src, d)
    else:
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
    return float(1.2 * nearest.max())


class OrderParameterNetwork(torch.nn.Module):
    """Equivariant map ``(parent graph, node features) -> target``.

    Parameters
    ----------
    parent : Atoms
        Fixed geometry; its graph is built once with ``cutoff``.
    irreps_features : Irreps
        Learnable per-site input features (appended to the species one-hot).
    irreps_target : Irreps
        Output irreps (one row per node, or one for the structure if ``per_site`` is False).
    per_site : bool
    cutoff : float
        Angstrom.
    num_layers, mul, lmax_sh, num_radial
        Depth, channels per hidden irrep (scalars get ``2 * mul``), largest edge spherical
        harmonic and radial basis size.

    Attributes
    ----------
    irreps_in : Irreps
        ``n_species x 0e + irreps_features``.
    irreps_out : Irreps
        ``irreps_target``.
    """

    # buffers (``register_buffer`` in ``__init__``)
    onehot: torch.Tensor
    edge_src: torch.Tensor
    edge_dst: torch.Tensor
    edge_attr: torch.Tensor
    edge_radial: torch.Tensor

    def __init__(
        self,
        parent: Atoms,
        irreps_features: o3.Irreps,
        irreps_target: o3.Irreps,
        per_site: bool,
        cutoff: float,
        num_layers: int = 2,
        mul: int = 8,
        lmax_sh: int = 2,
        num_radial: int = 8,
    ) -> None:
        super().__init__()
        species = sorted(set(parent.numbers.tolist()))
        self.irreps_features = o3.Irreps(irreps_features)
        self.irreps_in = o3.Irreps(f"{len(species)}x0e") + self.irreps_features
        self.irreps_out = o3.Irreps(irreps_target)
        self.per_site = bool(per_site)
        onehot = np.zeros((len(parent), len(species)))
        onehot[np.arange(len(parent)), [species.index(z) for z in parent.numbers]] = 1.0
        dtype = torch.get_default_dtype()
        self.register_buffer("onehot", torch.as_tensor(onehot, dtype=dtype))

        nl = neighbor_list(parent, cutoff)
        if len(nl.edge_src) == 0:
            raise ValueError(f"no neighbours within cutoff {cutoff:.3f} A")
        vec = edge_vectors(
            torch.as_tensor(parent.positions, dtype=dtype),
            torch.as_tensor(parent.cell.array, dtype=dtype),
            nl,
        )
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax_sh)
        radial = RadialEmbedding(cutoff, num_radial)
        self.register_buffer("edge_src", torch.as_tensor(nl.edge_src))
        self.register_buffer("edge_dst", torch.as_tensor(nl.edge_dst))
        self.register_buffer(
            "edge_attr", o3.spherical_harmonics(self.irreps_sh, vec, True, "component")
        )
        self.register_buffer("edge_radial", radial(vec.norm(dim=1)))
        avg = len(nl.edge_src) / len(parent)

        hidden = o3.Irreps(
            [(2 * mul, (0, 1)), (mul, (0, -1))]
            + [(mul, (l, p)) for l in range(1, lmax_sh + 1) for p in (1, -1)]
        )
        blocks, irreps = [], self.irreps_in
        for _ in range(num_layers):
            block = InteractionBlock(irreps, self.irreps_sh, hidden, num_radial, 16, avg)
            blocks.append(block)
            irreps = block.irreps_out
        self.blocks = torch.nn.ModuleList(blocks)
        self.readout = o3.Linear(irreps, self.irreps_out)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, irreps_features.dim)`` -> ``(N, irreps_out.dim)`` or ``(irreps_out.dim,)``."""
        h = torch.cat([self.onehot, features], dim=1)
        for block in self.blocks:
            h = block(h, self.edge_src, self.edge_dst, self.edge_attr, self.edge_radial)
        out = self.readout(h)
        return out if self.per_site else out.mean(dim=0)
