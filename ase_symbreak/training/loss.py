"""Training losses: energy per atom, forces, stress and exact Hessian terms.

Forces and stress are first derivatives of the model energy taken with
``create_graph=True``, so the loss gradient reaches the weights. The Hessian term uses
exact second derivatives (double backward through the model): per structure, ``k``
random probe vectors ``v`` are drawn (unit vectors = random Hessian rows, or Gaussian
vectors = random Hessian-vector products) and the model's ``H v`` is compared with the
reference ``H_ref v``. Structures in a batch are disconnected graphs, so one backward
pass gives one probe for every structure at once: the cost is ``k`` extra backward passes
per batch, independent of structure size and batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ase_symbreak.codec import Record
from ase_symbreak.models.base import EnergyModel
from ase_symbreak.training.data import Batch

__all__ = ["LossTerms", "LossWeights", "Prediction", "compute_loss", "hessian_probes", "predict"]

PROBES = ("rows", "hvp")


@dataclass(frozen=True)
class LossWeights(Record):
    """Weights of the loss terms and the Hessian sampling.

    Attributes
    ----------
    energy : weight of the mean squared energy-per-atom error, (eV/atom)^-2
    forces : weight of the mean squared force-component error, (eV/A)^-2
    stress : weight of the mean squared stress-component error, (eV/A^3)^-2
    hessian : weight of the mean squared error of sampled Hessian rows / HVPs, (eV/A^2)^-2
    hessian_samples : probes per structure per step (k)
    hessian_probe : ``"rows"`` (random unit vectors: whole Hessian rows) or ``"hvp"``
        (random Gaussian vectors normalised to unit length)
    """

    energy: float = 1.0
    forces: float = 10.0
    stress: float = 0.0
    hessian: float = 0.0
    hessian_samples: int = 4
    hessian_probe: str = "rows"

    def __post_init__(self) -> None:
        for name in ("energy", "forces", "stress", "hessian"):
            if not float(getattr(self, name)) >= 0.0:
                raise ValueError(f"loss weight {name} must be >= 0, got {getattr(self, name)!r}")
        if int(self.hessian_samples) < 1:
            raise ValueError(f"hessian_samples must be >= 1, got {self.hessian_samples!r}")
        if self.hessian_probe not in PROBES:
            raise ValueError(f"hessian_probe must be one of {PROBES}, got {self.hessian_probe!r}")


@dataclass
class Prediction:
    """Model outputs for a batch (torch tensors, differentiable w.r.t. the weights)."""

    energy: torch.Tensor  # (B,) eV
    forces: torch.Tensor  # (N_tot, 3) eV/A
    stress: torch.Tensor | None  # (B, 3, 3) eV/A^3
    gradient: torch.Tensor  # (N_tot, 3) dE/dx with its graph (for Hessian probes)
    positions: torch.Tensor  # (N_tot, 3) leaf w.r.t. which the gradient was taken


@dataclass(frozen=True)
class LossTerms:
    """Scalar loss and its parts (floats are detached values)."""

    total: torch.Tensor
    energy: float
    forces: float
    stress: float
    hessian: float

    def as_dict(self) -> dict[str, float]:
        return {
            "total": float(self.total.detach()),
            "energy": self.energy,
            "forces": self.forces,
            "stress": self.stress,
            "hessian": self.hessian,
        }


def predict(
    model: EnergyModel, batch: Batch, stress: bool = False, create_graph: bool = True
) -> Prediction:
    """Energies, forces (and stress) of every structure in ``batch`` by autograd."""
    positions = batch.positions.detach().clone().requires_grad_(True)
    inputs = [positions]
    strain = None
    if stress:
        strain = torch.zeros(
            (batch.num_structures, 3, 3), dtype=positions.dtype, requires_grad=True
        )
        inputs.append(strain)
    atomic = model(
        batch.numbers, batch.edge_src, batch.edge_dst, batch.edge_vectors(positions, strain)
    )
    energy = torch.zeros(batch.num_structures, dtype=atomic.dtype).index_add(
        0, batch.atom_batch, atomic
    )
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
    gradient = grads[0] if grads[0] is not None else torch.zeros_like(positions)
    sigma = None
    if stress:
        virial = grads[1] if grads[1] is not None else torch.zeros_like(strain)
        volume = torch.linalg.det(batch.cells).abs()
        sigma = 0.5 * (virial + virial.transpose(1, 2)) / volume[:, None, None]
    return Prediction(
        energy=energy, forces=-gradient, stress=sigma, gradient=gradient, positions=positions
    )


def hessian_probes(
    batch: Batch, k: int, kind: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(k, N_tot, 3) probe vectors, one per structure per slice (unit length within each
    structure).
    """
    n_tot = len(batch.numbers)
    dtype = batch.positions.dtype
    if kind == "rows":
        probes = torch.zeros((k, n_tot * 3), dtype=dtype)
        for offset, n in zip(batch.offsets, batch.natoms.tolist()):
            rows = torch.randint(0, 3 * n, (k,), generator=generator)
            probes[torch.arange(k), 3 * offset + rows] = 1.0
        return probes.reshape(k, n_tot, 3)
    probes = torch.randn((k, n_tot, 3), generator=generator, dtype=dtype)
    norms = (
        torch.zeros((k, batch.num_structures), dtype=dtype)
        .index_add(1, batch.atom_batch, probes.pow(2).sum(-1))
        .sqrt()
    )
    return probes / norms[:, batch.atom_batch, None]


def compute_loss(
    model: EnergyModel,
    batch: Batch,
    weights: LossWeights,
    generator: torch.Generator | None = None,
    probes: torch.Tensor | None = None,
    training: bool = True,
) -> LossTerms:
    """Weighted loss of a batch; differentiable w.r.t. the model parameters when ``training``.

    ``probes`` (k, N_tot, 3) overrides the random Hessian probes (for tests);
    ``training=False`` (validation) skips the graphs needed only for the weight gradient.
    Terms whose labels no structure has (stress, Hessian) contribute 0.
    """
    dtype = batch.positions.dtype
    structures = batch.structures
    with_stress = weights.stress > 0 and any(s.stress is not None for s in structures)
    with_hessian = weights.hessian > 0 and any(s.hessian is not None for s in structures)
    pred = predict(model, batch, stress=with_stress, create_graph=training or with_hessian)
    zero = torch.zeros((), dtype=dtype)

    ref_energy = torch.tensor([s.energy for s in structures], dtype=dtype)
    natoms = batch.natoms.to(dtype)
    e_loss = (((pred.energy - ref_energy) / natoms) ** 2).mean()
    ref_forces = torch.tensor(np.concatenate([s.forces for s in structures]), dtype=dtype)
    f_loss = ((pred.forces - ref_forces) ** 2).mean()

    s_loss = zero
    if with_stress:
        mask = torch.tensor([s.stress is not None for s in structures])
        ref = torch.tensor(
            np.stack([s.stress if s.stress is not None else np.zeros((3, 3)) for s in structures]),
            dtype=dtype,
        )
        assert pred.stress is not None  # predict(stress=True)
        s_loss = ((pred.stress - ref)[mask] ** 2).mean()

    h_loss = zero
    if with_hessian:
        h_loss = _hessian_loss(pred, batch, weights, generator, probes, training)

    total = (
        weights.energy * e_loss
        + weights.forces * f_loss
        + weights.stress * s_loss
        + weights.hessian * h_loss
    )
    return LossTerms(
        total=total,
        energy=float(e_loss.detach()),
        forces=float(f_loss.detach()),
        stress=float(s_loss.detach()),
        hessian=float(h_loss.detach()),
    )


def _hessian_loss(
    pred: Prediction,
    batch: Batch,
    weights: LossWeights,
    generator: torch.Generator | None,
    probes: torch.Tensor | None,
    training: bool,
) -> torch.Tensor:
    dtype = batch.positions.dtype
    if probes is None:
        probes = hessian_probes(batch, weights.hessian_samples, weights.hessian_probe, generator)
    has = torch.tensor([s.hessian is not None for s in batch.structures])
    atom_mask = has[batch.atom_batch]
    errors = []
    for v in probes:
        if pred.gradient.requires_grad:
            (hv,) = torch.autograd.grad(
                pred.gradient,
                pred.positions,
                v,
                create_graph=training,
                retain_graph=True,
                allow_unused=True,
            )
            hv = torch.zeros_like(v) if hv is None else hv
        else:
            hv = torch.zeros_like(v)
        ref = torch.zeros_like(v)
        for b, s in enumerate(batch.structures):
            if s.hessian is None:
                continue
            lo, n = batch.offsets[b], len(s)
            ref[lo : lo + n] = (
                torch.as_tensor(s.hessian, dtype=dtype) @ v[lo : lo + n].reshape(-1)
            ).reshape(n, 3)
        errors.append(((hv - ref)[atom_mask]) ** 2)
    return torch.cat(errors).mean()
