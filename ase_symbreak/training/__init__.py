"""Training the package's potentials on energies, forces, stresses and exact Hessians."""

from ase_symbreak.training.data import (
    Batch,
    DataError,
    Structure,
    collate,
    hessian_from_phonopy,
    load_structures,
    split,
    structure_from_atoms,
)
from ase_symbreak.training.loss import LossTerms, LossWeights, compute_loss, predict
from ase_symbreak.training.trainer import (
    CheckpointError,
    TrainConfig,
    TrainResult,
    fit_energy_shifts,
    initial_model,
    load_checkpoint,
    save_checkpoint,
    train,
)

__all__ = [
    "Batch",
    "CheckpointError",
    "DataError",
    "LossTerms",
    "LossWeights",
    "Structure",
    "TrainConfig",
    "TrainResult",
    "collate",
    "compute_loss",
    "fit_energy_shifts",
    "hessian_from_phonopy",
    "initial_model",
    "load_checkpoint",
    "load_structures",
    "predict",
    "save_checkpoint",
    "split",
    "structure_from_atoms",
    "train",
]
