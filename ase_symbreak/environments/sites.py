"""What a child does to the sites of its parent: coordination polyhedra before and after, and,
for perovskites, the Glazer tilt system checked against the condensed irreps.

The child's atoms are matched to the parent's (:func:`~ase_symbreak.symmetry.map_to_parent`);
each parent site orbit is described by its polyhedron in the parent (gap criterion) and by the
same number of nearest neighbours in the child, so that the score says how far the child
distorted the parent's polyhedron (continuous shape measure, 0 ideal, 100 maximal). In ionic
structures a cation's polyhedron is made of anions and an anion's of cations
(:func:`bonding_partners`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from .polyhedra import PolyhedronMatch, classify_site
from .tilts import bond_distortion, expected_irreps, octahedral_tilts

__all__ = [
    "SiteOrbitChange",
    "environment_changes",
    "environment_report",
    "perovskite_tilts",
    "structure_environments",
]

#: Irreps (B at the origin) whose amplitude counts as condensed in the tilt cross-check, A.
TILT_AMPLITUDE = 0.01


@dataclass(frozen=True)
class SiteOrbitChange:
    """One parent site orbit, before and after the distortion.

    Attributes
    ----------
    symbol : str
        Species of the orbit.
    parent_index : int
        A parent atom of the orbit (its representative).
    parent_polyhedron, parent_score :
        Best reference polyhedron of the parent site and its shape measure.
    coordination : int
        Neighbours counted (the parent's coordination number, in both structures).
    child_polyhedron : str | None
        Best reference for the child's sites of this orbit (the most distorted one).
    child_scores : tuple[float, ...]
        Shape measure against ``parent_polyhedron`` of each child orbit the parent orbit split
        into (0..100).
    child_bond_spread : float
        Largest Baur distortion index ``mean |l - <l>| / <l>`` of those child sites.
    parent_bond_spread : float
        The same of the parent site (non-zero for mixed polyhedra such as O's 2 Ti + 4 Sr).
    """

    symbol: str
    parent_index: int
    parent_polyhedron: str | None
    parent_score: float
    coordination: int
    child_polyhedron: str | None
    child_scores: tuple[float, ...]
    child_bond_spread: float
    parent_bond_spread: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": f"{self.symbol}{self.parent_index}",
            "symbol": self.symbol,
            "coordination": self.coordination,
            "parent_polyhedron": self.parent_polyhedron,
            "parent_score": _rounded(self.parent_score),
            "child_polyhedron": self.child_polyhedron,
            "child_scores": [_rounded(s) for s in self.child_scores],
            "child_bond_spread": _rounded(self.child_bond_spread, 5),
            "parent_bond_spread": _rounded(self.parent_bond_spread, 5),
        }


def _rounded(x: float, digits: int = 3) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def _orbits(atoms: Atoms, symprec: float) -> np.ndarray:
    """Orbit representative of every atom (every atom its own for molecules and slabs)."""
    if not atoms.pbc.all() or atoms.cell.rank < 3:
        return np.arange(len(atoms))
    from ase_symbreak.symmetry.spacegroup import spglib_dataset
    from ase_symbreak.validation import check_symprec

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    check_symprec(symprec)
    try:
        dataset = spglib_dataset(cell, symprec)
    except ValueError:  # pragma: no cover - spglib failed: every atom its own orbit
        return np.arange(len(atoms))
    return np.asarray(dataset.equivalent_atoms)


def _bond_spread(match: PolyhedronMatch) -> float:
    lengths = np.linalg.norm(match.vectors, axis=1)
    return float(np.mean(np.abs(lengths - lengths.mean())) / lengths.mean())


#: Species counted as anions: a cation's polyhedron is made of anions and an anion's of
#: cations (where the structure has both), as crystallographers count bonds.
ANIONS = frozenset({"N", "O", "F", "P", "S", "Cl", "As", "Se", "Br", "Te", "I"})


def bonding_partners(atoms: Atoms, index: int) -> list[str] | None:
    """The species that make up site ``index``'s polyhedron: the anions around a cation, the
    cations around an anion; None (every species) when the structure is not ionic.
    """
    symbols = set(atoms.get_chemical_symbols())
    anions, cations = symbols & ANIONS, symbols - ANIONS
    if not anions or not cations:
        return None
    return sorted(cations if atoms[index].symbol in ANIONS else anions)


#: The parent's sites classified so far (a search compares every child with one parent):
#: structure and site -> its polyhedron. Bounded; cleared when full.
_PARENT_SITES: dict[tuple, PolyhedronMatch] = {}
_PARENT_SITES_MAX = 256


def _parent_site(parent: Atoms, index: int) -> PolyhedronMatch:
    """:func:`_site` of a parent site, computed once per structure and site."""
    key = (
        parent.numbers.tobytes(),
        np.asarray(parent.positions, dtype=float).tobytes(),
        np.asarray(parent.cell[:], dtype=float).tobytes(),
        tuple(bool(p) for p in parent.pbc),
        int(index),
    )
    found = _PARENT_SITES.get(key)
    if found is None:
        if len(_PARENT_SITES) >= _PARENT_SITES_MAX:
            _PARENT_SITES.clear()
        found = _PARENT_SITES[key] = _site(parent, index, None)
    return found


def _site(atoms: Atoms, index: int, n: int | None) -> PolyhedronMatch:
    partners = bonding_partners(atoms, index)
    try:
        return classify_site(atoms, index, n_neighbours=n, neighbour_symbols=partners)
    except ValueError:  # n would split a shell of equidistant neighbours: the gap criterion
        return classify_site(atoms, index, neighbour_symbols=partners)


def environment_changes(
    parent: Atoms, child: Atoms, symprec: float = 1e-3, child_symprec: float | None = None
) -> tuple[SiteOrbitChange, ...]:
    """Every parent site orbit's polyhedron in ``parent`` and in ``child``.

    ``child`` may come in any setting (supercell, origin, atom order); it is matched to
    ``parent`` by :func:`~ase_symbreak.symmetry.map_to_parent` (``ValueError`` when it is not a
    distortion of ``parent``).
    """
    from ase_symbreak.symmetry import map_to_parent

    mapping = map_to_parent(parent, child)
    parent_orbits = _orbits(parent, symprec)
    child_orbits = _orbits(child, symprec if child_symprec is None else child_symprec)
    by_parent_orbit: dict[int, set[int]] = defaultdict(set)
    for i, p in enumerate(mapping.parent_index):
        by_parent_orbit[int(parent_orbits[p])].add(int(child_orbits[i]))
    changes = []
    for rep in sorted(set(parent_orbits.tolist())):
        before = _parent_site(parent, rep)
        afters = [_site(child, c, before.coordination) for c in sorted(by_parent_orbit[rep])]
        if before.best is None:
            scores = tuple(float("nan") for _ in afters)
        else:
            scores = tuple(float(a.scores.get(before.best, np.nan)) for a in afters)
        worst = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
        changes.append(
            SiteOrbitChange(
                symbol=parent[rep].symbol,
                parent_index=int(rep),
                parent_polyhedron=before.best,
                parent_score=float(before.score),
                coordination=int(before.coordination),
                child_polyhedron=afters[worst].best if afters else None,
                child_scores=scores,
                child_bond_spread=max((_bond_spread(a) for a in afters), default=0.0),
                parent_bond_spread=_bond_spread(before),
            )
        )
    return tuple(changes)


def perovskite_tilts(
    atoms: Atoms, condensed: dict[str, float] | None = None
) -> dict[str, Any] | None:
    """Glazer system, tilt angles and B-site distortion of a perovskite child; None when
    ``atoms`` has no corner-sharing BX6 network.

    ``tilt_angles_deg`` follow the letters of ``glazer`` (canonical order),
    ``tilt_angles_axes_deg`` and ``glazer_axes`` the pseudo-cubic axes x, y, z.
    ``condensed``: irrep label -> amplitude (A, B at the origin) of the child's mode
    decomposition; ``tilt_irreps_consistent`` says whether the out-of-phase / in-phase tilts
    match the R4+ / M3+ amplitudes above :data:`TILT_AMPLITUDE`.
    """
    try:
        tilt = octahedral_tilts(atoms)
        bonds = bond_distortion(atoms)
    except ValueError:
        return None
    out: dict[str, Any] = {
        "glazer": tilt.glazer,
        "glazer_axes": tilt.glazer_axes,
        "tilt_angles_deg": [round(float(tilt.magnitudes[i]), 2) for i in tilt.axis_order],
        "tilt_angles_axes_deg": [round(float(a), 2) for a in tilt.magnitudes],
        "b_off_centring_angstrom": round(float(np.max(bonds.off_centring_norm)), 4),
        "b_bond_distortion_index": round(float(np.max(bonds.distortion_index)), 5),
    }
    if tilt.notes:
        out["tilt_notes"] = list(tilt.notes)
    if condensed is not None and "?" not in tilt.glazer:
        found = {lab for lab in ("R4+", "M3+") if condensed.get(lab, 0.0) > TILT_AMPLITUDE}
        out["tilt_irreps"] = sorted(expected_irreps(tilt))
        out["tilt_irreps_consistent"] = set(expected_irreps(tilt)) == found
    return out


def environment_report(
    parent: Atoms,
    child: Atoms,
    condensed: dict[str, float] | None = None,
    symprec: float = 1e-3,
    child_symprec: float | None = None,
) -> dict[str, Any]:
    """What ``search.json`` records of a child's sites: ``{"sites": [...], "perovskite": ...}``
    (``"error"`` instead when the child cannot be matched to the parent).
    """
    try:
        sites = environment_changes(parent, child, symprec, child_symprec)
    except ValueError as err:
        return {"error": str(err).splitlines()[0]}
    return {
        "sites": [s.to_dict() for s in sites],
        "perovskite": perovskite_tilts(child, condensed),
    }


def structure_environments(
    atoms: Atoms, cutoff: float = 5.0, lmax: int = 4, symprec: float = 1e-3
) -> dict[str, Any]:
    """Every site orbit of ``atoms``: polyhedron and shape measure, bond lengths, and the
    normalised power spectrum and bispectrum (e3nn) of its neighbours within ``cutoff`` A up
    to ``lmax``; ``"perovskite"`` as :func:`perovskite_tilts` (None for other structures).
    """
    from .invariants import bispectrum, neighbour_projection, power_spectrum

    projection = neighbour_projection(atoms, cutoff=cutoff, lmax=lmax)
    power, bi = power_spectrum(projection), bispectrum(projection)
    power_values, bi_values = power.normalized(), bi.normalized()
    orbits = _orbits(atoms, symprec)
    sites = []
    for rep in sorted(set(orbits.tolist())):
        row = {
            "site": f"{atoms[rep].symbol}{rep}",
            "symbol": atoms[rep].symbol,
            "index": int(rep),
            "multiplicity": int((orbits == rep).sum()),
        }
        try:
            match = _site(atoms, rep, None)
        except ValueError as err:  # too few neighbours for any reference polyhedron
            sites.append({**row, "coordination": None, "polyhedron": None, "note": str(err)})
            continue
        lengths = np.linalg.norm(match.vectors, axis=1)
        sites.append(
            {
                **row,
                "coordination": int(match.coordination),
                "polyhedron": match.best,
                "score": _rounded(match.score),
                "mean_bond_angstrom": round(float(lengths.mean()), 4),
                "bond_spread": _rounded(_bond_spread(match), 5),
            }
        )
    for row in sites:
        row["power_spectrum"] = [float(v) for v in power_values[row["index"]]]
        row["bispectrum"] = [float(v) for v in bi_values[row["index"]]]
    return {
        "cutoff_angstrom": float(cutoff),
        "lmax": int(lmax),
        "power_spectrum_columns": [list(map(_plain, c)) for c in power.columns],
        "bispectrum_columns": [
            {"l": list(c[1]), "parity": par} for c, par in zip(bi.columns, bi.parities)
        ],
        "sites": sites,
        "perovskite": perovskite_tilts(atoms),
    }


def _plain(x):
    return (
        [_plain(v) for v in x]
        if isinstance(x, (tuple, list))
        else (x if isinstance(x, (str, int, float)) else str(x))
    )
