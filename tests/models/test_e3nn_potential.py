"""E3nnPotential: invariance, smoothness, double backward, dtypes and model files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3
from safetensors import safe_open
from safetensors.torch import save_file

from ase_symbreak.hessian.graph import edge_vectors, neighbor_list
from ase_symbreak.models import (
    E3nnPotential,
    ModelFileError,
    PotentialConfig,
    load_model,
    save_model,
)

SPECIES = (8, 22, 38)
SMALL = PotentialConfig(
    species=SPECIES, cutoff=3.5, num_radial=6, hidden_mul=4, radial_hidden=8, avg_num_neighbors=8.0
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def model() -> E3nnPotential:
    """Small float64 model with 4 layers, so that odd-parity features are used (read-only)."""
    torch.manual_seed(0)
    config = PotentialConfig(
        **{**SMALL.to_dict(), "num_layers": 4, "energy_shifts": [-1.0, -2.0, -3.0]}
    )
    return E3nnPotential(config, dtype=torch.float64)


def random_periodic_cell(rng: np.random.Generator, n: int = 8) -> Atoms:
    """Triclinic P1 cell, about 12 A^3 per atom, three species, minimum distance ~1.5 A."""
    cell = np.diag([4.2, 4.6, 5.0]) + rng.uniform(-0.4, 0.4, size=(3, 3))
    atoms = Atoms(numbers=rng.choice(SPECIES, n), cell=cell, pbc=True)
    positions: list[np.ndarray] = []
    while len(positions) < n:
        trial = rng.uniform(size=3) @ cell
        if all(_mic(trial - p, cell) > 1.5 for p in positions):
            positions.append(trial)
    atoms.positions = np.array(positions)
    return atoms


def _mic(d: np.ndarray, cell: np.ndarray) -> float:
    frac = np.linalg.solve(cell.T, d)
    return float(np.linalg.norm((frac - np.round(frac)) @ cell))


def random_cluster(rng: np.random.Generator, n: int = 6) -> Atoms:
    """Non-periodic cluster: jittered points of a 2 A grid."""
    grid = (
        np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], dtype=float)[:n]
        * 2.0
    )
    return Atoms(
        numbers=rng.choice(SPECIES, n), positions=grid + rng.uniform(-0.2, 0.2, size=(n, 3))
    )


@pytest.fixture(params=["periodic", "cluster"])
def atoms(request: pytest.FixtureRequest, rng: np.random.Generator) -> Atoms:
    return random_periodic_cell(rng) if request.param == "periodic" else random_cluster(rng)


def graph(atoms: Atoms, cutoff: float, dtype: torch.dtype = torch.float64):
    nl = neighbor_list(atoms, cutoff)
    positions = torch.tensor(atoms.positions, dtype=dtype)
    cell = torch.tensor(atoms.cell.array, dtype=dtype)
    vec = edge_vectors(positions, cell, nl)
    return (
        torch.tensor(atoms.numbers),
        torch.as_tensor(nl.edge_src),
        torch.as_tensor(nl.edge_dst),
        vec,
    )


# --- invariance ------------------------------------------------------------------


def test_energies_invariant_under_rotation_and_inversion(
    model: E3nnPotential, atoms: Atoms
) -> None:
    numbers, src, dst, vec = graph(atoms, model.cutoff)
    assert len(src) > 0
    energies = model(numbers, src, dst, vec)
    assert energies.shape == (len(atoms),) and energies.dtype == torch.float64
    for matrix in (
        o3.rand_matrix(dtype=torch.float64),
        -o3.rand_matrix(dtype=torch.float64),
        -torch.eye(3),
    ):
        rotated = model(numbers, src, dst, vec @ matrix.to(vec).T)
        torch.testing.assert_close(rotated, energies, atol=1e-12, rtol=1e-12)


def test_mirror_image_has_same_energy(model: E3nnPotential, rng: np.random.Generator) -> None:
    atoms = random_periodic_cell(rng)
    mirror = atoms.copy()
    mirror.positions[:, 0] *= -1
    mirror.cell[:, 0] *= -1
    e = model(*graph(atoms, model.cutoff)).sum()
    e_mirror = model(*graph(mirror, model.cutoff)).sum()
    torch.testing.assert_close(e_mirror, e, atol=1e-11, rtol=1e-12)


def test_energies_follow_atom_permutation(
    model: E3nnPotential, atoms: Atoms, rng: np.random.Generator
) -> None:
    perm = rng.permutation(len(atoms))
    energies = model(*graph(atoms, model.cutoff))
    permuted = model(*graph(atoms[perm], model.cutoff))
    torch.testing.assert_close(permuted, energies[perm], atol=1e-12, rtol=1e-12)


def test_translation_and_lattice_images(model: E3nnPotential, rng: np.random.Generator) -> None:
    atoms = random_periodic_cell(rng)
    moved = atoms.copy()
    moved.translate([0.3, -1.1, 0.7])
    moved.wrap()
    torch.testing.assert_close(
        model(*graph(moved, model.cutoff)), model(*graph(atoms, model.cutoff))
    )


# --- smoothness and derivatives --------------------------------------------------


def _dimer_energy_derivatives(model: E3nnPotential, r: float) -> tuple[float, float, float]:
    """E(r) - E(inf), dE/dr, d2E/dr2 of an O-Ti dimer (eV, eV/A, eV/A^2)."""
    rr = torch.tensor(r, dtype=torch.float64, requires_grad=True)
    direction = torch.tensor([0.36, 0.48, 0.8], dtype=torch.float64)
    vec = torch.stack([rr * direction, -rr * direction])
    numbers = torch.tensor([8, 22])
    energy = model(numbers, torch.tensor([0, 1]), torch.tensor([1, 0]), vec).sum()
    isolated = model(
        numbers, torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), vec[:0]
    ).sum()
    (d1,) = torch.autograd.grad(energy, rr, create_graph=True)
    (d2,) = torch.autograd.grad(d1, rr)
    return float((energy - isolated).detach()), float(d1.detach()), float(d2)


def test_energy_and_two_derivatives_vanish_at_cutoff(model: E3nnPotential) -> None:
    rc = model.cutoff
    e_mid, d1_mid, d2_mid = _dimer_energy_derivatives(model, 0.6 * rc)
    assert min(abs(e_mid), abs(d1_mid), abs(d2_mid)) > 1e-4  # the dimer interacts
    e, g, h = _dimer_energy_derivatives(model, rc - 1e-3)
    assert abs(e) < 1e-8 and abs(g) < 1e-5 and abs(h) < 1e-2
    # sin(n pi r / rc) ~ delta times envelope ~ delta^3: E ~ delta^4, E' ~ delta^3, E'' ~ delta^2
    # (delta = rc - r), so the ratios between delta = 0.05 and 0.005 are 1e4, 1e3, 1e2
    e1, g1, h1 = _dimer_energy_derivatives(model, rc - 5e-2)
    e2, g2, h2 = _dimer_energy_derivatives(model, rc - 5e-3)
    assert 7e3 < e1 / e2 < 14e3 and 7e2 < g1 / g2 < 14e2 and 70 < h1 / h2 < 140
    assert _dimer_energy_derivatives(model, rc + 1e-3) == (0.0, 0.0, 0.0)


def test_second_derivative_wrt_edge_vectors_is_finite_and_symmetric(
    model: E3nnPotential, rng: np.random.Generator
) -> None:
    numbers, src, dst, vec = graph(random_cluster(rng, n=3), model.cutoff)
    vec = vec.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(numbers, src, dst, vec).sum(), vec, create_graph=True)
    flat = grad.reshape(-1)
    hessian = torch.stack(
        [
            torch.autograd.grad(flat[i], vec, retain_graph=True)[0].reshape(-1)
            for i in range(len(flat))
        ]
    )
    assert torch.isfinite(hessian).all() and hessian.abs().max() > 1e-6
    torch.testing.assert_close(hessian, hessian.T, atol=1e-10, rtol=1e-10)
    # and it is the derivative of the gradient (central differences along a random direction)
    direction = torch.as_tensor(rng.normal(size=vec.shape), dtype=torch.float64)
    h = 1e-5

    def gradient(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().requires_grad_(True)
        return torch.autograd.grad(model(numbers, src, dst, v).sum(), v)[0].reshape(-1)

    finite_difference = (gradient(vec + h * direction) - gradient(vec - h * direction)) / (2 * h)
    torch.testing.assert_close(
        hessian @ direction.reshape(-1), finite_difference, atol=1e-7, rtol=1e-6
    )


def test_position_hessian_is_symmetric_and_obeys_acoustic_sum_rule(
    model: E3nnPotential, rng: np.random.Generator
) -> None:
    atoms = random_periodic_cell(rng, n=3)
    nl = neighbor_list(atoms, model.cutoff)
    positions = torch.tensor(atoms.positions, requires_grad=True)
    cell = torch.tensor(atoms.cell.array)
    numbers, src, dst = (
        torch.tensor(atoms.numbers),
        torch.as_tensor(nl.edge_src),
        torch.as_tensor(nl.edge_dst),
    )
    energy = model(numbers, src, dst, edge_vectors(positions, cell, nl)).sum()
    (forces,) = torch.autograd.grad(-energy, positions, create_graph=True)
    rows = [
        torch.autograd.grad(-f, positions, retain_graph=True)[0].reshape(-1)
        for f in forces.reshape(-1)
    ]
    hessian = torch.stack(rows)
    torch.testing.assert_close(hessian, hessian.T, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(
        hessian.reshape(9, 3, 3).sum(1), torch.zeros(9, 3, dtype=torch.float64), atol=1e-10, rtol=0
    )


# --- dtypes and configuration ---------------------------------------------------


def test_float32_and_float64_agree(model: E3nnPotential, rng: np.random.Generator) -> None:
    atoms = random_periodic_cell(rng)
    e64 = model(*graph(atoms, model.cutoff, torch.float64))
    model32 = E3nnPotential(model.config, dtype=torch.float32)
    model32.load_state_dict(model.state_dict())
    e32 = model32(*graph(atoms, model.cutoff, torch.float32))
    assert e32.dtype == torch.float32
    torch.testing.assert_close(e32.double(), e64, atol=1e-4, rtol=1e-5)
    with pytest.raises(TypeError, match="model.to"):
        model32(*graph(atoms, model.cutoff, torch.float64))


def test_default_config_and_unknown_species(rng: np.random.Generator) -> None:
    torch.manual_seed(1)
    config = PotentialConfig(species=SPECIES)
    assert (
        config.cutoff,
        config.num_radial,
        config.lmax,
        config.hidden_mul,
        config.num_layers,
    ) == (4.5, 8, 2, 16, 3)
    assert config.irreps_hidden == o3.Irreps("16x0e+16x0o+16x1e+16x1o+16x2e+16x2o")
    model = E3nnPotential(config)
    assert model.species == frozenset(SPECIES) and model.cutoff == 4.5
    assert model.unknown_species([8, 26]) == [26]
    atoms = random_periodic_cell(rng)
    assert torch.isfinite(model(*graph(atoms, model.cutoff, torch.get_default_dtype()))).all()
    atoms.numbers[0] = 26
    with pytest.raises(ValueError, match=r"\[26\]"):
        model(*graph(atoms, model.cutoff, torch.get_default_dtype()))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"species": ()}, "at least one"),
        ({"species": (8, 8)}, "unique"),
        ({"cutoff": -1.0}, "cutoff"),
        ({"energy_shifts": (1.0,)}, "one per species"),
        ({"envelope_p": 1}, "envelope_p"),
    ],
)
def test_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PotentialConfig(**{**SMALL.to_dict(), **changes})


def test_config_dict_round_trip() -> None:
    config = PotentialConfig(**{**SMALL.to_dict(), "energy_scales": [1.0, 2.0, 3.0]})
    assert PotentialConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown PotentialConfig fields"):
        PotentialConfig.from_dict({**config.to_dict(), "bogus": 1})


# --- model files -----------------------------------------------------------------


def test_save_load_round_trip(rng: np.random.Generator, tmp_path: Path) -> None:
    torch.manual_seed(3)
    config = PotentialConfig(**{**SMALL.to_dict(), "num_layers": 2})
    model = E3nnPotential(config, dtype=torch.float64)
    with torch.no_grad():
        model.energy_scales.copy_(torch.tensor([0.5, 1.5, 2.0]))
    path = save_model(model, tmp_path / "model.safetensors")
    assert path.stat().st_size < 200_000
    loaded = load_model(path)
    assert loaded.config == model.config
    inputs = graph(random_periodic_cell(rng), model.cutoff)
    assert torch.equal(loaded(*inputs), model(*inputs))
    loaded32 = load_model(path, dtype=torch.float32)
    assert loaded32.dtype == torch.float32
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "ase-symbreak/e3nn-potential" and meta["version"] == "1"


def _write_pickle_bomb(path: Path, marker: Path) -> None:
    class Bomb:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps({"weights": Bomb()}))


def test_bad_files_raise_model_file_error(
    model: E3nnPotential, tmp_path: Path, rng: np.random.Generator
) -> None:
    random_bytes = tmp_path / "random.safetensors"
    random_bytes.write_bytes(rng.bytes(4096))
    torch_file = tmp_path / "model.pt"
    torch.save(model.state_dict(), torch_file)
    marker = tmp_path / "executed"
    bomb = tmp_path / "bomb.safetensors"
    _write_pickle_bomb(bomb, marker)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(foreign), metadata={"format": "pt"})

    ours = save_model(model, tmp_path / "ours.safetensors")
    with safe_open(str(ours), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    missing = tmp_path / "missing.safetensors"
    save_file(
        {k: v for k, v in tensors.items() if k != "readout.weight"}, str(missing), metadata=meta
    )
    future = tmp_path / "future.safetensors"
    save_file(tensors, str(future), metadata={**meta, "version": "99"})
    bad_config = tmp_path / "bad_config.safetensors"
    save_file(tensors, str(bad_config), metadata={**meta, "config": "{not json"})

    cases = {
        random_bytes: "not a safetensors file",
        torch_file: "not a safetensors file",
        bomb: "not a safetensors file",
        foreign: "not an ase-symbreak model",
        missing: r"missing tensors \['readout.weight'\]",
        future: "version '99'",
        bad_config: "invalid config",
    }
    for path, message in cases.items():
        with pytest.raises(ModelFileError, match=message):
            load_model(path)
    assert not marker.exists()
    assert issubclass(ModelFileError, ValueError)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.safetensors")
