"""Run a training job described by a TOML file (see ``recipes/training/train_example.toml``).

Sections: top-level ``out_dir`` and ``resume``; ``[data]`` (``path``, ``val_fraction``,
``split_seed``, optional ``val_path`` instead of a random split); ``[model]``
(:class:`PotentialConfig` fields, ``species`` inferred from the data when omitted, or
``init = "file.safetensors"`` to fine-tune one of our model files); ``[loss]``
(:class:`LossWeights` fields); ``[train]`` (:class:`TrainConfig` fields).
Relative paths are relative to the TOML file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from ase_symbreak.models.e3nn_potential import PotentialConfig
from ase_symbreak.models.files import load_model
from ase_symbreak.training.data import load_structures, split
from ase_symbreak.training.evaluate import evaluate, write_metrics
from ase_symbreak.training.loss import LossWeights
from ase_symbreak.training.trainer import TrainConfig, TrainResult, initial_model, train

__all__ = ["train_from_config"]

_SECTIONS = {"out_dir", "resume", "data", "model", "loss", "train"}


def _fields(cls, section: dict[str, Any], name: str) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(
            f"[{name}] has unknown keys {unknown}; expected a subset of {sorted(known)}"
        )
    return section


def train_from_config(config: str | os.PathLike[str] | dict[str, Any], log=print) -> TrainResult:
    """Load data, build (or load) the model, train, and write ``out_dir/metrics.json``.

    The trained model is ``out_dir/model_best.safetensors``, loadable by
    :class:`ase_symbreak.calculator.SymBreakCalculator`.
    """
    base = Path.cwd()
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"no training config at {path}")
        with path.open("rb") as f:
            config = tomllib.load(f)
        base = path.parent
    unknown = sorted(set(config) - _SECTIONS)
    if unknown:
        raise ValueError(
            f"unknown top-level keys {unknown}; expected a subset of {sorted(_SECTIONS)}"
        )
    data = dict(config.get("data", {}))
    if "path" not in data:
        raise ValueError(
            "[data] needs 'path' (a file ase.io.read can read, with energies and forces)"
        )
    structures = load_structures(base / data.pop("path"))
    if "val_path" in data:
        train_set, val_set = structures, load_structures(base / data.pop("val_path"))
    else:
        train_set, val_set = split(
            structures, float(data.pop("val_fraction", 0.1)), int(data.pop("split_seed", 0))
        )
    data.pop("val_fraction", None), data.pop("split_seed", None)
    if data:
        raise ValueError(f"[data] has unknown keys {sorted(data)}")

    train_config = TrainConfig(**_fields(TrainConfig, dict(config.get("train", {})), "train"))
    weights = LossWeights(**_fields(LossWeights, dict(config.get("loss", {})), "loss"))
    model_section = dict(config.get("model", {}))
    init = model_section.pop("init", None)
    if init is not None:
        if model_section:
            raise ValueError(
                f"[model] with 'init' (fine-tuning) takes no other keys, "
                f"got {sorted(model_section)}"
            )
        model = load_model(base / init, dtype=train_config.torch_dtype)
    else:
        model_section.setdefault("species", sorted({int(z) for s in structures for z in s.numbers}))
        potential = PotentialConfig.from_dict(_fields(PotentialConfig, model_section, "model"))
        model = initial_model(
            potential, train_set, seed=train_config.seed, dtype=train_config.torch_dtype
        )
    out_dir = base / config.get("out_dir", "training_run")
    result = train(
        model,
        train_set,
        val_set,
        train_config,
        weights,
        out_dir=out_dir,
        resume=bool(config.get("resume", False)),
        log=log,
    )
    metrics = evaluate(model, val_set)
    write_metrics(metrics, out_dir / "metrics.json")
    (out_dir / "history.json").write_text(
        json.dumps(result.history, indent=1, default=float) + "\n"
    )
    if log is not None:
        log(
            f"best validation loss {result.best_val_loss:.4g} at epoch {result.best_epoch}; "
            f"model: {result.best_model_path}"
        )
        log("validation " + metrics.summary())
    return result
