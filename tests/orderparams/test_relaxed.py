"""Relaxed equivariant networks (paper 001): exact reduction, broken symmetry, what theta learns."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.models.relaxed_potential import RelaxedPotential, RelaxedPotentialConfig
from ase_symbreak.nn.convolution import EquivariantConvolution
from ase_symbreak.nn.relaxed_convolution import (
    RelaxedConvolution,
    relaxation_penalty,
    relaxation_prox_,
)
from ase_symbreak.orderparams.relaxed_weights import (
    ChargedParticleNet,
    RelaxedShapeNet,
    cubic_operations,
    fit_charged_particle,
    fit_shape,
    lorentz_trajectory,
    point_group_name,
    theta_readout,
    theta_stabiliser,
)
from ase_symbreak.testing import numerical_forces, random_rotation, transformed

SH = o3.Irreps.spherical_harmonics(2)
NODE_IN = o3.Irreps("3x0e + 2x1o + 2x2e + 1x1e")
NODE_OUT = o3.Irreps("2x0e + 2x1o + 1x1e + 2x2e + 1x0o")


@pytest.fixture(autouse=True)
def float64_one_thread() -> Iterator[None]:
    """Build in float64 (exact Clebsch-Gordan constants); tiny graphs run fastest on one thread."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


@pytest.fixture
def graph(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Random graph: 6 nodes, 24 edges, features of NODE_IN, 5 radial functions."""
    n, e = 6, 24
    return {
        "x": torch.tensor(rng.normal(size=(n, NODE_IN.dim))),
        "src": torch.tensor(rng.integers(0, n, e)),
        "dst": torch.tensor(rng.integers(0, n, e)),
        "vec": torch.tensor(rng.normal(size=(e, 3))),
        "radial": torch.tensor(rng.normal(size=(e, 5))),
    }


def _conv_out(
    conv: torch.nn.Module, g: dict[str, torch.Tensor], rotation: np.ndarray | None = None
) -> torch.Tensor:
    """Convolution output for the graph rotated by ``rotation`` (node features and edges
    transformed)."""
    x, vec = g["x"], g["vec"]
    if rotation is not None:
        r = torch.tensor(rotation)
        x = x @ NODE_IN.D_from_matrix(r).T
        vec = vec @ r.T
    edge_attr = o3.spherical_harmonics(SH, vec, normalize=True, normalization="component")
    return conv(x, g["src"], g["dst"], edge_attr, g["radial"]).detach()


def _equivariance_error(
    conv: torch.nn.Module, g: dict[str, torch.Tensor], rotation: np.ndarray
) -> float:
    d_out = NODE_OUT.D_from_matrix(torch.tensor(rotation))
    return float((_conv_out(conv, g, rotation) - _conv_out(conv, g) @ d_out.T).abs().max())


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    return o3.axis_angle_to_matrix(
        torch.tensor(axis, dtype=torch.float64), torch.tensor(angle)
    ).numpy()


# ---------------------------------------------------------------- the layer
def test_scalar_theta_reduces_exactly_to_equivariant_layer(graph: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)
    eq = EquivariantConvolution(
        NODE_IN, SH, NODE_OUT, num_radial=5, radial_hidden=7, avg_num_neighbors=3.0
    )
    rel = RelaxedConvolution.from_equivariant(eq, lmax_theta=4)
    assert torch.equal(rel.theta.detach()[1:], torch.zeros(rel.irreps_theta.dim - 1))
    reference = _conv_out(eq, graph)
    assert float((_conv_out(rel, graph) - reference).abs().max()) < 1e-12
    with torch.no_grad():
        rel.theta[1:4] = 0.3  # 0o, 1e: now it differs
    assert float((_conv_out(rel, graph) - reference).abs().max()) > 1e-3


def test_scalar_theta_is_equivariant_under_rotations_and_inversion(
    graph: dict[str, torch.Tensor], rng: np.random.Generator
) -> None:
    torch.manual_seed(1)
    conv = RelaxedConvolution(NODE_IN, SH, NODE_OUT, num_radial=5, lmax_theta=4)
    with torch.no_grad():
        conv.theta[0] = 0.7  # any scalar is fine
    for improper in (False, True):
        assert _equivariance_error(conv, graph, random_rotation(rng, improper)) < 1e-12
    assert _equivariance_error(conv, graph, -np.eye(3)) < 1e-12


def test_theta_along_z_keeps_only_rotations_about_z(
    graph: dict[str, torch.Tensor], rng: np.random.Generator
) -> None:
    torch.manual_seed(2)
    conv = RelaxedConvolution(NODE_IN, SH, NODE_OUT, num_radial=5, lmax_theta=2)
    with torch.no_grad():
        conv.theta[conv.irreps_theta.slices()[3]] = torch.tensor(
            [0.0, 0.0, 0.8]
        )  # 1o along z (e3nn: x, y, z)
    assert str(conv.irreps_theta[3].ir) == "1o"
    for angle in rng.uniform(0, 2 * np.pi, 3):
        assert (
            _equivariance_error(conv, graph, _rotation_about(np.array([0.0, 0.0, 1.0]), angle))
            < 1e-12
        )
    assert (
        _equivariance_error(conv, graph, np.diag([-1.0, 1.0, 1.0])) < 1e-12
    )  # mirror containing z
    assert _equivariance_error(conv, graph, _rotation_about(np.array([1.0, 0.0, 0.0]), 0.7)) > 1e-3
    assert _equivariance_error(conv, graph, random_rotation(rng)) > 1e-3
    assert _equivariance_error(conv, graph, -np.eye(3)) > 1e-3  # a polar vector breaks inversion

    readout = theta_readout(conv)
    assert readout.active_irreps == ("1o",)
    assert readout.point_group == "C4v"  # the part of C_inf_v inside Oh
    np.testing.assert_allclose(readout.cartesian_vector("1o"), [0.0, 0.0, 0.8])


def test_penalty_and_prox_act_on_non_scalar_irreps_only() -> None:
    conv = RelaxedConvolution("2x0e", SH, "1x1o", num_radial=3, lmax_theta=1)
    with torch.no_grad():
        conv.theta.copy_(
            torch.tensor([2.0, 0.0, 0.3, 0.0, 0.4, 0.0, 0.0, 0.1])
        )  # 0e 0o 1e(3) 1o(3)
    assert float(relaxation_penalty(conv, 1e-2)) == pytest.approx(1e-2 * (0.5 + 0.1))
    relaxation_prox_(conv, 0.2)
    np.testing.assert_allclose(
        conv.theta.detach().numpy(), [2.0, 0, 0.3 * 0.6, 0, 0.4 * 0.6, 0, 0, 0], atol=1e-15
    )


# ---------------------------------------------------------------- group theory of the readout
@pytest.mark.parametrize(
    ("irrep", "components", "expected"),
    [
        ("1o", [0.0, 0.0, 1.0], "C4v"),  # polar vector along z
        ("1e", [0.0, 0.0, 1.0], "C4h"),  # axial vector along z
        ("1o", [1.0, 1.0, 1.0], "C3v"),
        ("0o", [1.0], "O"),  # pseudoscalar: proper rotations only
        ("2e", [0.0, 0.0, -1.0, 0.0, 3**0.5], "D4h"),  # e3nn basis: x^2 + y^2 - 2 z^2
        ("2e", [0.0, 0.0, 1.0, 0.0, 0.0], "D4h"),  # polar axis y
    ],
)
def test_kept_symmetry_of_single_irreps(irrep: str, components: list[float], expected: str) -> None:
    irreps = o3.Irreps(f"0e + {irrep}")
    kept = theta_stabiliser(np.array([1.0, *components]), irreps)
    assert point_group_name(kept) == expected
    # a subgroup: closed under products
    keys = {tuple(np.rint(g).astype(int).ravel()) for g in kept}
    assert all(tuple(np.rint(a @ b).astype(int).ravel()) in keys for a in kept for b in kept)


def test_oh_operations() -> None:
    ops = cubic_operations()
    assert ops.shape == (48, 3, 3) and np.array_equal(ops[0], np.eye(3))
    assert point_group_name(ops) == "Oh" and point_group_name(ops[:1]) == "C1"


# ---------------------------------------------------------------- paper experiments, brief training
def test_cube_to_prism_learns_only_2e_4e_and_keeps_d4h() -> None:
    torch.manual_seed(0)
    cube = torch.tensor(list(itertools.product([-0.5, 0.5], repeat=3)))
    model = RelaxedShapeNet(lmax=2, lmax_theta=4, hidden_mul=4)
    history = fit_shape(
        model, cube, cube * torch.tensor([1.0, 1.0, 1.5]), epochs=60, lr=5e-3, lam=1e-6
    )
    assert history[-1] < history[0]
    readout = theta_readout(model)
    # The task is D4h-symmetric and training starts from an Oh-symmetric theta, so the gradient
    # of every D4h-forbidden component vanishes identically (Curie) and the proximal penalty
    # keeps them at 0: only round-off (~1e-16 relative) is allowed. Allowed irreps are at >1e-4.
    forbidden = [k for k in readout.norms if k not in ("0e", "2e", "4e")]
    assert max(readout.norms[k] for k in forbidden) < 1e-12
    assert min(readout.norms["2e"], readout.norms["4e"]) > 1e-4
    assert readout.active_irreps == ("2e", "4e")
    assert readout.point_group == "D4h" and len(readout.kept_symmetry) == 16
    for c in readout.components[
        "2e"
    ]:  # x^2 + y^2 - 2 z^2 in e3nn's basis: only m = 0, 2, ratio -sqrt(3)
        assert np.abs(c[[0, 1, 3]]).max() < 1e-12 * np.abs(c).max() + 1e-15
        assert c[4] / c[2] == pytest.approx(-(3**0.5), rel=1e-8)


def test_charged_particle_relaxed_fits_and_theta_shows_e_and_b() -> None:
    e_field, b_field = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    _, v, f = lorentz_trajectory(e_field, b_field, steps=500, seed=0)
    v, f = torch.tensor(v), torch.tensor(f)
    mse = {}
    models = {}
    for relaxed in (False, True):
        torch.manual_seed(0)
        models[relaxed] = ChargedParticleNet(relaxed=relaxed)
        mse[relaxed] = fit_charged_particle(models[relaxed], v, f, epochs=15, lr=1e-2, lam=1e-4)[-1]
    assert mse[False] > 0.05  # best c * v leaves the E and v x B parts
    assert mse[True] < mse[False] / 100
    # 15 epochs leave the directions right to ~0.5%: test the kept symmetry at 1% (converged: 1e-3)
    readout = theta_readout(models[True], rtol=1e-2)
    e_dir, b_dir = readout.cartesian_vector("1o"), readout.cartesian_vector("1e")
    assert abs(e_dir @ e_field) / np.linalg.norm(e_dir) > 0.999
    assert abs(b_dir @ b_field) / np.linalg.norm(b_dir) > 0.999
    assert readout.norms["0o"] == 0.0  # no path from a pseudoscalar to the force
    assert readout.point_group == "Cs"  # the mirror y -> -y keeps E || x and B || y


# ---------------------------------------------------------------- the potential
@pytest.fixture
def relaxed_potential() -> RelaxedPotential:
    torch.manual_seed(0)
    config = RelaxedPotentialConfig(
        species=(1, 8), cutoff=3.0, num_radial=4, lmax=1, hidden_mul=4, num_layers=2,
        radial_hidden=8, avg_num_neighbors=4.0, lmax_theta=2,
    )  # fmt: skip
    return RelaxedPotential(config, dtype=torch.float64)


def _cluster() -> Atoms:
    return Atoms(
        "OH2OH2",
        positions=[
            [0, 0, 0],
            [0.96, 0.1, 0.0],
            [-0.3, 0.9, 0.1],
            [2.6, 0.3, 0.4],
            [3.1, 1.0, 0.2],
            [2.9, -0.5, 0.9],
        ],
    )


def test_relaxed_potential_in_calculator_forces_are_minus_gradient(
    relaxed_potential: RelaxedPotential,
) -> None:
    for conv in relaxed_potential.relaxed_convolutions():  # break symmetry: field-like theta
        with torch.no_grad():
            conv.theta[1:] = torch.linspace(-0.3, 0.4, conv.theta.numel() - 1)
    atoms = _cluster()
    atoms.calc = SymBreakCalculator(relaxed_potential, dtype="float64")
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces, numerical_forces(atoms.calc, atoms, h=1e-4), atol=1e-7)
    assert np.abs(forces).max() > 1e-3


def test_relaxed_potential_symmetry_follows_theta(
    relaxed_potential: RelaxedPotential, rng: np.random.Generator
) -> None:
    atoms = _cluster()
    calc = SymBreakCalculator(relaxed_potential, dtype="float64")
    e0 = calc.get_potential_energy(atoms)
    for rotation in (
        random_rotation(rng),
        random_rotation(rng, improper=True),
    ):  # scalar theta: O(3)-invariant
        assert abs(calc.get_potential_energy(transformed(atoms, rotation)) - e0) < 1e-10
    for conv in relaxed_potential.relaxed_convolutions():  # field along z: 1o
        with torch.no_grad():
            conv.theta[conv.irreps_theta.slices()[3]] = torch.tensor([0.0, 0.0, 0.5])
    calc = SymBreakCalculator(relaxed_potential, dtype="float64")
    e0 = calc.get_potential_energy(atoms)
    about_z = calc.get_potential_energy(
        transformed(atoms, _rotation_about(np.array([0.0, 0.0, 1.0]), 1.1))
    )
    about_x = calc.get_potential_energy(
        transformed(atoms, _rotation_about(np.array([1.0, 0.0, 0.0]), 1.1))
    )
    assert abs(about_z - e0) < 1e-10
    assert abs(about_x - e0) > 1e-6
