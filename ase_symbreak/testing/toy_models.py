"""Toy potentials with planted instabilities, for testing the distortion search.

:class:`PlantedTiltModel` is a cubic-perovskite ABX3 energy surface whose only instability
is a rigid rotation of the BX6 octahedra:

- stiff harmonic B-X bonds (rest length ``d0``) and X-X octahedron-edge springs
  (rest length ``sqrt(2) d0``) keep the octahedra rigid;
- every X atom carries a double well in the buckling of its B-X-B linkage,
  ``W(c) = -A c + B c**2`` with ``c = 1 + cos(B-X-B angle)`` (``c = 0`` for a straight
  linkage), minimum ``W* = -A**2 / (4 B)`` at ``c* = A / (2 B)``;
- the A cation does not interact (it only sits on its site).

At the cubic lattice parameter ``a = 2 d0`` every spring is at rest and the structure is
stress free. A rigid tilt (with the cell shrinking as ``2 d0 cos(phi)``) keeps every spring
at rest and buckles only the X atoms off the tilt axis, so the minima are known exactly:
``a0a0c-`` (R4+ (a,0,0), I4/mcm) buckles 2 of the 3 X per formula unit,
``E = 2 W*``; ``a-a-a-`` (R4+ (a,a,a), R-3c) buckles all three, ``E = 3 W*``. These bounds
are global within the subgroups because every term is bounded below by its value there.

The energy is a function of edge vectors only (norms and dot products), so it is
translation, rotation and inversion invariant and the calculator's exact Hessian applies.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.models.base import EnergyModel


class PlantedTiltModel(EnergyModel):
    """Rigid-octahedra perovskite with a planted double well in B-X-B buckling.

    Parameters
    ----------
    a_site, b_site, x_site : atomic numbers of A, B and X (default Sr, Ti, O).
    d0 : B-X bond rest length, Angstrom (cubic lattice parameter ``2 d0``).
    k_bond, k_edge : spring constants of B-X bonds and X-X edges, eV/A^2.
    well_a, well_b : ``A`` and ``B`` of the buckling double well, eV.
    cutoff : Angstrom; X-X springs are switched off smoothly over the last 0.15 A.
    """

    species: frozenset[int]  # always set here (the base class allows None)

    def __init__(
        self,
        a_site: int = 38,
        b_site: int = 22,
        x_site: int = 8,
        d0: float = 1.95,
        k_bond: float = 20.0,
        k_edge: float = 10.0,
        well_a: float = 1.4,
        well_b: float = 32.0,
        cutoff: float = 3.1,
    ) -> None:
        super().__init__()
        self.a_site, self.b_site, self.x_site = int(a_site), int(b_site), int(x_site)
        self.d0, self.k_bond, self.k_edge = float(d0), float(k_bond), float(k_edge)
        self.well_a, self.well_b = float(well_a), float(well_b)
        self.cutoff = float(cutoff)
        self.species = frozenset({self.a_site, self.b_site, self.x_site})
        self.calls = 0  # forward passes, for tests that count work
        self.register_buffer("_dtype_marker", torch.zeros((), dtype=torch.float64))

    # -- exact reference values -------------------------------------------------------
    @property
    def well_depth(self) -> float:
        """``-W*`` = A^2 / (4 B): energy gained by one X atom at the bottom of its well, eV."""
        return self.well_a**2 / (4.0 * self.well_b)

    @property
    def optimal_c(self) -> float:
        """``c* = A / (2 B)``, the buckling ``1 + cos(angle)`` at the minimum."""
        return self.well_a / (2.0 * self.well_b)

    def cubic(self) -> Atoms:
        """The stress-free cubic parent (Pm-3m, B at the origin)."""
        a = 2.0 * self.d0
        from ase.data import chemical_symbols as cs

        return Atoms(
            [cs[self.a_site], cs[self.b_site]] + [cs[self.x_site]] * 3,
            scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
            cell=[a, a, a],
            pbc=True,
        )

    # -- the energy -------------------------------------------------------------------
    def forward(self, numbers, edge_src, edge_dst, edge_vec):
        self.calls += 1
        n = numbers.shape[0]
        energies = torch.zeros(n, dtype=edge_vec.dtype, device=edge_vec.device)
        if edge_vec.shape[0] == 0:
            return energies
        r = torch.linalg.norm(edge_vec, dim=1)
        zs, zd = numbers[edge_src], numbers[edge_dst]
        # B-X bonds, energy on the X atom (each bond once: src X, dst B)
        bx = (zs == self.x_site) & (zd == self.b_site)
        e_bond = 0.5 * self.k_bond * (r[bx] - self.d0) ** 2
        energies = energies.index_add(0, edge_src[bx], e_bond)
        # X-X edges: both directions present, half each
        xx = (zs == self.x_site) & (zd == self.x_site)
        rx = r[xx]
        e_edge = (
            0.25
            * self.k_edge
            * (rx - math.sqrt(2.0) * self.d0) ** 2
            * _switch(rx, self.cutoff - 0.15, self.cutoff)
        )
        energies = energies.index_add(0, edge_src[xx], e_edge)
        # buckling of each X: all pairs of its B-X edges
        idx = torch.nonzero(bx).flatten()
        if idx.numel() > 1:
            s = edge_src[idx]
            same = (s[:, None] == s[None, :]) & torch.triu(
                torch.ones(len(idx), len(idx), dtype=torch.bool), 1
            )
            i, j = torch.nonzero(same, as_tuple=True)
            v1, v2 = edge_vec[idx[i]], edge_vec[idx[j]]
            cos = (v1 * v2).sum(dim=1) / (
                torch.linalg.norm(v1, dim=1) * torch.linalg.norm(v2, dim=1)
            )
            c = 1.0 + cos
            well = -self.well_a * c + self.well_b * c**2
            energies = energies.index_add(0, s[i], well)
        return energies


def _switch(r: torch.Tensor, r_on: float, r_off: float) -> torch.Tensor:
    """Smooth step: 1 below r_on, 0 above r_off (C2, quintic)."""
    x = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


def rigid_tilt_i4mcm(model: PlantedTiltModel, phi: float) -> Atoms:
    """a0a0c- with rigid octahedra tilted by ``phi`` (radians), in the sqrt2 x sqrt2 x 2 cell.

    Built by hand (no workflow or symmetry code): B on a simple tetragonal net, each
    octahedron rotated about z by +phi or -phi in a checkerboard that alternates along z.
    """
    d = model.d0
    ap = 2 * d * math.cos(phi)  # pseudo-cubic in-plane spacing
    c = 2 * d
    from ase.data import chemical_symbols as cs

    sym_a, sym_b, sym_x = cs[model.a_site], cs[model.b_site], cs[model.x_site]
    symbols, pos = [], []
    for i in range(2):
        for j in range(2):
            for k in range(2):
                sign = (-1) ** (i + j + k)
                b = np.array([i * ap, j * ap, k * c])
                rot = np.array(
                    [
                        [math.cos(sign * phi), -math.sin(sign * phi), 0],
                        [math.sin(sign * phi), math.cos(sign * phi), 0],
                        [0, 0, 1],
                    ]
                )
                symbols.append(sym_b)
                pos.append(b)
                symbols += [sym_a]
                pos.append(b + np.array([ap / 2, ap / 2, c / 2]))
                for vec in ([d, 0, 0], [0, d, 0], [0, 0, d]):
                    symbols.append(sym_x)
                    pos.append(b + rot @ np.array(vec))
    return Atoms(symbols, positions=pos, cell=[2 * ap, 2 * ap, 2 * c], pbc=True)


class FlakyTiltModel(PlantedTiltModel):
    """:class:`PlantedTiltModel` that also takes Ba as an A cation and fails on purpose on it.

    While the file named by the environment variable ``SYMBREAK_FLAKY_FILE`` holds a number
    ``n > 0``, each evaluation of a structure that contains Ba writes ``n - 1`` there and
    raises ``RuntimeError("injected failure")``: a task that fails ``n`` times, in any process.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.species = frozenset(self.species | {56})

    def forward(self, numbers, edge_src, edge_dst, edge_vec):
        path = os.environ.get("SYMBREAK_FLAKY_FILE")
        if path and bool((numbers == 56).any()) and os.path.exists(path):
            left = int(open(path).read().strip() or 0)
            if left > 0:
                with open(path, "w") as handle:
                    handle.write(str(left - 1))
                raise RuntimeError("injected failure")
        return super().forward(numbers, edge_src, edge_dst, edge_vec)


class PlantedPolarRocksaltModel(EnergyModel):
    """Rocksalt AX with a planted polar (GM4-) instability of the cation, favouring R3m.

    - harmonic nearest-neighbour A-X bonds (rest ``d0``) and second-neighbour A-A and X-X
      springs (rest ``sqrt(2) d0``) keep the fcc lattice stiff;
    - each cation carries the off-centring vector ``p = sum_j r_ij`` over its X neighbours
      (zero on the centrosymmetric site) in a double well ``-A |p|^2 + B |p|^4`` with a cubic
      anisotropy ``C sum_j (p . r_ij / |r_ij|)^4`` over its six bonds; ``C > 0`` makes the
      body diagonal (R3m, (a,a,a) of GM4-) the lowest direction, (100) (P4mm) the highest.

    ``well_c`` adds ``C |p|^6``: with ``36 A < k_bond`` (Gamma stable), ``B < 0`` and
    ``C > 0`` the polar minimum lies behind a barrier (a first-order transition that no
    soft mode leads to).

    A function of edge vectors only (norms and dot products): translation, rotation and
    inversion invariant. At ``a = 2 d0`` the structure is stress free; the Gamma GM4- mode
    is unstable when ``36 A > k_bond`` (a cation displaced by u against rigid anions has
    ``p = -6 u`` and bond energy ``k_bond |u|^2``).
    """

    def __init__(
        self,
        cation: int = 50,
        anion: int = 52,
        d0: float = 3.15,
        k_bond: float = 5.0,
        k_second: float = 2.0,
        well_a: float = 0.3,
        well_b: float = 0.1,
        anisotropy: float = 0.05,
        cutoff: float = 4.9,
        well_c: float = 0.0,
    ) -> None:
        super().__init__()
        self.well_c = float(well_c)
        self.cation, self.anion = int(cation), int(anion)
        self.d0, self.k_bond, self.k_second = float(d0), float(k_bond), float(k_second)
        self.well_a, self.well_b, self.anisotropy = float(well_a), float(well_b), float(anisotropy)
        self.cutoff = float(cutoff)
        self.species = frozenset({self.cation, self.anion})
        self.register_buffer("_dtype_marker", torch.zeros((), dtype=torch.float64))

    def rocksalt(self) -> Atoms:
        """The stress-free Fm-3m parent, primitive fcc cell, cation at the origin."""
        from ase.build import bulk
        from ase.data import chemical_symbols as cs

        return bulk(cs[self.cation] + cs[self.anion], "rocksalt", a=2.0 * self.d0)

    def forward(self, numbers, edge_src, edge_dst, edge_vec):
        n = numbers.shape[0]
        energies = torch.zeros(n, dtype=edge_vec.dtype, device=edge_vec.device)
        if edge_vec.shape[0] == 0:
            return energies
        r = torch.linalg.norm(edge_vec, dim=1)
        zs, zd = numbers[edge_src], numbers[edge_dst]
        near = _switch(
            r,
            0.5 * (1 + math.sqrt(2.0)) * self.d0 - 0.2,
            0.5 * (1 + math.sqrt(2.0)) * self.d0 + 0.2,
        )
        far = _switch(r, self.cutoff - 0.3, self.cutoff)
        # A-X bonds, energy on the cation (each bond once)
        ax = (zs == self.cation) & (zd == self.anion)
        energies = energies.index_add(
            0, edge_src[ax], 0.5 * self.k_bond * (r[ax] - self.d0) ** 2 * near[ax]
        )
        # second neighbours (same species), both directions present: half each
        same = zs == zd
        e2 = (
            0.25
            * self.k_second
            * (r[same] - math.sqrt(2.0) * self.d0) ** 2
            * (1 - near[same])
            * far[same]
        )
        energies = energies.index_add(0, edge_src[same], e2)
        # the polar double well of each cation
        vec = edge_vec[ax] * near[ax, None]
        p = torch.zeros((n, 3), dtype=edge_vec.dtype, device=edge_vec.device).index_add(
            0, edge_src[ax], vec
        )
        p2 = (p * p).sum(dim=1)
        well = -self.well_a * p2 + self.well_b * p2**2 + self.well_c * p2**3
        proj = (p[edge_src[ax]] * edge_vec[ax]).sum(dim=1) / r[ax]
        aniso = torch.zeros(n, dtype=edge_vec.dtype, device=edge_vec.device).index_add(
            0, edge_src[ax], self.anisotropy * proj**4 * near[ax]
        )
        is_cation = (numbers == self.cation).to(edge_vec.dtype)
        return energies + (well + aniso) * is_cation


def _window(x: torch.Tensor, flat: float, zero: float) -> torch.Tensor:
    """1 for ``|x| <= flat``, 0 for ``|x| >= zero``, smooth (C2) in between."""
    return _switch(x.abs(), flat, zero)


class PlantedOffGridChainModel(EnergyModel):
    """Simple tetragonal crystal of atomic chains along z whose only instability is a
    longitudinal wave at q = (0, 0, 1/3): a minimum the supercell's q points can miss.

    One atom per cell, lattice ``a`` (in plane) and ``c`` (the chain spacing, ``4 c < a``).

    - along each chain, pair springs ``k_n / 2 (r - n c)^2 + g_n / 4 (r - n c)^4`` between
      ``n``-th neighbours (``n = 1..4``, windows of +-0.4 A around ``n c``: with
      ``4 c + 0.6 <= a`` no other pair is that close); the longitudinal branch is
      ``w^2 ~ sum_n k_n (1 - cos(2 pi n q_z))``;
    - between chains, with ``dz^2 = r P r`` the part of a pair vector ``r`` along the local
      chain direction (``P``: the projector onto the atom's chain bonds, so the energy is
      rotation invariant): in-plane nearest (``a``) and diagonal (``a sqrt 2``) springs and
      a shear term ``k_shear / 2 dz^2`` on in-plane nearest pairs, which keeps neighbouring
      chains in phase (the dip sits at q_x = q_y = 0) and stiffens transverse waves.

    Every term vanishes with its gradient in the ideal crystal: stress free, at rest.

    The default ``k = (-1, -0.5, 8, 0)`` eV/A^2 puts an exact minimum of the branch at
    q_z = 1/3 (``k_1 = 2 k_2``), imaginary (``1.5 (k_1 + k_2) < 0``), and leaves every q of a
    ``2x2x7`` supercell stable (whose force constants reach the third neighbours: the
    interpolated branch is the true one, dip included; a 2x2x2 supercell shows nothing).
    The quartic terms bound the trimerised chain (tripled cell) below the parent.

    ``k = (-1, -0.5, 5, 3)`` (:meth:`artefact`): the 4th-neighbour spring aliases onto the
    3rd in a 7-cell supercell, whose interpolated branch then dips at q_z = 1/3 exactly as
    above, while the true branch is stable there (``1.5 (k_1 + k_2 + k_4) > 0``): an
    interpolation artefact that the 1x1x3 supercell shows to be one.
    """

    species: frozenset[int]

    def __init__(
        self,
        element: int = 6,
        a: float = 6.6,
        c: float = 1.5,
        k_chain: tuple[float, ...] = (-1.0, -0.5, 8.0, 0.0),
        g_chain: tuple[float, ...] = (40.0, 40.0, 40.0, 40.0),
        k_plane: float = 2.0,
        k_diagonal: float = 1.0,
        k_shear: float = 2.0,
    ) -> None:
        super().__init__()
        if len(k_chain) != 4 or len(g_chain) != 4:
            raise ValueError("k_chain and g_chain need 4 numbers (neighbours 1..4 along z)")
        if not 4 * c + 0.6 <= a + 1e-9:
            raise ValueError(f"the chains must be apart: need 4 c + 0.6 <= a, got a={a}, c={c}")
        self.element = int(element)
        self.a, self.c = float(a), float(c)
        self.k_chain = tuple(float(k) for k in k_chain)
        self.g_chain = tuple(float(g) for g in g_chain)
        self.k_plane, self.k_diagonal, self.k_shear = (
            float(k_plane),
            float(k_diagonal),
            float(k_shear),
        )
        self.cutoff = math.sqrt(2.0) * self.a + 0.6
        self.species = frozenset({self.element})
        self.register_buffer("_dtype_marker", torch.zeros((), dtype=torch.float64))

    @classmethod
    def artefact(cls, **kwargs) -> PlantedOffGridChainModel:
        """The variant whose 7-cell interpolation dips at q_z = 1/3 while the crystal is
        stable there (see the class docstring).
        """
        return cls(k_chain=(-1.0, -0.5, 5.0, 3.0), **kwargs)

    def branch(self, q_z) -> NDArray:
        """``sum_n k_n (1 - cos(2 pi n q_z))`` (eV/A^2): the true longitudinal branch along
        Gamma-Z up to the factor ``2 / mass``; negative where unstable.
        """
        q = np.asarray(q_z, dtype=float)
        out = np.zeros_like(q)
        for n, k in enumerate(self.k_chain, 1):
            out = out + k * (1 - np.cos(2 * np.pi * n * q))
        return out

    def crystal(self) -> Atoms:
        """The stress-free P4/mmm parent (one atom)."""
        return Atoms(
            numbers=[self.element],
            scaled_positions=[[0, 0, 0]],
            cell=[self.a, self.a, self.c],
            pbc=True,
        )

    def forward(self, numbers, edge_src, edge_dst, edge_vec):
        n = numbers.shape[0]
        dtype, device = edge_vec.dtype, edge_vec.device
        energies = torch.zeros(n, dtype=dtype, device=device)
        if edge_vec.shape[0] == 0:
            return energies
        r = torch.linalg.norm(edge_vec, dim=1)
        # chain pairs (both directions present: half each)
        for k, (kn, gn) in enumerate(zip(self.k_chain, self.g_chain), 1):
            dr = r - k * self.c
            w = _window(dr, 0.25, 0.4)
            e = 0.5 * (0.5 * kn * dr**2 + 0.25 * gn * dr**4) * w
            energies = energies.index_add(0, edge_src, e)
        # the projector onto each atom's chain bonds
        w1 = _window(r - self.c, 0.25, 0.4)
        outer = edge_vec[:, :, None] * edge_vec[:, None, :] / (r**2)[:, None, None]
        proj = torch.zeros((n, 3, 3), dtype=dtype, device=device).index_add(
            0, edge_src, 0.5 * w1[:, None, None] * outer
        )
        dz2 = torch.einsum("ei,eij,ej->e", edge_vec, proj[edge_src], edge_vec)
        level = _window(dz2, 0.09, 0.25)  # pairs at the same height
        near = _window(r - self.a, 0.3, 0.6) * level
        diag = _window(r - math.sqrt(2.0) * self.a, 0.3, 0.6) * level
        e = 0.5 * near * (0.5 * self.k_plane * (r - self.a) ** 2 + 0.5 * self.k_shear * dz2)
        e = e + 0.5 * diag * 0.5 * self.k_diagonal * (r - math.sqrt(2.0) * self.a) ** 2
        return energies.index_add(0, edge_src, e)
