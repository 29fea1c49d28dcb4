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

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from ase_symbreak.models.base import EnergyModel

DEFAULT_PRETRAINED = "7net-0"

# What sevenn's checkpoints pickle besides tensors: numpy arrays and their dtypes.
_NUMPY_GLOBALS = [
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
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


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


class _OneHot(torch.nn.Module):
    """Replaces sevenn's one-hot embedding, whose output is hard-coded to float32."""

    def __init__(self, num_classes: int, key_x: str, key_out: str, key_extra: str | None, key_save: str | None, dtype: torch.dtype):
        super().__init__()
        self.num_classes, self.key_x, self.key_out = num_classes, key_x, key_out
        self.key_extra, self.key_save, self.dtype = key_extra, key_save, dtype

    def forward(self, data: dict) -> dict:
        index = data[self.key_x]
        embedding = torch.nn.functional.one_hot(index, self.num_classes).to(self.dtype)
        data[self.key_out] = embedding
        if self.key_extra is not None:
            data[self.key_extra] = embedding
        if self.key_save is not None:
            data[self.key_save] = index
        return data


class SevenNetModel(EnergyModel):
    """SevenNet pretrained potential as an :class:`EnergyModel`.

    Parameters
    ----------
    name : a pretrained name known to ``sevenn`` (default ``"7net-0"``) or a checkpoint path
    dtype : ``torch.float32`` (the checkpoint's precision) or ``torch.float64``
    """

    def __init__(self, name: str = DEFAULT_PRETRAINED, dtype: torch.dtype = torch.float32):
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
        onehot = network._modules["onehot_idx_to_onehot"]
        network.replace_module(
            "onehot_idx_to_onehot",
            _OneHot(onehot.num_classes, onehot.key_x, onehot.key_output, onehot.key_additional_output, onehot.key_save, dtype),
        )
        network.key_grad = None  # we own the autograd graph
        network.to(dtype).eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        self.network = network
        self.keys = KEY
        self.cutoff = float(config[KEY.CUTOFF])
        self.type_map = {int(z): int(i) for z, i in config[KEY.TYPE_MAP].items()}
        self.species = frozenset(self.type_map)
        self.name = name
        self.dtype = dtype

    def with_dtype(self, dtype: torch.dtype) -> SevenNetModel:
        """The same checkpoint rebuilt in ``dtype`` (casting alone misses e3nn constants)."""
        return self if dtype == self.dtype else SevenNetModel(self.name, dtype=dtype)

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
            K.NUM_ATOMS: torch.tensor(len(numbers)),
            K.BATCH: torch.zeros(len(numbers), dtype=torch.int64),
        }
        out = self.network(data)
        return out[K.ATOMIC_ENERGY].reshape(-1)


def _is_file(name: str) -> bool:
    import os

    return os.path.isfile(name)
