"""Time the mode decomposition of a 40-atom perovskite child (target: under 1 s).

The child is cubic SrTiO3 (a = 3.9 A) in a 2x2x2 supercell with out-of-phase (R4+) and
in-phase (M3+) octahedral tilts, a polar GM4- shift, 0.5 % strain, random noise, a shifted
origin and shuffled atoms. Prints the time of the first decomposition (which builds the
symmetry-adapted modes of the 2x2x2 parent supercell), of a repeated one (modes cached),
and of the parent-child mapping alone.

Run: .venv/bin/python benchmarks/decompose_speed.py
"""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms
from ase.build import make_supercell

from ase_symbreak.symmetry.decompose import decompose
from ase_symbreak.symmetry.mapping import map_to_parent

A = 3.9


def parent() -> Atoms:
    return Atoms(
        "TiSrO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=np.eye(3) * A,
        pbc=True,
    )


def child(seed: int = 0) -> Atoms:
    rng = np.random.default_rng(seed)
    sc = make_supercell(parent(), 2 * np.eye(3))
    frac = sc.get_positions() / A
    u = np.zeros((len(sc), 3))
    for i, (z, f) in enumerate(zip(sc.numbers, frac)):
        n = np.floor(f + 1e-6)
        r = f - n
        s_r = (-1) ** int(n.sum())  # out of phase about z
        s_m = (-1) ** int(n[0] + n[2])  # in phase about y
        if z == 8 and np.isclose(r[0], 0.5):
            u[i] += [0, 0.08 * s_r, -0.05 * s_m]
        if z == 8 and np.isclose(r[1], 0.5):
            u[i] += [-0.08 * s_r, 0, 0]
        if z == 8 and np.isclose(r[2], 0.5):
            u[i] += [0.05 * s_m, 0, 0]
    u[sc.numbers == 22, 2] += 0.04
    u += rng.normal(scale=0.0005, size=u.shape)
    sc.positions += u + [0.3, 0.1, 1.7]
    sc.set_cell(sc.cell[:] @ np.diag([1.005, 1.005, 0.995]), scale_atoms=True)
    sc.wrap()
    return sc[rng.permutation(len(sc))]


def best_of(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p, c = parent(), child()
    t0 = time.perf_counter()
    result = decompose(p, c)
    cold = time.perf_counter() - t0
    warm = best_of(lambda: decompose(p, c))
    mapping = best_of(lambda: map_to_parent(p, c))
    print(f"child: {len(c)} atoms; irreps above 1e-3 A:")
    for ir in result.significant(1e-3):
        print(f"  {ir.irrep:6s} {ir.direction:14s} Ap = {ir.amplitude:.5f} A")
    print(f"completeness residual: {result.completeness_residual:.2e} A^2")
    print(f"decompose, first call (builds 2x2x2 modes): {cold:.3f} s")
    print(f"decompose, repeated (modes cached):         {warm:.3f} s")
    print(f"map_to_parent alone:                        {mapping:.3f} s")
    print(
        f"target < 1 s: {'met' if cold < 1.0 else 'NOT met'} (first call), "
        f"{'met' if warm < 1.0 else 'NOT met'} (repeated)"
    )


if __name__ == "__main__":
    main()
