"""Compressed (coloured) exact Hessians: 3 x n_colours Hessian-vector products, not 3N rows.

A message-passing model with ``L = model.num_interactions`` layers gives every atom an energy
that depends only on atoms within ``L`` edges of the neighbour graph (pairs closer than
``model.cutoff``, periodic images included). The supercell force constants ``H_ij`` (summed
over the images of ``j``, phonopy's layout) therefore vanish unless ``i`` and ``j`` are within
``2L`` graph hops: an exact sparsity pattern, no approximation.

Curtis-Powell-Reid compression: atoms ``j`` and ``j'`` may share a colour when no atom ``i`` is
coupled to both. For a colour ``c`` and a direction ``alpha`` one Hessian-vector product along
``u = sum_{j in c} e_{j,alpha}`` gives ``(H u)_{i,beta} = H_{(i,beta),(j,alpha)}`` for the one
``j`` of ``c`` coupled to ``i``. In cells much larger than the receptive field the number of
colours is independent of the cell size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.hessian.autodiff import hessian_rows, hessian_vector_products
from ase_symbreak.hessian.graph import neighbor_list
from ase_symbreak.models.base import EnergyModel


@dataclass(frozen=True, eq=False)
class ColouredHessian:
    """A Hessian from coloured Hessian-vector products, and what it rests on.

    Attributes
    ----------
    hessian : (3N, 3N) ndarray
        d2E/dx dx' in eV/A^2 (row ``3*i+beta``, column ``3*j+alpha``).
    colours : (N,) int ndarray
        Colour of every atom (``arange(N)`` after a fall-back).
    n_colours : int
        Number of colours (N after a fall-back).
    n_products : int
        Hessian-vector products (or rows) computed: ``3 * n_colours``.
    n_atoms : int
        N.
    exact : bool
        True when the result is the exact Hessian (exact sparsity, or plain rows).
    assumption : str
        What the result rests on, in words.
    fell_back : bool
        True when every pair of atoms was coupled and plain rows were computed instead.
    """

    hessian: NDArray[np.float64]
    colours: NDArray[np.int64]
    n_colours: int
    n_products: int
    n_atoms: int
    exact: bool
    assumption: str
    fell_back: bool


def _adjacency(atoms: Atoms, cutoff: float) -> sp.csr_matrix:
    """Boolean (N, N) matrix of pairs with an image closer than ``cutoff``, diagonal included."""
    n = len(atoms)
    nl = neighbor_list(atoms, cutoff)
    rows = np.concatenate([nl.edge_src, nl.edge_dst, np.arange(n)])
    cols = np.concatenate([nl.edge_dst, nl.edge_src, np.arange(n)])
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()
    return matrix


def radius_sparsity(atoms: Atoms, radius: float) -> sp.csr_matrix:
    """Pairs whose closest periodic images are at most ``radius`` apart, diagonal included.

    A radius beyond every possible closest-image distance gives the full pattern without a
    neighbour list (which would hold ~ N * (radius^3 / volume per atom) pairs).
    """
    n = len(atoms)
    if np.all(atoms.pbc):  # wrapped fractional offsets in [-1/2, 1/2]: a bound on |d|
        reach = 0.5 * float(np.linalg.norm(atoms.cell.array, axis=1).sum())
    elif not np.any(atoms.pbc) and n:
        reach = float(np.linalg.norm(np.ptp(atoms.positions, axis=0)))
    else:
        reach = np.inf
    if radius >= reach:
        return sp.csr_matrix(np.ones((n, n), dtype=bool))
    return _adjacency(atoms, radius)


def _as_bool(matrix: sp.spmatrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    return sp.csr_matrix(
        (np.ones(matrix.nnz, dtype=bool), matrix.indices, matrix.indptr), matrix.shape
    )


def hessian_sparsity(atoms: Atoms, cutoff: float, hops: int) -> sp.csr_matrix:
    """Pairs of atoms at most ``hops`` edges apart in the neighbour graph.

    Parameters
    ----------
    atoms : the structure (periodic images count as edges to the atom they image)
    cutoff : edge length, Angstrom
    hops : graph distance; 0 gives the identity (an atom is 0 hops from itself)

    Returns
    -------
    Symmetric boolean (N, N) CSR matrix, the structure of ``(A + I)^hops``.
    """
    if hops < 0:
        raise ValueError(f"hops must be >= 0, got {hops!r}")
    n = len(atoms)
    step = _adjacency(atoms, cutoff).astype(np.int32)
    pattern = sp.identity(n, dtype=np.int32, format="csr")
    for _ in range(int(hops)):
        grown = _as_bool(pattern @ step).astype(np.int32)
        if grown.nnz == pattern.nnz:  # every connected component is covered
            break
        pattern = grown
    return _as_bool(pattern)


def colour_atoms(pattern: sp.spmatrix | sp.sparray | NDArray[np.bool_]) -> NDArray[np.int64]:
    """Greedy largest-first colouring of the columns of a sparsity pattern.

    Columns ``j`` and ``j'`` get different colours whenever some row has nonzeros in both
    (the conflict graph ``pattern^T pattern``), so that one product per colour and direction
    recovers every nonzero.

    Parameters
    ----------
    pattern : (N, N) boolean matrix (sparse or dense), ``pattern[i, j]`` true where
        ``H_ij`` may be nonzero

    Returns
    -------
    (N,) int64 colours ``0 .. n_colours - 1``.
    """
    matrix = _as_bool(sp.csr_matrix(pattern))
    n = matrix.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    counts = matrix.astype(np.int32)
    if np.diff(matrix.indptr).max() == n:  # a full row couples every pair of columns
        return np.arange(n, dtype=np.int64)
    conflict = _as_bool(counts.T @ counts).tocsr()
    conflict.sort_indices()
    indptr, indices = conflict.indptr, conflict.indices
    degree = np.diff(indptr)
    colours = np.full(n, -1, dtype=np.int64)
    taken = np.zeros(n + 1, dtype=bool)
    for j in np.argsort(-degree, kind="stable"):
        neighbours = colours[indices[indptr[j] : indptr[j + 1]]]
        neighbours = neighbours[neighbours >= 0]
        taken[neighbours] = True
        colours[j] = int(np.argmin(taken))  # the smallest colour no neighbour has
        taken[neighbours] = False
    return colours


def _decompress(
    hessian4: NDArray[np.float64],
    products: NDArray[np.float64],
    first_colour: int,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    colours: NDArray[np.int64],
) -> None:
    """Write ``H[(i,beta),(j,alpha)] = (H u_{c,alpha})_{i,beta}`` for pattern entries (i, j)."""
    # products: (n_chunk, 3 alpha, N, 3 beta); blocks: (nnz, 3 alpha, 3 beta)
    blocks = products[colours[cols] - first_colour, :, rows, :]
    hessian4[rows, :, cols, :] = blocks.transpose(0, 2, 1)


def coloured_hessian(
    model: EnergyModel,
    atoms: Atoms,
    dtype: torch.dtype = torch.float64,
    radius: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = 192,
    method: str = "double_backward",
    batch_size: int = 1,
) -> ColouredHessian:
    """The Hessian (eV/A^2) of a structure from coloured Hessian-vector products.

    Parameters
    ----------
    model : the potential (in ``dtype``)
    atoms : the structure (its positions are the expansion point)
    dtype : precision of the autograd passes
    radius : None (exact mode): force constants vanish beyond ``2 * model.num_interactions``
        hops of the graph with ``model.cutoff``, exact for message-passing models; a float
        (Angstrom, approximate mode): force constants are *assumed* zero between atoms whose
        closest periodic images are farther apart than ``radius``; the result is symmetrised
    progress : ``progress(done, total)`` after each product (row, after a fall-back)
    chunk_size : products per call of
        :func:`~ase_symbreak.hessian.autodiff.hessian_vector_products` (rounded down to a
        multiple of 3, at least 3): bounds the memory of the products
    method, batch_size : passed to
        :func:`~ase_symbreak.hessian.autodiff.hessian_vector_products`

    Returns
    -------
    :class:`ColouredHessian`; in exact mode every entry is an exact product and the result is
    not symmetrised (it is the transpose of
    :func:`~ase_symbreak.hessian.autodiff.hessian_rows` up to rounding, ~1e-15 relative);
    when every pair of atoms is coupled (a cell smaller than the receptive field, or
    ``radius`` beyond the cell) it holds plain
    :func:`~ase_symbreak.hessian.autodiff.hessian_rows` (``fell_back=True``, exact).

    Raises
    ------
    ValueError
        ``radius`` is None and the model does not know its ``num_interactions``, or
        ``radius`` is not positive.
    """
    sparsity = _exact_sparsity(model, atoms) if radius is None else _radius_sparsity(atoms, radius)
    colours = colour_atoms(sparsity.pattern)
    n = len(atoms)
    n_colours = int(colours.max()) + 1 if n else 0
    if n_colours == n:
        return _plain_rows(model, atoms, dtype, progress, sparsity.coupling)
    hessian = _products_by_colour(
        model,
        atoms,
        sparsity.pattern,
        colours,
        n_colours,
        dtype,
        progress,
        chunk_size=chunk_size,
        method=method,
        batch_size=batch_size,
    )
    if not sparsity.exact:
        hessian = 0.5 * (hessian + hessian.T)
    return ColouredHessian(
        hessian=hessian,
        colours=colours,
        n_colours=n_colours,
        n_products=3 * n_colours,
        n_atoms=n,
        exact=sparsity.exact,
        assumption=sparsity.assumption,
        fell_back=False,
    )


@dataclass(frozen=True)
class _Sparsity:
    """Which atom pairs may couple, and on what that rests.

    Attributes
    ----------
    pattern : (N, N) bool csr_matrix
        Nonzero where atoms ``i`` and ``j`` may have nonzero force constants.
    exact : bool
        The pattern follows from the model (not an assumption).
    assumption : str
        What the result rests on, in words.
    coupling : str
        How "coupled" is meant, for the fall-back message.
    """

    pattern: sp.csr_matrix
    exact: bool
    assumption: str
    coupling: str


def _exact_sparsity(model: EnergyModel, atoms: Atoms) -> _Sparsity:
    """Pairs within ``2 * model.num_interactions`` graph hops; refuses an unknown depth."""
    name = type(model).__name__
    layers = getattr(model, "num_interactions", None)
    if layers is None:
        raise ValueError(
            f"{name} does not set num_interactions (its message-passing depth), so the "
            "exact sparsity of its Hessian is unknown; pass radius=... (Angstrom) to assume "
            "force constants vanish beyond that distance, or use hessian_rows"
        )
    hops = 2 * int(layers)
    return _Sparsity(
        pattern=hessian_sparsity(atoms, model.cutoff, hops),
        exact=True,
        assumption=(
            f"exact: {name}'s {int(layers)} message-passing layers make force constants vanish "
            f"beyond {hops} graph hops (cutoff {model.cutoff:g} A)"
        ),
        coupling=f"within {hops} graph hops (cutoff {model.cutoff:g} A)",
    )


def _radius_sparsity(atoms: Atoms, radius: float) -> _Sparsity:
    """Pairs whose closest periodic images are within ``radius`` (A): an assumption."""
    if not radius > 0:
        raise ValueError(f"radius must be positive (Angstrom), got {radius!r}")
    return _Sparsity(
        pattern=radius_sparsity(atoms, float(radius)),
        exact=False,
        assumption=(
            f"approximate: force constants assumed zero between atoms farther apart than "
            f"{radius:g} A (closest periodic images); symmetrised"
        ),
        coupling=f"within {radius:g} A",
    )


def _plain_rows(
    model: EnergyModel,
    atoms: Atoms,
    dtype: torch.dtype,
    progress: Callable[[int, int], None] | None,
    coupling: str,
) -> ColouredHessian:
    """The fall-back when every pair of atoms is coupled: plain Hessian rows (exact)."""
    n = len(atoms)
    hessian = hessian_rows(model, atoms, None, dtype, progress=progress)
    return ColouredHessian(
        hessian=hessian,
        colours=np.arange(n, dtype=np.int64),
        n_colours=n,
        n_products=3 * n,
        n_atoms=n,
        exact=True,
        assumption=(
            f"fell back to plain rows: every pair of the {n} atoms is coupled {coupling}; exact"
        ),
        fell_back=True,
    )


def _products_by_colour(
    model: EnergyModel,
    atoms: Atoms,
    pattern: sp.csr_matrix,
    colours: NDArray[np.int64],
    n_colours: int,
    dtype: torch.dtype,
    progress: Callable[[int, int], None] | None,
    chunk_size: int,
    method: str,
    batch_size: int,
) -> NDArray[np.float64]:
    """(3N, 3N) Hessian from ``3 * n_colours`` products, ``chunk_size // 3`` colours a call.

    Entries outside ``pattern`` stay zero; not symmetrised.
    """
    n = len(atoms)
    rows, cols, bounds = _entries_by_colour(pattern, colours, n_colours)
    hessian = np.zeros((n, 3, n, 3))
    total = 3 * n_colours
    per_chunk = max(1, int(chunk_size) // 3)
    for first in range(0, n_colours, per_chunk):
        last = min(first + per_chunk, n_colours)
        products = hessian_vector_products(
            model,
            atoms,
            _colour_vectors(colours, first, last).reshape(-1, n, 3),
            dtype,
            method=method,
            progress=_offset_progress(progress, 3 * first, total),
            batch_size=batch_size,
        ).reshape(last - first, 3, n, 3)
        span = slice(bounds[first], bounds[last])
        _decompress(hessian, products, first, rows[span], cols[span], colours)
    return hessian.reshape(3 * n, 3 * n)


def _entries_by_colour(
    pattern: sp.csr_matrix, colours: NDArray[np.int64], n_colours: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Pattern entries ``(rows, cols)`` sorted by the colour of the column atom, and the
    ``(n_colours + 1,)`` bounds of each colour's run.
    """
    pattern = pattern.tocoo()
    rows, cols = pattern.row.astype(np.int64), pattern.col.astype(np.int64)
    order = np.argsort(colours[cols], kind="stable")
    rows, cols = rows[order], cols[order]
    bounds = np.searchsorted(colours[cols], np.arange(n_colours + 1))
    return rows, cols, bounds


def _colour_vectors(colours: NDArray[np.int64], first: int, last: int) -> NDArray[np.float64]:
    """(last - first, 3 alpha, N, 3) directions ``u_{c,alpha} = sum_{j in c} e_{j,alpha}``."""
    n = len(colours)
    members = np.flatnonzero((colours >= first) & (colours < last))
    vectors = np.zeros((last - first, 3, n, 3))
    for alpha in range(3):
        vectors[colours[members] - first, alpha, members, alpha] = 1.0
    return vectors


def _offset_progress(
    progress: Callable[[int, int], None] | None, done: int, total: int
) -> Callable[[int, int], None]:
    """``progress`` of one call's products, counted after the ``done`` before it."""

    def report(k: int, _: int) -> None:
        if progress is not None:
            progress(done + k, total)

    return report
