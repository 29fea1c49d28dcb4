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
import math
import numbers
import os
import stat
from pathlib import Path
from typing import Any

from ase_symbreak.errors import first_line
from ase_symbreak.models.e3nn_potential import PotentialConfig
from ase_symbreak.models.files import MAX_CONFIG, load_model
from ase_symbreak.tomlfile import read_toml
from ase_symbreak.training.data import load_structures, split
from ase_symbreak.training.evaluate import evaluate, write_metrics
from ase_symbreak.training.loss import LossWeights
from ase_symbreak.training.trainer import TrainConfig, TrainResult, initial_model, train

__all__ = ["recipe_out_dir", "train_from_config"]

_SECTIONS = {"out_dir", "resume", "data", "model", "loss", "train"}


def _fields(cls, section: dict[str, Any], name: str) -> dict[str, Any]:
    """``section`` when its keys are fields of ``cls`` with values of the field's type;
    ``ValueError`` naming the key otherwise (a recipe's ``lr = "fast"`` would fail deep
    inside torch), and for a ``[model]`` larger than a model file may ask for
    (:data:`~ase_symbreak.models.files.MAX_CONFIG`: ``num_layers = 1000000`` would hang).
    """
    if not isinstance(section, dict):
        raise ValueError(f"[{name}] must be a table, got {section!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ValueError(
            f"[{name}] has unknown keys {unknown}; expected a subset of {sorted(fields)}"
        )
    for key, value in section.items():
        expected = _expected_type(str(fields[key].type), value)
        if expected:
            raise ValueError(f"[{name}] {key} must be {expected}, got {value!r}")
    if cls is PotentialConfig:
        for key, limit in MAX_CONFIG.items():
            value = section.get(key)
            if value is not None and not value <= limit:
                raise ValueError(
                    f"[{name}] {key} = {value!r} is above the limit {limit} (the largest "
                    "architecture a model file may ask for)"
                )
    return section


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _expected_type(annotation: str, value: Any) -> str:
    """'' when ``value`` fits the field annotation (``int``, ``float``, ``str``, ``bool``,
    ``tuple[int, ...]``, ``tuple[float, ...]``, each optionally ``| None``), else what was
    expected. Other annotations are left to the dataclass.
    """
    kind = annotation.removesuffix(" | None")
    if value is None and kind != annotation:
        return ""
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return "" if ok else "an integer"
    if kind == "float":
        ok = _is_number(value) and math.isfinite(float(value))
        return "" if ok else "a finite number"
    if kind == "str":
        return "" if isinstance(value, str) else "a string"
    if kind == "bool":
        return "" if isinstance(value, bool) else "true or false"
    if kind in ("tuple[int, ...]", "tuple[float, ...]"):
        item = "int" if kind == "tuple[int, ...]" else "float"
        ok = isinstance(value, (list, tuple)) and all(not _expected_type(item, v) for v in value)
        return "" if ok else f"a list of {'integers' if item == 'int' else 'numbers'}"
    return ""


def _data_file(path: Path) -> Path:
    """``path`` when it is a regular file; ``FileNotFoundError`` or ``ValueError`` saying what
    it is otherwise (a named pipe would block the reader forever).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no data file at {path}") from None
    except OSError as err:
        raise ValueError(f"cannot read data file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"data file {path} is not a regular file")
    return path


def _load_data(path: Path):
    """The labelled structures of a data file; ``ValueError`` naming the file when ASE cannot
    read it (garbage, an unknown format) or it lacks the labels.
    """
    _data_file(path)
    try:
        return load_structures(path)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as err:  # ase raises many types for malformed files
        raise ValueError(f"cannot read data file {path}: {first_line(err)}") from None


def recipe_out_dir(value: Any, base: Path) -> Path:
    """A recipe's ``out_dir``: a relative folder inside the recipe's folder ``base``.

    An absolute path, ``..`` or a symbolic link that leads out of ``base`` raise
    ``ValueError``: a shared recipe must not write, replace or remove anything outside its
    folder (``ase-symbreak train --out FOLDER``, or ``train_from_config(...,
    out_dir=...)``, writes elsewhere).
    """
    from pathlib import PurePath

    if not isinstance(value, str):
        raise ValueError(f"out_dir must be a string (a folder), got {value!r}")
    parts = PurePath(value).parts
    if not value.strip() or PurePath(value).is_absolute() or value.startswith("~"):
        problem = "an absolute path" if value.strip() else "empty"
    elif ".." in parts:
        problem = "a path with '..'"
    elif not [x for x in parts if x != "."]:
        problem = "the recipe's folder itself"
    elif not (base / value).resolve().is_relative_to(base.resolve()):
        problem = "a link out of the recipe's folder"
    else:
        return base / value
    raise ValueError(
        f"out_dir {value!r} is {problem}; a training recipe writes only to a folder inside "
        "its own folder (pass --out FOLDER to write elsewhere)"
    )


def train_from_config(
    config: str | os.PathLike[str] | dict[str, Any],
    log=print,
    out_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Load data, build (or load) the model, train, and write ``out_dir/metrics.json``.

    The trained model is ``out_dir/model_best.safetensors``, loadable by
    :class:`ase_symbreak.calculator.SymBreakCalculator`. ``out_dir``: where to write
    (default: the recipe's ``out_dir``, a folder inside the recipe's folder, see
    :func:`recipe_out_dir`; ``training_run`` when it names none).
    """
    base = Path.cwd()
    if not isinstance(config, dict):
        path = Path(config)
        if not path.exists():
            raise FileNotFoundError(f"no training config at {path}")
        config = read_toml(path, "training recipe")
        base = path.parent
    unknown = sorted(set(config) - _SECTIONS)
    if unknown:
        raise ValueError(
            f"unknown top-level keys {unknown}; expected a subset of {sorted(_SECTIONS)}"
        )
    out = (
        Path(out_dir)
        if out_dir is not None
        else recipe_out_dir(config.get("out_dir", "training_run"), base)
    )
    if not isinstance(config.get("data", {}), dict):
        raise ValueError("[data] must be a table")
    data = dict(config.get("data", {}))
    if "path" not in data:
        raise ValueError(
            "[data] needs 'path' (a file ase.io.read can read, with energies and forces)"
        )
    for key in ("path", "val_path"):
        if key in data and not isinstance(data[key], str):
            raise ValueError(f"[data] {key} must be a string, got {data[key]!r}")
    fraction, seed = data.get("val_fraction", 0.1), data.get("split_seed", 0)
    if not (_is_number(fraction) and 0 <= fraction < 1):
        raise ValueError(f"[data] val_fraction must be a number in [0, 1), got {fraction!r}")
    if not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise ValueError(f"[data] split_seed must be an integer, got {seed!r}")
    structures = _load_data(base / data.pop("path"))
    if "val_path" in data:
        train_set, val_set = structures, _load_data(base / data.pop("val_path"))
    else:
        train_set, val_set = split(structures, float(fraction), seed)
    data.pop("val_fraction", None), data.pop("split_seed", None)
    if data:
        raise ValueError(f"[data] has unknown keys {sorted(data)}")

    train_config = TrainConfig(**_fields(TrainConfig, dict(config.get("train", {})), "train"))
    weights = LossWeights(**_fields(LossWeights, dict(config.get("loss", {})), "loss"))
    if not isinstance(config.get("model", {}), dict):
        raise ValueError("[model] must be a table")
    model_section = dict(config.get("model", {}))
    init = model_section.pop("init", None)
    if init is not None and not isinstance(init, str):
        raise ValueError(f"[model] init must be a string (a model file), got {init!r}")
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
    out_dir = out
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
