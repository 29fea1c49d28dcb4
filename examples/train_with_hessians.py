"""Does training on exact Hessians give better phonons? (EMT copper, same epoch budget)

Reference: ASE's EMT potential for fcc Cu. Training data: rattled 4- and 8-atom Cu cells
(slightly strained) with EMT energies, forces, stresses and Hessians (central differences of
EMT forces, stored with :func:`ase_symbreak.hessian.files.store_hessian`). Two identical small e3nn
models (same seed, same epochs) are trained, one with and one without the Hessian loss
term (exact double backward, ``hessian_samples`` random rows per structure per step);
a third run without Hessians gets as many epochs as fit in the Hessian run's time.
Phonon frequencies of the conventional cubic cell in a 2x2x2 supercell (exact model
Hessian -> phonopy) are compared with EMT's (phonopy finite displacements) at
Gamma, X, M and R of the cubic cell.

Ends with one JSON line:
``{"phonon_mae_thz_with_hessian": x, "phonon_mae_thz_without": y, ...}``

Run: ``.venv/bin/python examples/train_with_hessians.py [--epochs 100] [--structures 16]
(about 2 min on 2 cores)``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from ase_symbreak.hessian.files import store_hessian
from ase_symbreak.models import PotentialConfig
from ase_symbreak.training import (
    LossWeights,
    TrainConfig,
    initial_model,
    load_structures,
    split,
    train,
)
from ase_symbreak.training.evaluate import evaluate, reference_phonon_frequencies

QPOINTS = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.5, 0.5, 0.5)]


def emt_hessian(atoms, h: float = 1e-3) -> np.ndarray:
    """(3N, 3N) EMT Hessian (eV/A^2) by central differences of the forces."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    n = len(atoms)
    hess = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            pos = atoms.positions.copy()
            atoms.positions[i, a] += h
            fp = atoms.get_forces().ravel()
            atoms.positions = pos
            atoms.positions[i, a] -= h
            fm = atoms.get_forces().ravel()
            atoms.positions = pos
            hess[3 * i + a] = -(fp - fm) / (2 * h)
    return 0.5 * (hess + hess.T)


def dataset(n: int, seed: int):
    rng = np.random.default_rng(seed)
    repeats = [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2)]
    images = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeats[i % len(repeats)])
        strain = np.eye(3) + 0.01 * rng.standard_normal((3, 3))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.rattle(0.05, seed=int(rng.integers(2**31)))
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        store_hessian(atoms, emt_hessian(atoms))
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        images.append(atoms)
    return load_structures(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--structures", type=int, default=16)
    parser.add_argument("--hessian-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    structures = dataset(args.structures, args.seed)
    train_set, val_set = split(structures, 0.2, seed=args.seed)
    unitcell = bulk("Cu", "fcc", a=3.61, cubic=True)
    reference = reference_phonon_frequencies(EMT(), unitcell, (2, 2, 2), QPOINTS)
    config = PotentialConfig(
        species=(29,),
        cutoff=4.0,
        num_radial=6,
        lmax=1,
        hidden_mul=8,
        num_layers=2,
        radial_hidden=16,
        avg_num_neighbors=12.0,
    )
    train_config = TrainConfig(
        epochs=args.epochs, batch_size=4, lr=1e-2, seed=args.seed, log_every=20, early_stopping=0
    )
    results = {}
    runs = [("with_hessian", args.hessian_weight, args.epochs), ("without", 0.0, args.epochs)]
    for label, weight, epochs in runs + [("without_same_time", 0.0, None)]:
        if epochs is None:  # forces only, as many epochs as fit in the Hessian run's time
            per_epoch = results["without"][1] / args.epochs
            epochs = max(args.epochs, int(results["with_hessian"][1] / per_epoch))
        train_config = dataclasses.replace(train_config, epochs=epochs)
        model = initial_model(config, train_set, seed=args.seed)
        weights = LossWeights(
            energy=1.0, forces=10.0, stress=1.0, hessian=weight, hessian_samples=4
        )
        start = time.perf_counter()
        print(f"--- training {label} (hessian weight {weight}, {epochs} epochs)")
        train(model, train_set, val_set, train_config, weights)
        seconds = time.perf_counter() - start
        metrics = evaluate(
            model,
            val_set,
            phonon_cell=unitcell,
            supercell=(2, 2, 2),
            qpoints=QPOINTS,
            reference_frequencies=reference,
        )
        print(f"{label}: {metrics.summary()}  ({seconds:.0f} s training)")
        results[label] = (metrics, seconds, epochs)

    for label, (metrics, _, _) in results.items():
        model_f = np.sort(np.array(metrics.phonon_model), axis=1)
        print(
            f"{label:>17}: model THz at Gamma..R (top band) {np.round(model_f[:, -1], 2).tolist()}"
        )
    print(
        f"{'EMT':>17}: reference THz (top band)         "
        f"{np.round(np.sort(reference, axis=1)[:, -1], 2).tolist()}"
    )
    with_h, without, same_time = (
        results[k][0] for k in ("with_hessian", "without", "without_same_time")
    )
    print(
        json.dumps(
            {
                "phonon_mae_thz_with_hessian": round(with_h.phonon_mae, 4),
                "phonon_mae_thz_without": round(without.phonon_mae, 4),
                "forces_mae_with_hessian": round(with_h.forces_mae, 5),
                "forces_mae_without": round(without.forces_mae, 5),
                "hessian_mae_with_hessian": round(with_h.hessian_mae, 4),
                "hessian_mae_without": round(without.hessian_mae, 4),
                "train_seconds_with_hessian": round(results["with_hessian"][1], 1),
                "train_seconds_without": round(results["without"][1], 1),
                "phonon_mae_thz_without_same_time": round(same_time.phonon_mae, 4),
                "epochs": args.epochs,
                "epochs_without_same_time": results["without_same_time"][2],
            }
        )
    )


if __name__ == "__main__":
    main()
