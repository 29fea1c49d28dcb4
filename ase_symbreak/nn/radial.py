"""Radial basis of edge lengths: Bessel functions times a smooth polynomial cutoff.

The envelope is the DimeNet polynomial of order ``p``; it and its first two
derivatives vanish at the cutoff, so energies, forces and Hessians are continuous
when an atom crosses the cutoff sphere.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3


class PolynomialCutoff(torch.nn.Module):
    r"""Smooth envelope :math:`u(x)`, :math:`x = r / r_c`, equal to 1 at 0 and 0 beyond 1.

    .. math::
        u(x) = 1 - \frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \frac{p(p+1)}{2} x^{p+2}

    :math:`u(1) = u'(1) = u''(1) = 0`.

    Parameters
    ----------
    cutoff : float
        Cutoff radius in Angstrom.
    p : int
        Polynomial order (>= 2); 6 is the nequip default.
    """

    def __init__(self, cutoff: float, p: int = 6) -> None:
        super().__init__()
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff!r}")
        if p < 2:
            raise ValueError(f"envelope order p must be >= 2 for a C2 cutoff, got {p!r}")
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Envelope of edge lengths ``r`` (E,) in Angstrom; returns (E,), dimensionless."""
        p = float(self.p)
        x = r / self.cutoff
        u = (
            1.0
            - 0.5 * (p + 1.0) * (p + 2.0) * x.pow(self.p)
            + p * (p + 2.0) * x.pow(self.p + 1)
            - 0.5 * p * (p + 1.0) * x.pow(self.p + 2)
        )
        return u * (x < 1.0).to(r.dtype)


class BesselBasis(torch.nn.Module):
    r"""Spherical Bessel functions of order 0, :math:`\sqrt{2/r_c}\,\sin(n\pi r/r_c)/r`.

    Parameters
    ----------
    cutoff : float
        Cutoff radius in Angstrom.
    num_radial : int
        Number of basis functions ``n = 1 .. num_radial``.
    trainable : bool
        Learn the frequencies (initialised to ``n pi``).
    """

    def __init__(self, cutoff: float, num_radial: int = 8, trainable: bool = False) -> None:
        super().__init__()
        if num_radial < 1:
            raise ValueError(f"num_radial must be >= 1, got {num_radial!r}")
        self.cutoff = float(cutoff)
        self.num_radial = int(num_radial)
        self.frequencies: torch.nn.Parameter | None = None
        if trainable:
            freq = math.pi * torch.arange(1, num_radial + 1, dtype=torch.get_default_dtype())
            self.frequencies = torch.nn.Parameter(freq)
        self.irreps_out = o3.Irreps(f"{num_radial}x0e")

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Basis of edge lengths ``r`` (E,) in Angstrom; returns (E, num_radial)."""
        freq: torch.Tensor | None = self.frequencies
        if freq is None:  # fixed n*pi, built in the input dtype (exact in float64)
            freq = math.pi * torch.arange(1, self.num_radial + 1, dtype=r.dtype, device=r.device)
        r = r.unsqueeze(-1)
        return math.sqrt(2.0 / self.cutoff) * torch.sin(freq * (r / self.cutoff)) / r


class RadialEmbedding(torch.nn.Module):
    """Bessel basis times the polynomial envelope: ``(E,) -> (E, num_radial)`` scalars.

    Every component vanishes at ``r >= cutoff`` together with its first three radial
    derivatives (``sin`` contributes one order, the envelope three).

    Attributes
    ----------
    irreps_in : Irreps
        ``1x0e`` (the edge length).
    irreps_out : Irreps
        ``num_radial x 0e``.
    """

    def __init__(
        self, cutoff: float, num_radial: int = 8, p: int = 6, trainable: bool = False
    ) -> None:
        super().__init__()
        self.basis = BesselBasis(cutoff, num_radial, trainable=trainable)
        self.envelope = PolynomialCutoff(cutoff, p)
        self.cutoff = float(cutoff)
        self.num_radial = int(num_radial)
        self.irreps_in = o3.Irreps("1x0e")
        self.irreps_out = self.basis.irreps_out

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Radial features of edge lengths ``r`` (E,) Angstrom; returns (E, num_radial)."""
        return self.basis(r) * self.envelope(r).unsqueeze(-1)
