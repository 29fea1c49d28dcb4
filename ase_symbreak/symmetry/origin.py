"""The origin that irrep labels refer to: the one ISOTROPY, ISODISTORT and Bilbao use.

Labels of irreps at k != 0 depend on the origin (SrTiO3: the antiphase tilt is R4+ with Ti at
the origin, R5- with Sr). The tables (:mod:`.labels`) are written in the ITA standard
setting, origin choice 2 where the ITA gives two, so labels are defined only at an origin
of that setting: a point at which the parent's operations take the table's form. Such
points come in sets equivalent under the Euclidean normaliser (Pm-3m: the 1a and 1b sites;
Imma: 4a and 4b; P23: 1a and 1b), and the labels of the same irrep may differ between them
(the normaliser permutes the irreps). :func:`resolve_origin` picks one:

1. ``origin_index`` given: that atom, when it sits on a standard-setting origin; an atom
   that sits on none cannot be the tables' origin, and the labels then refer to the
   default origin below (coordinates are still measured from that atom).
2. ABX3 perovskites: the B site (tilts R4+ and M3+), when it sits on a standard origin.
3. An atom on a standard origin: of those atoms, the one whose site-symmetry group is
   largest; ties by the species with fewer atoms, the lower atomic number, the earlier
   Wyckoff letter, the lower index (the choice depends on the crystal, not on its cell).
4. No atom on any standard origin (P23 with 6h + 4e, P4_232 with 6f + 4c, I4_1/amd with
   4a + 16h, ...): the origin of the standard setting as spglib's standardisation places it
   (origin choice 2), i.e. for a file already in the standard setting its own origin,
   which is the origin ISODISTORT takes from that file.

The atom put at coordinate zero (``index``, the ``origin_index`` of the results) is the
atom on the chosen point in 1-3, otherwise the atom of largest site symmetry (same ties).
Passing that index back (as the search does from its phonons to its isotropy subgroups and
decompositions) gives the same labels again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
import spglib
from ase import Atoms
from numpy.typing import NDArray

from .labels import StandardSetting, standard_setting
from .lattice import centered, wrap
from .spacegroup import (
    SpaceGroupInfo,
    analyze,
    perovskite_b_site,
    site_symmetry_orders,
    spglib_dataset,
    to_atoms,
)

__all__ = [
    "LabelOrigin",
    "default_origin_index",
    "label_origin",
    "resolve_origin",
    "table_hall_number",
]

#: rule names of :class:`LabelOrigin`
GIVEN, PEROVSKITE, CELL, ATOM, STANDARD, NO_TABLE = (
    "given atom",
    "perovskite B site",
    "origin of the cell",
    "atom on a standard origin",
    "standard setting",
    "no table",
)


@dataclass(frozen=True)
class LabelOrigin:
    """The point the irrep labels refer to, and why.

    Attributes
    ----------
    point : NDArray[float]
        (3,) fractional coordinates, in the parent cell given (after idealisation), of the
        origin of the ITA standard setting the labels refer to.
    index : int
        Atom put at coordinate zero (the results' ``origin_index``).
    rule : str
        'given atom', 'perovskite B site', 'atom on a standard origin', 'standard setting'
        (no atom on a standard origin), or 'no table' (labels are not the tables').
    site : int or None
        The atom on ``point``, None when no atom sits there.
    note : str
        Why the given atom is not the origin ('' otherwise).
    p_standard : NDArray[float] or None
        (3,) where the origin-shifted parent's zero (atom ``index``) lies in the standard
        cell (``p`` of ``x_std = P x + p``); None without a table.
    transformation : NDArray[float] or None
        (3, 3) ``P`` that ``p_standard`` goes with (spglib's, parent cell).
    offset : NDArray[float]
        (3,) position of atom ``index`` in the cell ``point`` is given in.
    """

    point: NDArray
    index: int
    rule: str
    site: int | None
    note: str = ""
    p_standard: NDArray | None = field(repr=False, default=None)
    transformation: NDArray | None = field(repr=False, default=None)
    offset: NDArray = field(repr=False, default_factory=lambda: np.zeros(3))

    def shifted(self) -> LabelOrigin:
        """The same origin in the frame with atom ``index`` at zero (what the symmetry tools
        pass on when they call one another with the origin-shifted parent).
        """
        return replace(self, point=wrap(self.point - self.offset), offset=np.zeros(3))

    @property
    def on_atom(self) -> bool:
        """True when the origin is atom ``index`` itself."""
        return self.site == self.index

    def to_dict(self, atoms: Atoms) -> dict:
        """JSON-ready: point (fractional, parent cell given), rule, atoms, the line."""
        return {
            "point_fractional": [float(x) for x in np.round(wrap(self.point), 10)],
            "rule": self.rule,
            "site_atom": self.site,
            "coordinate_atom": int(self.index),
            "text": self.describe(atoms),
        }

    def describe(self, atoms: Atoms) -> str:
        """One line, e.g. 'origin (0, 0, 0) = atom 1 (Ti): perovskite B site, ...' (the point
        fractional in the parent cell given).
        """
        text = f"origin {point_text(self.point)}"
        if self.site is not None:
            text += f" = atom {self.site} ({atoms[self.site].symbol})"
        why = {
            GIVEN: "the atom asked for",
            PEROVSKITE: "perovskite B site, an origin of the ITA standard setting",
            CELL: "the cell's own origin, an origin of the ITA standard setting",
            ATOM: "the most symmetric atom on an origin of the ITA standard setting",
            STANDARD: (
                "origin of the ITA standard setting (choice 2) as spglib places it; "
                "no atom sits on one"
            ),
            NO_TABLE: "atom of largest site symmetry (no irrep table for this group)",
        }[self.rule]
        text += f": {why}"
        if not self.on_atom:
            text += f"; coordinates from atom {self.index} ({atoms[self.index].symbol})"
        return text + (f"; {self.note}" if self.note else "")


def point_text(x: NDArray) -> str:
    """Fractions where exact to 1e-6 (denominators <= 48), else 4 decimals."""
    parts = []
    for v in wrap(np.asarray(x, dtype=float)):
        f = Fraction(float(v)).limit_denominator(48)
        if abs(float(f) - v) < 1e-6:
            parts.append(str(f))
        else:
            parts.append(f"{v:.4f}")
    return "(" + ", ".join(parts) + ")"


@functools.lru_cache(maxsize=None)
def table_hall_number(number: int) -> int:
    """spglib's Hall number of the setting the tables use: spglib's default setting of the
    group, origin choice 2 where the ITA gives two (spglib's default there is choice 1).
    """
    first = None
    for hall in range(1, 531):
        t = spglib.get_spacegroup_type(hall)
        if t is None or int(t.number) != number:
            continue
        if first is None:
            first = hall
        if str(t.choice) == "2":
            return hall
    assert first is not None
    return first


def _tol(atoms: Atoms, symprec: float) -> float:
    return 1e-5 + 4.0 * symprec / float(min(atoms.cell.lengths()))


def _ranked(atoms: Atoms, info: SpaceGroupInfo, candidates: NDArray, symprec: float) -> int:
    """The atom of largest site symmetry among `candidates` (ties: rarer species, lower Z,
    earlier Wyckoff letter, lower index).
    """
    orders = site_symmetry_orders(
        atoms, info, tol=max(symprec, 1e-5) / min(atoms.cell.lengths()) * 10
    )
    syms = atoms.get_chemical_symbols()
    count = {s: syms.count(s) for s in set(syms)}
    z = atoms.numbers
    keys = [(-orders[i], count[syms[i]], int(z[i]), info.wyckoffs[i], int(i)) for i in candidates]
    return int(min(keys)[-1])


def _spglib_origin(atoms: Atoms, info: SpaceGroupInfo, setting: StandardSetting, symprec: float):
    """The standard origin (our cell) of spglib's standardisation in the tables' setting."""
    tol = _tol(atoms, symprec)
    try:
        ds = spglib_dataset(atoms, symprec, hall_number=table_hall_number(info.number))
        x0 = -np.linalg.solve(np.asarray(ds.transformation_matrix, float), ds.origin_shift)
    except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - spglib gave the group
        x0 = -np.linalg.solve(setting.P, info.origin_shift)
    if setting.is_origin(x0, tol)[0]:
        return wrap(x0)
    # spglib's choice-2 setting differs from the table's by more than the origin (not met):
    # the standard origin nearest to spglib's
    found = setting.search(info.origin_shift)
    if found is None:
        return None
    xs = -found @ np.linalg.inv(setting.P).T
    d = xs - x0
    d -= np.round(d)
    return wrap(xs[int(np.argmin(np.linalg.norm(d @ atoms.cell[:], axis=1)))])


def resolve_origin(
    atoms: Any,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    info: SpaceGroupInfo | None = None,
) -> LabelOrigin:
    """The origin the labels refer to (rules in the module docstring).

    Parameters
    ----------
    atoms : Atoms
        The parent, best idealised (positions within ``symprec`` of the group are accepted).
    origin_index : int, optional
        An atom asked for (``--origin``); negative indices allowed.
    info : SpaceGroupInfo, optional
        ``analyze(atoms, symprec)`` if already computed.
    """
    atoms = to_atoms(atoms)
    n = len(atoms)
    if origin_index is not None and not -n <= origin_index < n:
        raise ValueError(f"origin index {origin_index} out of range for {n} atoms")
    info = analyze(atoms, symprec=symprec) if info is None else info
    frac = atoms.get_scaled_positions(wrap=True)
    setting = standard_setting(
        info.rotations,
        info.translations,
        info.number,
        info.transformation_matrix,
        info.hall_number,
    )
    P = setting.P if setting is not None else None

    def _made(point, index, rule, site, note="", p=None) -> LabelOrigin:
        return LabelOrigin(
            wrap(np.asarray(point, dtype=float)),
            int(index),
            rule,
            site,
            note,
            p,
            P,
            frac[int(index)].copy(),
        )

    everyone = np.arange(n)
    if setting is None:
        index = _ranked(atoms, info, everyone, symprec) if origin_index is None else origin_index
        index = int(index) % n
        rule = NO_TABLE if origin_index is None else GIVEN
        return _made(frac[index], index, rule, index)
    on = setting.is_origin(frac, _tol(atoms, symprec))

    def at_atom(i: int, rule: str) -> LabelOrigin:
        return _made(frac[i], i, rule, i, "", np.zeros(3))

    def default() -> LabelOrigin:
        b = perovskite_b_site(atoms)
        if b is not None and on[b]:
            return at_atom(b, PEROVSKITE)
        off = everyone[~on]
        if setting.is_origin(np.zeros(3), _tol(atoms, symprec))[0]:
            at_zero = np.flatnonzero(np.linalg.norm(centered(frac) @ atoms.cell[:], axis=1) < 1e-3)
            if len(at_zero):
                return at_atom(int(at_zero[0]), CELL)
            if len(off):  # an atom off the standard origins carries the coordinates
                index = _ranked(atoms, info, off, symprec)
                return _made(np.zeros(3), index, CELL, None, "", setting.P @ frac[index])
        if len(off) < n:
            return at_atom(_ranked(atoms, info, everyone[on], symprec), ATOM)
        x0 = _spglib_origin(atoms, info, setting, symprec)
        index = _ranked(atoms, info, everyone, symprec)
        if x0 is None:  # pragma: no cover - a table always has some origin
            return _made(frac[index], index, NO_TABLE, index)
        return _made(x0, index, STANDARD, None, "", setting.P @ (frac[index] - x0))

    if origin_index is None:
        return default()
    i = int(origin_index) % n
    if on[i]:
        return at_atom(i, GIVEN)
    base = default()
    note = f"atom {i} sits on no origin of the standard setting"
    p = None if base.rule == NO_TABLE else setting.P @ (frac[i] - base.point)
    return _made(base.point, i, base.rule, base.site, note, p)


def label_origin(
    parent: Any, origin_index: int | None = None, symprec: float = 1e-3
) -> LabelOrigin:
    """The origin the labels of ``parent`` refer to, as the symmetry tools choose it (the
    parent idealised to its group at ``symprec`` first, without the warning).
    """
    from .idealize import idealize

    return resolve_origin(idealize(to_atoms(parent), symprec).atoms, origin_index, symprec)


def default_origin_index(atoms: Any, symprec: float = 1e-3) -> int:
    """Atom put at coordinate zero before labelling irreps (the results' ``origin_index``).

    The labels refer to an origin of the ITA standard setting chosen by
    :func:`ase_symbreak.symmetry.origin.resolve_origin`: the perovskite B site, else the
    most symmetric atom on a standard-setting origin, else (no atom on one) spglib's
    standard origin. This is the atom on that origin, or, when no atom sits on one, the
    atom whose site-symmetry group is largest (ties: the species with fewer atoms, the lower
    atomic number, the earlier Wyckoff letter, the lower index). Passing it back as
    ``origin_index`` gives the same labels.

    Returns
    -------
    int
        Atom index in `atoms`.
    """
    return resolve_origin(to_atoms(atoms), None, symprec).index
