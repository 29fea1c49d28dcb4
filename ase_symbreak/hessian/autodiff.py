"""Energy, forces, stress and exact Hessians of an EnergyModel by automatic differentiation.

Everything here is a function of ASE ``Atoms``: the graph is built once in numpy, edge
vectors are rebuilt in torch from positions (and a strain for the stress) so that
``torch.autograd`` gives first derivatives by one backward pass and Hessian rows by
double backward (one backward pass of the force graph per row).

Hessian-vector products ``H u`` (:func:`hessian_vector_products`) give the exact
harmonic "forces" ``-H u`` of any displacement pattern ``u``: phonopy's few symmetry-
reduced displacements then cost a few HVPs instead of full rows or finite differences.

Measured on 2 cores (SevenNet-0, 40-atom SrTiO3, see ``benchmarks/README.md``): double
backward with the graph built once is the fastest way to get several rows/HVPs; batched
backward (``is_grads_batched``) and forward-over-reverse (``torch.func.jvp`` of the
gradient) are slower; reverse-over-forward (backward of a forward-mode directional
derivative) needs no shared graph and is competitive for a single vector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress
from numpy.typing import NDArray

from ase_symbreak.hessian.graph import NeighborList, edge_vectors, neighbor_list
from ase_symbreak.models.base import EnergyModel


@dataclass(frozen=True)
class EnergyForcesStress:
    """First-order results of one structure."""

    energy: float  # eV
    energies: NDArray[np.float64]  # (N,) eV per atom
    forces: NDArray[np.float64]  # (N, 3) eV/A
    stress: (
        NDArray[np.float64] | None
    )  # (6,) eV/A^3, Voigt xx yy zz yz xz xy; None if not 3-D periodic


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without)."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def _graph_inputs(
    model: EnergyModel, atoms: Atoms, dtype: torch.dtype
) -> tuple[NeighborList, torch.Tensor, torch.Tensor, torch.Tensor]:
    nl = neighbor_list(atoms, model.cutoff)
    device = model_device(model)
    numbers = torch.as_tensor(atoms.numbers, dtype=torch.int64, device=device)
    positions = torch.tensor(atoms.positions, dtype=dtype, device=device)
    cell = torch.tensor(atoms.cell.array, dtype=dtype, device=device)
    return nl, numbers, positions, cell


def _atomic_energies(
    model: EnergyModel, numbers: torch.Tensor, nl: NeighborList, edge_vec: torch.Tensor
) -> torch.Tensor:
    src = torch.as_tensor(nl.edge_src, device=edge_vec.device)
    dst = torch.as_tensor(nl.edge_dst, device=edge_vec.device)
    return model(numbers, src, dst, edge_vec)


def energy_forces_stress(
    model: EnergyModel, atoms: Atoms, dtype: torch.dtype, stress: bool = True
) -> EnergyForcesStress:
    """Energy, per-atom energies, forces and (for 3-D periodic cells) stress."""
    nl, numbers, positions, cell = _graph_inputs(model, atoms, dtype)
    positions.requires_grad_(True)
    with_stress = stress and bool(np.all(atoms.pbc))
    strain = (
        torch.zeros((3, 3), dtype=dtype, device=positions.device, requires_grad=True)
        if with_stress
        else None
    )
    edge_vec = edge_vectors(positions, cell, nl, strain)
    energies = _atomic_energies(model, numbers, nl, edge_vec)
    energy = energies.sum()
    inputs = [positions] if strain is None else [positions, strain]
    grads = torch.autograd.grad(energy, inputs, allow_unused=True)
    forces = _or_zeros(grads[0], positions).neg()
    voigt = None
    if strain is not None:  # with_stress
        virial = _or_zeros(grads[1], strain)
        sigma = 0.5 * (virial + virial.T) / atoms.get_volume()
        voigt = full_3x3_to_voigt_6_stress(sigma.detach().cpu().numpy().astype(np.float64))
    return EnergyForcesStress(
        energy=float(energy.detach()),
        energies=energies.detach().cpu().numpy().astype(np.float64),
        forces=forces.detach().cpu().numpy().astype(np.float64),
        stress=voigt,
    )


def potential_energy(model: EnergyModel, atoms: Atoms, dtype: torch.dtype) -> float:
    """Energy alone (eV), without gradients: the cheap evaluation of a ranking energy."""
    nl, numbers, positions, cell = _graph_inputs(model, atoms, dtype)
    with torch.no_grad():
        edge_vec = edge_vectors(positions, cell, nl, None)
        return float(_atomic_energies(model, numbers, nl, edge_vec).sum())


def _or_zeros(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad


def hessian_rows(
    model: EnergyModel,
    atoms: Atoms,
    atom_indices: Iterable[int] | None = None,
    dtype: torch.dtype = torch.float64,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 1,
) -> NDArray[np.float64]:
    """Exact rows of the Hessian d2E/dx dx' (eV/A^2) for the chosen atoms.

    Returns an array (3 * len(atom_indices), 3N); row ``3*k+alpha`` is the derivative of
    dE/dx_{i,alpha} (i = atom_indices[k]) with respect to all 3N coordinates. All atoms
    (``atom_indices=None``) gives the full symmetric (3N, 3N) Hessian.
    ``progress(done, total)`` is called after each row (each batch with ``batch_size > 1``:
    rows as Hessian-vector products of unit vectors, ``batch_size`` per backward pass).
    """
    indices = range(len(atoms)) if atom_indices is None else [int(i) for i in atom_indices]
    if batch_size > 1 and len(indices):
        n = len(atoms)
        units = np.zeros((3 * len(indices), 3 * n))
        for k, i in enumerate(indices):
            units[3 * k : 3 * k + 3, 3 * i : 3 * i + 3] = np.eye(3)
        return hessian_vector_products(
            model, atoms, units, dtype, progress=progress, batch_size=batch_size
        )
    rows = []
    for _, row in iter_hessian_rows(model, atoms, indices, dtype):
        rows.append(row)
        if progress is not None:
            progress(len(rows), 3 * len(indices))
    if not rows:
        return np.zeros((0, 3 * len(atoms)))
    return np.stack(rows)


def iter_hessian_rows(
    model: EnergyModel,
    atoms: Atoms,
    atom_indices: Iterable[int],
    dtype: torch.dtype = torch.float64,
) -> Iterator[tuple[tuple[int, int], NDArray[np.float64]]]:
    """Yield ``((atom, alpha), row)`` one Hessian row at a time (for progress bars)."""
    nl, numbers, positions, cell = _graph_inputs(model, atoms, dtype)
    positions.requires_grad_(True)
    energy = _atomic_energies(model, numbers, nl, edge_vectors(positions, cell, nl)).sum()
    (gradient,) = torch.autograd.grad(energy, positions, create_graph=True)
    for i in atom_indices:
        for alpha in range(3):
            component = gradient[i, alpha]
            if component.requires_grad:
                (row,) = torch.autograd.grad(
                    component, positions, retain_graph=True, allow_unused=True
                )
                row = _or_zeros(row, positions)
            else:  # an isolated atom: no neighbours, no curvature
                row = torch.zeros_like(positions)
            yield (i, alpha), row.detach().cpu().numpy().astype(np.float64).reshape(-1)


HVP_METHODS = ("double_backward", "reverse_over_forward")


def hessian_vector_products(
    model: EnergyModel,
    atoms: Atoms,
    vectors: NDArray[np.floating],
    dtype: torch.dtype = torch.float64,
    method: str = "double_backward",
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 1,
) -> NDArray[np.float64]:
    """Exact Hessian-vector products ``H @ u`` (eV/A^2 times the unit of ``u``).

    Parameters
    ----------
    model : the potential
    atoms : the structure (its positions are the expansion point)
    vectors : (K, N, 3) or (K, 3N) displacement patterns ``u`` (any unit, e.g. Angstrom)
    dtype : precision of the autograd pass
    method : ``"double_backward"`` (build the gradient graph once, one backward pass per
        vector; fastest for several vectors) or ``"reverse_over_forward"`` (per vector: a
        forward-mode directional derivative of the energy, then one backward pass; no
        shared graph, lower memory, competitive for a single vector)
    progress : ``progress(done, total)`` after each vector (each batch)
    batch_size : vectors per backward pass of ``"double_backward"``
        (``is_grads_batched``): pays on GPUs; on CPUs one at a time was faster (measured)

    Returns
    -------
    (K, N, 3) or (K, 3N) array (same layout as ``vectors``): ``H u``, so that
    ``-H u`` are the exact harmonic forces (eV/A for ``u`` in Angstrom) of displacement ``u``.
    """
    n = len(atoms)
    array = np.asarray(vectors, dtype=np.float64)
    flat = array.ndim == 2
    if array.shape[-2:] != (n, 3) and not (flat and array.shape[1] == 3 * n):
        raise ValueError(f"vectors must be (K, {n}, 3) or (K, {3 * n}), got {array.shape}")
    if method not in HVP_METHODS:
        raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    nl, numbers, positions, cell = _graph_inputs(model, atoms, dtype)
    us = torch.tensor(array.reshape(-1, n, 3), dtype=dtype, device=positions.device)
    out: list[torch.Tensor] = []
    if method == "double_backward":
        positions.requires_grad_(True)
        energy = _atomic_energies(model, numbers, nl, edge_vectors(positions, cell, nl)).sum()
        (gradient,) = torch.autograd.grad(energy, positions, create_graph=True)
        for start in range(0, len(us), batch_size):
            block = us[start : start + batch_size]
            if not gradient.requires_grad:  # no edges: no curvature
                hu = torch.zeros_like(block)
            elif len(block) == 1:
                (hu,) = torch.autograd.grad(
                    gradient, positions, block[0], retain_graph=True, allow_unused=True
                )
                hu = _or_zeros(hu, positions)[None]
            else:
                (hu,) = torch.autograd.grad(
                    gradient,
                    positions,
                    block,
                    retain_graph=True,
                    allow_unused=True,
                    is_grads_batched=True,
                )
                hu = _or_zeros(hu, block)
            out.extend(hu.detach())
            if progress is not None:
                progress(len(out), len(us))
    else:
        for u in us:
            point = positions.detach().clone().requires_grad_(True)
            with fwAD.dual_level():
                energy = _atomic_energies(
                    model, numbers, nl, edge_vectors(fwAD.make_dual(point, u), cell, nl)
                ).sum()
                tangent = fwAD.unpack_dual(energy).tangent
            if tangent is not None and tangent.requires_grad:
                (hu,) = torch.autograd.grad(tangent, point, allow_unused=True)
                hu = _or_zeros(hu, point)
            else:
                hu = torch.zeros_like(point)
            out.append(hu.detach())
            if progress is not None:
                progress(len(out), len(us))
    result = torch.stack(out).cpu().numpy().astype(np.float64) if out else np.zeros((0, n, 3))
    return result.reshape(len(us), 3 * n) if flat else result
