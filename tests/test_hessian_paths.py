"""Fast Hessian paths: optimised SevenNet graph, Hessian-vector products, symmetry-reduced
force constants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.hessian.autodiff import (
    energy_forces_stress,
    hessian_rows,
    hessian_vector_products,
)
from ase_symbreak.hessian.forceconstants import (
    force_constants_to_hessian,
    hessian_to_force_constants,
    orbit_directions,
    phonopy_displacements,
    symmetry_map,
)
from ase_symbreak.models import E3nnPotential, PotentialConfig
from ase_symbreak.structures import cubic_perovskite

METHODS = ("rows", "directions", "orbits")


@pytest.fixture(scope="module")
def small_model() -> E3nnPotential:
    """Small float64 E(3)-equivariant model (parity included): exact symmetry of the Hessian."""
    torch.manual_seed(0)
    config = PotentialConfig(
        species=(8, 22, 38), cutoff=4.0, num_radial=6, hidden_mul=4, num_layers=2, radial_hidden=8
    )
    return E3nnPotential(config, dtype=torch.float64)


@pytest.fixture(scope="module")
def sevennet64():
    pytest.importorskip("sevenn")
    from ase_symbreak.models.sevennet import SevenNetModel

    return SevenNetModel(dtype=torch.float64), SevenNetModel(dtype=torch.float64, optimize=False)


def rattled(atoms: Atoms, seed: int = 3, amplitude: float = 0.05) -> Atoms:
    atoms = atoms.copy()
    atoms.rattle(amplitude, seed=seed)
    return atoms


def test_optimised_sevennet_graph_is_exact(sevennet64) -> None:
    """The rewritten tensor products (split/cat with cheap backward) change no value."""
    fast, plain = sevennet64
    atoms = rattled(cubic_perovskite())
    a, b = (
        energy_forces_stress(fast, atoms, torch.float64),
        energy_forces_stress(plain, atoms, torch.float64),
    )
    assert abs(a.energy - b.energy) < 1e-10
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-10)
    u = np.random.default_rng(0).standard_normal((1, len(atoms), 3))
    hvp_plain = hessian_vector_products(plain, atoms, u, torch.float64)
    np.testing.assert_allclose(
        hessian_vector_products(fast, atoms, u, torch.float64), hvp_plain, atol=1e-10
    )
    # forward-mode AD through the fused cat (reverse-over-forward HVPs)
    hvp_fwd = hessian_vector_products(fast, atoms, u, torch.float64, method="reverse_over_forward")
    np.testing.assert_allclose(hvp_fwd, hvp_plain, atol=1e-10)


@pytest.mark.parametrize("method", ["double_backward", "reverse_over_forward"])
def test_hvps_equal_hessian_times_vector(small_model, method: str) -> None:
    atoms = rattled(cubic_perovskite().repeat((2, 1, 1)))
    full = hessian_rows(small_model, atoms, None, torch.float64)
    np.testing.assert_allclose(full, full.T, atol=1e-10)
    u = np.random.default_rng(1).standard_normal((3, len(atoms), 3))
    hvp = hessian_vector_products(small_model, atoms, u, torch.float64, method=method)
    assert hvp.shape == u.shape
    np.testing.assert_allclose(hvp.reshape(3, -1), u.reshape(3, -1) @ full.T, atol=1e-10)
    flat = hessian_vector_products(
        small_model, atoms, u.reshape(3, -1), torch.float64, method=method
    )
    assert flat.shape == (3, 3 * len(atoms))


def test_rows_equal_full_hessian_rows(small_model) -> None:
    atoms = rattled(cubic_perovskite())
    full = hessian_rows(small_model, atoms, None, torch.float64)
    np.testing.assert_allclose(
        hessian_rows(small_model, atoms, [3, 1], torch.float64),
        full[[9, 10, 11, 3, 4, 5]],
        atol=1e-12,
    )


@pytest.mark.parametrize("reps", [(2, 2, 2), (2, 1, 1)])
def test_reduced_force_constants_equal_full_hessian(
    small_model, reps: tuple[int, int, int]
) -> None:
    calc = SymBreakCalculator(model=small_model, dtype="float64")
    atoms = cubic_perovskite().repeat(reps)
    full = calc.get_force_constants(atoms, strategy="full")
    for method in METHODS:
        reduced = calc.get_force_constants(atoms, strategy=method)
        assert reduced.shape == full.shape == (len(atoms), len(atoms), 3, 3)
        np.testing.assert_allclose(reduced, full, atol=1e-8, err_msg=method)


def test_direction_counts() -> None:
    cubic = cubic_perovskite().repeat(2)
    assert len(phonopy_displacements(cubic).vectors) == 3
    assert len(orbit_directions(symmetry_map(cubic))) == 1
    p1 = rattled(cubic_perovskite(), amplitude=0.1)
    assert len(orbit_directions(symmetry_map(p1))) == 3 * len(p1) - 3


@pytest.mark.slow
def test_reduced_force_constants_sevennet(sevennet64) -> None:
    """SevenNet-0 is not parity-equivariant: its cubic Hessian breaks the m-3m symmetry by
    up to ~2e-3 eV/A^2, so the symmetry-completed force constants agree only to that level."""
    calc = SymBreakCalculator(model=sevennet64[0], dtype="float64")
    atoms = cubic_perovskite()
    full = calc.get_force_constants(atoms, strategy="full")
    assert np.abs(hessian_to_force_constants(force_constants_to_hessian(full)) - full).max() == 0
    for method in METHODS:
        reduced = calc.get_force_constants(atoms, strategy=method)
        np.testing.assert_allclose(reduced, full, atol=5e-3, err_msg=method)


def test_unknown_method_rejected(small_model) -> None:
    calc = SymBreakCalculator(model=small_model)
    with pytest.raises(ValueError, match="strategy must be one of"):
        calc.get_force_constants(cubic_perovskite(), strategy="bogus")
    with pytest.raises(ValueError):
        hessian_vector_products(small_model, cubic_perovskite(), np.zeros((1, 4, 3)))


def test_batched_products_equal_one_at_a_time(small_model) -> None:
    """``batch_size`` (is_grads_batched, the GPU path) changes no value; bad sizes refused."""
    atoms = rattled(cubic_perovskite().repeat((2, 1, 1)))
    u = np.random.default_rng(2).standard_normal((5, len(atoms), 3))
    one = hessian_vector_products(small_model, atoms, u, torch.float64)
    for batch in (2, 5, 8):
        np.testing.assert_allclose(
            hessian_vector_products(small_model, atoms, u, torch.float64, batch_size=batch),
            one,
            rtol=0,
            atol=1e-12,
        )
    full = hessian_rows(small_model, atoms, None, torch.float64)
    np.testing.assert_allclose(
        hessian_rows(small_model, atoms, [4, 1], torch.float64, batch_size=4),
        full[[12, 13, 14, 3, 4, 5]],
        rtol=0,
        atol=1e-12,
    )
    calc = SymBreakCalculator(small_model, hvp_batch_size=7)
    np.testing.assert_allclose(calc.get_hessian(atoms), full, rtol=0, atol=1e-12)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="batch_size"):
            hessian_vector_products(small_model, atoms, u, torch.float64, batch_size=bad)
        with pytest.raises(ValueError, match="hvp_batch_size"):
            SymBreakCalculator(small_model, hvp_batch_size=bad)


def test_float32_products_within_1e4_of_float64(sevennet_calc64) -> None:
    """``hessian_dtype="float32"``: float32 Hessian-vector products, force constants
    accumulated in float64, within 1e-4 eV/A^2 of the float64 ones (SevenNet-0, rattled P1
    cell: full Hessian; cubic cell: one orbit product), and really computed in float32."""
    exact = sevennet_calc64
    mixed = SymBreakCalculator(exact.model, dtype="float64", hessian_dtype="float32")
    assert exact.hessian_dtype == torch.float64
    assert next(mixed.hessian_model.parameters()).dtype == torch.float32
    p1 = rattled(cubic_perovskite())
    cubic = cubic_perovskite().repeat((2, 1, 1))
    for atoms, kwargs in ((p1, {"strategy": "full"}), (cubic, {"strategy": "orbits"})):
        fc32 = mixed.get_force_constants(atoms, **kwargs)
        fc64 = exact.get_force_constants(atoms, **kwargs)
        assert fc32.dtype == np.float64
        error = np.abs(fc32 - fc64).max()
        assert 1e-9 < error < 1e-4, (kwargs, error)


# ----------------------------------------------------------------------------- strategies
@pytest.fixture(scope="module")
def polar_srtio3() -> Atoms:
    """P4mm (99) SrTiO3 2x1x1, 10 atoms: Ti off-centre along z, rattled by 2 mA, then
    idealised back onto P4mm (exact symmetry, positions not on a grid)."""
    from ase_symbreak.symmetry.idealize import idealize

    atoms = cubic_perovskite(3.9).repeat((2, 1, 1))
    atoms.positions[atoms.numbers == 22] += [0.0, 0.0, 0.12]
    atoms.rattle(0.002, seed=5)
    ideal = idealize(atoms, symprec=0.02)
    assert ideal.number == 99 and ideal.exact_number == 1
    return ideal.atoms


@pytest.fixture(scope="module")
def toy_calc() -> SymBreakCalculator:
    from ase_symbreak.testing import small_e3nn_potential

    return SymBreakCalculator(small_e3nn_potential(), dtype="float64", progress=False)


def test_every_strategy_gives_the_full_force_constants(toy_calc, polar_srtio3) -> None:
    from ase_symbreak.calculator import FORCE_CONSTANT_STRATEGIES

    full = toy_calc.get_force_constants(polar_srtio3, strategy="full")
    n = len(polar_srtio3)
    assert full.shape == (n, n, 3, 3)
    products = {}
    for strategy in FORCE_CONSTANT_STRATEGIES:
        calls: list[int] = []
        fc = toy_calc.get_force_constants(
            polar_srtio3, strategy=strategy, progress=lambda done, total: calls.append(total)
        )
        products[strategy] = calls[-1]
        np.testing.assert_allclose(fc, full, rtol=0, atol=1e-10, err_msg=strategy)
    # the symmetry-reduced strategies need fewer products than the 3N rows
    assert products["full"] == products["coloured"] == 3 * n  # this cell: coloured falls back
    assert max(products["orbits"], products["directions"], products["rows"]) < 3 * n
    assert products["orbits"] <= products["directions"]


def test_default_strategy_is_orbits_as_the_search_uses(toy_calc, polar_srtio3) -> None:
    import inspect

    from ase_symbreak.calculator import FORCE_CONSTANT_STRATEGIES

    signature = inspect.signature(SymBreakCalculator.get_force_constants)
    assert signature.parameters["strategy"].default == "orbits" == FORCE_CONSTANT_STRATEGIES[0]
    np.testing.assert_array_equal(
        toy_calc.get_force_constants(polar_srtio3),
        toy_calc.get_force_constants(polar_srtio3, strategy="orbits"),
    )


#: strategy -> the calculator's method that computes it
_PATHS = {
    "full": "_full_force_constants",
    "rows": "_row_force_constants",
    "directions": "_direction_force_constants",
    "orbits": "_orbit_force_constants",
    "coloured": "_coloured_force_constants",
}


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {"symmetry_reduced": False}, "full"),
        ((), {"symmetry_reduced": True}, "rows"),
        ((), {"symmetry_reduced": True, "method": "directions"}, "directions"),
        ((), {"symmetry_reduced": True, "method": "orbits"}, "orbits"),
        ((), {"symmetry_reduced": False, "method": "orbits"}, "full"),  # method did nothing
        ((), {"method": "rows"}, "full"),  # symmetry_reduced defaulted to False
        ((True,), {}, "rows"),  # symmetry_reduced by position, the old signature
        ((True, None, "orbits"), {}, "orbits"),
        ((False,), {}, "full"),
    ],
)
def test_deprecated_arguments_warn_and_map(toy_calc, monkeypatch, args, kwargs, expected):
    for strategy, path in _PATHS.items():  # each path just names itself
        monkeypatch.setattr(toy_calc, path, lambda atoms, progress, s=strategy: s)
    with pytest.warns(FutureWarning, match=f"deprecated .*: pass strategy='{expected}'") as rec:
        assert toy_calc.get_force_constants(cubic_perovskite(), *args, **kwargs) == expected
    assert rec[0].filename == __file__  # the warning points at the caller


def test_deprecated_arguments_give_the_same_numbers(toy_calc, polar_srtio3) -> None:
    for old, strategy in (
        ({"symmetry_reduced": False}, "full"),
        ({"symmetry_reduced": True, "method": "orbits"}, "orbits"),
    ):
        with pytest.warns(FutureWarning):
            fc = toy_calc.get_force_constants(polar_srtio3, **old)
        np.testing.assert_array_equal(
            fc, toy_calc.get_force_constants(polar_srtio3, strategy=strategy)
        )


def test_bad_strategies_are_refused(toy_calc) -> None:
    atoms = cubic_perovskite()
    with pytest.raises(ValueError, match="strategy must be one of 'orbits', .* got 'exact'"):
        toy_calc.get_force_constants(atoms, strategy="exact")
    with pytest.raises(ValueError, match="method must be 'rows', 'directions' or 'orbits'"):
        toy_calc.get_force_constants(atoms, symmetry_reduced=True, method="bogus")
    with pytest.raises(ValueError, match="pass strategy='rows' alone"):
        toy_calc.get_force_constants(atoms, strategy="rows", symmetry_reduced=True)
