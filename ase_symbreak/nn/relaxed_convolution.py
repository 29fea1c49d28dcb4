"""Relaxed equivariant convolution: learnable symmetry-breaking weights (Hofgard et al., paper 001).

Each convolution owns a vector ``theta`` in ``0e + 0o + 1e + 1o + ... + Le + Lo``. The
filter that is tensor-producted with the node features is no longer the edge harmonics
``Y(r_ab)`` but ``theta (x) Y(r_ab)``, projected onto the filter irreps (Eq. 6):

.. math:: f'_a = \\frac{1}{\\sqrt{z}} \\sum_{b} f_b \\otimes_{W(|r_{ab}|)}
    (\\tilde\\theta \\otimes Y(\\hat r_{ab}))

``theta`` starts as ``0e = 1`` and everything else zero. The ``Y (x) 0e -> Y`` paths of the
filter product have coefficient exactly one (e3nn ``component`` normalisation, no path
normalisation), so with a scalar-only ``theta`` the filter *is* ``Y`` padded with zeros and
the layer is the equivariant one (Proposition 4.1); :meth:`RelaxedConvolution.from_equivariant`
builds a relaxed layer that reproduces a given :class:`EquivariantConvolution` exactly.
A non-scalar ``theta`` breaks O(3) down to the stabiliser of ``theta`` under its Wigner-D
action (see :mod:`ase_symbreak.orderparams.relaxed_weights`).
"""

from __future__ import annotations

import numpy as np
import torch
from e3nn import o3
from numpy.typing import NDArray

from ase_symbreak.nn.convolution import EquivariantConvolution

__all__ = [
    "RelaxedConvolution",
    "relaxation_penalty",
    "relaxation_prox_",
    "relaxed_convolutions",
    "theta_irreps",
]


def theta_irreps(lmax: int) -> o3.Irreps:
    """``0e + 0o + 1e + 1o + ... + lmax e + lmax o``, the irreps of the relaxed weights."""
    if lmax < 0:
        raise ValueError(f"lmax_theta must be >= 0, got {lmax!r}")
    return o3.Irreps([(1, (l, p)) for l in range(lmax + 1) for p in (1, -1)])


def _filter_irreps(irreps_edge_attr: o3.Irreps, filter_lmax: int) -> o3.Irreps:
    """Edge irreps first (so their paths keep their indices), then every other ``(l, p)``,
    l <= filter_lmax.
    """
    present = {ir for _, ir in irreps_edge_attr}
    extra = [
        (1, (l, p))
        for l in range(filter_lmax + 1)
        for p in (1, -1)
        if o3.Irrep(l, p) not in present
    ]
    return irreps_edge_attr + o3.Irreps(extra)


def _weight_offsets(tp: o3.TensorProduct) -> list[tuple[int, int]]:
    """``(start, stop)`` of each instruction's weights in the flat weight vector of ``tp``."""
    out, start = [], 0
    for ins in tp.instructions:
        n = int(np.prod(ins.path_shape))
        out.append((start, start + n))
        start += n
    return out


class RelaxedConvolution(EquivariantConvolution):
    """:class:`EquivariantConvolution` whose filter is ``theta (x) Y(edge)``.

    Parameters
    ----------
    irreps_node_in, irreps_edge_attr, irreps_out, num_radial, radial_hidden, avg_num_neighbors
        As in :class:`EquivariantConvolution`. ``irreps_edge_attr`` must list each irrep
        once (spherical harmonics ``0e + 1o + 2e + ...``).
    lmax_theta : int
        Highest ``l`` of the relaxed weights; ``theta`` holds one copy of every
        ``(l, p)``, ``l <= lmax_theta``, both parities (paper: 4 for shapes, 1 for fields).
    filter_lmax : int, optional
        Highest ``l`` of the filter ``theta (x) Y`` that is kept (both parities);
        default the highest ``l`` of ``irreps_edge_attr``. The paper keeps the full product;
        a smaller cut keeps the convolution as cheap as the equivariant one.

    Attributes
    ----------
    irreps_theta : Irreps
        Irreps of :attr:`theta`.
    theta : torch.nn.Parameter
        ``(irreps_theta.dim,)`` relaxed weights, e3nn basis (``l = 1`` is ``x, y, z``;
        ``y`` is the polar axis of the ``m`` index).
    """

    def __init__(
        self,
        irreps_node_in: o3.Irreps | str,
        irreps_edge_attr: o3.Irreps | str,
        irreps_out: o3.Irreps | str,
        num_radial: int,
        radial_hidden: int = 32,
        avg_num_neighbors: float = 1.0,
        lmax_theta: int = 4,
        filter_lmax: int | None = None,
    ) -> None:
        irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        if any(mul != 1 for mul, _ in irreps_edge_attr) or len(
            {ir for _, ir in irreps_edge_attr}
        ) != len(irreps_edge_attr):
            raise ValueError(
                f"irreps_edge_attr must list each irrep once with mul 1, got {irreps_edge_attr}"
            )
        filter_lmax = irreps_edge_attr.lmax if filter_lmax is None else int(filter_lmax)
        if filter_lmax < 0:
            raise ValueError(f"filter_lmax must be >= 0, got {filter_lmax!r}")
        irreps_theta = theta_irreps(lmax_theta)
        irreps_filter = _filter_irreps(irreps_edge_attr, filter_lmax)
        super().__init__(
            irreps_node_in,
            irreps_edge_attr,
            irreps_out,
            num_radial,
            radial_hidden,
            avg_num_neighbors,
            irreps_filter=irreps_filter,
        )
        self.irreps_theta = irreps_theta
        self.lmax_theta = int(lmax_theta)
        self.filter_lmax = filter_lmax
        instructions = [
            (i1, i2, i3, "uuu", False)
            for i1, (_, ir1) in enumerate(irreps_edge_attr)
            for i2, (_, ir2) in enumerate(irreps_theta)
            for i3, (_, ir3) in enumerate(irreps_filter)
            if ir3 in ir1 * ir2
        ]
        # component normalisation + no path normalisation: Y_l (x) 0e -> l is the identity
        self.filter_tp = o3.TensorProduct(
            irreps_edge_attr,
            irreps_theta,
            irreps_filter,
            instructions,
            irrep_normalization="component",
            path_normalization="none",
        )
        theta = torch.zeros(irreps_theta.dim, dtype=torch.get_default_dtype())
        theta[0] = 1.0  # 0e first: the layer starts exactly equivariant
        self.theta = torch.nn.Parameter(theta)

    def edge_filter(self, edge_attr: torch.Tensor) -> torch.Tensor:
        """``theta (x) Y`` for every edge, (E, irreps_filter.dim)."""
        theta = self.theta.to(edge_attr.dtype).expand(edge_attr.shape[0], -1)
        return self.filter_tp(edge_attr, theta)

    # ------------------------------------------------------------------ analysis
    def theta_blocks(self) -> dict[str, torch.Tensor]:
        """``theta`` split by irrep, ``{"0e": (1,), "1o": (3,), ...}`` (views, differentiable)."""
        return {
            str(ir): self.theta[sl]
            for (_, ir), sl in zip(self.irreps_theta, self.irreps_theta.slices())
        }

    def theta_norms(self) -> dict[str, float]:
        """Euclidean norm of each irrep of ``theta``, ``{"0e": ..., "0o": ..., "1e": ...}``."""
        return {
            k: float(torch.linalg.vector_norm(v.detach())) for k, v in self.theta_blocks().items()
        }

    def theta_components(self) -> dict[str, NDArray[np.float64]]:
        """Components of each irrep, ``(2l+1,)`` ordered ``m = -l .. l`` in e3nn's basis.

        e3nn's real spherical harmonics have ``y`` as polar axis: for ``l = 1`` the
        components are ``(x, y, z)``; for ``l = 2``, ``m = 0`` is ``y^2 - (x^2+z^2)/2`` and
        ``m = 2`` is ``z^2 - x^2``.
        """
        return {k: v.detach().cpu().double().numpy().copy() for k, v in self.theta_blocks().items()}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_equivariant(
        cls, conv: EquivariantConvolution, lmax_theta: int = 4, filter_lmax: int | None = None
    ) -> RelaxedConvolution:
        """A relaxed layer computing exactly what ``conv`` computes while ``theta`` is scalar.

        Weights of every tensor-product path that ``conv`` has are copied (output linear
        weights rescaled for the larger fan-in); paths through the extra filter irreps keep
        their random initialisation, they only see zeros until ``theta`` breaks symmetry.
        Useful to relax a trained equivariant model.
        """
        if type(conv) is not EquivariantConvolution:
            raise TypeError(f"expected a plain EquivariantConvolution, got {type(conv).__name__}")
        hs = conv.radial_mlp.hs
        if len(hs) > 3:
            raise ValueError(f"radial MLP with more than one hidden layer is not supported: {hs}")
        dtype = next(conv.parameters()).dtype
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            new = cls(
                conv.irreps_in,
                conv.irreps_edge_attr,
                conv.irreps_out,
                num_radial=hs[0],
                radial_hidden=hs[1] if len(hs) == 3 else 0,
                avg_num_neighbors=conv.avg_num_neighbors,
                lmax_theta=lmax_theta,
                filter_lmax=filter_lmax,
            )
        finally:
            torch.set_default_dtype(old)
        new.to(dtype)
        with torch.no_grad():
            new.linear_in.load_state_dict(conv.linear_in.state_dict())
            # tensor-product paths: match (i_in1, i_in2, ir_out); the filter starts with the
            # edge irreps
            new_paths = {
                (ins.i_in1, ins.i_in2, new.irreps_mid[ins.i_out].ir): (k, ins.i_out)
                for k, ins in enumerate(new.tp.instructions)
            }
            old_off, new_off = _weight_offsets(conv.tp), _weight_offsets(new.tp)
            mid_map: dict[int, int] = {}
            old_layers = list(conv.radial_mlp.children())
            new_layers = list(new.radial_mlp.children())
            for lo, ln in zip(old_layers[:-1], new_layers[:-1]):
                ln.load_state_dict(lo.state_dict())
            w_old, w_new = old_layers[-1].weight, new_layers[-1].weight  # (h_in, weight_numel)
            for k, ins in enumerate(conv.tp.instructions):
                k_new, i_out_new = new_paths[(ins.i_in1, ins.i_in2, conv.irreps_mid[ins.i_out].ir)]
                a, b = old_off[k]
                c, d = new_off[k_new]
                w_new[:, c:d] = w_old[:, a:b]
                mid_map[ins.i_out] = i_out_new
            # output linear: copy per (mid entry, out entry) block, undo the fan-in normalisation
            new_blocks = {
                (ins.i_in, ins.i_out): (view, ins.path_weight)
                for _, ins, view in new.linear_out.weight_views(yield_instruction=True)
            }
            for _, ins, view_old in conv.linear_out.weight_views(yield_instruction=True):
                view_new, pw_new = new_blocks[(mid_map[ins.i_in], ins.i_out)]
                view_new.copy_(view_old * (ins.path_weight / pw_new))
        return new


def relaxed_convolutions(model: torch.nn.Module) -> list[RelaxedConvolution]:
    """Every :class:`RelaxedConvolution` in ``model`` (``model`` itself included), in module
    order.
    """
    return [m for m in model.modules() if isinstance(m, RelaxedConvolution)]


def relaxation_penalty(model: torch.nn.Module, lam: float) -> torch.Tensor:
    """``lam * sum_layers sum_{(l,p) != 0e} ||theta^{l,p}||_2`` (paper Eq. 9).

    The paper uses ``lam = 1e-6`` for shape deformations and ``1e-4`` for the charged
    particle. The norm is not squared (a group-lasso): irreps that the data do not need are
    pulled to zero at a constant rate. Returns a 0-d tensor (zero if the model has no
    relaxed layer).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    terms = [
        torch.linalg.vector_norm(block)
        for conv in relaxed_convolutions(model)
        for name, block in conv.theta_blocks().items()
        if name != "0e"
    ]
    if not terms:
        return torch.zeros(())
    return lam * torch.stack(terms).sum()


@torch.no_grad()
def relaxation_prox_(model: torch.nn.Module, step: float) -> None:
    """Proximal step of :func:`relaxation_penalty` in place:
    ``theta_b *= max(0, 1 - step/|theta_b|)``.

    Call after each optimiser step with ``step = lr * lam`` instead of adding the penalty to
    the loss. The penalty's gradient ``lam theta_b/|theta_b|`` has norm ``lam`` however small
    ``theta_b`` is, so plain (sub)gradient descent leaves symmetry-forbidden irreps chattering
    at ``~lr*lam``; the proximal step (group soft-thresholding) sets them exactly to zero.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    for conv in relaxed_convolutions(model):
        for name, block in conv.theta_blocks().items():
            if name != "0e":
                norm = torch.linalg.vector_norm(block)
                block.mul_(torch.clamp(1.0 - step / torch.clamp(norm, min=1e-300), min=0.0))
