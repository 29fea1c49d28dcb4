"""Perovskites with prescribed octahedral tilts (Glazer systems), for tests and examples.

:func:`tilted_perovskite` builds a 2x2x2 pseudo-cubic supercell whose octahedra are regular
and rotated as asked: in closed form where finite rotations commute with the pattern (one
axis, only in-phase or only out-of-phase tilts), otherwise by solving for the eight rotations
and the lattice (Levenberg-Marquardt) so that every shared X is a vertex of both octahedra.
Systems with no regular-octahedron network (Woodward 1997) need ``rigid=False``.
"""

from __future__ import annotations

import itertools
from typing import Sequence, cast

import numpy as np
from ase import Atoms
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from ase_symbreak.structures import cubic_perovskite

from .tilts import _parse_glazer

__all__ = ["tilted_perovskite"]


_CELLS = np.array(list(itertools.product((0, 1), repeat=3)))  # (8, 3) pseudo-cubic cells
_NEIGHBOUR = np.array(
    [
        [4 * (n[0] ^ (i == 0)) + 2 * (n[1] ^ (i == 1)) + (n[2] ^ (i == 2)) for i in range(3)]
        for n in _CELLS
    ]
)  # (8, 3): index of n + e_i


def _signs(phase: str, axis: int) -> NDArray:
    """``(8,)`` sense of the tilt about ``axis`` of each cell of the 2x2x2 supercell."""
    if phase == "0":
        return np.zeros(8)
    exponent = _CELLS.sum(axis=1) - (_CELLS[:, axis] if phase == "+" else 0)
    return (-1.0) ** exponent


def _network_residual(x: NDArray, d: float, signs: NDArray, targets: NDArray) -> NDArray:
    w, s = x[:24].reshape(8, 3), x[24:]
    lattice = np.array([[s[0], s[3], s[4]], [s[3], s[1], s[5]], [s[4], s[5], s[2]]])
    columns = Rotation.from_rotvec(w).as_matrix().transpose(0, 2, 1)  # [n, i] = R_n e_i
    links = d * (columns + columns[_NEIGHBOUR, np.arange(3)]) - lattice
    amplitudes = np.einsum("pin,ni->pi", signs, w) / 8  # (2, 3): in/out-of-phase per axis
    return np.concatenate([links.ravel(), d * (amplitudes - targets).ravel()])


def _rigid_network(
    phases: Sequence[str], angles: NDArray, d: float
) -> tuple[NDArray, NDArray, float]:
    """Rotations ``(8, 3, 3)`` of the 2x2x2 cells and pseudo-cubic lattice rows ``(3, 3)``
    (symmetric: no rotation of the frame) of corner-sharing rigid octahedra, and the largest
    mismatch (Angstrom) of a shared X seen from its two octahedra.
    """
    signs = np.array([[_signs(ph, i) for i in range(3)] for ph in "+-"])
    targets = np.array([[a if ph == p else 0.0 for a, p in zip(angles, phases)] for ph in "+-"])
    w0 = np.array(
        [[_signs(p, i)[n] * a for i, (a, p) in enumerate(zip(angles, phases))] for n in range(8)]
    )
    columns = Rotation.from_rotvec(w0).as_matrix().transpose(0, 2, 1)
    lattice = d * (columns[0] + columns[_NEIGHBOUR[0], np.arange(3)])
    lattice = (lattice + lattice.T) / 2
    x0 = np.concatenate([w0.ravel(), lattice[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]])
    args = (d, signs, targets)
    x = x0
    if np.abs(_network_residual(x0, *args)).max() > 1e-12:
        x = least_squares(
            _network_residual, x0, args=args, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15
        ).x
    residual = _network_residual(x, *args)
    s = x[24:]
    lattice = np.array([[s[0], s[3], s[4]], [s[3], s[1], s[5]], [s[4], s[5], s[2]]])
    mismatch = np.linalg.norm(residual[:72].reshape(-1, 3), axis=1).max()
    return Rotation.from_rotvec(x[:24].reshape(8, 3)).as_matrix(), lattice, float(mismatch)


def tilted_perovskite(
    system: str,
    angles: float | Sequence[float],
    a: float = 3.9,
    symbols: str = "SrTiO3",
    rigid: bool = True,
) -> Atoms:
    """A 2x2x2 pseudo-cubic supercell of corner-sharing octahedra with a Glazer tilt system.

    Parameters
    ----------
    system : str
        Glazer symbol with the axes in x, y, z order, e.g. ``"a0a0c-"`` (tilt about z),
        ``"a+b-b-"`` (in phase about x: Pnma), ``"a-a-a-"``, ``"a+a+a+"``.
    angles : float or sequence of 3 floats
        Degrees, the tilt about x, y, z as :func:`octahedral_tilts` measures it (mean
        rotation-vector component); the sign is the sense of the octahedron at the origin.
        A float applies to every tilted axis. Zero for ``0`` axes, non-zero otherwise, equal
        magnitudes for equal letters, below 30 degrees.
    a : float
        Angstrom, lattice parameter of the untilted cubic parent (B-X bonds ``a / 2``).
    symbols : str
        ABX3 formula as in :func:`~ase_symbreak.structures.cubic_perovskite`.
    rigid : bool
        Require exactly regular octahedra (raise when the system has none, e.g.
        ``a+a+c-``, Woodward 1997); with False, build the least-squares network with each
        shared X halfway between where its two octahedra put it.

    Returns
    -------
    ase.Atoms
        40 atoms, A, B, X(x), X(y), X(z) per pseudo-cubic cell, B of cell ``n`` at
        ``n @ L`` with symmetric pseudo-cubic lattice rows ``L`` (the frame is not rotated);
        cell ``2 L``. The octahedra are regular to 1e-10 A with ``octahedral_tilts`` giving
        the requested magnitudes; A sits at the centre of each cube of B.

    Notes
    -----
    The rotation of the octahedron in cell ``n`` starts as the rotation vector with
    components ``s_i(n) angles[i]``, ``s_i = (-1)^(n_x+n_y+n_z)`` for out-of-phase tilts and
    ``(-1)^(sum of the other two components)`` for in-phase ones; for one tilt axis, only
    out-of-phase tilts or only in-phase tilts this is exact (the lattice contracts, e.g.
    by ``cos(theta)`` for one axis). For mixed phases (``a+b-b-``, ``a0b+c-``) finite
    rotations do not commute and the rotations and lattice are solved for (Levenberg-
    Marquardt) so that every shared X is the vertex of both its octahedra, with the mean
    in- and out-of-phase components fixed: single octahedra then turn by slightly
    different amounts about the two axes of an equal pair (``b-b-`` in Pnma: by
    ``angles[0] * angles[1]`` radians, about 0.8 deg at 8 and 6 deg), whose mean is
    the requested angle.
    """
    letters, phases = _parse_glazer(system)
    if "?" in phases:
        raise ValueError(f"cannot build an irregular ('?') tilt system {system!r}")
    if np.ndim(angles) == 0:
        angle = cast(float, angles)  # a scalar (np.ndim 0)
        values = np.array([0.0 if p == "0" else float(angle) for p in phases])
    else:
        values = np.asarray(angles, dtype=float)
    if values.shape != (3,) or not np.isfinite(values).all():
        raise ValueError(f"angles must be a number or 3 finite degrees, got {angles!r}")
    for i, (letter, phase, value) in enumerate(zip(letters, phases, values)):
        if (phase == "0") != (value == 0):
            raise ValueError(
                f"axis {'xyz'[i]} of {system!r} has phase {phase!r} but angle {value} deg"
            )
        if abs(value) >= 30:
            raise ValueError(f"tilt angles must be below 30 deg, got {value} about {'xyz'[i]}")
        for j in range(i):
            if letters[j] == letter and not np.isclose(abs(values[j]), abs(value)):
                raise ValueError(
                    f"axes {'xyz'[j]} and {'xyz'[i]} of {system!r} share letter {letter!r} but "
                    f"have angles {values[j]} and {value} deg"
                )
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"lattice parameter a must be positive (Angstrom), got {a!r}")
    parent = cubic_perovskite(a, symbols)
    d = a / 2
    rotations, lattice, mismatch = _rigid_network(phases, np.radians(values), d)
    if rigid and mismatch > 1e-10:
        raise ValueError(
            f"tilt system {system!r} at {values.tolist()} deg cannot be built from regular "
            f"corner-sharing octahedra (a shared X is {mismatch:.2g} A from one of its two "
            "octahedra's vertices); pass rigid=False for the least-squares network"
        )
    species = parent.get_chemical_symbols()
    positions = []
    for n, cell in enumerate(_CELLS):
        b = cell @ lattice
        positions.append(b + lattice.sum(axis=0) / 2)
        positions.append(b)
        for i in range(3):
            mine = d * rotations[n][:, i]
            theirs = lattice[i] - d * rotations[_NEIGHBOUR[n, i]][:, i]
            positions.append(b + (mine + theirs) / 2)
    return Atoms(species * 8, positions=positions, cell=2 * lattice, pbc=True)
