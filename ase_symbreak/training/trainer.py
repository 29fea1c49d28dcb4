"""Training loop: Adam, LR schedule, early stopping, atomic safetensors checkpoints, resume.

Files written to ``out_dir``:

``checkpoint.safetensors``
    Everything needed to continue (model tensors, Adam state, scheduler and early-stopping
    state, the RNG state used for shuffling and Hessian probes, history) in one
    safetensors file written atomically (temporary file + ``os.replace``); no pickle.
    A SHA-256 of the tensors is kept in the metadata and checked on load.
``model_best.safetensors`` / ``model_last.safetensors``
    Plain model files (:func:`ase_symbreak.models.save_model`) that load straight into
    :class:`ase_symbreak.calculator.SymBreakCalculator`.

A run killed after epoch ``e`` and restarted with ``resume=True`` continues from the last
checkpoint and, with ``checkpoint_every=1``, ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from ase_symbreak.codec import Record
from ase_symbreak.models.e3nn_potential import E3nnPotential, PotentialConfig
from ase_symbreak.models.files import (
    MAX_CONFIG,
    architecture,
    read_tagged_safetensors,
    save_model,
    stored_names,
)
from ase_symbreak.training.data import Structure, collate
from ase_symbreak.training.loss import LossWeights, compute_loss

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "fit_energy_shifts",
    "initial_model",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]

CHECKPOINT_FORMAT = "ase-symbreak/train-checkpoint"
CHECKPOINT_VERSION = 2  # 2: the checksum covers the metadata too
CHECKPOINT_NAME = "checkpoint.safetensors"
BEST_NAME = "model_best.safetensors"
LAST_NAME = "model_last.safetensors"
SCHEDULERS = ("plateau", "cosine", "none")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CheckpointError(ValueError):
    """A checkpoint that is not ours, was modified, or does not match the run."""


@dataclass(frozen=True)
class TrainConfig(Record):
    """Optimisation settings (all JSON-serialisable).

    Attributes
    ----------
    epochs : maximum number of epochs
    batch_size : structures per optimiser step
    lr : initial Adam learning rate
    scheduler : ``"plateau"`` (ReduceLROnPlateau on the validation loss), ``"cosine"`` or ``"none"``
    lr_factor, lr_patience : ReduceLROnPlateau settings
    lr_min : floor of the learning rate (both schedules)
    early_stopping : stop after this many epochs without a better validation loss (0 = off)
    seed : seeds model initialisation (in :func:`initial_model`), shuffling and Hessian probes
    log_every : print a progress line every this many epochs (0 = never)
    checkpoint_every : write the checkpoint every this many epochs (and at the end)
    dtype : ``"float64"`` or ``"float32"``
    max_grad_norm : clip the gradient norm (None = no clipping)
    """

    epochs: int = 100
    batch_size: int = 4
    lr: float = 5e-3
    scheduler: str = "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 10
    lr_min: float = 1e-6
    early_stopping: int = 30
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 1
    dtype: str = "float64"
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`."""

    best_val_loss: float
    best_epoch: int  # 1-based epoch of the best validation loss
    epochs_run: int  # epochs completed in total (including before a resume)
    stopped_early: bool
    history: list[dict[str, float]] = field(repr=False)  # one record per epoch
    best_model_path: Path | None = None
    last_model_path: Path | None = None
    checkpoint_path: Path | None = None


# --------------------------------------------------------------------------- model setup
def fit_energy_shifts(structures: Sequence[Structure], species: Sequence[int]) -> tuple[float, ...]:
    """Per-species energies (eV) by least squares: ``E_s ~ sum_z n_{s,z} shift_z``.

    Rank-deficient compositions (e.g. one element, or fixed stoichiometry) get the
    minimum-norm solution.
    """
    species = [int(z) for z in species]
    index = {z: i for i, z in enumerate(species)}
    counts = np.zeros((len(structures), len(species)))
    for row, s in enumerate(structures):
        for z in s.numbers:
            if int(z) not in index:
                raise ValueError(
                    f"structure {row} contains element Z={int(z)} not in species {species}"
                )
            counts[row, index[int(z)]] += 1
    energies = np.array([s.energy for s in structures])
    shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return tuple(float(x) for x in shifts)


def initial_model(
    config: PotentialConfig,
    structures: Sequence[Structure],
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    fit_shifts: bool = True,
    fit_scale: bool = True,
) -> E3nnPotential:
    """A fresh model whose per-species shifts (and force-RMS scale) are fitted to ``structures``."""
    updates: dict[str, Any] = {}
    if fit_shifts:
        updates["energy_shifts"] = fit_energy_shifts(structures, config.species)
    if fit_scale:
        rms = float(np.sqrt(np.mean(np.concatenate([s.forces.ravel() for s in structures]) ** 2)))
        updates["energy_scales"] = (rms if rms > 1e-8 else 1.0,) * len(config.species)
    config = dataclasses.replace(config, **updates)
    torch.manual_seed(seed)
    return E3nnPotential(config, dtype=dtype)


# --------------------------------------------------------------------------- checkpoints
def _atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _atomic_save_model(model: E3nnPotential, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_model(model, tmp)
    os.replace(tmp, path)
    return path


def _digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """SHA-256 over the tensors (names, dtypes, shapes, bytes) and every metadata entry but
    the checksum itself, so an edited ``state`` or ``config`` fails as a modified tensor does.
    """
    h = hashlib.sha256()
    entries = metadata or {}
    for key in sorted(entries):
        if key != "sha256":
            h.update(f"{key}={entries[key]}\n".encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(
    path: str | os.PathLike[str],
    model: E3nnPotential,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    state: dict[str, Any],
) -> Path:
    """Write the full training state atomically to ``path`` (safetensors, no pickle).

    ``state`` is JSON-serialisable (epoch, best loss, history, ...).
    """
    path = Path(path)
    model_state = model.state_dict()
    tensors = {
        f"model/{name}": model_state[name].detach().cpu().contiguous().clone()
        for name in stored_names(model)
    }
    opt = optimizer.state_dict()
    for idx, pstate in opt["state"].items():
        for key, value in pstate.items():
            if not torch.is_tensor(value):
                value = torch.tensor(value)
            tensors[f"optim/{idx}/{key}"] = value.detach().cpu().contiguous().clone()
    tensors["rng/generator"] = generator.get_state().clone()
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "version": str(CHECKPOINT_VERSION),
        "architecture": type(model).__name__,
        "dtype": str(model.dtype).removeprefix("torch."),
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "param_groups": json.dumps(opt["param_groups"]),
        "scheduler": json.dumps(scheduler.state_dict() if scheduler is not None else None),
        "state": json.dumps(state),
    }
    metadata["sha256"] = _digest(tensors, metadata)
    _atomic_save(tensors, metadata, path)
    return path


@dataclass
class Checkpoint:
    """Contents of a checkpoint file (see :func:`load_checkpoint`)."""

    model: E3nnPotential
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any] | None
    generator_state: torch.Tensor
    state: dict[str, Any]


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    FileNotFoundError
        If there is no file.
    CheckpointError
        If the file is not a safetensors file, not a training checkpoint of this version,
        or its tensors or metadata do not match the stored checksum (modified or
        truncated), or its config asks for more than a model file may.
    """
    path = Path(path)
    metadata, tensors = read_tagged_safetensors(
        path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, "training checkpoint"
    )
    if metadata.get("sha256") != _digest(tensors, metadata):
        raise CheckpointError(
            f"{path} failed its checksum: its tensors or metadata were modified, or the file "
            "is corrupt"
        )
    try:
        model_cls, config_cls = architecture(metadata["architecture"])
        config = config_cls.from_dict(json.loads(metadata["config"]))
        dtype = DTYPES[metadata["dtype"]]
        param_groups = json.loads(metadata["param_groups"])
        scheduler_state = json.loads(metadata["scheduler"])
        state = json.loads(metadata["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has missing or invalid metadata: {exc}") from exc
    for name, limit in MAX_CONFIG.items():  # before anything is built
        value = getattr(config, name, None)
        if value is not None and not value <= limit:
            raise CheckpointError(f"{path}: config {name} = {value!r} exceeds {limit}")
    model = model_cls(config, dtype=dtype)
    names = stored_names(model)
    missing = sorted(f"model/{n}" for n in names if f"model/{n}" not in tensors)
    if missing:
        raise CheckpointError(f"{path} lacks model tensors {missing}")
    with torch.no_grad():
        model_state = model.state_dict()
        for name in names:
            t = tensors[f"model/{name}"]
            if t.shape != model_state[name].shape:
                expected = tuple(model_state[name].shape)
                raise CheckpointError(
                    f"{path}: tensor {name!r} has shape {tuple(t.shape)}, expected {expected}"
                )
            model_state[name].copy_(t)
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if name.startswith("optim/"):
            _, idx, key = name.split("/", 2)
            opt_state.setdefault(int(idx), {})[key] = t
    return Checkpoint(
        model=model,
        optimizer_state={"state": opt_state, "param_groups": param_groups},
        scheduler_state=scheduler_state,
        generator_state=tensors["rng/generator"],
        state=state,
    )


# --------------------------------------------------------------------------- training
def _make_optimizer(model: torch.nn.Module, config: TrainConfig):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    if config.scheduler == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=config.lr_factor, patience=config.lr_patience, min_lr=config.lr_min
        )
    elif config.scheduler == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs, eta_min=config.lr_min
        )
    else:
        scheduler = None
    return optimizer, scheduler


def evaluate_loss(
    model: E3nnPotential,
    structures: Sequence[Structure],
    weights: LossWeights,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    """Mean loss terms over ``structures`` (Hessian probes drawn from a fixed ``seed``)."""
    generator = torch.Generator().manual_seed(seed)
    totals: dict[str, float] = {}
    count = 0
    for start in range(0, len(structures), batch_size):
        chunk = structures[start : start + batch_size]
        batch = collate(chunk, model.cutoff, model.dtype)
        terms = compute_loss(model, batch, weights, generator, training=False).as_dict()
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value * len(chunk)
        count += len(chunk)
    return {key: value / count for key, value in totals.items()}


def train(
    model: E3nnPotential,
    train_set: Sequence[Structure],
    val_set: Sequence[Structure],
    config: TrainConfig = TrainConfig(),
    weights: LossWeights = LossWeights(),
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train ``model`` in place on ``train_set``, early-stopping on ``val_set``.

    Parameters
    ----------
    model : the potential to train (fresh from :func:`initial_model`, or loaded from a
        model file for fine-tuning); cast to ``config.dtype``.
    out_dir : where checkpoints and model files go (None: nothing is written).
    resume : continue from ``out_dir/checkpoint.safetensors`` if it exists; its model
        config must equal ``model.config``.
    callback : ``callback(epoch, record)`` after each epoch (1-based) and checkpoint;
        raising stops the run (the checkpoint of that epoch is already on disk).
    log : called with a progress line every ``config.log_every`` epochs.

    Returns
    -------
    TrainResult; ``model`` ends with the weights of the **best** validation epoch.
    """
    _check_train_inputs(model, train_set, val_set, config)
    run = _Run.start(model, config, out_dir)
    if resume and run.ckpt_path is not None and run.ckpt_path.exists():
        _resume(run, log)
    stopped_early = False
    t0 = time.perf_counter()
    for epoch in range(run.state["epoch"] + 1, config.epochs + 1):
        if config.early_stopping and run.state["bad_epochs"] >= config.early_stopping:
            stopped_early = True
            break
        record = _epoch(run, epoch, train_set, val_set, weights)
        _log_epoch(log, config, record, t0)
        if callback is not None:
            callback(epoch, record)
    return _finish(run, stopped_early, log)


def _check_train_inputs(
    model: E3nnPotential,
    train_set: Sequence[Structure],
    val_set: Sequence[Structure],
    config: TrainConfig,
) -> None:
    """Refuse empty data sets and a model whose dtype is not ``config.dtype``."""
    if not train_set or not val_set:
        raise ValueError(
            f"need non-empty training and validation sets, got {len(train_set)} and {len(val_set)}"
        )
    if model.dtype != config.torch_dtype:
        raise ValueError(
            f"model is {model.dtype} but config.dtype is {config.dtype!r}; "
            f"pass model.with_dtype(torch.{config.dtype}) (rebuilt with exact constants)"
        )


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copy of the model's tensors."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class _Run:
    """Mutable state of one :func:`train` call.

    Attributes
    ----------
    state : dict
        JSON-serialisable progress: ``epoch`` (last completed, 1-based), ``best_val``,
        ``best_epoch``, ``bad_epochs`` (epochs since the best) and ``history`` (records).
    best_state : dict[str, torch.Tensor]
        Weights of the best validation epoch so far.
    out, ckpt_path : Path or None
        Output folder and checkpoint file (None: nothing is written).
    """

    model: E3nnPotential
    config: TrainConfig
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    state: dict[str, Any]
    best_state: dict[str, torch.Tensor]
    out: Path | None
    ckpt_path: Path | None

    @classmethod
    def start(
        cls, model: E3nnPotential, config: TrainConfig, out_dir: str | os.PathLike[str] | None
    ) -> _Run:
        """Fresh optimiser, scheduler and seeded generator; creates ``out_dir``."""
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        optimizer, scheduler = _make_optimizer(model, config)
        return cls(
            model=model,
            config=config,
            optimizer=optimizer,
            scheduler=scheduler,
            generator=torch.Generator().manual_seed(config.seed),
            state={
                "epoch": 0,
                "best_val": math.inf,
                "best_epoch": 0,
                "bad_epochs": 0,
                "history": [],
            },
            best_state=_clone_state(model),
            out=out,
            ckpt_path=out / CHECKPOINT_NAME if out is not None else None,
        )

    def save_checkpoint(self) -> None:
        """Write the full training state to ``ckpt_path``."""
        assert self.ckpt_path is not None  # callers check that there is an output folder
        save_checkpoint(
            self.ckpt_path, self.model, self.optimizer, self.scheduler, self.generator, self.state
        )


def _resume(run: _Run, log: Callable[[str], None] | None) -> None:
    """Load model, optimiser, scheduler, generator and progress from the checkpoint."""
    ckpt_path, model, dtype = run.ckpt_path, run.model, run.config.torch_dtype
    assert ckpt_path is not None  # train() resumes only from an existing checkpoint
    ckpt = load_checkpoint(ckpt_path)
    if ckpt.model.config != model.config:
        raise CheckpointError(
            f"{ckpt_path} was written for a different model config:\n"
            f"  checkpoint {ckpt.model.config}\n  this run   {model.config}"
        )
    model.load_state_dict({k: v.to(dtype) for k, v in ckpt.model.state_dict().items()})
    run.optimizer.load_state_dict(ckpt.optimizer_state)
    if run.scheduler is not None and ckpt.scheduler_state is not None:
        run.scheduler.load_state_dict(ckpt.scheduler_state)
    run.generator.set_state(ckpt.generator_state)
    run.state = ckpt.state
    if run.out is not None and (run.out / BEST_NAME).exists():
        from ase_symbreak.models.files import load_model

        run.best_state = load_model(run.out / BEST_NAME, dtype=dtype).state_dict()
    if log is not None:
        log(
            f"resumed from {ckpt_path} after epoch {run.state['epoch']} "
            f"(best val {run.state['best_val']:.4g})"
        )


def _epoch(
    run: _Run,
    epoch: int,
    train_set: Sequence[Structure],
    val_set: Sequence[Structure],
    weights: LossWeights,
) -> dict[str, float]:
    """Train one epoch, validate, step the schedule, keep the best and save; the record."""
    config, state = run.config, run.state
    train_loss = _train_epoch(run, train_set, weights)
    run.model.eval()
    val = evaluate_loss(run.model, val_set, weights, config.batch_size, seed=config.seed + 1)
    if run.scheduler is not None:
        if config.scheduler == "plateau":
            run.scheduler.step(val["total"])
        else:
            run.scheduler.step()
    improved = val["total"] < state["best_val"]
    if improved:
        state["best_val"], state["best_epoch"], state["bad_epochs"] = val["total"], epoch, 0
        run.best_state = _clone_state(run.model)
    else:
        state["bad_epochs"] += 1
    record = {
        "epoch": epoch,
        "train": train_loss,
        "lr": run.optimizer.param_groups[0]["lr"],
        **{f"val_{k}": v for k, v in val.items()},
    }
    state["history"].append(record)
    state["epoch"] = epoch
    _save_epoch(run, epoch, improved)
    return record


def _train_epoch(run: _Run, train_set: Sequence[Structure], weights: LossWeights) -> float:
    """One shuffled pass of optimiser steps; the mean training loss per structure."""
    model, config, optimizer = run.model, run.config, run.optimizer
    model.train()
    n_train = len(train_set)
    order = torch.randperm(n_train, generator=run.generator).tolist()
    train_totals, seen = 0.0, 0
    for start in range(0, n_train, config.batch_size):
        chunk = [train_set[i] for i in order[start : start + config.batch_size]]
        batch = collate(chunk, model.cutoff, config.torch_dtype)
        optimizer.zero_grad(set_to_none=True)
        terms = compute_loss(model, batch, weights, run.generator)
        terms.total.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        train_totals += float(terms.total.detach()) * len(chunk)
        seen += len(chunk)
    return train_totals / seen


def _save_epoch(run: _Run, epoch: int, improved: bool) -> None:
    """Best model when improved; last model and checkpoint every ``checkpoint_every``."""
    if run.out is None:
        return
    if improved:
        _atomic_save_model(run.model, run.out / BEST_NAME)
    if epoch % run.config.checkpoint_every == 0 or epoch == run.config.epochs:
        _atomic_save_model(run.model, run.out / LAST_NAME)
        run.save_checkpoint()


def _log_epoch(
    log: Callable[[str], None] | None, config: TrainConfig, record: dict[str, float], t0: float
) -> None:
    """Progress line every ``config.log_every`` epochs (and after the first)."""
    epoch = record["epoch"]
    if log is None or not config.log_every or not (epoch % config.log_every == 0 or epoch == 1):
        return
    log(
        f"epoch {epoch:4d}/{config.epochs}  train {record['train']:.4g}  "
        f"val {record['val_total']:.4g} "
        f"(E {record['val_energy']:.3g} F {record['val_forces']:.3g} "
        f"S {record['val_stress']:.3g} H {record['val_hessian']:.3g})  "
        f"lr {record['lr']:.2g}  {time.perf_counter() - t0:.1f} s"
    )


def _finish(run: _Run, stopped_early: bool, log: Callable[[str], None] | None) -> TrainResult:
    """Final checkpoint and last model, best weights back into the model, the result."""
    state, out = run.state, run.out
    if stopped_early and log is not None:
        log(
            f"early stop after epoch {state['epoch']}: "
            f"no improvement for {run.config.early_stopping} epochs"
        )
    if out is not None and run.ckpt_path is not None:
        run.save_checkpoint()
        _atomic_save_model(run.model, out / LAST_NAME)
    run.model.load_state_dict(run.best_state)
    return TrainResult(
        best_val_loss=float(state["best_val"]),
        best_epoch=int(state["best_epoch"]),
        epochs_run=int(state["epoch"]),
        stopped_early=stopped_early,
        history=list(state["history"]),
        best_model_path=(out / BEST_NAME) if out is not None else None,
        last_model_path=(out / LAST_NAME) if out is not None else None,
        checkpoint_path=run.ckpt_path,
    )
