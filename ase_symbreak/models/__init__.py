"""Potentials: the :class:`EnergyModel` interface, the package's own e3nn potential, model files."""

from ase_symbreak.models.base import EnergyModel
from ase_symbreak.models.e3nn_potential import E3nnPotential, PotentialConfig
from ase_symbreak.models.files import ModelFileError, load_model, save_model

# from ase_symbreak.models.sevennet import ...  (SevenNet adapter exports: added by the lead)

__all__ = [
    "E3nnPotential",
    "EnergyModel",
    "ModelFileError",
    "PotentialConfig",
    "load_model",
    "save_model",
]
