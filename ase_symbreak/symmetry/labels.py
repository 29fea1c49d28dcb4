"""Bilbao-convention irrep labels by character matching against ``irreptables``.

The tables shipped with the ``irreptables`` package (from the IrRep code) list, for every
space group in its ITA standard setting (the Bilbao one), the coset representatives of
the operations and the characters of the small irreps at the maximal k-points, with
labels such as GM4-, R4+, M3+, X1. Operations and k-points in the tables are fractional
in the conventional standard cell.

To label an irrep of our parent we

1. take spglib's transformation ``x_std = P x + p`` to the standard setting;
2. look for an origin ``p`` for which our operations (rotation parts conjugated with
   ``P``) coincide with the table's modulo lattice vectors; ``p = 0`` (our origin atom at
   the table origin) is preferred, so that labels refer to *our* origin, as the design
   notes require (e.g. Ti at the origin of SrTiO3: tilts R4+ and M3+; Sr: R5- and M2+);
3. find the table k-point equal to ``P^{-T} k`` modulo reciprocal lattice vectors;
4. correct characters for lattice translations, ``chi({E|L}{R|t}) = exp(-2 pi i k.L) chi({R|t})``,
   and decompose our small-representation character into the table irreps.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import spglib
from numpy.typing import NDArray

from .lattice import centered, centering_vectors, is_lattice_vector, is_reciprocal_vector, wrap

__all__ = [
    "IrrepTable",
    "StandardFrame",
    "StandardSetting",
    "load_table",
    "standard_frame",
    "standard_setting",
]


@dataclass(frozen=True)
class IrrepTable:
    """One space group's table from ``irreptables`` (scalar, non-magnetic).

    Attributes
    ----------
    number : int
    rotations : NDArray[int]
        (n_pg, 3, 3) coset representatives, conventional standard cell.
    translations : NDArray[float]
        (n_pg, 3)
    kpoints : dict[str, tuple[NDArray, NDArray]]
        name -> (k (3,) conventional reciprocal basis, 0-based indices of the little co-group).
    irreps : dict[str, list[tuple[str, int, NDArray]]]
        k name -> list of (label, dim, characters (n_little,) complex in kpoints order).
    """

    number: int
    rotations: NDArray
    translations: NDArray
    kpoints: dict = field(repr=False)
    irreps: dict = field(repr=False)


def _exact(x: float, max_den: int = 12, tol: float = 1e-5) -> float:
    """Tables print 1/3 as 0.333333 (and phases as 0.66667): restore simple fractions."""
    from fractions import Fraction

    f = Fraction(x).limit_denominator(max_den)
    return float(f) if abs(float(f) - x) < tol else x


def _exact_magnitude(x: float, tol: float = 5e-5) -> float:
    """Tables print |chi| to 5 decimals (1.41421, 1.99999, 1e-05): restore n, n sqrt(2),
    n sqrt(3).
    """
    for unit in (1.0, np.sqrt(2.0), np.sqrt(3.0)):
        n = round(x / unit)
        if abs(n * unit - x) < tol:
            return float(n * unit)
    return x


@functools.lru_cache(maxsize=64)
def load_table(number: int) -> IrrepTable | None:
    """Parse ``irreptables/data/tables/irreps-SG=<number>-scal.dat``; None if missing."""
    try:
        path = resources.files("irreptables") / "data" / "tables" / f"irreps-SG={number}-scal.dat"
        text = path.read_text()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None
    lines = [ln.strip() for ln in text.splitlines()]
    nsym = 0
    rots: list[NDArray] = []
    trans: list[NDArray] = []
    kpoints: dict = {}
    irreps: dict = {}
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.lower().startswith("nsym"):
            nsym = int(ln.split("=")[1])
        elif ln.lower().startswith("symmetries"):
            while len(rots) < nsym:
                i += 1
                nums = lines[i].split()
                if len(nums) < 12:
                    continue
                rots.append(np.array(nums[:9], dtype=float).astype(int).reshape(3, 3))
                trans.append(np.array([_exact(float(x)) for x in nums[9:12]]))
        elif ln.startswith("kpoint"):
            head, kstr, isym = ln.split(":")
            name = head.split()[1]
            kvec = np.array([_exact(float(x)) for x in kstr.split()])
            kpoints[name] = (kvec, np.array(isym.split(), dtype=int) - 1)
            irreps[name] = []
            current = name
        elif ln and kpoints and not ln.startswith("#"):
            parts = ln.split()
            nl = len(kpoints[current][1])
            vals = np.array(parts[2:], dtype=float)
            ch = np.array([_exact_magnitude(float(x)) for x in vals[:nl]], dtype=complex)
            if len(vals) >= 2 * nl:
                phases = np.array([_exact(float(x), 24, 1e-4) for x in vals[nl : 2 * nl]])
                ch = ch * np.exp(1j * np.pi * phases)
            irreps[current].append((parts[0], int(parts[1]), ch))
        i += 1
    return IrrepTable(number, np.array(rots), np.array(trans), kpoints, irreps)


@dataclass(frozen=True)
class StandardFrame:
    """Our (origin-shifted) parent cell related to a table's standard setting.

    ``x_std = P @ x + origin`` for fractional column vectors; ``k_std = P^{-T} k``.

    Attributes
    ----------
    number : int
    P : NDArray[float]
        (3, 3)
    origin : NDArray[float]
        (3,) position of our origin in the standard cell; zero when our origin atom is
        at the table origin.
    centerings : NDArray[float]
        (n_c, 3) centring vectors of the standard cell.
    table : IrrepTable
    """

    number: int
    P: NDArray
    origin: NDArray
    centerings: NDArray
    table: IrrepTable = field(repr=False)
    index: dict = field(repr=False, default_factory=dict)

    def locate(self, rotation: NDArray, translation: NDArray) -> tuple[int, NDArray]:
        """Table index of an operation (our cell) and the lattice vector ``t_std - t_table``."""
        rs = np.round(self.P @ rotation @ np.linalg.inv(self.P)).astype(int)
        ts = self.P @ translation + self.origin - rs @ self.origin
        j = self.index[rs.tobytes()]
        return j, ts - self.table.translations[j]

    def k_to_std(self, k: NDArray) -> NDArray:
        return np.linalg.inv(self.P).T @ np.asarray(k, dtype=float)

    def k_from_std(self, k_std: NDArray) -> NDArray:
        return self.P.T @ np.asarray(k_std, dtype=float)

    def kpoint_name(self, k: NDArray) -> str | None:
        """Name of the table k-point equal to `k` (our reciprocal basis), or None."""
        ks = self.k_to_std(k)
        for name, (kt, _) in self.table.kpoints.items():
            if is_reciprocal_vector(ks - kt, self.centerings):
                return name
        return None

    def label(
        self,
        k: NDArray,
        rotations: NDArray,
        translations: NDArray,
        characters: NDArray,
        tol: float = 1e-3,
    ) -> str | None:
        """Label of a small representation at `k` from its characters.

        Parameters
        ----------
        k : (3,) our reciprocal basis
        rotations, translations : (n_little, 3, 3), (n_little, 3)
            One operation of our cell per coset of the little group of `k`.
        characters : (n_little,) complex
            Characters of the representation on those operations.

        Returns
        -------
        str or None
            A table label, or several concatenated (e.g. 'W1W2') when the character is a
            sum of table irreps; None if `k` is not a table k-point or nothing matches.
        """
        name = self.kpoint_name(k)
        if name is None:
            return None
        ks = self.k_to_std(k)
        _, isym = self.table.kpoints[name]
        pos = {int(j): n for n, j in enumerate(isym)}
        cols = []
        for r, t in zip(rotations, translations):
            j, delta = self.locate(r, t)
            if j not in pos:
                return None
            cols.append((pos[j], np.exp(-2j * np.pi * ks @ delta)))
        if len(cols) != len(isym):
            return None
        idx = np.array([c[0] for c in cols])
        phase = np.array([c[1] for c in cols])
        out = []
        rest = np.asarray(characters, dtype=complex).copy()
        for lab, _dim, ch in self.table.irreps[name]:
            chi = ch[idx] * phase
            n = np.vdot(chi, characters) / len(isym)
            if abs(n - round(n.real)) > tol:
                return None
            n = int(round(n.real))
            if n > 0:
                out.extend([lab] * n)
                rest -= n * chi
        if not out or np.abs(rest).max() > 1e-2:
            return None
        return "".join(out)


def _origin_candidates(p_spglib: NDArray, n: int = 24) -> NDArray:
    grid = np.array(list(itertools.product(range(n), repeat=3)), dtype=float) / n
    c = centered(grid)
    order = np.lexsort((c[:, 2], c[:, 1], c[:, 0], np.sum(c**2, axis=1)))
    # spglib's origin plus a grid offset covers origin choices 1 / 2 (spglib's default Hall
    # setting is choice 1, the tables use choice 2) when our origin atom is on no special point
    shifted = wrap(grid[order] + np.asarray(p_spglib)[None])
    cands = np.vstack([np.zeros((1, 3)), wrap(np.asarray(p_spglib)[None]), grid[order], shifted])
    return cands


@dataclass(frozen=True)
class StandardSetting:
    """Our operations next to a table's: which origins put them in the table's form.

    ``valid(p)`` is True where our origin placed at ``p`` in the standard cell (``x_std =
    P x + p``) makes every operation of ours equal to the table's modulo lattice vectors,
    i.e. where the point ``x = -P^{-1} p`` of our cell is an origin of the ITA standard
    setting that the tables use (origin choice 2 where the ITA gives two).
    """

    number: int
    P: NDArray
    rs: NDArray  # (n_ops, 3, 3) int, standard cell
    ts: NDArray  # (n_ops, 3) standard cell, our origin
    t_tab: NDArray  # (n_ops, 3) the table's translations of the same rotations
    centerings: NDArray
    table: IrrepTable = field(repr=False)
    key: dict = field(repr=False, default_factory=dict)

    def valid(self, p: NDArray, tol: float = 1e-5) -> NDArray:
        """(m,) bool for (m, 3) positions ``p`` of our origin in the standard cell."""
        p = np.atleast_2d(np.asarray(p, dtype=float))
        out = np.zeros(len(p), dtype=bool)
        chunk = 2048
        for s in range(0, len(p), chunk):
            q = p[s : s + chunk]
            tp = self.ts[None] + q[:, None, :] - np.einsum("nij,mj->mni", self.rs, q)
            out[s : s + chunk] = np.all(
                is_lattice_vector(tp - self.t_tab[None], self.centerings, tol), axis=1
            )
        return out

    def frame(self, p: NDArray) -> StandardFrame:
        return StandardFrame(
            self.number,
            self.P,
            wrap(np.asarray(p, dtype=float)),
            self.centerings,
            self.table,
            self.key,
        )

    def is_origin(self, points: NDArray, tol: float = 1e-5) -> NDArray:
        """(m,) bool: the points (fractional, our cell) that are standard-setting origins."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        return self.valid(-points @ self.P.T, tol)

    def search(self, p_spglib: NDArray) -> NDArray | None:
        """All valid ``p`` among spglib's origin and the 1/24 grid (plus that grid shifted
        by spglib's origin), in the order of :func:`_origin_candidates`; None if none.
        """
        cands = _origin_candidates(p_spglib)
        ok = self.valid(cands)
        return cands[ok] if np.any(ok) else None


def standard_setting(
    rotations: NDArray,
    translations: NDArray,
    number: int,
    transformation_matrix: NDArray,
    hall_number: int,
) -> StandardSetting | None:
    """Our operations against the table of space group `number`; None without a table or
    when the rotations do not match it.
    """
    table = load_table(number)
    if table is None:
        return None
    P = np.asarray(transformation_matrix, dtype=float)
    p_inv = np.linalg.inv(P)
    rs = np.round(np.einsum("ij,njk,kl->nil", P, rotations, p_inv)).astype(int)
    ts = np.asarray(translations, dtype=float) @ P.T
    sym = spglib.get_symmetry_from_database(hall_number)
    # hall_number comes from spglib's own dataset of this cell, so it is in the database
    assert sym is not None
    cent = centering_vectors(np.asarray(sym["rotations"]), np.asarray(sym["translations"]))
    key = {r.tobytes(): j for j, r in enumerate(table.rotations)}
    try:
        jj = np.array([key[r.tobytes()] for r in rs])
    except KeyError:
        return None
    return StandardSetting(number, P, rs, ts, table.translations[jj], cent, table, key)


def standard_frame(
    rotations: NDArray,
    translations: NDArray,
    number: int,
    transformation_matrix: NDArray,
    origin_shift: NDArray,
    hall_number: int,
    origin: NDArray | None = None,
) -> StandardFrame | None:
    """Relate our operations to the table of space group `number`; None if impossible.

    Parameters
    ----------
    rotations, translations : (n_ops, 3, 3), (n_ops, 3)
        Operations of our cell (spglib).
    transformation_matrix, origin_shift, hall_number
        From spglib's dataset of our cell.
    origin : (3,), optional
        Where our origin lies in the standard cell (``p`` of ``x_std = P x + p``): the
        labels then refer to the standard origin ``x = -P^{-1} p`` of our cell. Without it
        (or when it is not a standard origin) the first valid ``p`` of a fixed search, our
        origin itself first.
    """
    setting = standard_setting(rotations, translations, number, transformation_matrix, hall_number)
    if setting is None:
        return None
    if origin is not None and setting.valid(np.asarray(origin, dtype=float), 1e-4)[0]:
        return setting.frame(np.asarray(origin, dtype=float))
    found = setting.search(origin_shift)
    return None if found is None else setting.frame(found[0])
