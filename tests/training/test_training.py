"""Training: data validation, losses (exact Hessian term), trainer, checkpoints, resume, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from ase_symbreak.hessian.files import store_hessian
from ase_symbreak.models import PotentialConfig, save_model
from ase_symbreak.training import (
    CheckpointError,
    DataError,
    LossWeights,
    TrainConfig,
    collate,
    compute_loss,
    fit_energy_shifts,
    hessian_from_phonopy,
    initial_model,
    load_checkpoint,
    load_structures,
    predict,
    split,
    train,
)
from ase_symbreak.training.evaluate import evaluate

TINY = PotentialConfig(
    species=(13, 29),
    cutoff=4.0,
    num_radial=6,
    lmax=1,
    hidden_mul=4,
    num_layers=1,
    radial_hidden=8,
    avg_num_neighbors=12.0,
)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def emt_hessian(atoms, h: float = 1e-3) -> np.ndarray:
    """(3N, 3N) Hessian of EMT by central differences of the forces."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    n = len(atoms)
    hess = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            pos = atoms.positions.copy()
            atoms.positions[i, a] = pos[i, a] + h
            fp = atoms.get_forces().ravel()
            atoms.positions[i, a] = pos[i, a] - h
            fm = atoms.get_forces().ravel()
            atoms.positions = pos
            hess[3 * i + a] = -(fp - fm) / (2 * h)
    return 0.5 * (hess + hess.T)


def emt_images(n: int, seed: int = 0, hessians: bool = False):
    """Rattled 4-atom fcc Cu and Al cells labelled by EMT (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        element, a = (("Cu", 3.61), ("Al", 4.05))[i % 2]
        atoms = bulk(element, "fcc", a=a * (1 + 0.02 * rng.standard_normal()), cubic=True)
        atoms.rattle(0.08, seed=int(rng.integers(2**31)))
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        if hessians:
            store_hessian(atoms, emt_hessian(atoms))
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        images.append(atoms)
    return images


@pytest.fixture(scope="module")
def emt_structures():
    return load_structures(emt_images(16, seed=1, hessians=True))


# ----------------------------------------------------------------------------- data
def test_bad_data_names_the_structure():
    images = emt_images(4)
    images[2].calc = SinglePointCalculator(images[2], energy=1.0)  # no forces
    with pytest.raises(DataError, match=r"structure 2 \(.*\) has no forces"):
        load_structures(images)
    images = emt_images(3)
    images[1].calc.results["energy"] = float("nan")
    with pytest.raises(DataError, match="structure 1 .* non-finite energy"):
        load_structures(images)
    images = emt_images(3)
    images[0].calc.results["forces"] = np.zeros((3, 3))
    with pytest.raises(
        DataError, match=r"structure 0 .* forces of shape \(3, 3\), expected \(4, 3\)"
    ):
        load_structures(images)
    images = emt_images(2)
    images[1].arrays["hessian"] = np.zeros((4, 10))
    with pytest.raises(DataError, match=r"structure 1 .* Hessian array of shape"):
        load_structures(images)


def test_extxyz_round_trip_keeps_hessian_and_split_is_seeded(tmp_path):
    import ase.io

    images = emt_images(5, hessians=False)
    hess = np.arange(144.0).reshape(12, 12)
    store_hessian(images[3], hess + hess.T)
    ase.io.write(tmp_path / "d.extxyz", images)
    structures = load_structures(tmp_path / "d.extxyz")
    assert structures[3].hessian is not None and np.allclose(structures[3].hessian, hess + hess.T)
    assert structures[0].hessian is None and structures[0].stress.shape == (3, 3)
    a, b = split(structures, 0.4, seed=3), split(structures, 0.4, seed=3)
    assert (
        [s.energy for s in a[1]] == [s.energy for s in b[1]] and len(a[1]) == 2 and len(a[0]) == 3
    )


def test_hessian_from_phonopy_force_constants(tmp_path):
    from phonopy.file_IO import write_FORCE_CONSTANTS

    rng = np.random.default_rng(0)
    fc = rng.standard_normal((3, 3, 3, 3))
    write_FORCE_CONSTANTS(fc, filename=str(tmp_path / "FORCE_CONSTANTS"))
    hess = hessian_from_phonopy(tmp_path / "FORCE_CONSTANTS", 3)
    assert np.allclose(hess[3 * 1 + 2, 3 * 2 + 0], fc[1, 2, 2, 0], atol=1e-6)
    with pytest.raises(DataError, match="expected full"):
        hessian_from_phonopy(tmp_path / "FORCE_CONSTANTS", 4)


def test_energy_shifts_by_least_squares(emt_structures):
    structures = [
        dataclasses.replace(s, energy=float(np.sum(np.where(s.numbers == 13, -3.0, -4.5))))
        for s in emt_structures
    ]
    assert np.allclose(fit_energy_shifts(structures, (13, 29)), (-3.0, -4.5))


def test_batched_prediction_equals_single(emt_structures):
    torch.manual_seed(0)
    model = initial_model(TINY, emt_structures, seed=0)
    batch = collate(emt_structures[:3], model.cutoff)
    joint = predict(model, batch, stress=True, create_graph=False)
    for b, s in enumerate(emt_structures[:3]):
        one = predict(model, collate([s], model.cutoff), stress=True, create_graph=False)
        lo = batch.offsets[b]
        assert torch.allclose(joint.energy[b], one.energy[0], atol=1e-10)
        assert torch.allclose(joint.forces[lo : lo + len(s)], one.forces, atol=1e-10)
        assert torch.allclose(joint.stress[b], one.stress[0], atol=1e-10)


# ----------------------------------------------------------------------------- Hessian loss
def test_hessian_loss_matches_finite_differences_and_reaches_weights(emt_structures):
    model = initial_model(TINY, emt_structures, seed=0)
    structures = emt_structures[:2]
    batch = collate(structures, model.cutoff)
    weights = LossWeights(energy=0.0, forces=0.0, hessian=1.0, hessian_samples=3)
    gen = torch.Generator().manual_seed(5)
    from ase_symbreak.training.loss import hessian_probes

    probes = hessian_probes(batch, 3, "hvp", gen)
    terms = compute_loss(model, batch, weights, probes=probes)

    # finite differences of the model's forces along each probe, per structure
    h = 1e-4
    expected = []
    for v in probes:
        shifted = []
        for sign in (1.0, -1.0):
            moved = dataclasses.replace(batch, positions=batch.positions + sign * h * v)
            shifted.append(predict(model, moved, create_graph=False).gradient.detach())
        hv = (shifted[0] - shifted[1]) / (2 * h)
        ref = torch.cat(
            [
                torch.as_tensor(s.hessian) @ v[lo : lo + len(s)].reshape(-1)
                for s, lo in zip(structures, batch.offsets)
            ]
        ).reshape(-1, 3)
        expected.append((hv - ref) ** 2)
    fd_loss = float(torch.cat(expected).mean())
    assert terms.hessian == pytest.approx(fd_loss, rel=1e-6)

    terms.total.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None for g in grads.values())
    assert sum(float(g.abs().sum()) for g in grads.values()) > 0
    assert any(float(g.abs().max()) > 0 for name, g in grads.items() if "radial" in name)


def test_hessian_rows_probe_compares_whole_rows(emt_structures):
    model = initial_model(TINY, emt_structures, seed=0)
    s = emt_structures[0]
    batch = collate([s], model.cutoff)
    from ase_symbreak.hessian.autodiff import hessian_rows

    exact = hessian_rows(model, s.to_atoms())
    probe = torch.zeros(1, len(s), 3, dtype=torch.float64)
    probe[0, 1, 2] = 1.0
    terms = compute_loss(model, batch, LossWeights(energy=0, forces=0, hessian=1.0), probes=probe)
    assert terms.hessian == pytest.approx(float(np.mean((exact[5] - s.hessian[5]) ** 2)), rel=1e-9)


# ----------------------------------------------------------------------------- training
def test_training_lowers_validation_loss_and_force_error(emt_structures):
    train_set, val_set = split(emt_structures, 0.25, seed=0)
    model = initial_model(TINY, train_set, seed=0)
    before = evaluate(model, val_set)
    result = train(
        model,
        train_set,
        val_set,
        TrainConfig(epochs=30, batch_size=4, lr=2e-2, log_every=0),
        LossWeights(energy=1.0, forces=10.0, stress=1.0),
        log=None,
    )
    after = evaluate(model, val_set)
    assert result.best_val_loss < 0.3 * result.history[0]["val_total"]
    assert after.forces_mae < 0.5 * before.forces_mae
    assert after.energy_mae < before.energy_mae


def _run(structures, tmp_path, epochs, resume=False, stop_after=None, hessian=0.5):
    train_set, val_set = structures[:6], structures[6:8]
    model = initial_model(TINY, train_set, seed=0)

    def stop(epoch, record):
        if stop_after is not None and epoch == stop_after:
            raise KeyboardInterrupt

    config = TrainConfig(
        epochs=epochs,
        batch_size=3,
        lr=1e-2,
        seed=7,
        log_every=0,
        scheduler="plateau",
        lr_patience=1,
    )
    weights = LossWeights(stress=1.0, hessian=hessian, hessian_samples=2)
    return model, train(
        model,
        train_set,
        val_set,
        config,
        weights,
        out_dir=tmp_path,
        resume=resume,
        callback=stop,
        log=None,
    )


def test_killed_run_resumes_identically(tmp_path, emt_structures):
    ref_model, ref = _run(emt_structures, tmp_path / "ref", epochs=5)
    with pytest.raises(KeyboardInterrupt):
        _run(emt_structures, tmp_path / "cut", epochs=5, stop_after=2)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.safetensors").state["epoch"] == 2
    model, resumed = _run(emt_structures, tmp_path / "cut", epochs=5, resume=True)
    assert resumed.epochs_run == 5 and resumed.history == ref.history
    for (name, a), b in zip(ref_model.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    last_ref = load_checkpoint(tmp_path / "ref" / "checkpoint.safetensors")
    last_cut = load_checkpoint(tmp_path / "cut" / "checkpoint.safetensors")
    for a, b in zip(last_ref.model.state_dict().values(), last_cut.model.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_round_trip_and_refusals(tmp_path, emt_structures):
    model, _ = _run(emt_structures, tmp_path, epochs=2, hessian=0.0)
    path = tmp_path / "checkpoint.safetensors"
    ckpt = load_checkpoint(path)
    assert ckpt.state["epoch"] == 2 and len(ckpt.state["history"]) == 2
    from ase_symbreak.models import load_model

    last = load_model(tmp_path / "model_last.safetensors")
    for a, b in zip(last.state_dict().values(), ckpt.model.state_dict().values()):
        assert torch.equal(a, b)
    assert ckpt.optimizer_state["state"] and all(
        "exp_avg" in s for s in ckpt.optimizer_state["state"].values()
    )
    assert not list(tmp_path.glob(".*.tmp*"))

    # resaving gives identical tensors
    opt = torch.optim.Adam(ckpt.model.parameters())
    opt.load_state_dict(ckpt.optimizer_state)
    from ase_symbreak.training import save_checkpoint

    gen = torch.Generator()
    gen.set_state(ckpt.generator_state)
    save_checkpoint(tmp_path / "again.safetensors", ckpt.model, opt, None, gen, ckpt.state)
    again = load_checkpoint(tmp_path / "again.safetensors")
    for k, s in ckpt.optimizer_state["state"].items():
        for key, t in s.items():
            assert torch.equal(t, again.optimizer_state["state"][k][key])
    assert torch.equal(again.generator_state, ckpt.generator_state)

    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    (tmp_path / "tampered.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "tampered.safetensors")
    # an edited state (metadata, not tensors) fails the checksum too
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    state = json.loads(metadata["state"])
    state["best_val_loss"] = -1.0
    metadata["state"] = json.dumps(state)
    save_file(tensors, str(tmp_path / "edited.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "edited.safetensors")
    save_model(model, tmp_path / "plain_model.safetensors")
    with pytest.raises(CheckpointError, match="not an ase-symbreak training checkpoint"):
        load_checkpoint(tmp_path / "plain_model.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors")
    other = initial_model(dataclasses.replace(TINY, hidden_mul=2), emt_structures[:6], seed=0)
    with pytest.raises(CheckpointError, match="different model config"):
        train(
            other,
            emt_structures[:6],
            emt_structures[6:8],
            TrainConfig(epochs=3, log_every=0),
            out_dir=tmp_path,
            resume=True,
            log=None,
        )


def test_cli_trains_a_model_the_calculator_loads(tmp_path):
    import ase.io
    from typer.testing import CliRunner

    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.cli import app

    ase.io.write(tmp_path / "data.extxyz", emt_images(8, seed=2))
    (tmp_path / "run.toml").write_text(
        'out_dir = "out"\n[data]\npath = "data.extxyz"\nval_fraction = 0.25\n'
        "[model]\ncutoff = 4.0\nnum_radial = 4\nlmax = 1\nhidden_mul = 2\nnum_layers = 1\n"
        "radial_hidden = 4\n"
        "[loss]\nforces = 10.0\n[train]\nepochs = 3\nlog_every = 1\n"
    )
    res = CliRunner().invoke(app, ["train", str(tmp_path / "run.toml")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "metrics.json").exists()
    atoms = emt_images(1, seed=9)[0]
    atoms.calc = SymBreakCalculator(str(tmp_path / "out" / "model_best.safetensors"))
    assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (4, 3)
    (tmp_path / "bad.toml").write_text('[data]\npath = "data.extxyz"\n[train]\nepochz = 3\n')
    res = CliRunner().invoke(app, ["train", str(tmp_path / "bad.toml")])
    assert res.exit_code == 1 and "epochz" in res.output
