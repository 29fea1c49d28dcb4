"""Recomputed functions: bounded memory for forces and exact Hessian-vector products.

The memory of a force call or of a Hessian-vector product of a message-passing potential
is dominated by edge-sized tensors (tensor-product messages, thousands of columns per
edge) that autograd keeps for the backward pass; double backward keeps the graph of the
first backward as well. :func:`recomputed` evaluates a function without keeping any of
its intermediates: its backward recomputes them, and the backward of that backward
(what a Hessian-vector product needs) recomputes them again, one call at a time. Applied
to edge chunks of each convolution (:class:`EdgeChunkedConvolution`), only one chunk's
intermediates are alive at any moment: measured on SevenNet-0, float64, one HVP of a
rattled 135-atom SrTiO3 cell takes 0.15 GB instead of 4.6 GB (``benchmarks/README.md``).

Values are those of the plain computation (the same operations, summed in edge chunks).
First and second derivatives only: forward-mode AD (dual tensors, ``torch.func``) is not
supported through :func:`recomputed`; :class:`EdgeChunkedConvolution` then falls back to
the plain computation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD


def _vjp(
    fn: Callable[..., torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    grad_out: torch.Tensor,
    create_graph: bool,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(xs, grads)``: fresh leaves ``xs`` for ``inputs`` and ``d(fn . grad_out)/d xs``."""
    xs = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
    wrt = [x for x in xs if x.requires_grad]
    with torch.enable_grad():
        out = fn(*xs)
        grads = (
            torch.autograd.grad(out, wrt, grad_out, allow_unused=True, create_graph=create_graph)
            if out.requires_grad
            else [None] * len(wrt)
        )
    by_input = iter(grads)
    full = [next(by_input) if x.requires_grad else None for x in xs]
    return xs, [torch.zeros_like(x) if g is None else g for g, x in zip(full, xs)]


class _Recomputed(torch.autograd.Function):
    """``fn(*inputs)`` keeping only the inputs; backward by :class:`_RecomputedVJP`."""

    @staticmethod
    def forward(ctx, fn, *inputs):
        ctx.fn = fn
        ctx.save_for_backward(*inputs)
        with torch.no_grad():
            return fn(*inputs)

    @staticmethod
    def backward(ctx, grad_out):
        inputs = ctx.saved_tensors
        return (None, *_RecomputedVJP.apply(ctx.fn, len(inputs), *inputs, grad_out))


class _RecomputedVJP(torch.autograd.Function):
    """The vector-Jacobian product of ``fn``, recomputed; its own backward recomputes too."""

    @staticmethod
    def forward(ctx, fn, n, *args):
        ctx.fn, ctx.n = fn, n
        ctx.save_for_backward(*args)
        _, grads = _vjp(fn, args[:n], args[n], create_graph=False)
        return tuple(grads)

    @staticmethod
    def backward(ctx, *cotangents):
        args = ctx.saved_tensors
        grad_out = args[ctx.n].detach().requires_grad_(True)
        with torch.enable_grad():
            xs, grads = _vjp(ctx.fn, args[: ctx.n], grad_out, create_graph=True)
            pairs = [(g, c) for g, c in zip(grads, cotangents) if g.requires_grad]
            leaves = [x for x in xs if x.requires_grad] + [grad_out]
            second = (
                torch.autograd.grad(
                    [g for g, _ in pairs], leaves, [c for _, c in pairs], allow_unused=True
                )
                if pairs
                else [None] * len(leaves)
            )
        by_leaf = iter(second)
        out = [next(by_leaf) if x.requires_grad else None for x in xs] + [next(by_leaf)]
        return (None, None, *out)


def recomputed(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
    """``fn(*inputs)`` whose intermediates are recomputed in the first and second backward.

    ``fn`` must be a pure function of ``inputs`` (other tensors it uses must not need
    gradients, e.g. integer indices or frozen weights) returning one tensor.
    """
    return _Recomputed.apply(fn, *inputs)


def has_tangent(*tensors: torch.Tensor) -> bool:
    """Whether any tensor carries a forward-mode tangent (inside ``fwAD.dual_level``)."""
    return any(fwAD.unpack_dual(t).tangent is not None for t in tensors)


class EdgeChunkedConvolution(torch.nn.Module):
    """A sevenn ``IrrepsConvolution`` evaluated in recomputed chunks of ``chunk`` edges.

    Same inputs and outputs as the wrapped module (sevenn's data dict): messages
    ``TP(x[src], edge_attr, weight_nn(edge_embedding))`` scattered onto ``dst`` and divided
    by the module's denominator. Memory: one chunk's messages instead of all of them.
    Graphs with fewer than ``min_edges`` edges are not chunked (faster: recomputing costs
    10-35 % of a force call or an HVP). Either way messages are summed by ``index_add``,
    not sevenn's ``scatter_reduce_`` over a broadcast index, whose backward is a ``gather``
    with an edge-by-feature index: 14-21 % of an HVP or a force call on 40 atoms.
    """

    def __init__(self, convolution: torch.nn.Module, chunk: int = 512, min_edges: int = 4096):
        super().__init__()
        if chunk < 1:
            raise ValueError(f"chunk must be a positive number of edges, got {chunk}")
        self.convolution = convolution
        self.chunk = int(chunk)
        self.min_edges = int(min_edges)

    def forward(self, data: dict) -> dict:
        # a sevenn IrrepsConvolution, whose stubs type convolution/weight_nn as None
        conv: Any = self.convolution
        x = data[conv.key_x]
        edge_attr, embedding = data[conv.key_filter], data[conv.key_weight_input]
        edge_dst, edge_src = data[conv.key_edge_idx][0], data[conv.key_edge_idx][1]
        if getattr(conv, "is_parallel", False):
            return conv(data)
        if edge_src.shape[0] < max(self.min_edges, self.chunk + 1) or has_tangent(
            x, edge_attr, embedding
        ):
            out = _Messages(conv, edge_src, edge_dst)(x, edge_attr, embedding)
            data[conv.key_x] = out.div(conv.denominator)
            return data
        total: torch.Tensor | None = None
        for start in range(0, len(edge_src), self.chunk):
            part = slice(start, start + self.chunk)
            piece = recomputed(
                _Messages(conv, edge_src[part], edge_dst[part]),
                x,
                edge_attr[part],
                embedding[part],
            )
            total = piece if total is None else total + piece
        assert total is not None  # at least chunk + 1 edges: one piece or more
        data[conv.key_x] = total.div(conv.denominator)
        return data


class _Messages:
    """Messages of one edge chunk summed onto their destination atoms (a pure function)."""

    def __init__(self, conv: torch.nn.Module, src: torch.Tensor, dst: torch.Tensor):
        # a sevenn IrrepsConvolution (its convolution and weight_nn are typed None there)
        self.conv: Any = conv
        self.src, self.dst = src, dst

    def __call__(
        self, x: torch.Tensor, edge_attr: torch.Tensor, embedding: torch.Tensor
    ) -> torch.Tensor:
        message = self.conv.convolution(x[self.src], edge_attr, self.conv.weight_nn(embedding))
        out = torch.zeros(
            (x.shape[0], message.shape[1]), dtype=message.dtype, device=message.device
        )
        return out.index_add(0, self.dst, message)
