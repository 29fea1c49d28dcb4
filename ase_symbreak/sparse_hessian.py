"""Compressed exact Hessians: colour the atoms, one Hessian-vector product per colour.

A message-passing potential with ``L`` interaction layers gives each atom an energy that
depends only on atoms within ``L`` edges of the neighbour graph, so the force-constant
block ``H_ij`` (summed over the periodic images of ``j``, phonopy's layout) vanishes
unless ``i`` and ``j`` are within ``2 L`` edges. Atoms that never share a nonzero row may
share a colour (Curtis, Powell and Reid 1974): one product ``H u`` along
``u = sum_{j in colour} e_{j, alpha}`` then yields the ``alpha`` columns of all of them at
once, so ``3 n_colours`` products replace ``3 N`` rows. That is exact. With a ``radius``
instead, force constants are *assumed* to vanish beyond it (an approximation, reported
as such). Where the receptive field covers the cell, every pair is coupled and the
plain rows are computed (said so in the result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.autodiff import hessian_rows, hessian_vector_products
from ase_symbreak.graph import neighbor_list
from ase_symbreak.models.base import EnergyModel


@dataclass(frozen=True)
class ColouredHessian:
    """A Hessian from coloured products, with what was assumed to get it."""

    hessian: NDArray[np.float64]  # (3N, 3N) eV/A^2
    n_atoms: int
    n_colours: int
    n_products: int  # Hessian-vector products (or rows) computed
    exact: bool  # True: no assumption beyond the model's own locality
    fell_back: bool  # True: every pair coupled, plain rows computed
    assumption: str  # one sentence for the user


def adjacency(atoms: Atoms, cutoff: float) -> sp.csr_matrix:
    """(N, N) boolean: atoms joined by an edge within ``cutoff`` (any image), self included."""
    n = len(atoms)
    nl = neighbor_list(atoms, cutoff)
    data = np.ones(len(nl.edge_src) + n, dtype=bool)
    rows = np.concatenate([nl.edge_src, np.arange(n)])
    cols = np.concatenate([nl.edge_dst, np.arange(n)])
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(n, n), dtype=bool)
    return ((matrix + matrix.T) > 0).tocsr()


def hessian_sparsity(atoms: Atoms, cutoff: float, hops: int) -> sp.csr_matrix:
    """(N, N) boolean: atoms within ``hops`` edges of each other (neighbour graph at ``cutoff``)."""
    if hops < 0:
        raise ValueError(f"hops must be >= 0, got {hops}")
    step = adjacency(atoms, cutoff)
    pattern = sp.identity(len(atoms), dtype=bool, format="csr")
    for _ in range(hops):
        grown = ((pattern.astype(np.int32) @ step.astype(np.int32)) > 0).tocsr()
        if grown.nnz == pattern.nnz:
            break
        pattern = grown
    return pattern


def colour_atoms(pattern: sp.spmatrix) -> NDArray[np.int64]:
    """Colours (N,) such that no row of ``pattern`` holds two atoms of the same colour.

    Greedy, largest conflict degree first, on the conflict graph ``pattern^T pattern``.
    """
    p = sp.csr_matrix(pattern, dtype=bool).astype(np.int32)
    conflict = ((p.T @ p) > 0).tocsr()
    n = conflict.shape[0]
    colours = np.full(n, -1, dtype=np.int64)
    degree = np.diff(conflict.indptr)
    for atom in np.argsort(-degree, kind="stable"):
        neighbours = conflict.indices[conflict.indptr[atom] : conflict.indptr[atom + 1]]
        used = set(colours[neighbours][colours[neighbours] >= 0].tolist())
        colour = 0
        while colour in used:
            colour += 1
        colours[atom] = colour
    return colours


def coloured_hessian(
    model: EnergyModel,
    atoms: Atoms,
    dtype: torch.dtype = torch.float64,
    radius: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 1,
) -> ColouredHessian:
    """The (3N, 3N) Hessian from ``3 n_colours`` exact Hessian-vector products.

    Parameters
    ----------
    model : the potential; without ``radius`` it must declare ``num_interactions``
    atoms : the (super)cell
    dtype : precision of the products
    radius : None: exact, from the model's locality (``2 num_interactions`` edges at its
        cutoff). A length (Angstrom): assume force constants vanish between atoms farther
        apart than ``radius`` (over all images); the result is symmetrised and not exact.
    progress : ``progress(done, total)`` after each product
    batch_size : products per backward pass (see :func:`hessian_vector_products`)
    """
    n = len(atoms)
    if radius is None:
        layers = getattr(model, "num_interactions", None)
        if layers is None:
            raise ValueError(
                "the model does not declare num_interactions (its message-passing depth): "
                "pass radius= (Angstrom) to assume where force constants vanish"
            )
        hops = 2 * int(layers)
        pattern = hessian_sparsity(atoms, model.cutoff, hops)
        exact = True
        assumption = (
            f"exact: {layers} message-passing layer(s) at a {model.cutoff:g} A cutoff make "
            f"force constants vanish between atoms more than {hops} edges apart"
        )
    else:
        if not radius > 0:
            raise ValueError(f"radius must be a positive length (Angstrom), got {radius!r}")
        pattern = adjacency(atoms, float(radius))
        exact = False
        assumption = (
            f"approximate: force constants assumed zero between atoms farther apart than "
            f"{radius:g} A (symmetrised)"
        )
    colours = colour_atoms(pattern)
    n_colours = int(colours.max()) + 1 if n else 0
    if n_colours >= n:
        hessian = hessian_rows(model, atoms, None, dtype, progress, batch_size=batch_size)
        return ColouredHessian(
            hessian=hessian,
            n_atoms=n,
            n_colours=n,
            n_products=3 * n,
            exact=True,
            fell_back=True,
            assumption="fell back to plain rows: every pair of atoms is coupled in this cell",
        )
    vectors = np.zeros((3 * n_colours, n, 3))
    for alpha in range(3):
        vectors[3 * colours + alpha, np.arange(n), alpha] = 1.0
    products = hessian_vector_products(
        model, atoms, vectors, dtype, progress=progress, batch_size=batch_size
    )
    hessian = _decompress(products, colours, sp.csr_matrix(pattern, dtype=bool))
    if not exact:
        hessian = 0.5 * (hessian + hessian.T)
    return ColouredHessian(
        hessian=hessian,
        n_atoms=n,
        n_colours=n_colours,
        n_products=3 * n_colours,
        exact=exact,
        fell_back=False,
        assumption=assumption,
    )


def _decompress(
    products: NDArray[np.float64], colours: NDArray[np.int64], pattern: sp.csr_matrix
) -> NDArray[np.float64]:
    """H[(i, beta), (j, alpha)] = products[3 c(j) + alpha, i, beta] where pattern[i, j]."""
    n = len(colours)
    hessian = np.zeros((n, 3, n, 3))
    rows, cols = pattern.nonzero()
    c = colours[cols]
    # products: (3 n_colours, N, 3) -> (n_colours, alpha, N, beta)
    blocks = products.reshape(-1, 3, n, 3)
    hessian[rows, :, cols, :] = blocks[c, :, rows, :].transpose(0, 2, 1)
    return hessian.reshape(3 * n, 3 * n)
