"""Order parameters from the gradient of learnable inputs (Smidt, Geiger, Miller 2020; papers/000).

An equivariant network cannot map a symmetric input onto a less symmetric output
(Curie's principle, ``Sym(x) ⊆ Sym(f(x))``). Give every parent site learnable input
features in ``0e+0o+1e+1o+...+lmax e+lmax o`` that start symmetric (only the scalar ``0e``
is nonzero), train the network to map ``parent + features`` onto the child, and update
the features with the gradient of the loss. That gradient is equivariant and keeps
``Sym(parent) ∩ Sym(child)``; its accumulation is the learned order parameter.

Procedure
---------
1. ``warmup`` steps train only the network (the best symmetric fit).
2. Then the network and the features are updated in turn: one backward pass gives both
   gradients at the same point, the features step, then the network steps (Adam). The
   feature update must itself be equivariant, so it is Adam with a *single* second-moment scalar
   for all components (a per-component Adam would depend on the basis of each irrep),
   followed by a proximal step for the sparsity penalty.
3. Sparsity: ``sparsity * sum_ir w_ir * mean_sites |x_ir|`` with ``|x_ir|`` the Euclidean
   norm of each irrep block (rotation invariant, unlike the paper's component-wise mean
   absolute error, which depends on the frame) and ``w = l`` (``0.5`` for ``0o``), so the
   lowest ``l`` that can explain the child wins. The proximal step shrinks each block's
   norm and sets it exactly to zero when the data gradient cannot sustain it.

The learned order parameter is ``features - initial features`` (the sum of all input
updates); ``0e`` stays fixed at 1 on the sites that carry features.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms
from e3nn import o3
from numpy.typing import NDArray

from ase_symbreak.torch_utils import default_dtype as _default_dtype

from .analysis import (
    child_operations,
    feature_stabiliser_mask,
    group_name,
    irrep_norms,
    o3_shares,
    parent_operations,
    rigid_unit_displacements,
    z_polar_components,
)
from .network import OrderParameterNetwork, default_cutoff, feature_irreps
from .targets import Target, TargetFn, build_target, match_atoms

__all__ = ["OrderParameterResult", "SymmetryReport", "find_order_parameter", "sparsity_weight"]

log = logging.getLogger(__name__)

_AXES = {"x": 0, "y": 1, "z": 2}  # e3nn 0.6: l = 1 components are (x, y, z)


def sparsity_weight(ir: o3.Irrep) -> float:
    """Weight of an irrep in the sparsity penalty: ``l`` for ``l > 0``, 0.5 for ``0o``, 0 for
    ``0e``.
    """
    if ir.l > 0:
        return float(ir.l)
    return 0.0 if ir.p == 1 else 0.5


@dataclass(frozen=True)
class SymmetryReport:
    """Operations of the parent kept by the learned order parameter, and by the child.

    Attributes
    ----------
    parent_group, child_group, kept_group : str
        Space group ``"Pnma (62)"`` (crystals) or point group ``"D2h (mmm)"`` (point clouds)
        of the parent, of the child (parent operations that map the child onto itself), and
        of ``parent + learned features``.
    n_parent, n_child, n_kept : int
        Numbers of operations (for a supercell, pure translations included).
    contains_child : bool
        Kept ⊇ child: the order parameter breaks no symmetry the child keeps. The gradient
        of an invariant loss guarantees this (Sym(parent) ∩ Sym(child)).
    equals_child : bool
        Kept == child: with Curie's principle for an exact fit (kept ⊆ child) the order
        parameter explains all of the child's symmetry breaking. False for an intermediate
        group (e.g. Imma from constrained Pnma features).
    breaks_parent : bool
        Kept is a proper subgroup of the parent's operations.
    """

    parent_group: str
    child_group: str
    kept_group: str
    n_parent: int
    n_child: int
    n_kept: int
    contains_child: bool
    equals_child: bool
    breaks_parent: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OrderParameterResult:
    """Learned order parameter of ``parent -> child``.

    Attributes
    ----------
    features : NDArray[float]
        ``(N, irreps.dim)`` learned order parameter per parent site (sum of the input
        updates; zero on sites without features), in e3nn's basis (``l = 1``: x, y, z; real
        spherical harmonics with y as the pole for ``l >= 2``).
    irreps : str
        Irreps of a feature row, e.g. ``"1x0e+1x0o+1x1e+..."``.
    o3_shares : dict[str, float]
        Share of ``sum_i |features_i|^2`` per irrep (``0e`` excluded), sums to 1.
    site_norms : dict[str, NDArray]
        ``(N,)`` norm of each irrep block per site.
    gradient : NDArray[float]
        ``(N, irreps.dim)`` gradient of the data loss with respect to the features at the
        first feature update (right after warm-up): the order parameter of the paper in its
        rawest form.
    symmetry : SymmetryReport
    space_group_irreps : tuple[str, ...] or None
        Perovskites: labels (B site at the origin) of the octahedral rotation field built
        from the per-B-site ``1e`` pseudovectors (see :func:`pseudovector_irreps`), largest
        first; None for other structures.
    space_group_shares : dict[str, float] or None
        ``Ap^2`` share of each label of that field.
    child_space_group_irreps : tuple[str, ...] or None
        Labels of the child's own distortion (``decompose(parent, child)``), for comparison.
    loss_history : NDArray[float]
        ``(steps,)`` relative data loss ``mean|f - y|^2 / mean|y|^2`` at each step.
    symmetric_loss : float
        Relative loss of the best symmetric fit (end of warm-up).
    final_loss : float
    target : str
    sites : NDArray[int]
        Sites that carry features.
    seed : int
    """

    features: NDArray = field(repr=False)  # (N, dim)
    irreps: str
    o3_shares: dict[str, float]
    site_norms: dict[str, NDArray] = field(repr=False)  # irrep -> (N,)
    gradient: NDArray = field(repr=False)  # (N, dim)
    symmetry: SymmetryReport
    space_group_irreps: tuple[str, ...] | None
    space_group_shares: dict[str, float] | None
    child_space_group_irreps: tuple[str, ...] | None
    loss_history: NDArray = field(repr=False)  # (steps,)
    symmetric_loss: float
    final_loss: float
    target: str
    sites: NDArray = field(repr=False)  # (M,) int
    seed: int

    @property
    def dominant_irrep(self) -> str:
        """Irrep with the largest share."""
        return max(self.o3_shares, key=lambda name: self.o3_shares[name])

    def irrep_block(self, irrep: str) -> NDArray:
        """``(N, 2l+1)`` features of one irrep (first copy)."""
        irreps = o3.Irreps(self.irreps)
        for (_, ir), sl in zip(irreps, irreps.slices()):
            if str(ir) == irrep:
                return self.features[:, sl]
        raise KeyError(f"no irrep {irrep!r} in {self.irreps}")

    def m_components(
        self, irrep: str, site: int = 0, axis: Sequence[float] = (0.0, 0.0, 1.0)
    ) -> NDArray:
        """``(2l+1,)`` components ``m = -l..l`` of one site's irrep with ``axis`` as the pole."""
        ir = o3.Irrep(irrep)
        return z_polar_components(self.irrep_block(irrep)[site], ir.l, ir.p, np.asarray(axis))

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no per-site arrays)."""
        return {
            "target": self.target,
            "irreps": self.irreps,
            "o3_irreps": {
                k: round(v, 6) for k, v in sorted(self.o3_shares.items(), key=lambda kv: -kv[1])
            },
            "symmetry": self.symmetry.to_dict(),
            "space_group_irreps": None
            if self.space_group_irreps is None
            else list(self.space_group_irreps),
            "space_group_shares": self.space_group_shares,
            "child_space_group_irreps": None
            if self.child_space_group_irreps is None
            else list(self.child_space_group_irreps),
            "symmetric_loss": self.symmetric_loss,
            "final_loss": self.final_loss,
            "seed": self.seed,
        }


# --------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _num_threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _groups(n: int, sites: NDArray, tie_sites) -> NDArray:
    """``(N,)`` group index of each site (-1: no features)."""
    group = np.full(n, -1, dtype=np.int64)
    has = np.zeros(n, dtype=bool)
    has[sites] = True
    next_id = 0
    if isinstance(tie_sites, str):
        if tie_sites != "all":
            raise ValueError(
                f"tie_sites must be 'all', None or a list of site lists, got {tie_sites!r}"
            )
        tie_sites = [sites.tolist()]
    for members in tie_sites or []:
        members = [int(i) for i in members]
        bad = [i for i in members if not 0 <= i < n or not has[i]]
        if bad:
            raise ValueError(
                f"tie_sites lists sites {bad} that do not carry features (sites: {sites.tolist()})"
            )
        if (group[members] >= 0).any():
            raise ValueError(
                f"site(s) {[i for i in members if group[i] >= 0]} appear in two tie groups"
            )
        group[members] = next_id
        next_id += 1
    for i in sites:
        if group[i] < 0:
            group[i] = next_id
            next_id += 1
    return group


def _component_mask(irreps: o3.Irreps, allowed_irreps, zero_components) -> NDArray:
    """``(dim,)`` True for learnable components."""
    mask = np.ones(irreps.dim, dtype=bool)
    names = [str(ir) for _, ir in irreps]
    if allowed_irreps is not None:
        allowed = {str(o3.Irrep(a)) for a in allowed_irreps}
        unknown = allowed - set(names)
        if unknown:
            raise ValueError(
                f"allowed_irreps {sorted(unknown)} are not in the feature irreps {irreps}"
            )
        for name, sl in zip(names, irreps.slices()):
            if name not in allowed:
                mask[sl] = False
    for name, sl in zip(names, irreps.slices()):
        if name == "0e":
            mask[sl] = False  # the fixed symmetric scalar
    if zero_components is not None and not isinstance(zero_components, np.ndarray):
        for key, comps in dict(zero_components).items():
            key = str(o3.Irrep(key))
            if key not in names:
                raise ValueError(
                    f"zero_components names {key!r}, not in the feature irreps {irreps}"
                )
            sl = irreps.slices()[names.index(key)]
            ir = o3.Irrep(key)
            if isinstance(comps, str):
                if ir.l != 1 or any(c not in _AXES for c in comps):
                    raise ValueError(
                        f"axis letters like 'x' only name l=1 components, got {key}: {comps!r}"
                    )
                comps = [_AXES[c] for c in comps]
            comps = [int(c) for c in comps]
            if any(not 0 <= c <= 2 * ir.l for c in comps):
                raise ValueError(f"components of {key} are 0..{2 * ir.l}, got {comps}")
            mask[[sl.start + c for c in comps]] = False
    return mask


class _ScalarAdam:
    """Adam whose second moment is one scalar for all components (equivariant update)."""

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-12) -> None:
        self.betas, self.eps = betas, eps
        self.m: torch.Tensor | None = None
        self.v = 0.0
        self.t = 0

    def step(self, grad: torch.Tensor, mask: torch.Tensor, lr: float) -> tuple[torch.Tensor, float]:
        """Update direction (to subtract) and the effective step scale ``lr / sqrt(v)``."""
        b1, b2 = self.betas
        grad = grad * mask
        self.t += 1
        self.m = (1 - b1) * grad if self.m is None else b1 * self.m + (1 - b1) * grad
        n = max(int(mask.sum()), 1)
        self.v = b2 * self.v + (1 - b2) * float((grad**2).sum()) / n
        m_hat = self.m / (1 - b1**self.t)
        scale = lr / (math.sqrt(self.v / (1 - b2**self.t)) + self.eps)
        return m_hat * scale, scale


def _report(progress, step: int, steps: int, metrics: dict) -> None:
    if progress is None or progress is False:
        return
    if callable(progress):
        progress(step, steps, metrics)
    elif (step + 1) % int(progress) == 0 or step + 1 == steps:
        log.info(
            "step %d/%d  loss %.3e  sparsity %.3e  |op| %.3e",
            step + 1,
            steps,
            metrics["loss"],
            metrics["penalty"],
            metrics["op_norm"],
        )


# --------------------------------------------------------------------------- main
def find_order_parameter(
    parent: Atoms,
    child: Atoms,
    target: str | TargetFn = "displacements",
    lmax: int = 4,
    parities: str = "both",
    steps: int = 600,
    lr: float = 1e-2,
    lr_features: float | None = None,
    sparsity: float = 1e-3,
    warmup: int | None = None,
    sites: Sequence[int] | None = None,
    tie_sites: str | Sequence[Sequence[int]] | None = None,
    zero_components: dict[str, str | Sequence[int]] | NDArray | None = None,
    allowed_irreps: Sequence[str] | None = None,
    cutoff: float | None = None,
    num_layers: int = 2,
    mul: int = 8,
    lmax_sh: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    progress: int | Callable[[int, int, dict], None] | None = None,
    symprec: float = 1e-3,
    space_group_analysis: bool = True,
    num_threads: int | None = 1,
) -> OrderParameterResult:
    """Learn the order parameter that turns ``parent`` into ``child`` (gradient method).

    Parameters
    ----------
    parent, child : Atoms
        Same atoms, both 3-D periodic (child in the parent's supercell, cell within 20%) or
        both point clouds (``pbc=False``). Child atoms are matched to parent atoms by the
        nearest (periodic) image of the same species.
    target : "displacements", "cell_shape" or callable
        What the network predicts from the parent: per-site displacements ``1o`` (Angstrom),
        the homogeneous strain as ``0e+2e``, or ``f(parent, child, correspondence) -> (irreps,
        values)`` (see :func:`~ase_symbreak.orderparams.targets.build_target`).
    lmax, parities
        Feature irreps ``0e+0o+...+lmax e+lmax o`` (``parities="both"``), even only, or
        ``(-1)^l`` ("spherical").
    steps, warmup
        Total steps and network-only warm-up steps (default ``steps // 5``).
    lr, lr_features
        Adam learning rate of the network and step size of the features (default ``lr``);
        both decay with a cosine to 10% over the alternating phase.
    sparsity : float
        Weight of the norm penalty on features (relative to the normalised data loss).
    sites : sequence of int, optional
        Sites that carry features (default all; e.g. only B sites of a perovskite).
    tie_sites : "all" or list of lists of int, optional
        Sites that share one feature vector ("all": a global order parameter).
    zero_components : dict or (N, dim) bool array, optional
        Components held at zero, e.g. ``{"1e": "x"}`` (axis letters for ``l = 1``,
        otherwise indices into the irrep, e3nn order), or a per-site boolean mask.
    allowed_irreps : sequence of str, optional
        Only these irreps are learnable (e.g. ``["1e"]``).
    cutoff, num_layers, mul, lmax_sh
        Network: graph cutoff (default 1.2 x largest nearest-neighbour distance), blocks,
        channels, edge spherical harmonics.
    seed, dtype
        Torch seed for the weights; float64 by default (exact equivariance).
    progress : int or callable, optional
        Log a line every ``progress`` steps (logger ``ase_symbreak.orderparams.gradient``),
        or call ``progress(step, steps, metrics)`` every step.
    symprec : float
        Angstrom: symmetry tolerance of the parent and of the child's operations.
    space_group_analysis : bool
        For perovskites, label the learned pseudovector pattern and the child's distortion
        with :func:`~ase_symbreak.symmetry.decompose` (about 10 s the first time).
    num_threads : int or None
        Torch threads while training (restored afterwards). Default 1: these graphs are
        small and thread synchronisation costs more than it gains (6x on 2 busy cores);
        None keeps the current setting.

    Returns
    -------
    OrderParameterResult

    Raises
    ------
    ValueError
        Bad structures (different numbers of atoms, no unambiguous correspondence) or
        options (unknown irreps, sites, target).
    """
    match = match_atoms(parent, child)
    tgt = build_target(parent, child, match, target)
    irreps = feature_irreps(lmax, parities)
    layout = _feature_layout(len(parent), irreps, sites, tie_sites, allowed_irreps, zero_components)
    schedule = _Schedule.checked(steps, warmup, lr, lr_features, sparsity)
    net = _network(parent, irreps, tgt, cutoff, num_layers, mul, lmax_sh, seed, dtype)
    fit = _Fit.start(net, tgt.values, layout, dtype)
    with _num_threads(num_threads):
        run = _train(fit, schedule, progress)
    with torch.no_grad(), _num_threads(num_threads):
        final_loss = float(fit.data_loss())
        features = (fit.scatter @ fit.op).numpy().copy()
        gradient = (fit.scatter @ run.gradient0).numpy().copy()

    symmetry = _symmetry_report(parent, match, features + fit.x0.numpy(), irreps, symprec)
    sg_irreps, sg_shares, child_sg = _space_group_labels(
        parent, child, features, irreps, space_group_analysis and match.periodic
    )
    return OrderParameterResult(
        features=features,
        irreps=str(irreps),
        o3_shares=o3_shares(features, irreps),
        site_norms=irrep_norms(features, irreps),
        gradient=gradient,
        symmetry=symmetry,
        space_group_irreps=sg_irreps,
        space_group_shares=sg_shares,
        child_space_group_irreps=child_sg,
        loss_history=run.history,
        symmetric_loss=run.symmetric_loss,
        final_loss=final_loss,
        target=tgt.name,
        sites=layout.sites,
        seed=seed,
    )


def _network(
    parent: Atoms,
    irreps: o3.Irreps,
    tgt: Target,
    cutoff: float | None,
    num_layers: int,
    mul: int,
    lmax_sh: int,
    seed: int,
    dtype: torch.dtype,
) -> OrderParameterNetwork:
    """Freshly seeded network from ``irreps`` features to the target's irreps."""
    with _default_dtype(dtype):
        torch.manual_seed(seed)
        return OrderParameterNetwork(
            parent,
            irreps,
            tgt.irreps,
            tgt.per_site,
            cutoff=default_cutoff(parent) if cutoff is None else float(cutoff),
            num_layers=num_layers,
            mul=mul,
            lmax_sh=lmax_sh,
        )


@dataclass(frozen=True)
class _FeatureLayout:
    """Which sites carry features, how they are tied, and which components learn.

    Attributes
    ----------
    irreps : o3.Irreps
        Irreps of a feature row (``dim`` components).
    sites : NDArray[int]
        ``(M,)`` sorted sites that carry features.
    group : NDArray[int]
        ``(N,)`` feature group of each site (-1: no features).
    mask : NDArray[bool]
        ``(n_groups, dim)`` True for learnable components of each group.
    """

    irreps: o3.Irreps
    sites: NDArray
    group: NDArray
    mask: NDArray

    @property
    def n_groups(self) -> int:
        """Number of independent feature vectors."""
        return int(self.group.max()) + 1


def _feature_layout(
    n: int,
    irreps: o3.Irreps,
    sites: Sequence[int] | None,
    tie_sites: str | Sequence[Sequence[int]] | None,
    allowed_irreps: Sequence[str] | None,
    zero_components: dict[str, str | Sequence[int]] | NDArray | None,
) -> _FeatureLayout:
    """Check the feature options of :func:`find_order_parameter` for ``n`` atoms."""
    sites_arr = np.arange(n) if sites is None else np.unique(np.asarray(sites, dtype=np.int64))
    if sites_arr.size == 0 or sites_arr.min() < 0 or sites_arr.max() >= n:
        raise ValueError(f"sites must be indices in 0..{n - 1}, got {sites!r}")
    group = _groups(n, sites_arr, tie_sites)
    n_groups = int(group.max()) + 1
    mask = np.broadcast_to(
        _component_mask(irreps, allowed_irreps, zero_components), (n_groups, irreps.dim)
    ).copy()
    if isinstance(zero_components, np.ndarray):
        _apply_site_mask(mask, group, zero_components, n, irreps.dim)
    if not mask.any():
        raise ValueError(
            "no learnable feature components are left (check allowed_irreps / zero_components)"
        )
    return _FeatureLayout(irreps=irreps, sites=sites_arr, group=group, mask=mask)


def _apply_site_mask(
    mask: NDArray, group: NDArray, zero_components: NDArray, n: int, dim: int
) -> None:
    """Clear ``mask`` ``(n_groups, dim)`` where the per-site ``(n, dim)`` mask holds zeros."""
    zc = np.asarray(zero_components, dtype=bool)
    if zc.shape != (n, dim):
        raise ValueError(f"zero_components mask must have shape ({n}, {dim}), got {zc.shape}")
    for g in range(mask.shape[0]):
        members = np.flatnonzero(group == g)
        if not (zc[members] == zc[members[0]]).all():
            raise ValueError(f"tied sites {members.tolist()} have different zero_components masks")
        mask[g] &= ~zc[members[0]]


@dataclass(frozen=True)
class _Schedule:
    """Step counts, learning rates and sparsity of one training run."""

    steps: int
    warmup: int
    lr: float
    lr_features: float
    sparsity: float

    @classmethod
    def checked(
        cls, steps: int, warmup: int | None, lr: float, lr_features: float | None, sparsity: float
    ) -> _Schedule:
        """Validate the options and fill in the defaults (warm-up ``steps // 5``, ``lr``)."""
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        warmup = steps // 5 if warmup is None else int(warmup)
        if not 0 <= warmup < steps:
            raise ValueError(f"warmup must be in 0..steps-1 = {steps - 1}, got {warmup}")
        if sparsity < 0:
            raise ValueError(f"sparsity must be >= 0, got {sparsity}")
        lr_features = lr if lr_features is None else float(lr_features)
        return cls(steps, warmup, lr, lr_features, sparsity)

    def decay(self, step: int) -> float:
        """Cosine decay factor (1 -> 0.1 over the alternating phase, 1 during warm-up)."""
        frac = (
            0.0 if step < self.warmup else (step - self.warmup) / max(self.steps - self.warmup, 1)
        )
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


@dataclass
class _Fit:
    """The network, its target and the learnable features (one row per feature group).

    Attributes
    ----------
    net : OrderParameterNetwork
    y : torch.Tensor
        Target values; ``y_scale`` is their mean square (1 if zero).
    x0 : torch.Tensor
        ``(N, dim)`` symmetric input: ``0e = 1`` on the sites with features.
    op : torch.Tensor
        ``(n_groups, dim)`` learned order parameter (requires grad).
    mask : torch.Tensor
        ``(n_groups, dim)`` 1 for learnable components.
    scatter : torch.Tensor
        ``(N, n_groups)`` 0/1 map from groups to sites.
    blocks : list of (slice, float)
        Each irrep's slice of a feature row and its sparsity weight.
    """

    net: OrderParameterNetwork
    y: torch.Tensor
    y_scale: float
    x0: torch.Tensor
    op: torch.Tensor
    mask: torch.Tensor
    scatter: torch.Tensor
    blocks: list[tuple[slice, float]]

    @classmethod
    def start(
        cls, net: OrderParameterNetwork, values: NDArray, layout: _FeatureLayout, dtype
    ) -> _Fit:
        """Symmetric starting point: zero order parameter, ``0e = 1`` on the feature sites."""
        irreps, group = layout.irreps, layout.group
        n, n_groups = len(group), layout.n_groups
        y = torch.as_tensor(values, dtype=dtype)
        y_scale = float((y**2).mean())
        x0 = torch.zeros(n, irreps.dim, dtype=dtype)
        x0[layout.sites, 0] = 1.0  # 0e is the first irrep
        scatter = torch.zeros(n, n_groups, dtype=dtype)
        scatter[np.flatnonzero(group >= 0), group[group >= 0]] = 1.0
        return cls(
            net=net,
            y=y,
            y_scale=y_scale if y_scale > 1e-20 else 1.0,
            x0=x0,
            op=torch.zeros(n_groups, irreps.dim, dtype=dtype, requires_grad=True),
            mask=torch.as_tensor(layout.mask, dtype=dtype),
            scatter=scatter,
            blocks=[(sl, sparsity_weight(ir)) for (_, ir), sl in zip(irreps, irreps.slices())],
        )

    def data_loss(self) -> torch.Tensor:
        """Relative data loss ``mean|f - y|^2 / mean|y|^2``."""
        pred = self.net(self.x0 + self.scatter @ self.op)
        return ((pred - self.y) ** 2).mean() / self.y_scale

    def penalty(self, sparsity: float) -> float:
        """Sparsity penalty ``sparsity * sum_ir w_ir * mean_groups |op_ir|``."""
        with torch.no_grad():
            total = sum(w * self.op[:, sl].norm(dim=1).mean() for sl, w in self.blocks)
            return float(total) * sparsity

    def step_features(self, opt: _ScalarAdam, lr: float, sparsity: float) -> None:
        """One masked scalar-Adam step of the features, then the proximal sparsity step."""
        op = self.op
        assert op.grad is not None  # set by the loss's backward (op feeds the network input)
        with torch.no_grad():
            update, scale = opt.step(op.grad, self.mask, lr)
            op -= update
            op *= self.mask
            # proximal step of sparsity * w * mean_g |op_g,ir|: shrink each block's norm
            for sl, w in self.blocks:
                if w == 0.0:
                    continue
                norm = op[:, sl].norm(dim=1, keepdim=True)
                thresh = scale * sparsity * w / op.shape[0]
                op[:, sl] *= torch.clamp(1.0 - thresh / norm.clamp_min(1e-300), min=0.0)


@dataclass
class _Run:
    """What training leaves besides the features.

    Attributes
    ----------
    history : NDArray[float]
        ``(steps,)`` relative data loss at each step.
    symmetric_loss : float
        Loss at the end of warm-up (the first step without warm-up).
    gradient0 : torch.Tensor
        ``(n_groups, dim)`` masked feature gradient at the first feature update.
    """

    history: NDArray
    symmetric_loss: float
    gradient0: torch.Tensor


def _train(fit: _Fit, schedule: _Schedule, progress) -> _Run:
    """Warm up the network alone, then update network and features in turn."""
    s = schedule
    opt = torch.optim.Adam(fit.net.parameters(), lr=s.lr)
    feat_opt = _ScalarAdam()
    run = _Run(np.zeros(s.steps), float("nan"), torch.zeros_like(fit.op, requires_grad=False))
    for step in range(s.steps):
        decay = s.decay(step)
        for g in opt.param_groups:
            g["lr"] = s.lr * decay
        opt.zero_grad()
        fit.op.grad = None
        loss = fit.data_loss()
        loss.backward()  # one backward: gradients of the network and of the features
        run.history[step] = float(loss.detach())
        if step == s.warmup - 1 or (s.warmup == 0 and step == 0):
            run.symmetric_loss = run.history[step]
        if step >= s.warmup:
            if step == s.warmup:
                assert fit.op.grad is not None  # set by loss.backward() above
                run.gradient0 = fit.op.grad.detach() * fit.mask
            fit.step_features(feat_opt, s.lr_features * decay, s.sparsity)
        opt.step()
        metrics = {
            "loss": run.history[step],
            "penalty": fit.penalty(s.sparsity),
            "op_norm": float(fit.op.detach().norm()),
        }
        _report(progress, step, s.steps, metrics)
    return run


def _space_group_labels(
    parent: Atoms, child: Atoms, features: NDArray, irreps: o3.Irreps, analyse: bool
) -> tuple[tuple[str, ...] | None, dict[str, float] | None, tuple[str, ...] | None]:
    """Perovskite labels: learned pseudovector irreps (>= 1%), their shares, the child's own."""
    if not analyse:
        return None, None, None
    sg = pseudovector_irreps(parent, features, irreps)
    if sg is None:
        return None, None, None
    return tuple(k for k, v in sg.items() if v >= 0.01), sg, _child_labels(parent, child)


# --------------------------------------------------------------------------- analysis
def _symmetry_report(
    parent: Atoms, match, features: NDArray, irreps: o3.Irreps, symprec: float
) -> SymmetryReport:
    ops = parent_operations(parent, symprec)
    kept = feature_stabiliser_mask(ops, features, irreps)
    in_child = child_operations(
        ops, parent, match.displacements, match.strain, tol=max(symprec, 1e-6)
    )
    return SymmetryReport(
        parent_group=group_name(ops, parent),
        child_group=group_name(ops.subset(in_child), parent),
        kept_group=group_name(ops.subset(kept), parent),
        n_parent=len(ops),
        n_child=int(in_child.sum()),
        n_kept=int(kept.sum()),
        contains_child=bool(np.all(kept[in_child])),
        equals_child=bool(np.array_equal(kept, in_child)),
        breaks_parent=bool(not kept.all()),
    )


def perovskite_b_sites(parent: Atoms) -> NDArray | None:
    """Indices of the B sites of an ABX3 perovskite, or None."""
    from ase_symbreak.symmetry.spacegroup import perovskite_b_site

    b = perovskite_b_site(parent)
    if b is None:
        return None
    return np.flatnonzero(parent.numbers == parent.numbers[b])


def pseudovector_irreps(
    parent: Atoms,
    features: NDArray,
    irreps: o3.Irreps | str,
    amplitude: float = 0.05,
    min_share: float = 1e-3,
) -> dict[str, float] | None:
    """Space-group irreps of the per-B-site ``1e`` pseudovectors of a perovskite.

    Method: a pseudovector on a B site is read as a small rotation of its BX6 octahedron
    (axis and angle). Each X moves by ``omega_B x (r_X - r_B)`` averaged over its two B
    neighbours (:func:`~ase_symbreak.orderparams.analysis.rigid_unit_displacements`); the
    field is scaled to a largest displacement of ``amplitude`` Angstrom and split into
    irreps of the parent space group by :func:`~ase_symbreak.symmetry.decompose` (B at the
    origin: in-phase tilts are M3+, anti-phase tilts R4+). The map is linear and
    equivariant, so the labels are those of the pseudovector pattern itself.

    Returns
    -------
    dict or None
        ``{label: share of Ap^2}`` for shares above ``min_share``, largest first; None if
        the parent is not a perovskite or the B sites carry no ``1e`` features.
    """
    from ase_symbreak.symmetry import decompose

    irreps = o3.Irreps(irreps)
    b_sites = perovskite_b_sites(parent)
    if b_sites is None or "1e" not in [str(ir) for _, ir in irreps]:
        return None
    sl = irreps.slices()[[str(ir) for _, ir in irreps].index("1e")]
    omega = np.asarray(features)[b_sites, sl]
    u = rigid_unit_displacements(parent, b_sites, omega)
    top = np.linalg.norm(u, axis=1).max()
    if top < 1e-12:
        return None
    distorted = parent.copy()
    distorted.positions += u * (amplitude / top)
    return _shares(decompose(parent, distorted), min_share)


def _shares(dec, min_share: float) -> dict[str, float]:
    total = sum(ir.amplitude**2 for ir in dec.irreps)
    out = {ir.irrep: ir.amplitude**2 / total for ir in dec.irreps if total > 0}
    return {k: float(v) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= min_share}


def _child_labels(parent: Atoms, child: Atoms) -> tuple[str, ...] | None:
    from ase_symbreak.symmetry import decompose

    try:
        shares = _shares(decompose(parent, child), 0.01)
    except ValueError:
        return None
    return tuple(shares)
