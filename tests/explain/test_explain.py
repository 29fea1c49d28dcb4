"""``explain``: from the child alone back to its parent, its modes, their roles and energies.

The children are made here: modes of a known parent condensed with known amplitudes
(``Ap``), then put in another setting (standard cell, rotated, origin shifted, atoms
permuted) with 1e-3 A of noise. The answers are checked against what was put in, and the
energies against the calculator's energies of structures built independently.
"""

from __future__ import annotations

import numpy as np
import pytest
import spglib
from ase import Atoms
from ase.calculators.lj import LennardJones
from scipy.spatial.transform import Rotation

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.explain import explain, irrep_fields
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import decompose, displacement_modes, isotropy_subgroups
from ase_symbreak.testing.toy_models import PlantedTiltModel


# ----------------------------------------------------------------------------- children
def _condensed(parent: Atoms, irreps: list[str], group: int, ap: dict[str, float], pick=None):
    """A child of ``parent`` in isotropy subgroup ``group`` of ``irreps`` with each irrep's
    ``Ap`` set to ``ap[irrep]`` (Angstrom); ``pick`` chooses among the directions.
    """
    subs = [
        s
        for s in isotropy_subgroups(parent, irreps, amplitude=0.2)
        if s.space_group_number == group
    ]
    if pick is not None:
        subs = [s for s in subs if pick(s)]
    realised = subs[0].structure
    d = decompose(parent, realised)
    fields = irrep_fields(d)
    ideal = d.mapping.ideal_child()
    n_cells = d.mapping.n_cells
    u = np.zeros_like(ideal.positions)
    for label, target in ap.items():
        f = fields[label]
        u += f / np.sqrt(np.sum(f**2) / n_cells) * target
    child = ideal.copy()
    child.positions = ideal.positions + u
    return child


def _other_setting(child: Atoms, noise: float, seed: int = 0) -> Atoms:
    """The child in spglib's standard cell, rotated, origin shifted, atoms permuted, noisy."""
    rng = np.random.default_rng(seed)
    cell = (child.cell[:], child.get_scaled_positions(), child.numbers)
    lattice, frac, numbers = spglib.standardize_cell(
        cell, to_primitive=False, no_idealize=True, symprec=1e-4
    )
    rot = Rotation.random(random_state=seed + 3).as_matrix()
    out = Atoms(
        numbers=numbers,
        cell=lattice @ rot.T,
        scaled_positions=(frac + rng.random(3)) % 1.0,
        pbc=True,
    )
    out = out[rng.permutation(len(out))]
    out.positions += rng.normal(scale=noise, size=out.positions.shape)
    return out


@pytest.fixture(scope="module")
def perovskite():
    return cubic_perovskite(3.9)


@pytest.fixture(scope="module")
def pnma(perovskite):
    """a-b+a- tilts (R4+ 0.30 A, M3+ 0.20 A) and the A-site X5+ (0.04 A) they drive."""
    return _condensed(
        perovskite,
        ["R4+", "M3+", "X5+"],
        62,
        {"R4+": 0.30, "M3+": 0.20, "X5+": 0.04},
        pick=lambda s: s.direction.startswith("(a,a,0|b,0,0|") and s.n_params == 3,
    )


# ----------------------------------------------------------------------------- parents
def test_pnma_parents_are_the_chain_to_the_aristotype(pnma):
    candidates = explain(pnma).candidates
    groups = [c.space_group_number for c in candidates]
    assert groups[0] == 221  # the aristotype first
    assert 74 in groups  # Imma: the intermediate (R4+ alone) on the way
    cubic = candidates[0]
    assert len(cubic.structure) == 5 and cubic.max_strain < 1e-9
    # the largest displacement from child to parent is the largest of the condensed field
    assert cubic.max_displacement == pytest.approx(
        np.linalg.norm(decompose(cubic_perovskite(3.9), pnma).mapping.displacements, axis=1).max(),
        abs=1e-6,
    )
    imma = next(c for c in candidates if c.space_group_number == 74)
    assert imma.max_displacement < cubic.max_displacement


@pytest.mark.parametrize("noisy", [False, True], ids=["exact", "other-setting-noise-1e-3"])
def test_pnma_from_the_child_alone(pnma, noisy):
    child = _other_setting(pnma, 1e-3, seed=4) if noisy else pnma
    e = explain(child)
    tol = 3e-3 if noisy else 1e-4
    assert e.parent.space_group_number == 221
    assert e.child_space_group_number == 62
    assert [m.irrep for m in e.modes] == ["R4+", "M3+", "X5+"]
    assert e["R4+"].amplitude == pytest.approx(0.30, abs=tol)
    assert e["M3+"].amplitude == pytest.approx(0.20, abs=tol)
    assert e["X5+"].amplitude == pytest.approx(0.04, abs=tol)
    assert e.primary == ("R4+", "M3+") and e.secondary == ("X5+",)
    assert e["R4+"].direction == "(a,a,0)" and e["M3+"].direction == "(a,0,0)"
    assert e["R4+"].isotropy.space_group_number == 74  # Imma
    assert e["M3+"].isotropy.space_group_number == 127  # P4/mbm
    assert [s.space_group_number for s in e.chain] == [221, 74, 62]
    assert abs(np.linalg.det(e.supercell_matrix)) == pytest.approx(4)  # primitive: 4 f.u.
    assert e.glazer.count("+") == 1 and e.glazer.count("-") == 2


NOISE = pytest.mark.parametrize("noisy", [False, True], ids=["exact", "other-setting-noise"])


def _variant(child: Atoms, noisy: bool) -> tuple[Atoms, float]:
    """The child as made, or in another setting with 1e-3 A noise; the amplitude tolerance."""
    return (_other_setting(child, 1e-3, seed=7), 3e-3) if noisy else (child, 1e-6)


@NOISE
def test_single_tilt_is_its_own_primary(perovskite, noisy):
    child, tol = _variant(_condensed(perovskite, ["R4+"], 167, {"R4+": 0.25}), noisy)  # R-3c
    e = explain(child)
    assert e.parent.space_group_number == 221 and e.child_space_group_number == 167
    assert [(m.irrep, m.direction, m.role) for m in e.modes] == [("R4+", "(a,a,a)", "primary")]
    assert e["R4+"].amplitude == pytest.approx(0.25, abs=tol)
    assert e.glazer == "a-a-a-"


@NOISE
def test_polar_child_with_strain(perovskite, noisy):
    child = _condensed(perovskite, ["GM4-"], 99, {"GM4-": 0.12})  # P4mm
    stretch = np.eye(3)
    stretch[_axis(child), _axis(child)] = 1.012  # c/a of a tetragonal polar child
    strained = child.copy()
    strained.set_cell(child.cell[:] @ stretch, scale_atoms=True)
    strained, tol = _variant(strained, noisy)
    e = explain(strained)
    assert e.parent.space_group_number == 221 and e.child_space_group_number == 99
    assert [(m.irrep, m.direction, m.role) for m in e.modes] == [("GM4-", "(a,0,0)", "primary")]
    assert e["GM4-"].amplitude == pytest.approx(0.12, abs=2e-3 + tol)  # the strain scales it
    labels = {s.irrep for s in e.strain_parts if s.amplitude > 1e-3}
    assert "GM3+" in labels  # the tetragonal strain a polar child drives
    assert e.parent.max_strain > 1e-3


def _axis(child: Atoms) -> int:
    """The Cartesian axis of the polar displacement of a P4mm child."""
    d = decompose(cubic_perovskite(3.9), child)
    return int(np.argmax(np.abs(d.mapping.displacements).sum(axis=0)))


@NOISE
def test_fluorite_x_mode(noisy):
    a = 5.1
    fluorite = Atoms(
        "ZrO2",
        scaled_positions=[(0, 0, 0), (0.25, 0.25, 0.25), (0.75, 0.75, 0.75)],
        cell=[(0, a / 2, a / 2), (a / 2, 0, a / 2), (a / 2, a / 2, 0)],
        pbc=True,
    )
    group = 137
    child, tol = _variant(_condensed(fluorite, ["X2-"], group, {"X2-": 0.15}), noisy)
    e = explain(child)  # P4_2/nmc: the tetragonal zirconia distortion
    assert e.parent.space_group_number == 225 and e.child_space_group_number == group == 137
    assert [(m.irrep, m.role) for m in e.modes] == [("X2-", "primary")]
    assert e["X2-"].amplitude == pytest.approx(0.15, abs=tol)
    assert [s.space_group_number for s in e.chain] == [225, 137]


@NOISE
def test_hexagonal_tripled_cell(noisy):
    """An AlB2-type parent (P6/mmm) and a K-point distortion that triples its cell."""
    parent = Atoms(
        "AlB2",
        scaled_positions=[(0, 0, 0), (1 / 3, 2 / 3, 0.5), (2 / 3, 1 / 3, 0.5)],
        cell=[(3.0, 0, 0), (-1.5, 1.5 * np.sqrt(3), 0), (0, 0, 3.3)],
        pbc=True,
    )
    labels = [m.label for m in displacement_modes(parent, (3, 3, 1)).irreps]
    k_label = next(lab for lab in labels if lab.startswith("K"))
    sub = next(
        s
        for s in isotropy_subgroups(parent, k_label, amplitude=0.15)
        if s.space_group_number != 191
    )
    child, tol = _variant(
        _condensed(parent, [k_label], sub.space_group_number, {k_label: 0.1}), noisy
    )
    e = explain(child)
    assert e.parent.space_group_number == 191
    assert len(e.parent.structure) == 3  # the AlB2 cell
    primitive = spglib.find_primitive((child.cell[:], child.get_scaled_positions(), child.numbers))
    assert len(primitive[2]) == 9  # the child's cell is tripled
    assert [(m.irrep, m.role) for m in e.modes] == [(k_label, "primary")]
    assert e[k_label].amplitude == pytest.approx(0.1, abs=tol)
    assert e.child_space_group_number == sub.space_group_number


def test_no_supergroup_is_an_error(perovskite):
    with pytest.raises(ValueError, match="no supergroup"):
        explain(perovskite)


def test_given_parent_and_group(pnma, perovskite):
    e = explain(pnma, parent=perovskite)
    assert e.primary == ("R4+", "M3+") and not e.candidates
    imma = explain(pnma, parent_group=74)
    assert imma.parent.space_group_number == 74
    assert [s.space_group_number for s in imma.chain] == [74, 62]
    with pytest.raises(ValueError, match="no supergroup of number 225"):
        explain(pnma, parent_group=225)


# ----------------------------------------------------------------------------- energies
def _lj():
    return LennardJones(sigma=1.8, epsilon=0.05, rc=5.0, smooth=True)


def _per_fu_mev(atoms: Atoms, reference: Atoms, n_fu: int) -> float:
    e = []
    for a in (atoms, reference):
        a = a.copy()
        a.calc = _lj()
        e.append(a.get_potential_energy())
    return (e[0] - e[1]) * 1000.0 / n_fu


def test_energies_are_the_calculators(pnma, perovskite):
    e = explain(pnma, calc=_lj(), points=3)
    en = e.energies
    n_fu = len(pnma) // 5
    assert en is not None and en.formula_units == 4  # the energies are in the primitive cell
    ideal = decompose(e.parent.structure, pnma).mapping.ideal_child()  # the 40-atom cell
    assert en.child == pytest.approx(_per_fu_mev(pnma, ideal, n_fu), abs=1e-6)
    assert en.all_modes == pytest.approx(en.child, abs=1e-6)  # no strain in this child
    # R4+ alone at the child's amplitude: the Imma structure of the same Ap built from the
    # isotropy tables, any domain (the energy is invariant under the parent's operations)
    imma = _condensed(perovskite, ["R4+"], 74, {"R4+": 0.30})
    ref = decompose(perovskite, imma).mapping.ideal_child()
    assert en["R4+"].gain == pytest.approx(_per_fu_mev(imma, ref, len(imma) // 5), abs=1e-6)
    assert en["R4+"].fractions.tolist() == [0.0, 0.5, 1.0] and en["R4+"].energies[0] == 0.0
    assert en.coupling == pytest.approx(en.primaries - en["R4+"].gain - en["M3+"].gain, abs=1e-12)


def test_parent_phonons_mark_the_childs_soft_modes():
    """The toy's cubic parent is unstable to R4+ and M3+ tilts: a tilted child marks them."""
    toy = PlantedTiltModel()
    calc = SymBreakCalculator(model=toy, dtype="float64")
    child = _condensed(toy.cubic(), ["R4+"], 140, {"R4+": 0.1})  # I4/mcm
    e = explain(child, calc=calc, points=3)
    marked = [p for p in e.parent_phonons if p.in_child]
    assert {p.irrep for p in marked} == {"R4+"}
    assert all(p.frequency_thz < -0.1 for p in marked)  # soft in the parent
    assert e.parent_phonons[0].frequency_thz == min(p.frequency_thz for p in e.parent_phonons)
    assert e.energies is not None and e.energies["R4+"].unstable_in_parent
    assert e.energies.child < 0  # the planted double well: tilting lowers the energy


def test_strained_child_finds_its_cubic_parent(pnma):
    """A refined Pnma carries strain (a != b != c/sqrt2): the parent is still found, in its
    own cubic lattice (the Pnma cell itself is not cubic), and the amplitudes hold.
    """
    strained = pnma.copy()
    strained.set_cell(pnma.cell[:] @ np.diag([1.004, 0.997, 1.0]), scale_atoms=True)
    e = explain(strained)
    assert e.parent.space_group_number == 221 and len(e.parent.structure) == 5
    assert 1e-3 < e.parent.max_strain < 0.01
    assert e.primary == ("R4+", "M3+") and e.secondary == ("X5+",)
    assert e["R4+"].amplitude == pytest.approx(0.30, abs=3e-3)


def _rutile(x: float) -> Atoms:
    from ase.spacegroup import crystal

    return crystal(
        ["Ti", "O"], [(0, 0, 0), (x, x, 0)], spacegroup=136, cellpar=[4.59, 4.59, 2.96, 90, 90, 90]
    )


def test_parent_is_the_childs_average():
    """The parent's free coordinates (rutile's O x) are the child's average, not where
    spglib's large-tolerance symmetrisation puts them: no totally symmetric part is left.
    """
    parent = _rutile(0.3053)
    label = next(
        m.label for m in displacement_modes(parent, (2, 2, 2)).irreps if m.label.startswith("R")
    )
    sub = next(s for s in isotropy_subgroups(parent, label, amplitude=0.1) if s.n_params == 1)
    child = _condensed(parent, [label], sub.space_group_number, {label: 0.12})
    e = explain(child)
    assert e.parent.space_group_number == 136
    assert [m.irrep for m in e.modes] == [label]
    assert e[label].amplitude == pytest.approx(0.12, abs=1e-6)
    found = e.parent.structure
    o = found.get_scaled_positions()[found.numbers == 8][0]
    assert min(abs(o[0] - 0.3053), abs(o[0] - (1 - 0.3053))) < 1e-6 or abs(o[0] - 0.5) > 0
    assert decompose(found, child).completeness_residual < 1e-8
    gm1 = [ir for ir in decompose(found, child).irreps if ir.irrep.startswith("GM1")]
    assert all(ir.amplitude < 1e-6 for ir in gm1)
