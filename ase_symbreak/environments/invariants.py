"""Rotation-invariant descriptors of atomic neighbourhoods from e3nn spherical harmonics.

Each atom's neighbours within ``cutoff`` are projected on real spherical harmonics,
``c_{i,l,m} = sum_j f_cut(r_ij) R(r_ij) Y_lm(r_ij / |r_ij|)``, and the projection is
contracted to invariants: the power spectrum ``p_l = c_l . c_l`` (even scalars) and the
bispectrum ``B_{l1 l2 l3} = sum C^{l1 l2 l3}_{m1 m2 m3} c_{l1 m1} c_{l2 m2} c_{l3 m3}`` with
e3nn's real Wigner 3j symbols (a scalar for even ``l1 + l2 + l3``, a pseudoscalar for odd).

Conventions:

- spherical harmonics: :func:`e3nn.o3.spherical_harmonics` with ``normalize=True`` and
  ``normalization="norm"``, so ``|Y_l(u)| = 1`` for every ``l`` and, by the addition
  theorem, ``Y_l(u) . Y_l(v) = P_l(u . v)``. With ``R = 1``, ``p_l / W**2`` is Steinhardt's
  bond-orientational ``q_l**2`` (``W = sum_j f_cut(r_ij)``, the ``weights``).
- cutoff: ``f_cut(r) = (1 + cos(pi r / cutoff)) / 2`` for ``r < cutoff``, 0 beyond: value
  and first derivative vanish at the cutoff, so neighbours enter and leave smoothly.
- Wigner 3j symbols: :func:`e3nn.o3.wigner_3j` (Frobenius norm 1), in the basis of e3nn's
  spherical harmonics.
- an atom without neighbours within the cutoff gets zero coefficients and zero invariants.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from ase.neighborlist import neighbor_list
from e3nn import o3
from numpy.typing import NDArray

from ase_symbreak.validation import check_atoms

__all__ = [
    "MAX_LMAX",
    "NeighbourProjection",
    "Invariants",
    "cosine_cutoff",
    "neighbour_projection",
    "power_spectrum",
    "bispectrum",
    "bispectrum_couplings",
    "environment_distance",
    "environment_distance_matrix",
]

#: Largest supported ``lmax`` (the number of bispectrum couplings grows as ``lmax**3``).
MAX_LMAX = 8


@dataclass(frozen=True)
class NeighbourProjection:
    """Spherical-harmonic projection of every atom's neighbourhood.

    Attributes
    ----------
    coefficients : NDArray[float]
        ``(n_atoms, n_channels, (lmax + 1) ** 2)`` ``c_{i,a,l,m}``, e3nn's order of ``(l, m)``
        (``l = 0, 1, ...``; ``m = -l..l`` within each ``l``).
    weights : NDArray[float]
        ``(n_atoms,)`` total neighbour weight ``W_i = sum_j f_cut(r_ij) R(r_ij)`` over all
        channels (dimensionless with the default ``R = 1``: a smooth coordination number).
    irreps : o3.Irreps
        Irreps of one channel, ``"1x0e+1x1o+...+1x{lmax}{p}"`` (parity ``(-1)**l``).
    channels : tuple
        Atomic number of the neighbours in each channel (ascending), or ``("all",)``.
    cutoff : float
        Angstrom.
    lmax : int
    """

    coefficients: NDArray[np.float64]
    weights: NDArray[np.float64]
    irreps: o3.Irreps
    channels: tuple
    cutoff: float
    lmax: int

    def block(self, l: int) -> NDArray[np.float64]:
        """``(n_atoms, n_channels, 2 l + 1)`` coefficients of angular momentum ``l``."""
        if not 0 <= l <= self.lmax:
            raise ValueError(f"l must be in 0..{self.lmax}, got {l!r}")
        return self.coefficients[..., l * l : (l + 1) ** 2]


@dataclass(frozen=True)
class Invariants:
    """Rotation-invariant descriptors of every atom (power spectrum or bispectrum).

    Attributes
    ----------
    kind : str
        ``"power_spectrum"`` or ``"bispectrum"``.
    values : NDArray[float]
        ``(n_atoms, n_columns)``; units of ``W ** degree``.
    columns : tuple
        One entry per column: ``(l, (channel_a, channel_b))`` for the power spectrum,
        ``(channel, (l1, l2, l3))`` for the bispectrum.
    parities : tuple[str, ...]
        ``"0e"`` (scalar) or ``"0o"`` (pseudoscalar: changes sign under inversion) per column.
    degree : int
        Polynomial degree in the coefficients: 2 (power spectrum) or 3 (bispectrum).
    weights : NDArray[float]
        ``(n_atoms,)`` total neighbour weights of the projection.
    channels : tuple
        Channels of the projection.
    cutoff : float
        Angstrom.
    lmax : int
    """

    kind: str
    values: NDArray[np.float64]
    columns: tuple
    parities: tuple[str, ...]
    degree: int
    weights: NDArray[np.float64]
    channels: tuple
    cutoff: float
    lmax: int

    @property
    def irreps(self) -> o3.Irreps:
        """Irreps of a row, in column order, e.g. ``"9x0e+1x0o+5x0e"``."""
        return o3.Irreps("+".join(self.parities)).simplify()

    def normalized(self) -> NDArray[np.float64]:
        """``(n_atoms, n_columns)`` values divided by ``weights ** degree`` (dimensionless).

        Every column is then bounded by 1 in magnitude (the power spectrum becomes
        Steinhardt's ``q_l ** 2``); atoms without neighbours stay zero.
        """
        scale = np.where(self.weights > 0, self.weights, 1.0) ** self.degree
        return self.values / scale[:, None]


def cosine_cutoff(r: NDArray[np.float64], cutoff: float) -> NDArray[np.float64]:
    """``(1 + cos(pi r / cutoff)) / 2`` inside the cutoff, 0 outside (``r`` in Angstrom)."""
    r = np.asarray(r, dtype=np.float64)
    return np.where(r < cutoff, 0.5 * (1.0 + np.cos(np.pi * np.minimum(r / cutoff, 1.0))), 0.0)


def _check_cutoff(cutoff: float) -> float:
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise ValueError(f"cutoff must be a finite number > 0 (Angstrom), got {cutoff!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cutoff must be a finite number > 0 (Angstrom), got {cutoff!r}")
    return value


def _check_lmax(lmax: int) -> int:
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)):
        raise ValueError(f"lmax must be an integer in 0..{MAX_LMAX}, got {lmax!r}")
    if not 0 <= lmax <= MAX_LMAX:
        raise ValueError(f"lmax must be an integer in 0..{MAX_LMAX}, got {lmax!r}")
    return int(lmax)


def neighbour_projection(
    atoms: Atoms,
    cutoff: float = 5.0,
    lmax: int = 4,
    species_channels: bool = False,
    species: Sequence[int | str] | None = None,
    radial: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> NeighbourProjection:
    """Project each atom's neighbours within ``cutoff`` on spherical harmonics up to ``lmax``.

    Parameters
    ----------
    atoms
        Periodic or not; neighbours follow ``atoms.pbc`` (periodic images included).
    cutoff
        Angstrom, finite and > 0.
    lmax
        Integer in ``0..MAX_LMAX``.
    species_channels
        One channel per neighbour species (ascending atomic number) instead of one for all.
    species
        With ``species_channels``: the channels' species (symbols or atomic numbers), e.g.
        to compare two structures channel by channel; neighbours of other species raise.
        Default: the species present in ``atoms``.
    radial
        ``R(r)``, ``(n_pairs,)`` Angstrom -> ``(n_pairs,)`` weights, multiplied with the
        cutoff function; default 1.
    """
    cutoff = _check_cutoff(cutoff)
    lmax = _check_lmax(lmax)
    check_atoms(atoms, what="neighbour_projection: atoms")
    if species is not None and not species_channels:
        raise ValueError(f"species={species!r} needs species_channels=True")
    first, second, vectors = neighbor_list("ijD", atoms, cutoff)
    distances = np.linalg.norm(vectors, axis=1)
    weights = cosine_cutoff(distances, cutoff)
    if radial is not None:
        radial_values = np.asarray(radial(distances), dtype=np.float64)
        if radial_values.shape != distances.shape or not np.isfinite(radial_values).all():
            raise ValueError(
                f"radial must map the {distances.shape} distances to as many finite values, "
                f"got shape {radial_values.shape}"
            )
        weights = weights * radial_values
    numbers = atoms.numbers
    channels: tuple[int | str, ...]
    if species_channels:
        channels = tuple(sorted({_atomic_number(z) for z in (species or numbers.tolist())}))
        lookup = {z: k for k, z in enumerate(channels)}
        unknown = sorted(set(numbers[second].tolist()) - set(channels))
        if unknown:
            raise ValueError(
                f"neighbours of species {[chemical_symbols[z] for z in unknown]} have no "
                f"channel; species={species!r}"
            )
        channel_of = np.array([lookup[z] for z in numbers[second].tolist()], dtype=int)
    else:
        channels = ("all",)
        channel_of = np.zeros(len(second), dtype=int)
    harmonics = o3.spherical_harmonics(
        list(range(lmax + 1)),
        torch.from_numpy(vectors.astype(np.float64)),
        normalize=True,
        normalization="norm",
    ).numpy()
    coefficients = np.zeros((len(atoms), len(channels), (lmax + 1) ** 2))
    np.add.at(coefficients, (first, channel_of), weights[:, None] * harmonics)
    total = np.zeros(len(atoms))
    np.add.at(total, first, weights)
    return NeighbourProjection(
        coefficients=coefficients,
        weights=total,
        irreps=o3.Irreps.spherical_harmonics(lmax),
        channels=channels,
        cutoff=cutoff,
        lmax=lmax,
    )


def _atomic_number(z: int | str) -> int:
    if isinstance(z, str):
        if z not in chemical_symbols[1:]:
            raise ValueError(f"unknown chemical symbol {z!r}")
        return chemical_symbols.index(z)
    if not 0 < int(z) < len(chemical_symbols):
        raise ValueError(f"unknown atomic number {z!r}")
    return int(z)


def power_spectrum(projection: NeighbourProjection) -> Invariants:
    """``p_{i,l,(a,b)} = c_{i,a,l} . c_{i,b,l}`` for every ``l`` and channel pair ``a <= b``.

    Columns are ordered by ``l``, then by channel pair; all are even scalars.
    """
    columns, values = [], []
    n_channels = len(projection.channels)
    for l in range(projection.lmax + 1):
        block = projection.block(l)
        for a in range(n_channels):
            for b in range(a, n_channels):
                columns.append((l, (projection.channels[a], projection.channels[b])))
                values.append(np.einsum("im,im->i", block[:, a], block[:, b]))
    return Invariants(
        kind="power_spectrum",
        values=np.stack(values, axis=1),
        columns=tuple(columns),
        parities=("0e",) * len(columns),
        degree=2,
        weights=projection.weights,
        channels=projection.channels,
        cutoff=projection.cutoff,
        lmax=projection.lmax,
    )


def bispectrum_couplings(lmax: int) -> tuple[tuple[int, int, int], ...]:
    """Triples ``l1 <= l2 <= l3 <= lmax`` whose single-channel bispectrum is not identically 0.

    The real 3j symbol obeys ``C^{l2 l1 l3}_{m2 m1 m3} = (-1)^(l1+l2+l3) C^{l1 l2 l3}_{m1 m2 m3}``
    (and likewise for any exchange of two columns). For odd ``l1 + l2 + l3`` it is
    antisymmetric, so contracting it with the same vector twice (``l1 == l2`` or
    ``l2 == l3``) gives zero. What is left: the triangle rule ``l3 <= l1 + l2``, and odd sums
    only for three distinct ``l`` (pseudoscalars). ``lmax = 4``: 14 scalars, 1 pseudoscalar
    ``(2, 3, 4)``.
    """
    lmax = _check_lmax(lmax)
    triples = []
    for l1 in range(lmax + 1):
        for l2 in range(l1, lmax + 1):
            for l3 in range(l2, min(l1 + l2, lmax) + 1):
                if (l1 + l2 + l3) % 2 == 1 and (l1 == l2 or l2 == l3):
                    continue
                triples.append((l1, l2, l3))
    return tuple(triples)


@lru_cache(maxsize=None)
def _wigner_3j(l1: int, l2: int, l3: int) -> NDArray[np.float64]:
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()


def bispectrum(projection: NeighbourProjection) -> Invariants:
    """``B_{l1 l2 l3} = sum C^{l1 l2 l3}_{m1 m2 m3} c_{l1 m1} c_{l2 m2} c_{l3 m3}`` per channel.

    Couplings are those of :func:`bispectrum_couplings`, each within one channel (the same
    channel for all three factors; cross-channel products are left out). Columns are
    ordered by channel, then by ``(l1, l2, l3)``; parity ``"0e"`` for even ``l1 + l2 + l3``,
    ``"0o"`` (pseudoscalar) for odd.
    """
    triples = bispectrum_couplings(projection.lmax)
    columns, parities, values = [], [], []
    for a, channel in enumerate(projection.channels):
        coefficients = projection.coefficients[:, a]
        for l1, l2, l3 in triples:
            blocks = [coefficients[:, l * l : (l + 1) ** 2] for l in (l1, l2, l3)]
            values.append(np.einsum("abc,ia,ib,ic->i", _wigner_3j(l1, l2, l3), *blocks))
            columns.append((channel, (l1, l2, l3)))
            parities.append("0e" if (l1 + l2 + l3) % 2 == 0 else "0o")
    return Invariants(
        kind="bispectrum",
        values=np.stack(values, axis=1),
        columns=tuple(columns),
        parities=tuple(parities),
        degree=3,
        weights=projection.weights,
        channels=projection.channels,
        cutoff=projection.cutoff,
        lmax=projection.lmax,
    )


def environment_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean distance between descriptor vectors along the last axis (broadcast).

    Meant for :meth:`Invariants.normalized` rows: each column divided by ``W ** degree``,
    so every column is dimensionless and bounded by 1 and no ``l`` dominates through the
    coordination number; ``0`` means the same environment up to rotation (and, with
    normalised rows, up to a uniform change of the neighbour weights).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1:] != b.shape[-1:]:
        raise ValueError(
            f"descriptors must have the same number of columns, got shapes {a.shape} and {b.shape}"
        )
    for name, x in (("a", a), ("b", b)):
        if not np.isfinite(x).all():
            raise ValueError(f"descriptor {name} has non-finite values")
    return np.linalg.norm(a - b, axis=-1)


def environment_distance_matrix(
    atoms_a: Atoms,
    atoms_b: Atoms,
    cutoff: float = 5.0,
    lmax: int = 4,
    kind: str = "bispectrum",
    species_channels: bool = False,
) -> NDArray[np.float64]:
    """``(len(atoms_a), len(atoms_b))`` distances between the sites' environments.

    Both structures are projected with the same settings (with ``species_channels``, on the
    union of their species) and compared with :func:`environment_distance` on
    :meth:`Invariants.normalized` rows of ``kind`` (``"bispectrum"`` or
    ``"power_spectrum"``).
    """
    invariant = {"bispectrum": bispectrum, "power_spectrum": power_spectrum}.get(kind)
    if invariant is None:
        raise ValueError(f"kind must be 'bispectrum' or 'power_spectrum', got {kind!r}")
    species = None
    if species_channels:
        species = sorted(set(atoms_a.numbers.tolist()) | set(atoms_b.numbers.tolist()))
    rows = [
        invariant(neighbour_projection(atoms, cutoff, lmax, species_channels, species)).normalized()
        for atoms in (atoms_a, atoms_b)
    ]
    return environment_distance(rows[0][:, None, :], rows[1][None, :, :])
