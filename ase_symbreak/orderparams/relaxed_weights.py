"""What the relaxed weights learned: O(3) irreps of ``theta`` and the symmetry they keep.

By Curie's principle a relaxed network trained from a scalar-only ``theta`` can only learn
a ``theta`` whose stabiliser contains the symmetry of the task, and by the L2 penalty it
learns no more breaking than needed (paper 001). The stabiliser is found by acting with
the Wigner-D matrices ``D(g)`` of ``theta``'s irreps on it, for every ``g`` of a finite
candidate group (default the 48 operations of Oh in the Cartesian axes), and named with
spglib's point-group lookup (Schoenflies symbol, e.g. ``D4h``).

>>> from ase_symbreak.orderparams.relaxed_weights import cubic_operations, point_group_name
>>> point_group_name(cubic_operations())
'Oh'
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import spglib
import torch
from e3nn import o3
from numpy.typing import NDArray

from ase_symbreak.nn import InteractionBlock, RadialEmbedding
from ase_symbreak.nn.relaxed_convolution import (
    RelaxedConvolution,
    relaxation_prox_,
    relaxed_convolutions,
)

__all__ = [
    "ChargedParticleNet",
    "RelaxedShapeNet",
    "ThetaReadout",
    "cubic_operations",
    "fit_charged_particle",
    "fit_shape",
    "lorentz_trajectory",
    "point_group_name",
    "theta_readout",
    "theta_stabiliser",
]

#: Hermann-Mauguin (spglib) to Schoenflies symbols of the 32 crystallographic point groups.
_SCHOENFLIES = {
    "1": "C1", "-1": "Ci",
    "2": "C2", "m": "Cs", "2/m": "C2h",
    "222": "D2", "mm2": "C2v", "mmm": "D2h",
    "4": "C4", "-4": "S4", "4/m": "C4h", "422": "D4", "4mm": "C4v", "-42m": "D2d", "-4m2": "D2d",
    "4/mmm": "D4h",
    "3": "C3", "-3": "C3i", "32": "D3", "3m": "C3v", "-3m": "D3d",
    "6": "C6", "-6": "C3h", "6/m": "C6h", "622": "D6", "6mm": "C6v", "-6m2": "D3h", "-62m": "D3h",
    "6/mmm": "D6h",
    "23": "T", "m-3": "Th", "432": "O", "-43m": "Td", "m-3m": "Oh",
}  # fmt: skip


def cubic_operations() -> NDArray[np.float64]:
    """The 48 signed permutation matrices (Oh in the Cartesian axes), identity first; (48, 3, 3)."""
    ops = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            ops.append(m)
    ops.sort(key=lambda m: not np.array_equal(m, np.eye(3)))
    return np.array(ops)


def point_group_name(rotations: NDArray[np.float64]) -> str:
    """Schoenflies symbol of a group of Cartesian matrices that are integer (e.g. a subgroup of Oh).

    Returns ``"unknown (order n)"`` when the matrices are not integer or spglib cannot name them.
    """
    rotations = np.asarray(rotations, dtype=float)
    integer = np.rint(rotations)
    if rotations.size == 0 or np.abs(rotations - integer).max() > 1e-8:
        return f"unknown (order {len(rotations)})"
    try:
        pointgroup = spglib.get_pointgroup(integer.astype(np.intc))
        symbol = pointgroup[0].strip() if pointgroup is not None else ""
    except Exception:  # spglib raises on sets that are not a group
        symbol = ""
    return _SCHOENFLIES.get(symbol, f"unknown (order {len(rotations)})")


def theta_stabiliser(
    theta: NDArray[np.float64] | torch.Tensor,
    irreps_theta: o3.Irreps | str,
    candidates: NDArray[np.float64] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-8,
) -> NDArray[np.float64]:
    """The stabiliser of ``theta``: candidates ``g`` with ``D(g) theta = theta`` for every row.

    Parameters
    ----------
    theta : (n_layers, irreps_theta.dim) or (irreps_theta.dim,)
        Relaxed weights in e3nn's basis.
    irreps_theta : Irreps
        Their irreps.
    candidates : (n, 3, 3), optional
        Orthogonal Cartesian matrices to test (proper or improper); default Oh.
    rtol, atol : float
        ``g`` is kept when ``|D(g) theta_i - theta_i| <= rtol * |theta_i| + atol`` for every irrep
        block ``theta_i`` (blocks below ``atol`` count as zero).

    Returns
    -------
    (k, 3, 3) the kept candidates, in the candidates' order.
    """
    irreps_theta = o3.Irreps(irreps_theta)
    theta = torch.as_tensor(np.atleast_2d(np.asarray(theta, dtype=np.float64)))
    if theta.shape[-1] != irreps_theta.dim:
        raise ValueError(
            f"theta has {theta.shape[-1]} components, irreps {irreps_theta} have {irreps_theta.dim}"
        )
    candidates = cubic_operations() if candidates is None else np.asarray(candidates, dtype=float)
    kept = []
    for g in candidates:
        ok = True
        for (_, ir), sl in zip(irreps_theta, irreps_theta.slices()):
            block = theta[:, sl]
            d = ir.D_from_matrix(torch.as_tensor(g, dtype=torch.float64))
            err = torch.linalg.vector_norm(block @ d.T - block, dim=-1)
            if (err > rtol * torch.linalg.vector_norm(block, dim=-1) + atol).any():
                ok = False
                break
        if ok:
            kept.append(g)
    return np.array(kept).reshape(-1, 3, 3)


@dataclass(frozen=True)
class ThetaReadout:
    """Relaxed weights of a model, by irrep, and the symmetry they keep.

    Attributes
    ----------
    norms : dict[str, float]
        ``{"0e": ..., "0o": ..., "1e": ...}``: per-layer Euclidean norms of each irrep,
        summed over layers.
    components : dict[str, NDArray[float]]
        Each irrep's components, ``(n_layers, 2l+1)``, ``m = -l .. l`` in e3nn's basis
        (``l = 1``: ``x, y, z``; polar axis ``y``: for ``l = 2`` a z-elongation is
        ``m = 0`` and ``m = 2`` with ``theta_2 = -sqrt(3) theta_0``).
    threshold : float
        Norm below which an irrep counts as zero (relative to the largest non-scalar norm).
    active_irreps : tuple[str, ...]
        Non-scalar irreps whose summed norm exceeds ``threshold``. Each breaks O(3), but not
        necessarily the candidate group: the cubic harmonic in 4e is invariant under Oh.
    kept_symmetry : NDArray[float]
        ``(k, 3, 3)`` candidate operations leaving every layer's ``theta`` invariant.
    point_group : str
        Schoenflies symbol of ``kept_symmetry`` (``"Oh"`` when nothing is broken).
    """

    norms: dict[str, float]
    components: dict[str, NDArray[np.float64]]
    threshold: float
    active_irreps: tuple[str, ...]
    kept_symmetry: NDArray[np.float64]
    point_group: str

    def cartesian_vector(self, irrep: str = "1o") -> NDArray[np.float64]:
        """An ``l = 1`` irrep summed over layers as a Cartesian (x, y, z) vector; (3,)."""
        if o3.Irrep(irrep).l != 1:
            raise ValueError(f"cartesian_vector needs an l = 1 irrep, got {irrep!r}")
        return self.components[irrep].sum(axis=0)  # e3nn's l = 1 basis is (x, y, z)

    def to_json(self) -> dict[str, object]:
        """Plain dict for JSON: norms, broken irreps, point group."""
        return {
            "theta": dict(self.norms),
            "active_irreps": list(self.active_irreps),
            "point_group": self.point_group,
        }


def theta_readout(
    model: torch.nn.Module,
    candidates: NDArray[np.float64] | None = None,
    rel_threshold: float = 1e-6,
    rtol: float = 1e-3,
) -> ThetaReadout:
    """Read the relaxed weights of every :class:`RelaxedConvolution` in ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        A relaxed convolution or a model containing some (all with the same ``irreps_theta``).
    candidates : (n, 3, 3), optional
        Operations to test for the kept symmetry; default Oh (signed permutations).
    rel_threshold : float
        Irreps whose norm is below ``rel_threshold`` times the largest non-scalar norm (or
        below 1e-12) count as zero: training from a scalar ``theta`` in float64 leaves
        symmetry-forbidden components at round-off (~1e-15 relative), not at 1e-6.
    rtol : float
        Relative tolerance of the invariance test, see :func:`theta_stabiliser`.
    """
    convs: list[RelaxedConvolution] = relaxed_convolutions(model)
    if not convs:
        raise ValueError(f"{type(model).__name__} has no RelaxedConvolution")
    irreps = convs[0].irreps_theta
    if any(c.irreps_theta != irreps for c in convs):
        raise ValueError(
            f"layers have different irreps_theta: {[str(c.irreps_theta) for c in convs]}"
        )
    theta = np.stack([c.theta.detach().cpu().double().numpy() for c in convs])
    names = [str(ir) for _, ir in irreps]
    components = {name: theta[:, sl].copy() for name, sl in zip(names, irreps.slices())}
    norms = {name: float(np.linalg.norm(c, axis=1).sum()) for name, c in components.items()}
    largest = max((v for k, v in norms.items() if k != "0e"), default=0.0)
    threshold = max(rel_threshold * largest, 1e-12)
    broken = tuple(k for k, v in norms.items() if k != "0e" and v > threshold)
    cleaned = theta.copy()
    for name, sl in zip(names, irreps.slices()):
        if name not in broken and name != "0e":
            cleaned[:, sl] = 0.0
    kept = theta_stabiliser(cleaned, irreps, candidates, rtol=rtol, atol=threshold)
    return ThetaReadout(
        norms=norms,
        components=components,
        threshold=threshold,
        active_irreps=broken,
        kept_symmetry=kept,
        point_group=point_group_name(kept),
    )


# --------------------------------------------------------------------------- paper set-ups
class RelaxedShapeNet(torch.nn.Module):
    """Shape-deformation network of paper 001, Sec. 5.1: points in, target points' harmonics out.

    The points of the source shape are the nodes of a complete graph (no self edges) with a
    scalar ``1`` on every node. A relaxed interaction block (lmax 2, both parities) and a
    relaxed convolution produce per point the spherical harmonics ``0e + 1o + ... (lmax)``
    of the point it is mapped to (``normalize=False``: the ``1o`` part is ``sqrt(3) r``).

    Parameters
    ----------
    lmax : int
        Network and output ``lmax`` (paper: 2).
    lmax_theta : int
        Relaxed weights ``0e + 0o + ... + lmax_theta o`` per layer (paper: 4).
    hidden_mul : int
        Channels per hidden irrep.
    cutoff : float
        Radial cutoff, longer than the shape's diameter.
    relaxed : bool
        ``False`` freezes ``theta`` at ``0e = 1`` (the equivariant network).
    """

    def __init__(
        self,
        lmax: int = 2,
        lmax_theta: int = 4,
        hidden_mul: int = 8,
        num_radial: int = 8,
        cutoff: float = 2.5,
        relaxed: bool = True,
    ) -> None:
        super().__init__()
        self.irreps_out = o3.Irreps.spherical_harmonics(lmax)
        hidden = o3.Irreps([(hidden_mul, (l, p)) for l in range(lmax + 1) for p in (1, -1)])
        self.sh = o3.SphericalHarmonics(self.irreps_out, normalize=True, normalization="component")
        self.radial = RadialEmbedding(cutoff, num_radial)
        kw: dict[str, Any] = dict(num_radial=num_radial, radial_hidden=16, avg_num_neighbors=7.0)
        self.block = InteractionBlock(
            "0e",
            self.irreps_out,
            hidden,
            convolution_cls=RelaxedConvolution,
            lmax_theta=lmax_theta,
            **kw,
        )
        self.conv = RelaxedConvolution(
            self.block.irreps_out, self.irreps_out, self.irreps_out, lmax_theta=lmax_theta, **kw
        )
        self.self_interaction = o3.Linear(self.block.irreps_out, self.irreps_out)
        if not relaxed:
            for conv in relaxed_convolutions(self):
                conv.theta.requires_grad_(False)

    def target(self, points: torch.Tensor) -> torch.Tensor:
        """Per-point harmonics ``Y(r)`` (unnormalised, component), (N, irreps_out.dim)."""
        return o3.spherical_harmonics(
            self.irreps_out, points, normalize=False, normalization="component"
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, 3)`` source points -> ``(N, irreps_out.dim)`` predicted target harmonics."""
        n = points.shape[0]
        src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        keep = src != dst
        src, dst = src[keep], dst[keep]
        vec = points[dst] - points[src]
        edge_attr = self.sh(vec)
        edge_radial = self.radial(torch.linalg.vector_norm(vec, dim=-1))
        x = points.new_ones(n, 1)
        h = self.block(x, src, dst, edge_attr, edge_radial)
        return self.conv(h, src, dst, edge_attr, edge_radial) + self.self_interaction(h)


def fit_shape(
    model: RelaxedShapeNet,
    source: torch.Tensor,
    target: torch.Tensor,
    epochs: int = 2500,
    lr: float = 5e-3,
    lam: float = 1e-6,
    optimizer: str = "sgd",
    tol: float = 0.0,
) -> list[float]:
    """Train ``model`` to map ``source`` points onto ``target`` points (paper B.1); returns MSE
    per epoch.

    Loss: MSE of the predicted harmonics; the relaxed weights carry the group-lasso penalty
    ``lam * sum ||theta^{l,p}||`` (paper Eq. 9, ``lam = 1e-6``), applied as a proximal step after
    each update (:func:`~ase_symbreak.nn.relaxed_convolution.relaxation_prox_`) so unneeded
    irreps stay exactly zero. ``optimizer``: ``"sgd"`` (paper, lr 5e-3) or ``"adam"``; stops
    early once the MSE is below ``tol``.

    Use SGD: Adam divides each gradient by its own running scale, so round-off gradients
    (~1e-16) on symmetry-forbidden components of ``theta`` become lr-sized steps and the
    learned ``theta`` loses the target's symmetry (measured: cube to prism ended in Ci).
    """
    if source.shape != target.shape or source.shape[-1] != 3:
        raise ValueError(
            f"source and target must both be (N, 3), "
            f"got {tuple(source.shape)} and {tuple(target.shape)}"
        )
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr)
    y = model.target(target)
    history = []
    for _ in range(epochs):
        opt.zero_grad()
        mse = torch.mean((model(source) - y) ** 2)
        mse.backward()
        opt.step()
        relaxation_prox_(model, lr * lam)
        history.append(float(mse.detach()))
        if history[-1] < tol:
            break
    return history


class ChargedParticleNet(torch.nn.Module):
    """One relaxed convolution predicting the force on a charged particle (paper 001, Sec. 5.2).

    Each sample is a single node carrying ``charge (0e) + velocity (1o)`` with one self edge
    and no positional information (edge attribute ``0e = 1``, constant radial input), so
    the filter is ``theta`` itself and the output ``1o`` is a force. Equivariant (``theta``
    frozen at ``0e``) it can only return ``c v``; relaxed, ``q theta_1o`` and
    ``v x theta_1e`` give ``q (E + v x B)`` with ``theta_1o || E`` and ``theta_1e || B``.

    Parameters
    ----------
    lmax_theta : int
        Relaxed weights ``0e + 0o + ... `` up to this ``l`` (paper: 1).
    relaxed : bool
        ``False`` freezes ``theta`` at ``0e = 1`` (the equivariant model).
    """

    def __init__(self, lmax_theta: int = 1, relaxed: bool = True) -> None:
        super().__init__()
        self.conv = RelaxedConvolution(
            "0e + 1o",
            "0e",
            "1o",
            num_radial=1,
            radial_hidden=0,
            lmax_theta=lmax_theta,
            filter_lmax=lmax_theta,
        )
        self.conv.theta.requires_grad_(relaxed)

    def forward(self, charge: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        """``charge`` (N,), ``velocity`` (N, 3) -> force (N, 3)."""
        n = velocity.shape[0]
        x = torch.cat([charge.unsqueeze(-1), velocity], dim=-1)
        self_edges = torch.arange(n, device=velocity.device)
        ones = velocity.new_ones(n, 1)
        return self.conv(x, self_edges, self_edges, ones, ones)


def lorentz_trajectory(
    e_field: NDArray[np.float64],
    b_field: NDArray[np.float64],
    steps: int = 500,
    dt: float = 0.02,
    charge: float = 1.0,
    mass: float = 1.0,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Trajectory of a charged particle in uniform fields (RK4), random initial position and
    velocity.

    Returns
    -------
    positions, velocities, forces : (steps, 3) each; ``F = q (E + v x B)`` at each step.
    """
    rng = np.random.default_rng(seed)
    e_field, b_field = np.asarray(e_field, float), np.asarray(b_field, float)

    def accel(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return charge / mass * (e_field + np.cross(v, b_field))

    x, v = rng.normal(size=3), rng.normal(size=3)
    xs, vs = [], []
    for _ in range(steps):
        xs.append(x.copy())
        vs.append(v.copy())
        k1v, k1x = accel(v), v
        k2v, k2x = accel(v + 0.5 * dt * k1v), v + 0.5 * dt * k1v
        k3v, k3x = accel(v + 0.5 * dt * k2v), v + 0.5 * dt * k2v
        k4v, k4x = accel(v + dt * k3v), v + dt * k3v
        v = v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        x = x + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
    vs_arr = np.array(vs)
    return np.array(xs), vs_arr, charge * (e_field + np.cross(vs_arr, b_field))


def fit_charged_particle(
    model: ChargedParticleNet,
    velocities: torch.Tensor,
    forces: torch.Tensor,
    charge: float = 1.0,
    epochs: int = 200,
    batch_size: int = 50,
    lr: float = 1e-3,
    lam: float = 1e-4,
    seed: int = 0,
) -> list[float]:
    """Adam on shuffled mini-batches (paper B.2: batch 50, lr 1e-3, ``lam = 1e-4``); returns the
    full-data MSE after each epoch. The penalty is applied as a proximal step.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    q = velocities.new_full((velocities.shape[0],), charge)
    history = []
    for _ in range(epochs):
        for idx in torch.randperm(velocities.shape[0], generator=generator).split(batch_size):
            opt.zero_grad()
            torch.mean((model(q[idx], velocities[idx]) - forces[idx]) ** 2).backward()
            opt.step()
            relaxation_prox_(model, lr * lam)
        with torch.no_grad():
            history.append(float(torch.mean((model(q, velocities) - forces) ** 2)))
    return history
