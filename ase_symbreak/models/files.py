"""Save and load :class:`E3nnPotential` as safetensors, never unpickling anything.

A model file holds the learned parameters and the energy shift/scale buffers as
tensors; its header metadata holds ``format``, ``version``, ``dtype`` and the
:class:`PotentialConfig` as JSON. Constants that the architecture rebuilds
(Clebsch-Gordan coefficients, masks) are not stored.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ase_symbreak.models.e3nn_potential import E3nnPotential, PotentialConfig

FORMAT = "ase-symbreak/e3nn-potential"
VERSION = 1
_BUFFERS = ("energy_shifts", "energy_scales")
# architecture name in the metadata -> (module, model class, config class)
_ARCHITECTURES = {
    "E3nnPotential": ("ase_symbreak.models.e3nn_potential", "E3nnPotential", "PotentialConfig"),
    "RelaxedPotential": (
        "ase_symbreak.models.relaxed_potential",
        "RelaxedPotential",
        "RelaxedPotentialConfig",
    ),
}


def architecture(name: str) -> tuple[type[E3nnPotential], type[PotentialConfig]]:
    """Model and config classes of an architecture name stored in a file's metadata."""
    if name not in _ARCHITECTURES:
        raise ModelFileError(
            f"unknown model architecture {name!r}; known: {sorted(_ARCHITECTURES)}"
        )
    module, model_cls, config_cls = _ARCHITECTURES[name]
    mod = importlib.import_module(module)
    return getattr(mod, model_cls), getattr(mod, config_cls)


class ModelFileError(ValueError):
    """A file that is not a readable ase-symbreak model (of this format and version)."""


def read_tagged_safetensors(
    path: str | os.PathLike[str], fmt: str, version: int, error: type[Exception], what: str
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Header metadata and tensors of a safetensors file that this package wrote.

    Raises ``FileNotFoundError`` without a file, and ``error`` when it is not a safetensors
    file or its metadata ``format``/``version`` are not ``fmt``/``version``; ``what`` names
    the kind of file in the messages ('model', 'training checkpoint').
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise error(f"{path} is not a safetensors file ({exc})") from exc
    if metadata.get("format") != fmt:
        raise error(
            f"{path} is a safetensors file but not an ase-symbreak {what} "
            f"(metadata format {metadata.get('format')!r}, expected {fmt!r})"
        )
    if metadata.get("version") != str(version):
        raise error(
            f"{path} has {what} format version {metadata.get('version')!r}; "
            f"this code reads {version}"
        )
    return metadata, tensors


def stored_names(model: E3nnPotential) -> list[str]:
    """Names of the tensors a model file holds: parameters and the energy shift/scale buffers."""
    return [name for name, _ in model.named_parameters()] + list(_BUFFERS)


def save_model(model: E3nnPotential, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (safetensors); returns the path.

    Tensors are stored in the model's dtype.
    """
    if not isinstance(model, E3nnPotential) or type(model).__name__ not in _ARCHITECTURES:
        raise TypeError(
            f"save_model expects one of {sorted(_ARCHITECTURES)}, got {type(model).__name__}"
        )
    state = model.state_dict()
    tensors = {
        name: state[name].detach().cpu().contiguous().clone() for name in stored_names(model)
    }
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "architecture": type(model).__name__,
        "dtype": str(model.dtype).removeprefix("torch."),
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
    }
    path = Path(path)
    save_file(tensors, str(path), metadata=metadata)
    return path


#: the largest architecture a model file may ask for (checked before anything is built: a
#: crafted config with a million layers would otherwise hang the loader)
MAX_CONFIG = {
    "num_layers": 32,
    "hidden_mul": 1024,
    "num_radial": 128,
    "radial_hidden": 4096,
    "cutoff": 30.0,
}


def _check_bounds(path: Path, config: object) -> None:
    for name, limit in MAX_CONFIG.items():
        value = getattr(config, name, None)
        if value is not None and not value <= limit:
            raise ModelFileError(
                f"{path}: config {name} = {value!r} exceeds what a model file may ask for ({limit})"
            )


def load_model(path: str | os.PathLike[str], dtype: torch.dtype = torch.float64) -> E3nnPotential:
    """Read a model written by :func:`save_model`, in ``dtype`` (float32 or float64).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a safetensors file, not of this format or version, its config
        asks for more than :data:`MAX_CONFIG`, a weight is NaN or infinite, or its config
        or tensors do not match the architecture.
    """
    path = Path(path)
    metadata, tensors = read_tagged_safetensors(path, FORMAT, VERSION, ModelFileError, "model")
    model_cls, config_cls = architecture(metadata.get("architecture", "E3nnPotential"))
    try:
        config = config_cls.from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} has a missing or invalid config: {exc}") from exc
    _check_bounds(path, config)
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite weights")

    model = model_cls(config, dtype=dtype)
    expected = set(stored_names(model))
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if missing or unexpected:
        raise ModelFileError(
            f"{path} does not match its config: missing tensors {missing}, unexpected {unexpected}"
        )
    state = model.state_dict()
    for name, tensor in tensors.items():
        if tensor.shape != state[name].shape:
            raise ModelFileError(
                f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(state[name].shape)}"
            )
        if not tensor.is_floating_point():
            raise ModelFileError(
                f"{path}: tensor {name!r} has dtype {tensor.dtype}, expected a float"
            )
    with torch.no_grad():
        for name, tensor in tensors.items():
            state[name].copy_(tensor.to(dtype))
    return model
