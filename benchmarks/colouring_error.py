"""Error of the approximate (``radius``) colouring for SevenNet-0, from exact rows.

SevenNet-0's receptive field covers every phonon supercell, so its exact colouring falls
back to plain rows and only ``coloured_hessian(radius=r)`` saves products. What that costs
in accuracy follows from a few exact rows: a coloured product along ``u_{c,alpha}`` gives
``(H u)_{i,beta} = sum_{j in c} H_{(i,beta),(j,alpha)}``, so for an atom ``i`` with exact
row ``H_i`` the coloured row is known without running the coloured products: the entries
of the pattern get the sum over their colour (aliasing), the others are set to zero
(truncation). Prints the decay of the exact force constants with distance and, per radius,
the colours (products = 3 x colours against 3N rows) and the largest error of the coloured
rows (before the symmetrisation ``coloured_hessian`` applies). Usage::

    .venv/bin/python benchmarks/colouring_error.py [--size 3] [--radii 4,6,8]
        [--dtype float64] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.hessian.autodiff import hessian_rows
from ase_symbreak.hessian.colouring import colour_atoms, radius_sparsity
from ase_symbreak.structures import cubic_perovskite


def coloured_rows(rows: np.ndarray, atoms_i: list[int], pattern, colours: np.ndarray) -> np.ndarray:
    """The rows of atoms ``atoms_i`` that the coloured products would give (3k, 3N)."""
    n = len(colours)
    exact = rows.reshape(len(atoms_i), 3, n, 3)
    out = np.zeros_like(exact)
    pattern = pattern.tocsr()
    for k, i in enumerate(atoms_i):
        # per colour: sum of the exact blocks H_ij over the colour's members j
        sums = np.zeros((int(colours.max()) + 1, 3, 3))
        np.add.at(sums, colours, exact[k].transpose(1, 0, 2))
        coupled = pattern.indices[pattern.indptr[i] : pattern.indptr[i + 1]]
        out[k][:, coupled, :] = sums[colours[coupled]].transpose(1, 0, 2)
    return out.reshape(rows.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3, help="n of the n x n x n SrTiO3 cell")
    parser.add_argument("--radii", default="4,6,8")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    atoms = cubic_perovskite(3.9).repeat(args.size)
    atoms.rattle(0.03, seed=7)
    n = len(atoms)
    calc = SymBreakCalculator(dtype="float64", hessian_dtype=args.dtype)
    sample = [0, 1, 2]  # Sr, Ti, O of the first cell
    start = time.perf_counter()
    rows = hessian_rows(calc.hessian_model, atoms, sample, calc.hessian_dtype)
    seconds = time.perf_counter() - start
    print(
        f"SrTiO3 {args.size}^3 rattled ({n} atoms), SevenNet-0, {args.dtype}: "
        f"{len(rows)} exact rows in {seconds:.1f} s (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    blocks = np.abs(rows.reshape(len(sample), 3, n, 3)).max(axis=(1, 3))  # (k, N)
    distances = np.array([atoms.get_distances(i, range(n), mic=True) for i in sample])
    edges = [0, 3, 4, 5, 6, 7, 8, 10, 12, np.inf]
    print("decay: largest |H_ij| (eV/A^2) of pairs by closest-image distance d (A)")
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (distances > lo) & (distances <= hi)
        if inside.any():
            print(f"  {lo:>4} < d <= {hi:<4}: {blocks[inside].max():.2e} ({inside.sum()} pairs)")
    scale = np.abs(rows).max()
    for radius in (float(r) for r in args.radii.split(",")):
        pattern = radius_sparsity(atoms, radius)
        colours = colour_atoms(pattern)
        approx = coloured_rows(rows, sample, pattern, colours)
        error = np.abs(approx - rows).max()
        n_colours = int(colours.max()) + 1
        print(
            f"radius {radius:g} A: {n_colours} colours, {3 * n_colours} products instead of "
            f"{3 * n} rows ({3 * n / (3 * n_colours):.1f}x fewer); largest error of the "
            f"coloured rows {error:.2e} eV/A^2 ({error / scale:.1e} of the largest entry)",
            flush=True,
        )


if __name__ == "__main__":
    main()
