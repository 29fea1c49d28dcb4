"""Phonopy's band structure along a standard path, as arrays and as pymatgen objects.

:func:`band_structure_data` runs phonopy along :func:`~.bandpath.standard_band_path` plus a
Gamma-q segment for every labelled q the path misses; :func:`to_pymatgen_band_structure`
hands the result to pymatgen as a ``PhononBandStructureSymmLine``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .bandpath import BandPath, SpecialPoint, _float3, standard_band_path
from .records import ModeSet, PhononModes

__all__ = [
    "BandStructureData",
    "band_structure_data",
    "modes_at",
    "point_label",
    "to_pymatgen_band_structure",
]


@dataclass(frozen=True)
class BandStructureData:
    """Phonopy's band structure along a path, with the positions of the special points.

    Attributes
    ----------
    band_path : BandPath
        Including the extra segments to labelled q off the standard path.
    distances : list of (npoints,) arrays, one per segment (1/Angstrom, phonopy's).
    frequencies : list of (npoints, n_branches) arrays, THz (imaginary negative).
    qpoints : list of (npoints, 3) arrays, phonopy's primitive basis.
    ticks : list[float]
        Distance of each special point along the plot.
    tick_points : list[list[SpecialPoint]]
        The point(s) at each tick (two at a jump, drawn ``X|R``).
    """

    band_path: BandPath
    distances: list[NDArray]
    frequencies: list[NDArray]
    qpoints: list[NDArray]
    ticks: list[float]
    tick_points: list[list[SpecialPoint]]

    @property
    def tick_labels(self) -> list[str]:
        """``Γ``, ``X``, ``X|R`` (a jump) at each tick; seekpath's ``SIGMA_0`` as ``Σ₀``."""
        return ["|".join(point_label(p.label) for p in pts) for pts in self.tick_points]

    @property
    def min_frequency_thz(self) -> float:
        return float(min(f.min() for f in self.frequencies))


_GREEK = {"GM": "Γ", "GAMMA": "Γ", "SIGMA": "Σ", "DELTA": "Δ", "LAMBDA": "Λ"}
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def point_label(label: str) -> str:
    """A q-point name as printed on a band plot: ``GM`` -> ``Γ``, ``SIGMA_0`` -> ``Σ₀``,
    ``X_1`` -> ``X₁``.

    >>> [point_label(x) for x in ("GM", "SIGMA_0", "X_1", "R")]
    ['Γ', 'Σ₀', 'X₁', 'R']
    """
    name, _, index = label.partition("_")
    name = _GREEK.get(name, name)
    return name + index.translate(_SUBSCRIPTS) if index.isdigit() else _GREEK.get(label, label)


def band_structure_data(
    phonon,
    modes: PhononModes | None = None,
    npoints: int = 51,
    band_path: BandPath | None = None,
) -> BandStructureData:
    """Run phonopy's band structure along the standard path (and to labelled q off it)."""
    if band_path is None:
        band_path = standard_band_path(
            phonon,
            unitcell=None if modes is None else modes.unitcell,
            supercell_matrix=None if modes is None else modes.supercell_matrix,
        )
    if modes is not None:
        band_path = _with_missing_points(band_path, modes, phonon)
    bands, labels, connections = band_path.phonopy_bands(npoints)
    bs = phonon.run_band_structure(bands, path_connections=connections, labels=labels)
    distances = [np.asarray(d, float) for d in bs.distances]
    frequencies = [np.asarray(f, float) for f in bs.frequencies]
    qpoints = [np.asarray(q, float) for q in bs.qpoints]
    ticks: list[float] = []
    tick_points: list[list[SpecialPoint]] = []
    previous_end = None
    for (a, b), dist in zip(band_path.segments, distances):
        pa, pb = band_path.point(a), band_path.point(b)
        if previous_end is not None and previous_end.name != a:  # a jump: "X|R"
            tick_points[-1].append(pa)
        elif previous_end is None:
            ticks.append(float(dist[0]))
            tick_points.append([pa])
        ticks.append(float(dist[-1]))
        tick_points.append([pb])
        previous_end = pb
    return BandStructureData(band_path, distances, frequencies, qpoints, ticks, tick_points)


def _same_q(q1, q2) -> bool:
    d = np.asarray(q1, float) - np.asarray(q2, float)
    return bool(np.all(np.abs(d - np.round(d)) < 1e-6))


def modes_at(point: SpecialPoint, modes: PhononModes) -> list[ModeSet]:
    """Mode sets at ``point``: by the tables' name, or by q for unnamed points."""
    if point.table_name is not None:
        found = modes.at(point.table_name)
        if found:
            return found
    return [m for m in modes.modes if _same_q(m.q, point.q)]


def _with_missing_points(band_path: BandPath, modes: PhononModes, phonon) -> BandPath:
    """The path plus a Gamma-q segment for each labelled q none of its points carries."""
    import dataclasses

    covered = set()
    for p in band_path.points:
        for m in modes_at(p, modes):
            covered.add(m.q_label)
    gamma = next((p for p in band_path.points if p.name == "GM"), None)
    if gamma is None:
        return band_path
    pmat = phonon.primitive_matrix
    pmat = np.eye(3) if pmat is None else np.asarray(pmat, float)
    points, segments = list(band_path.points), list(band_path.segments)
    for m in modes.modes:
        if m.q_label in covered:
            continue
        covered.add(m.q_label)
        q = np.asarray(m.q, float)
        name = m.q_label
        while any(p.name == name for p in points):
            name += "*"
        points.append(
            SpecialPoint(
                name=name,
                table_name=None if m.q_label.startswith("(") else m.q_label,
                q=_float3(q),
                q_primitive=_float3(pmat.T @ q),
                commensurate=True,
            )
        )
        segments.append((gamma.name, name))
    note = band_path.note
    if len(points) > len(band_path.points):
        extra = ", ".join(p.label for p in points[len(band_path.points) :])
        note = (note + "; " if note else "") + f"added Gamma-q segments to labelled q: {extra}"
    return dataclasses.replace(band_path, points=tuple(points), segments=tuple(segments), note=note)


def to_pymatgen_band_structure(data: BandStructureData, phonon):
    """The band structure as pymatgen's ``PhononBandStructureSymmLine`` (THz).

    q-points in the reciprocal basis of phonopy's primitive cell (pymatgen's reciprocal
    lattice, with the 2 pi); special points named as on our plots (the tables' names where
    the path's differ, the path's name when two points share one).
    """
    from pymatgen.io.phonopy import get_pmg_structure
    from pymatgen.phonon.bandstructure import PhononBandStructureSymmLine

    structure = get_pmg_structure(phonon.primitive)
    labels: dict[str, NDArray] = {}
    for p in data.band_path.points:
        key = p.label if p.label not in labels else p.name
        labels[key] = np.asarray(p.q_primitive, float)
    qpoints = np.concatenate(data.qpoints)
    frequencies = np.concatenate(data.frequencies).T
    return PhononBandStructureSymmLine(
        qpoints,
        frequencies,
        structure.lattice.reciprocal_lattice,
        labels_dict={("Γ" if k == "GM" else k): v for k, v in labels.items()},
        structure=structure,
    )
