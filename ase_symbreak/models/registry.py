"""Resolve a model specification (None, a name, a file, an instance) to an EnergyModel."""

from __future__ import annotations

import copy
import os

import torch

from ase_symbreak.models.base import EnergyModel

DEFAULT_MODEL = "7net-0"
_SEVENNET_NAMES = {"7net-0", "sevennet-0", "sevennet_0", "7net-0_11july2024", "7net-0_22may2024"}


def load(model: str | os.PathLike | EnergyModel | None = None, dtype: torch.dtype | None = None) -> EnergyModel:
    """Return an :class:`EnergyModel` in ``dtype`` (``None``: the model's native precision).

    ``model`` is ``None`` (the embedded default, SevenNet-0), a SevenNet pretrained name,
    a path to a model saved by :func:`ase_symbreak.models.save_model` (``.safetensors``)
    or to a sevenn checkpoint (``.pth``), or an ``EnergyModel`` instance.
    """
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, EnergyModel):
        if dtype is None or _dtype_of(model) == dtype:
            return model
        return with_dtype(model, dtype)
    if isinstance(model, torch.nn.Module):
        raise TypeError(f"{type(model).__name__} is not an ase_symbreak EnergyModel")
    spec = os.fspath(model)
    if spec.lower() in _SEVENNET_NAMES or spec.endswith(".pth"):
        from ase_symbreak.models.sevennet import SevenNetModel

        if spec.endswith(".pth") and not os.path.isfile(spec):
            raise FileNotFoundError(f"no such model file: {spec}")
        return SevenNetModel(spec if spec.lower() not in _SEVENNET_NAMES else DEFAULT_MODEL, dtype=dtype or torch.float32)
    if os.path.isfile(spec):
        from ase_symbreak.models.io import load_model

        return load_model(spec, dtype=dtype or torch.float64)
    raise ValueError(
        f"unknown model {spec!r}: give None (embedded SevenNet-0), one of {sorted(_SEVENNET_NAMES)}, "
        "a .safetensors file saved by ase_symbreak, or an EnergyModel"
    )


def with_dtype(model: EnergyModel, dtype: torch.dtype) -> EnergyModel:
    """A copy of ``model`` in ``dtype`` (rebuilt where the model knows how, else cast)."""
    rebuild = getattr(model, "with_dtype", None)
    if callable(rebuild):
        return rebuild(dtype)
    return copy.deepcopy(model).to(dtype)


def _dtype_of(model: torch.nn.Module) -> torch.dtype | None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None
