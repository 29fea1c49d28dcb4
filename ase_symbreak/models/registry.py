"""Resolve a model specification (None, a name, a file, an instance) to an EnergyModel."""

from __future__ import annotations

import importlib
import os
import re

import torch

from ase_symbreak.models.base import EnergyModel

DEFAULT_MODEL = "7net-0"
#: Pretrained models of the ``sevenn`` wheel by name (case-insensitive): ``(sevenn name,
#: modality)``. SevenNet-MF-0 without a suffix uses its r2SCAN fidelity.
PRETRAINED: dict[str, tuple[str, str | None]] = {
    **{n: ("7net-0", None) for n in ("7net-0", "sevennet-0", "sevennet_0")},
    **{n: (n, None) for n in ("7net-0_11july2024", "7net-0_22may2024")},
    **{n: ("7net-l3i5", None) for n in ("7net-l3i5", "sevennet-l3i5", "sevennet_l3i5")},
    **{n: ("7net-mf-0", "R2SCAN") for n in ("7net-mf-0", "sevennet-mf-0", "7net-mf-0-r2scan")},
    "sevennet-mf-0-r2scan": ("7net-mf-0", "R2SCAN"),
    "7net-mf-0-pbe": ("7net-mf-0", "PBE"),
    "sevennet-mf-0-pbe": ("7net-mf-0", "PBE"),
}
_SEVENNET_NAMES = set(PRETRAINED)


def load(
    model: str | os.PathLike | EnergyModel | None = None, dtype: torch.dtype | None = None
) -> EnergyModel:
    """Return an :class:`EnergyModel` in ``dtype`` (``None``: the model's native precision).

    ``model`` is ``None`` (the embedded default, SevenNet-0), a SevenNet pretrained name,
    a path to a model saved by :func:`ase_symbreak.models.save_model` (``.safetensors``)
    or to a sevenn checkpoint (``.pth``), an import path ``'package.module:ClassName'`` of an
    ``EnergyModel`` subclass (instantiated without arguments; nothing else is called: a
    picklable, JSON-able way to name any model for Dask workers and jobflow jobs), or an
    ``EnergyModel`` instance.
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
        name, modality = PRETRAINED.get(spec.lower(), (spec, None))
        return SevenNetModel(name, dtype=dtype or torch.float32, modality=modality)
    if os.path.isfile(spec):
        from ase_symbreak.models.files import load_model

        return load_model(spec, dtype=dtype or torch.float64)
    if _IMPORT_PATH.match(spec):
        return load(_from_import_path(spec), dtype)
    raise ValueError(
        f"unknown model {spec!r}: give None (embedded SevenNet-0), "
        f"one of {sorted(_SEVENNET_NAMES)}, "
        "a .safetensors file saved by ase_symbreak, "
        "an import path 'package.module:factory', or an EnergyModel"
    )


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_import_path(model: object) -> bool:
    """Whether ``model`` names a model by import path (``package.module:ClassName``), which
    imports and runs code, rather than by a pretrained name or a file.
    """
    if not isinstance(model, (str, os.PathLike)):
        return False
    spec = os.fspath(model)
    return (
        spec.lower() not in _SEVENNET_NAMES
        and not os.path.isfile(spec)
        and bool(_IMPORT_PATH.match(spec))
    )


def _from_import_path(spec: str) -> EnergyModel:
    """``'package.module:ClassName'``: import the module and instantiate the EnergyModel class."""
    module_name, attr = spec.split(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"model {spec!r}: cannot import module {module_name!r} ({err})") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model {spec!r}: {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if isinstance(target, EnergyModel):
        return target
    if not (isinstance(target, type) and issubclass(target, EnergyModel)):
        # nothing but an EnergyModel class is ever called: a model name must not run code
        raise TypeError(
            f"model {spec!r} names a {type(target).__name__}, not an ase_symbreak EnergyModel "
            "class (only EnergyModel subclasses are instantiated from import paths)"
        )
    return target()


def with_dtype(model: EnergyModel, dtype: torch.dtype) -> EnergyModel:
    """``model`` in ``dtype`` by :meth:`EnergyModel.with_dtype` (rebuilt or cast, as it says)."""
    return model.with_dtype(dtype)


def _dtype_of(model: torch.nn.Module) -> torch.dtype | None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None
