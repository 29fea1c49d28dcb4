"""Charged particle in E along x and B along y (paper 001, Sec. 5.2): relaxed vs equivariant.

The force F = q (E + v x B) needs a vector (1o) and a pseudovector (1e) that the inputs
(charge 0e, velocity 1o) do not carry: the equivariant network can only return c v and
stalls, the relaxed one fits and its theta_1o points along E, theta_1e along B.
Set-up of the paper: one trajectory of 500 steps, batch 50, Adam lr 1e-3, lambda 1e-4
(here 400 epochs instead of 5000: the separation is clear long before).
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from ase_symbreak.orderparams.relaxed_weights import (
    ChargedParticleNet,
    fit_charged_particle,
    lorentz_trajectory,
    theta_readout,
)

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

E, B = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
_, velocities, forces = lorentz_trajectory(E, B, steps=500, dt=0.02, seed=0)
v, f = torch.tensor(velocities), torch.tensor(forces)

start = time.perf_counter()
results = {}
for relaxed in (False, True):
    torch.manual_seed(0)
    model = ChargedParticleNet(lmax_theta=1, relaxed=relaxed)
    history = fit_charged_particle(model, v, f, epochs=400, batch_size=50, lr=1e-3, lam=1e-4)
    results[relaxed] = (model, history)
    name = "relaxed" if relaxed else "equivariant"
    print(f"{name:11s}: MSE {history[0]:.3g} -> {history[-1]:.3g} ({len(history)} epochs)")
elapsed = time.perf_counter() - start

readout = theta_readout(results[True][0])
e_dir, b_dir = readout.cartesian_vector("1o"), readout.cartesian_vector("1e")
cos_e = abs(e_dir @ E) / np.linalg.norm(e_dir)
cos_b = abs(b_dir @ B) / np.linalg.norm(b_dir)
print("theta norms:", {k: f"{val:.3g}" for k, val in readout.norms.items()})
print(f"theta_1o = {np.round(e_dir, 6)}  |cos(theta_1o, E)| = {cos_e:.8f}")
print(f"theta_1e = {np.round(b_dir, 6)}  |cos(theta_1e, B)| = {cos_b:.8f}")
print(f"kept symmetry: {readout.point_group} (the mirror y -> -y keeps both E || x and B || y)")
print(f"total {elapsed:.1f} s")
print(
    json.dumps(
        {
            "theta": {k: round(val, 6) for k, val in readout.norms.items()},
            "mse_equivariant": results[False][1][-1],
            "mse_relaxed": results[True][1][-1],
        }
    )
)
