"""A standard band path through the Brillouin zone, with our irrep-table names at its points.

:func:`standard_band_path` takes the path of seekpath (Hinuma, Pizzi, Kumagai, Oba, Tanaka,
Comp. Mat. Sci. 128, 140 (2017), "HPKOT"; ``seekpath.get_path_orig_cell``, so in the basis
of the cell phonopy uses, without standardising it) or, without seekpath, ASE's
(Setyawan-Curtarolo). Each special point also gets the name of the irrep tables (Bilbao /
ISOTROPY, ``GM``, ``X``, ``M``, ``R``, ...), which the labelled modes use (``X3+`` lives at
``X``): HPKOT and the tables agree on most names but not all, and both are kept.

Conventions: q in the reciprocal basis of the unit cell (as :attr:`ModeSet.q`), and
``q_primitive`` in that of phonopy's primitive cell (what ``Phonopy.run_band_structure``
takes); a point is ``commensurate`` with the supercell when ``supercell_matrix @ q`` is
integer, i.e. its modes are exact and labelled rather than interpolated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.codec import Record
from ase_symbreak.symmetry.lattice import supercell_matrix_3x3

from .records import format_q

if TYPE_CHECKING:
    from ase_symbreak.symmetry.irreps import ParentContext

__all__ = ["BandPath", "SpecialPoint", "standard_band_path"]

#: Tolerance on fractional coordinates for "q is on the supercell grid".
_COMMENSURATE_TOL = 1e-6


def _float3(v: ArrayLike) -> tuple[float, float, float]:
    """The three components of a q point as floats."""
    x, y, z = (float(c) for c in np.asarray(v))
    return x, y, z


@dataclass(frozen=True)
class SpecialPoint(Record):
    """One special point of a band path.

    Attributes
    ----------
    name : str
        The path's own name (HPKOT or Setyawan-Curtarolo), Gamma as ``'GM'``.
    table_name : str or None
        Name of the k-point in the irrep tables (what mode labels use), None when the point
        is not one of the tables' k-points (a point on a line, e.g. K of fcc).
    q : tuple[float, float, float]
        Reciprocal basis of the unit cell.
    q_primitive : tuple[float, float, float]
        Reciprocal basis of phonopy's primitive cell.
    commensurate : bool
        On the supercell's grid: its modes are labelled.
    """

    name: str
    table_name: str | None
    q: tuple[float, float, float]
    q_primitive: tuple[float, float, float]
    commensurate: bool

    @property
    def label(self) -> str:
        """Name shown on plots: the tables' name when there is one, else the path's."""
        return self.table_name or self.name

    def describe(self) -> str:
        other = "" if self.table_name in (None, self.name) else f" (path: {self.name})"
        return f"{self.label}{other} {format_q(self.q)}"


@dataclass(frozen=True)
class BandPath(Record):
    """Special points and the segments between them.

    Attributes
    ----------
    source : str
        ``'seekpath (HPKOT)'`` or ``'ase (Setyawan-Curtarolo)'``.
    points : tuple[SpecialPoint, ...]
    segments : tuple[tuple[str, str], ...]
        Pairs of point names (``SpecialPoint.name``), in path order; consecutive segments
        sharing an end are drawn connected.
    note : str
        What was assumed (e.g. the unit cell is a supercell of a smaller primitive cell).
    """

    source: str
    points: tuple[SpecialPoint, ...]
    segments: tuple[tuple[str, str], ...]
    note: str = ""

    def point(self, name: str) -> SpecialPoint:
        """The special point called ``name`` (the path's name or the tables')."""
        for p in self.points:
            if p.name == name:
                return p
        for p in self.points:
            if p.table_name == name:
                return p
        raise KeyError(f"no special point {name!r} on the path ({self.text()})")

    def text(self) -> str:
        """``GM-X-M-GM-R-X|M-R`` in plot names."""
        parts: list[str] = []
        previous = None
        for a, b in self.segments:
            la, lb = self.point(a).label, self.point(b).label
            if previous == a:
                parts[-1] += f"-{lb}"
            else:
                parts.append(f"{la}-{lb}")
            previous = b
        return "|".join(parts)

    def summary(self) -> dict:
        """JSON-ready: the source, the path text and every point with both names."""
        return {
            "source": self.source,
            "path": self.text(),
            "points": [
                {
                    "name": p.name,
                    "table_name": p.table_name,
                    "q": list(p.q),
                    "q_primitive": list(p.q_primitive),
                    "commensurate": p.commensurate,
                }
                for p in self.points
            ],
            "note": self.note,
        }

    def phonopy_bands(self, npoints: int = 51) -> tuple[list[NDArray], list[str], list[bool]]:
        """``(bands, labels, path_connections)`` for ``Phonopy.run_band_structure``.

        ``bands`` holds one (npoints, 3) array per segment (primitive basis); ``labels``
        follows phonopy's convention (one per segment start plus one per end of a
        disconnected run).
        """
        from phonopy.phonon.band_structure import get_band_qpoints

        runs: list[list[str]] = []
        for a, b in self.segments:
            if runs and runs[-1][-1] == a:
                runs[-1].append(b)
            else:
                runs.append([a, b])
        path: list[list[NDArray]] = []
        labels: list[str] = []
        connections: list[bool] = []
        for run in runs:
            path.append([np.asarray(self.point(n).q_primitive, float) for n in run])
            labels.extend(self.point(n).label for n in run)
            connections.extend([True] * (len(run) - 2) + [False])
        return get_band_qpoints(path, npoints=npoints), labels, connections


def standard_band_path(
    phonon,
    unitcell: Atoms | None = None,
    supercell_matrix: ArrayLike | None = None,
    source: str = "auto",
    symprec: float = 1e-3,
) -> BandPath:
    """The standard band path of phonopy's primitive cell, named as the irrep tables name it.

    Parameters
    ----------
    phonon : phonopy.Phonopy
    unitcell : the cell the labelled modes belong to (default: phonopy's unit cell).
    supercell_matrix : (3,) or (3, 3) int, default phonopy's supercell (decides
        ``commensurate``).
    source : ``'seekpath'``, ``'ase'`` or ``'auto'`` (seekpath when installed).
    symprec : tolerance (Angstrom) of the symmetry analysis that names the points.

    Returns
    -------
    BandPath
    """
    from .phonopy_interface import from_phonopy_atoms

    if source not in ("auto", "seekpath", "ase"):
        raise ValueError(f"source must be 'auto', 'seekpath' or 'ase', got {source!r}")
    if unitcell is None:
        unitcell = from_phonopy_atoms(phonon.unitcell)
    pmat = np.asarray(phonon.primitive_matrix if phonon.primitive_matrix is not None else np.eye(3))
    if supercell_matrix is None:
        p = np.round(np.asarray(phonon.supercell_matrix)).astype(int).T
    else:
        p = supercell_matrix_3x3(supercell_matrix)
    primitive = phonon.primitive
    cell = np.asarray(primitive.cell, dtype=float)
    raw, segments, used, note = _raw_path(
        cell, primitive.scaled_positions, primitive.numbers, source, symprec
    )
    namer = _TableNamer(unitcell, symprec)
    to_unit = np.linalg.inv(pmat.T)
    points = []
    for name, q_prim in raw.items():
        q = to_unit @ np.asarray(q_prim, dtype=float)
        q = np.where(np.abs(q) < 1e-12, 0.0, q)
        frac = p @ q
        commensurate = bool(np.all(np.abs(frac - np.round(frac)) < _COMMENSURATE_TOL))
        points.append(
            SpecialPoint(
                name=name,
                table_name=namer.name(q),
                q=_float3(q),
                q_primitive=_float3(q_prim),
                commensurate=commensurate,
            )
        )
    return BandPath(source=used, points=tuple(points), segments=tuple(segments), note=note)


def _raw_path(
    cell: NDArray, scaled_positions: NDArray, numbers: NDArray, source: str, symprec: float
) -> tuple[dict[str, NDArray], list[tuple[str, str]], str, str]:
    """Special points (primitive basis), segments, the source used and a note."""
    if source in ("auto", "seekpath"):
        try:
            import seekpath
        except ImportError:
            if source == "seekpath":
                raise ImportError("source='seekpath' needs seekpath (pip install seekpath)")
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = seekpath.get_path_orig_cell(
                    (cell, np.asarray(scaled_positions), np.asarray(numbers)), symprec=symprec
                )
            note = "; ".join(str(w.message) for w in caught)
            if res.get("is_supercell"):
                note = (
                    "the cell is a supercell of a smaller primitive cell: the path is that "
                    "cell's, folded" + (f"; {note}" if note else "")
                )
            points = {_name(k): np.asarray(v, float) for k, v in res["point_coords"].items()}
            segments = [(_name(a), _name(b)) for a, b in res["path"]]
            return points, segments, "seekpath (HPKOT)", note
    from ase.cell import Cell
    from ase.dft.kpoints import parse_path_string

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Cell(cell).bandpath(npoints=0)
    points = {_name(k): np.asarray(v, float) for k, v in path.special_points.items()}
    segments = []
    for branch in parse_path_string(path.path):
        for a, b in zip(branch[:-1], branch[1:]):
            segments.append((_name(a), _name(b)))
    return points, segments, "ase (Setyawan-Curtarolo)", ""


def _name(name: str) -> str:
    return "GM" if name in ("GAMMA", "G", "Γ") else name


class _TableNamer:
    """Names of k-points in the irrep tables, for any arm of the star, in the unit cell."""

    def __init__(self, unitcell: Atoms, symprec: float) -> None:
        from ase_symbreak.symmetry.irreps import prepare_parent

        self.ctx: ParentContext | None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, _, self.ctx = prepare_parent(unitcell, 0, symprec)
        except Exception:  # noqa: BLE001 - no symmetry analysis: the path's own names stay
            self.ctx = None

    def name(self, q: NDArray) -> str | None:
        if self.ctx is None or self.ctx.frame is None:
            return None
        from ase_symbreak.symmetry.irreps import star_of

        for arm in star_of(self.ctx, np.asarray(q, dtype=float)):
            for k in (arm, -arm):  # time reversal: -k has the same name
                name = self.ctx.frame.kpoint_name(k)
                if name is not None:
                    return name
        return None
