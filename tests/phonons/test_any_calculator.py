"""Phonons from any ASE calculator (issue 33): exact Hessian where there is one, phonopy's
finite displacements otherwise, and the record says which.

- EMT (no Hessian) on fcc Al and Cu: stable, and the force constants and frequencies equal
  phonopy's own finite-displacement calculation with the same calculator;
- the tilt toy (cubic perovskite with planted R4+/M3+ tilts) and its tetragonal I4/mcm
  child: finite displacements of a plain calculator give the exact path's labelled
  frequencies within 0.05 THz, with the same labels;
- a calculator with only ``get_hessian`` (MACE's interface) is used as exact; one with
  forces only falls back, and the record, its summary and the saved file say so.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.hessian.any_calculator import (
    EXACT_HESSIAN,
    FINITE_DISPLACEMENTS,
    calculator_force_constants,
    exact_hessian_of,
)
from ase_symbreak.hessian.forceconstants import hessian_to_force_constants
from ase_symbreak.phonons import Phonons
from ase_symbreak.phonons.phonopy_interface import from_phonopy_atoms, to_phonopy_atoms
from ase_symbreak.testing.toy_models import PlantedTiltModel, rigid_tilt_i4mcm

FCC_SUPERCELL = ((0, 1, 1), (1, 0, 1), (1, 1, 0))


class ForcesOnly:
    """The wrapped calculator without its second derivatives: a plain ASE calculator."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name in ("get_hessian", "get_force_constants"):
            raise AttributeError(name)
        return getattr(self.inner, name)


class HessianOnly(ForcesOnly):
    """Exact Hessian through ``get_hessian(atoms)`` only, in MACE's (3N, N, 3) shape."""

    def __init__(self, inner, committee: int = 0):
        super().__init__(inner)
        self.committee = committee
        self.hessian_calls = 0

    def get_hessian(self, atoms=None):
        self.hessian_calls += 1
        n = len(atoms)
        h = self.inner.get_hessian(atoms).reshape(3 * n, n, 3)
        return [h, h] if self.committee else h


@pytest.fixture(scope="module")
def tilt_calc() -> SymBreakCalculator:
    return SymBreakCalculator(model=PlantedTiltModel(), dtype="float64")


def _phonopy_reference(unitcell, supercell, displacement=0.01):
    """phonopy's own finite-displacement calculation with EMT forces (primitive = unit cell)."""
    from phonopy import Phonopy

    phonon = Phonopy(
        to_phonopy_atoms(unitcell), supercell_matrix=np.diag(supercell), primitive_matrix=None
    )
    phonon.generate_displacements(distance=displacement)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = from_phonopy_atoms(cell)
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    return phonon


def _all_frequencies(phonon, supercell) -> np.ndarray:
    """Sorted frequencies (THz) at every q commensurate with a diagonal supercell."""
    grid = np.stack(np.meshgrid(*[np.arange(n) / n for n in supercell], indexing="ij"), -1)
    phonon.run_qpoints(grid.reshape(-1, 3))
    return np.sort(np.ravel(phonon.qpoints.frequencies))


def _labelled(modes) -> dict[tuple[str, str], list[float]]:
    """Frequencies (THz) of every labelled irrep, ``(q_label, irrep) -> sorted list``."""
    out: dict[tuple[str, str], list[float]] = {}
    for m in modes:
        out.setdefault((m.q_label, m.irrep), []).append(m.frequency_thz)
    return {key: sorted(values) for key, values in out.items()}


@pytest.mark.parametrize("element, a", [("Al", 4.05), ("Cu", 3.61)])
def test_emt_fcc_equals_phonopys_own_finite_displacements(element, a):
    unitcell = bulk(element, "fcc", a=a)
    supercell = (2, 2, 2)
    ph = Phonons(unitcell, EMT(), supercell).run()
    assert ph.force_constants_method == FINITE_DISPLACEMENTS
    modes = ph.modes
    assert modes.force_constants_method == FINITE_DISPLACEMENTS
    assert modes.summary()["force_constants"] == FINITE_DISPLACEMENTS
    assert not modes.unstable() and min(m.frequency_thz for m in modes) > -0.01
    reference = _phonopy_reference(unitcell, supercell)
    np.testing.assert_allclose(ph.force_constants, reference.force_constants, atol=1e-6)
    ours = np.sort(np.repeat([m.frequency_thz for m in modes], [m.degeneracy for m in modes]))
    np.testing.assert_allclose(ours, _all_frequencies(reference, supercell), atol=1e-4)
    assert ours.max() > 5  # real phonons, not zeros


@pytest.mark.parametrize(
    "name, supercell",
    [("cubic SrTiO3-like Pm-3m", FCC_SUPERCELL), ("tilted I4/mcm", (1, 1, 1))],
)
def test_finite_displacements_give_the_exact_labelled_frequencies(tilt_calc, name, supercell):
    toy = tilt_calc.model
    if name.startswith("cubic"):
        parent = toy.cubic()
    else:
        from ase_symbreak.symmetry import analyze

        parent = analyze(rigid_tilt_i4mcm(toy, 0.15), symprec=1e-3).primitive
    exact = Phonons(parent, tilt_calc, supercell).run()
    plain = Phonons(parent, ForcesOnly(tilt_calc), supercell).run()
    assert exact.force_constants_method == EXACT_HESSIAN
    assert plain.force_constants_method == FINITE_DISPLACEMENTS
    a, b = _labelled(exact.modes), _labelled(plain.modes)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=0.05, err_msg=str(key))
    if name.startswith("cubic"):  # the planted tilt is found on both paths
        assert {m.irrep for m in plain.modes.unstable()} == {"R4+"}


def test_get_hessian_is_used_as_the_exact_hessian(tilt_calc):
    atoms = tilt_calc.model.cubic().repeat(2)
    exact = hessian_to_force_constants(tilt_calc.get_hessian(atoms))
    for committee in (0, 2):  # MACE's (3N, N, 3), and a committee's list of them
        calc = HessianOnly(tilt_calc, committee)
        assert exact_hessian_of(calc) == "get_hessian"
        found = calculator_force_constants(atoms, calc)
        assert found.method == EXACT_HESSIAN and calc.hessian_calls == 1
        assert found.n_forces == 0 and found.displacement is None
        np.testing.assert_allclose(found.force_constants, exact, atol=1e-10)
    # the same through the phonons: labelled as exact
    ph = Phonons(tilt_calc.model.cubic(), HessianOnly(tilt_calc), FCC_SUPERCELL).run()
    assert ph.modes.force_constants_method == EXACT_HESSIAN


def test_without_a_hessian_falls_back_and_says_so(tilt_calc, tmp_path):
    plain = ForcesOnly(tilt_calc)
    assert exact_hessian_of(plain) is None and exact_hessian_of(tilt_calc) == "get_force_constants"
    atoms = tilt_calc.model.cubic().repeat(2)
    done = []
    found = calculator_force_constants(atoms, plain, displacement=0.005, progress=_record(done))
    assert found.method == FINITE_DISPLACEMENTS and found.displacement == 0.005
    assert 1 <= found.n_forces <= 10  # phonopy's symmetry-reduced set, not 3N = 120
    assert done[-1] == (found.n_forces + 1, found.n_forces + 1)  # and the undisplaced cell
    exact = calculator_force_constants(atoms, tilt_calc)
    np.testing.assert_allclose(found.force_constants, exact.force_constants, atol=2e-3)
    with pytest.raises(TypeError, match="has no exact Hessian"):
        calculator_force_constants(atoms, plain, method=EXACT_HESSIAN)
    # the record, the saved phonopy file and what is loaded back say which path was taken
    ph = Phonons(tilt_calc.model.cubic(), plain, FCC_SUPERCELL).run()
    path = ph.save(tmp_path / "phonopy_params.yaml")
    again = Phonons.load(path)
    assert again.force_constants_method == FINITE_DISPLACEMENTS
    assert again.modes.force_constants_method == FINITE_DISPLACEMENTS


def test_finite_displacements_can_be_asked_of_an_exact_calculator(tilt_calc):
    atoms = tilt_calc.model.cubic().repeat(2)
    found = calculator_force_constants(atoms, tilt_calc, method=FINITE_DISPLACEMENTS)
    assert found.method == FINITE_DISPLACEMENTS and found.n_forces > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "fd"}, "method must be one of"),
        ({"displacement": 0.0}, "displacement must be a positive length"),
        ({"displacement": float("nan")}, "displacement must be a positive length"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        calculator_force_constants(bulk("Cu", "fcc", a=3.61), EMT(), **kwargs)


def test_phonons_checks_its_method_where_it_enters():
    with pytest.raises(ValueError, match="force_constants_method must be one of"):
        Phonons(bulk("Cu", "fcc", a=3.61), EMT(), force_constants_method="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive length"):
        Phonons(bulk("Cu", "fcc", a=3.61), EMT(), displacement=-0.01)


def _record(done: list):
    return lambda i, n: done.append((i, n))


@pytest.mark.slow  # about 30 s on two CPU cores
def test_sevenns_own_calculator_gives_our_exact_labelled_phonons(sevennet_calc64):
    """sevenn's SevenNetCalculator (no Hessian) on cubic SrTiO3: finite displacements give
    the labels and, within 0.05 THz, the frequencies of our exact path with the same model.
    """
    sevenn_calculator = pytest.importorskip("sevenn.calculator")
    from ase_symbreak.structures import cubic_perovskite

    plain = sevenn_calculator.SevenNetCalculator("7net-0", device="cpu")
    atoms = cubic_perovskite(3.9)
    fd = Phonons(atoms, plain, (2, 2, 2)).run()
    exact = Phonons(atoms, sevennet_calc64, (2, 2, 2)).run()
    assert fd.force_constants_method == FINITE_DISPLACEMENTS
    assert exact.force_constants_method == EXACT_HESSIAN
    a, b = _labelled(exact.modes), _labelled(fd.modes)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=0.05, err_msg=str(key))
    assert {m.irrep for m in fd.modes.unstable()} == {"R4+", "M3+"}
