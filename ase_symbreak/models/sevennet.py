"""Adapter for the embedded pretrained default: SevenNet-0 from the ``sevenn`` wheel.

SevenNet-0 is an e3nn (NequIP-style) universal potential whose checkpoint ships inside
the ``sevenn`` package, so it works offline. We load the checkpoint with
``torch.load(weights_only=True)`` (only numpy arrays/dtypes are allow-listed), build the
model with sevenn's own builder on the eager e3nn path, drop its force/stress output
head (we differentiate ourselves) and feed it edge vectors built in torch, so autograd
reaches positions and strain to any order.

Known property (measured): SevenNet-0 is SE(3)- but not parity-equivariant.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from numpy._core.multiarray import _reconstruct

from ase_symbreak.models.base import EnergyModel
from ase_symbreak.torch_utils import default_dtype as _default_dtype

if TYPE_CHECKING:
    from sevenn.nn.node_embedding import OnehotEmbedding

DEFAULT_PRETRAINED = "7net-0"
#: edges per recomputed convolution chunk. Graphs under 4096 edges (about 90 atoms of an
#: oxide at SevenNet's 5 A cutoff) run unchunked: a float64 HVP keeps about 0.8 MB per
#: edge unchunked (up to about 3 GB), chunked about 0.2 GB at 135 atoms (measured).
DEFAULT_EDGE_CHUNK = 512

# What sevenn's checkpoints pickle besides tensors: numpy arrays and their dtypes.
_NUMPY_GLOBALS: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.Float32DType,
    np.dtypes.Float64DType,
    np.dtypes.Int64DType,
    np.dtypes.Int32DType,
    np.dtypes.BoolDType,
]


def _safe_load_checkpoint(path: str) -> dict:
    """Load a sevenn checkpoint without executing pickled code."""
    with torch.serialization.safe_globals(_NUMPY_GLOBALS):
        return torch.load(path, weights_only=True, map_location="cpu")


class _OneHot(torch.nn.Module):
    """Replaces sevenn's one-hot embedding, whose output is hard-coded to float32."""

    def __init__(
        self,
        num_classes: int,
        key_x: str,
        key_out: str,
        key_extra: str | None,
        key_save: str | None,
        dtype: torch.dtype,
    ):
        super().__init__()
        self.num_classes, self.key_x, self.key_out = num_classes, key_x, key_out
        self.key_extra, self.key_save, self.dtype = key_extra, key_save, dtype

    def embed(self, index: torch.Tensor) -> torch.Tensor:
        """One-hot rows (N, num_classes) in ``dtype``; an index of -1 (unknown) raises."""
        return torch.nn.functional.one_hot(index, self.num_classes).to(self.dtype)

    def forward(self, data: dict) -> dict:
        index = data[self.key_x]
        embedding = self.embed(index)
        data[self.key_out] = embedding
        if self.key_extra is not None:
            data[self.key_extra] = embedding
        if self.key_save is not None:
            data[self.key_save] = index
        return data


class _CatSplitBackward(torch.autograd.Function):
    """``torch.cat`` whose backward is ``torch.split`` (whose own backward is one ``cat``).

    Plain ``cat`` backpropagates through ``narrow`` views; differentiating those again
    (Hessians) allocates a zero-filled full-size buffer per piece and adds them up:
    O(pieces x size) memory traffic instead of O(size). Values are identical.
    """

    @staticmethod
    def forward(dim: int, *tensors: torch.Tensor) -> torch.Tensor:
        return torch.cat(tensors, dim)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        dim, *tensors = inputs
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (None, *torch.split(grad, ctx.sizes, ctx.dim))

    @staticmethod
    def jvp(ctx, dim: None, *tangents: torch.Tensor) -> torch.Tensor:
        return torch.cat(tangents, ctx.dim)

    @staticmethod
    def vmap(info, in_dims: tuple, dim: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, int]:
        size = info.batch_size
        moved = [
            t.movedim(d, 0) if d is not None else t.unsqueeze(0).expand(size, *t.shape)
            for t, d in zip(tensors, in_dims[1:])
        ]
        return _CatSplitBackward.apply(dim + 1 if dim >= 0 else dim, *moved), 0


def _cat_split_backward(tensors: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
    if len(tensors) == 1:
        return tensors[0]
    return _CatSplitBackward.apply(dim, *tensors)


def _split_columns(
    x: torch.Tensor, bounds: tuple[tuple[int, int], ...]
) -> tuple[torch.Tensor, ...]:
    """Pieces ``x[:, a:b]`` for sorted, non-overlapping ``bounds``, by one ``torch.split``.

    ``split``'s backward is one ``cat`` (O(size)), where separate slices each backpropagate
    into a zero-filled full-size buffer (O(pieces x size)). Gaps become unused pieces.
    """
    sizes, keep, cursor = [], [], 0
    for a, b in bounds:
        if a > cursor:
            sizes.append(a - cursor)
        keep.append(len(sizes))
        sizes.append(b - a)
        cursor = b
    if x.shape[1] > cursor:
        sizes.append(x.shape[1] - cursor)
    pieces = torch.split(x, sizes, dim=1)
    return tuple(pieces[k] for k in keep)


def _column_slice(node: torch.fx.Node) -> tuple[int, int] | None:
    """``(a, b)`` if ``node`` is ``x[:, a:b]`` with literal bounds, else None."""
    if node.op != "call_function" or node.target is not operator.getitem or len(node.args) != 2:
        return None
    index = node.args[1]
    if not (isinstance(index, tuple) and len(index) == 2):
        return None
    first, second = index
    if not (isinstance(first, slice) and isinstance(second, slice)):
        return None
    if (first.start, first.stop, first.step) != (None, None, None) or second.step not in (None, 1):
        return None
    if (
        not (isinstance(second.start, int) and isinstance(second.stop, int))
        or second.start < 0
        or second.stop <= second.start
    ):
        return None
    return second.start, second.stop


def _fuse_slices_and_cats(module: torch.fx.GraphModule) -> int:
    """Rewrite one e3nn-generated fx module in place (exact): column slices of a tensor ->
    one ``split``; ``torch.cat`` -> :func:`_cat_split_backward`; dead nodes removed.
    Returns the number of rewritten nodes.
    """
    graph = module.graph
    changed = 0
    groups: dict[torch.fx.Node, list[tuple[tuple[int, int], torch.fx.Node]]] = {}
    for node in graph.nodes:
        span = _column_slice(node)
        if span is not None and isinstance(node.args[0], torch.fx.Node):
            groups.setdefault(node.args[0], []).append((span, node))
    for source, items in groups.items():
        items.sort(key=lambda item: item[0])
        bounds = [b for b, _ in items]
        if len(items) < 2 or any(b1[1] > b2[0] for b1, b2 in zip(bounds, bounds[1:])):
            continue
        with graph.inserting_after(source):
            split = graph.call_function(_split_columns, (source, tuple(bounds)))
        for k, (_, node) in enumerate(items):
            with graph.inserting_after(split):
                piece = graph.call_function(operator.getitem, (split, k))
            node.replace_all_uses_with(piece)
            graph.erase_node(node)
            changed += 1
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch.cat:
            tensors = node.args[0] if node.args else node.kwargs["tensors"]
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            with graph.inserting_before(node):
                fused = graph.call_function(_cat_split_backward, (tensors, dim))
            node.replace_all_uses_with(fused)
            graph.erase_node(node)
            changed += 1
    graph.eliminate_dead_code()
    graph.lint()
    module.recompile()
    return changed


def optimize_for_hessians(network: torch.nn.Module) -> int:
    """Apply :func:`_fuse_slices_and_cats` to every e3nn tensor-product fx module.

    Only e3nn's generated ``TensorProduct`` code is touched (edge-sized tensors, where the
    cost is); values are bit-for-bit those of the original graph. Returns nodes rewritten.
    """
    from e3nn.o3 import TensorProduct

    changed = 0
    for module in network.modules():
        if isinstance(module, TensorProduct):
            for child in module.children():
                if isinstance(child, torch.fx.GraphModule):
                    changed += _fuse_slices_and_cats(child)
    return changed


class SevenNetModel(EnergyModel):
    """SevenNet pretrained potential as an :class:`EnergyModel`.

    Parameters
    ----------
    name : a pretrained name known to ``sevenn`` (default ``"7net-0"``; also ``"7net-l3i5"``,
        ``"7net-mf-0"``) or a checkpoint path
    dtype : ``torch.float32`` (the checkpoint's precision) or ``torch.float64``
    modality : the fidelity of a multi-fidelity model (SevenNet-MF-0: ``"R2SCAN"`` or
        ``"PBE"``); None: the checkpoint's default. Ignored for single-fidelity models.
    optimize : rewrite e3nn's generated tensor-product code for fast (double) backward
        (:func:`optimize_for_hessians`; exact, same values); ``False`` keeps it as built.
    edge_chunk : evaluate each convolution in recomputed chunks of this many edges
        (:class:`~ase_symbreak.models.recompute.EdgeChunkedConvolution`) when a graph has
        4096 edges or more: memory of forces and Hessian-vector products bounded by one chunk's
        messages instead of growing with the cell; same values. ``None``: plain sevenn
        convolutions always (needed for ``torch.func`` transforms of large cells).
    """

    def __init__(
        self,
        name: str = DEFAULT_PRETRAINED,
        dtype: torch.dtype = torch.float32,
        optimize: bool = True,
        modality: str | None = None,
        edge_chunk: int | None = DEFAULT_EDGE_CHUNK,
    ):
        super().__init__()
        import sevenn._keys as KEY
        from sevenn import util
        from sevenn.checkpoint import _config_cp_routine
        from sevenn.model_build import build_E3_equivariant_model
        from sevenn.scripts.backward_compatibility import patch_state_dict_if_old

        path = name if _is_file(name) else str(util.pretrained_name_to_path(name))
        checkpoint = _safe_load_checkpoint(path)
        config = _config_cp_routine(checkpoint["config"])
        config[KEY.USE_OEQ] = False
        config["_flash_lammps"] = False
        with _default_dtype(dtype), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            network = build_E3_equivariant_model(config)
        state = patch_state_dict_if_old(checkpoint["model_state_dict"], config, network)
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
        network.load_state_dict(state, strict=True)
        network.set_is_batch_data(False)
        network.delete_module_by_key("force_output")
        onehot = cast("OnehotEmbedding", network._modules["onehot_idx_to_onehot"])
        network.replace_module(
            "onehot_idx_to_onehot",
            _OneHot(
                onehot.num_classes,
                onehot.key_x,
                onehot.key_output,
                onehot.key_additional_output,
                onehot.key_save,
                dtype,
            ),
        )
        modalities = list(config.get("_modal_map") or {}) if config.get("use_modality") else []
        if modalities:
            modality = modality or str(config.get("default_modal") or modalities[0])
            match = {m.lower(): m for m in modalities}.get(modality.lower())
            if match is None:
                raise ValueError(f"unknown modality {modality!r} of {name}; it has {modalities}")
            network.prepare_modal_deploy(match)
            modality = match
        else:
            modality = None
        network.key_grad = None  # we own the autograd graph
        network.to(dtype).eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        if optimize:
            optimize_for_hessians(network)
        if edge_chunk is not None:
            _chunk_convolutions(network, edge_chunk)
        self.network = network
        self.keys = KEY
        self.cutoff = float(config[KEY.CUTOFF])
        self.num_interactions = int(config[KEY.NUM_CONVOLUTION])
        self.type_map = {int(z): int(i) for z, i in config[KEY.TYPE_MAP].items()}
        self.species = frozenset(self.type_map)
        self.name = name
        self.dtype = dtype
        self.optimize = optimize
        self.modality = modality
        self.modalities = tuple(modalities)
        self.edge_chunk = edge_chunk

    def with_dtype(self, dtype: torch.dtype) -> SevenNetModel:
        """The same checkpoint rebuilt in ``dtype`` (casting alone misses e3nn constants)."""
        return (
            self
            if dtype == self.dtype
            else SevenNetModel(
                self.name,
                dtype=dtype,
                optimize=self.optimize,
                modality=self.modality,
                edge_chunk=self.edge_chunk,
            )
        )

    def forward(
        self,
        numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vec: torch.Tensor,
    ) -> torch.Tensor:
        K = self.keys
        data = {
            K.NODE_FEATURE: numbers,
            K.ATOMIC_NUMBERS: numbers,
            K.EDGE_IDX: torch.stack([edge_src, edge_dst]),
            K.EDGE_VEC: edge_vec,
            K.NUM_ATOMS: torch.ones_like(numbers).sum(),
            K.BATCH: torch.zeros_like(numbers),
        }
        out = self.network(data)
        return out[K.ATOMIC_ENERGY].reshape(-1)


def _chunk_convolutions(network: torch.nn.Module, chunk: int) -> None:
    """Replace every sevenn ``IrrepsConvolution`` by its edge-chunked, recomputed form."""
    from sevenn.nn.convolution import IrrepsConvolution

    from ase_symbreak.models.recompute import EdgeChunkedConvolution

    for key, module in list(network._modules.items()):
        if isinstance(module, IrrepsConvolution):
            network._modules[key] = EdgeChunkedConvolution(module, chunk)


def _is_file(name: str) -> bool:
    import os

    return os.path.isfile(name)
