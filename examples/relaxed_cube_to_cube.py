"""Relaxed E(3) network maps a cube onto itself (paper 001, Sec. 5.1): nothing to break.

The task has the cube's symmetry Oh, so by Curie's principle theta may only grow along
Oh-invariant directions: 0e, and the cubic harmonic x^4 + y^4 + z^4 - 3/5 r^4 inside 4e
(A1g of Oh). The network needs no breaking, so no irrep that breaks Oh appears (the paper:
no l = 2); the cubic harmonic in 4e may grow, as it speeds up the fit without breaking Oh.
Same set-up as the paper (SGD lr 5e-3, lambda 1e-6).
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import torch
from e3nn import o3

from ase_symbreak.orderparams.relaxed_weights import (
    RelaxedShapeNet,
    cubic_operations,
    fit_shape,
    theta_readout,
)

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.manual_seed(0)

cube = torch.tensor(list(itertools.product([-0.5, 0.5], repeat=3)))

start = time.perf_counter()
model = RelaxedShapeNet(lmax=2, lmax_theta=4)
history = fit_shape(model, cube, cube, epochs=2500, lr=5e-3, lam=1e-6, optimizer="sgd", tol=1e-8)
readout = theta_readout(model)
elapsed = time.perf_counter() - start

print(
    f"cube -> cube: {len(history)} epochs, MSE {history[0]:.3g} -> {history[-1]:.3g}, "
    f"{elapsed:.1f} s"
)
print("theta norms (summed over layers):", {k: f"{v:.3g}" for k, v in readout.norms.items()})
print("non-scalar irreps in use:", readout.active_irreps, f"(threshold {readout.threshold:.1e})")
# how much of each layer's 4e lies in the Oh-invariant subspace
# (projector = average of D(g) over Oh)
projector = torch.stack(
    [o3.Irrep("4e").D_from_matrix(torch.tensor(g)) for g in cubic_operations()]
).mean(0)
for layer, c in enumerate(readout.components["4e"]):
    norm = np.linalg.norm(c)
    inside = np.linalg.norm(projector.numpy() @ c) / norm if norm > 0 else float("nan")
    print(
        f"layer {layer}: |theta_4e| = {norm:.3g}, "
        f"fraction in the cubic invariant (A1g of Oh) = {inside:.6f}"
    )
print(f"kept symmetry: {readout.point_group} ({len(readout.kept_symmetry)} of 48 Oh operations)")
print(json.dumps({"theta": {k: round(v, 6) for k, v in readout.norms.items()}}))
