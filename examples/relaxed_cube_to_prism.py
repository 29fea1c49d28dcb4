"""Relaxed E(3) network deforms a cube into a square prism elongated along z (paper 001, Sec. 5.1).

Oh -> D4h: the relaxed weights may only use irreps with a D4h-invariant but not Oh-invariant
component, i.e. 2e (the E_g function x^2 + y^2 - 2 z^2) and 4e. In e3nn's basis (polar axis
y) the 2e part is m = 0 and m = 2 with theta_2 = -sqrt(3) theta_0 (paper Table 4).
Set-up of the paper: 2 layers, lmax 2, theta up to 4e/4o, SGD lr 5e-3, lambda 1e-6, 2500 epochs.
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import torch

from ase_symbreak.orderparams.relaxed_weights import RelaxedShapeNet, fit_shape, theta_readout

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)  # tiny graph: threads only add overhead
torch.manual_seed(0)

cube = torch.tensor(list(itertools.product([-0.5, 0.5], repeat=3)))
prism = cube * torch.tensor([1.0, 1.0, 1.5])

start = time.perf_counter()
model = RelaxedShapeNet(lmax=2, lmax_theta=4)
history = fit_shape(model, cube, prism, epochs=2500, lr=5e-3, lam=1e-6, optimizer="sgd", tol=1e-8)
readout = theta_readout(model)
elapsed = time.perf_counter() - start

print(
    f"cube -> prism (z x 1.5): {len(history)} epochs, "
    f"MSE {history[0]:.3g} -> {history[-1]:.3g}, {elapsed:.1f} s"
)
print("theta norms (summed over layers):", {k: f"{v:.3g}" for k, v in readout.norms.items()})
print("non-scalar irreps in use:", readout.active_irreps, f"(threshold {readout.threshold:.1e})")
np.set_printoptions(precision=4, suppress=True)
for layer, c in enumerate(readout.components["2e"]):
    ratio = c[4] / c[2] if abs(c[2]) > 1e-12 else float("nan")
    print(
        f"layer {layer} 2e (m=-2..2, e3nn basis): {c}  "
        f"theta_2/theta_0 = {ratio:.4f} (-sqrt3 = {-(3**0.5):.4f})"
    )
print(f"kept symmetry: {readout.point_group} ({len(readout.kept_symmetry)} of 48 Oh operations)")
print(json.dumps({"theta": {k: round(v, 6) for k, v in readout.norms.items()}}))
