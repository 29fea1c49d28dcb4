"""Small symmetric crystals of (almost) every space group, built by pyxtal with fixed seeds.

Each crystal is the primitive cell of a random pyxtal structure of two species (Si, O)
on Wyckoff positions with free parameters, accepted only when spglib finds exactly the
requested space group at symprec 1e-5 (pyxtal's special positions often have more
symmetry). ``crystal(number)`` is deterministic for a given pyxtal version.

pyxtal is a dev dependency (``pip install ase-symbreak[dev]``, pinned): it is imported only
when a crystal is built, so this module imports without it.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import spglib
from ase import Atoms

from ase_symbreak.symmetry.spacegroup import spglib_dataset

#: The 32 crystallographic point groups (spglib symbols), with one space group each.
POINT_GROUP_REPRESENTATIVES = {
    "1": 1,
    "-1": 2,
    "2": 3,
    "m": 6,
    "2/m": 10,
    "222": 16,
    "mm2": 25,
    "mmm": 47,
    "4": 75,
    "-4": 81,
    "4/m": 83,
    "422": 89,
    "4mm": 99,
    "-42m": 111,
    "4/mmm": 123,
    "3": 143,
    "-3": 147,
    "32": 149,
    "3m": 156,
    "-3m": 162,
    "6": 168,
    "-6": 174,
    "6/m": 175,
    "622": 177,
    "6mm": 183,
    "-6m2": 187,
    "6/mmm": 191,
    "23": 195,
    "m-3": 200,
    "432": 207,
    "-43m": 215,
    "m-3m": 221,
}


def _candidates(
    number: int, max_atoms: int, single: bool
) -> list[tuple[float, list[str], list[int]]]:
    from pyxtal.symmetry import Group

    group = Group(number)
    mults = sorted({w.multiplicity for w in group.Wyckoff_positions})
    n_centring = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "F": 4, "R": 3}[group.symbol[0]]
    trials = [(m / n_centring, ["Si"], [m]) for m in mults if m / n_centring <= max_atoms]
    if single:
        trials = [t for t in trials if t[0] > max_atoms / 2]
    else:
        trials += [
            ((m1 + m2) / n_centring, ["Si", "O"], [m1, m2])
            for m1 in mults
            for m2 in mults
            if (m1 + m2) / n_centring <= max_atoms
        ]
    trials.sort(key=lambda t: (t[0], len(t[1])))
    return [t for t in trials if t[0] >= 2][:40]


def _search(number: int, max_atoms: int, single: bool) -> Atoms | None:
    from pyxtal import pyxtal

    for _, species, counts in _candidates(number, max_atoms, single):
        for seed in range(4):
            xtal = pyxtal()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    xtal.from_random(3, number, species, counts, random_state=seed, factor=1.3)
                if not xtal.valid:
                    continue
                atoms = xtal.to_ase()
            except Exception:  # pyxtal gives up on some combinations
                continue
            cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
            try:
                ds = spglib_dataset(cell, 1e-5)
            except ValueError:
                continue
            if ds.number != number:
                continue
            standard = spglib.standardize_cell(
                cell, to_primitive=True, no_idealize=True, symprec=1e-5
            )
            assert standard is not None  # spglib found this cell's dataset just above
            lat, frac, nums = standard
            if len(nums) <= max_atoms:
                return Atoms(numbers=nums, cell=lat, scaled_positions=frac, pbc=True)
    return None


@functools.lru_cache(maxsize=None)
def _crystal(number: int, max_atoms: int) -> Atoms | None:
    return _search(number, max_atoms, False) or _search(number, 2 * max_atoms, True)


def crystal(number: int, max_atoms: int = 16) -> Atoms | None:
    """Primitive cell of a crystal of space group ``number`` (<= 2 max_atoms atoms), or None."""
    out = _crystal(number, max_atoms)
    return None if out is None else out.copy()


def perturbed(atoms: Atoms, strain: float, rattle: float, seed: int = 0) -> Atoms:
    """Copy with the cell strained by ``strain`` (relative, random) and positions rattled (A)."""
    rng = np.random.default_rng(seed)
    out = atoms.copy()
    eps = strain * rng.uniform(-1, 1, size=(3, 3))
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    out.positions += rattle * rng.uniform(-1, 1, size=out.positions.shape)
    return out
