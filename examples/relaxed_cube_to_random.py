"""Relaxed E(3) network deforms a cube into a random 8-point shape (paper 001, Sec. 5.1).

The target has no symmetry (C1, chiral), so every irrep of theta (0o included) may and
does become nonzero and no operation of Oh but the identity is kept.
Same set-up as the paper (SGD lr 5e-3, lambda 1e-6).
"""

from __future__ import annotations

import itertools
import json
import time

import torch

from ase_symbreak.orderparams.relaxed_weights import RelaxedShapeNet, fit_shape, theta_readout

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.manual_seed(0)

cube = torch.tensor(list(itertools.product([-0.5, 0.5], repeat=3)))
generator = torch.Generator().manual_seed(1)
shape = cube + 0.2 * torch.randn(cube.shape, generator=generator)

start = time.perf_counter()
model = RelaxedShapeNet(lmax=2, lmax_theta=4)
history = fit_shape(model, cube, shape, epochs=2500, lr=5e-3, lam=1e-6, optimizer="sgd", tol=1e-8)
readout = theta_readout(model)
elapsed = time.perf_counter() - start

print(
    f"cube -> random shape: {len(history)} epochs, "
    f"MSE {history[0]:.3g} -> {history[-1]:.3g}, {elapsed:.1f} s"
)
print("theta norms (summed over layers):", {k: f"{v:.3g}" for k, v in readout.norms.items()})
print("non-scalar irreps in use:", readout.active_irreps, f"(threshold {readout.threshold:.1e})")
print(f"kept symmetry: {readout.point_group} ({len(readout.kept_symmetry)} of 48 Oh operations)")
print(json.dumps({"theta": {k: round(v, 6) for k, v in readout.norms.items()}}))
