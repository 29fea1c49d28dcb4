"""What was learned: O(3) shares, the symmetry the features keep, space-group labels.

Symmetry of ``parent + features``: every operation ``g = (R, t)`` of the parent (space
group of a crystal, point group of a point cloud about its centroid) moves site ``i`` to
``perm[i]`` and rotates its features by the Wigner-D matrix ``D(R)`` of their irreps
(``Irreps.D_from_matrix``, parity included). ``g`` is kept when ``D(R) x_i = x_perm[i]`` for
every site. Curie's principle for the exact fit says kept ⊆ Sym(child); the gradient of an
invariant loss keeps Sym(parent) ∩ Sym(child) = Sym(child), so a minimal order parameter
keeps exactly the child's operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib
import torch
from ase import Atoms
from ase.geometry import get_distances
from e3nn import o3
from numpy.typing import NDArray

__all__ = [
    "Operations",
    "irrep_norms",
    "o3_shares",
    "parent_operations",
    "feature_stabiliser_mask",
    "child_operations",
    "group_name",
    "rigid_unit_displacements",
    "z_polar_components",
]

# Hermann-Mauguin -> Schoenflies for the 32 crystallographic point groups
_SCHOENFLIES = {
    "1": "C1",
    "-1": "Ci",
    "2": "C2",
    "m": "Cs",
    "2/m": "C2h",
    "222": "D2",
    "mm2": "C2v",
    "mmm": "D2h",
    "4": "C4",
    "-4": "S4",
    "4/m": "C4h",
    "422": "D4",
    "4mm": "C4v",
    "-42m": "D2d",
    "4/mmm": "D4h",
    "3": "C3",
    "-3": "C3i",
    "32": "D3",
    "3m": "C3v",
    "-3m": "D3d",
    "6": "C6",
    "-6": "C3h",
    "6/m": "C6h",
    "622": "D6",
    "6mm": "C6v",
    "-6m2": "D3h",
    "6/mmm": "D6h",
    "23": "T",
    "m-3": "Th",
    "432": "O",
    "-43m": "Td",
    "m-3m": "Oh",
}


# --------------------------------------------------------------------------- shares
def irrep_norms(features: NDArray, irreps: o3.Irreps) -> dict[str, NDArray]:
    """Per-site Euclidean norm of each irrep block: ``{"2e": (N,), ...}`` (multiplicities
    summed in quadrature).
    """
    out: dict[str, NDArray] = {}
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        sq = (features[:, sl] ** 2).sum(axis=1)
        out[str(ir)] = out.get(str(ir), 0.0) + sq
    return {k: np.sqrt(v) for k, v in out.items()}


def o3_shares(
    features: NDArray, irreps: o3.Irreps, exclude: tuple[str, ...] = ("0e",)
) -> dict[str, float]:
    """Share of the squared norm ``sum_i |x_i|^2`` carried by each irrep (sums to 1;
    ``exclude`` left out).
    """
    sq = {
        k: float((v**2).sum()) for k, v in irrep_norms(features, irreps).items() if k not in exclude
    }
    total = sum(sq.values())
    if total <= 0:
        return {k: 0.0 for k in sq}
    return {k: v / total for k, v in sq.items()}


def z_polar_components(
    vector: NDArray, l: int, parity: int, axis: NDArray | None = None
) -> NDArray:
    """Coefficients of one irrep vector in real spherical harmonics with ``axis`` (default z)
    as the pole.

    e3nn's real harmonics take y as the pole (``m = 0`` is index ``l``); the vector is
    rotated by the Wigner-D of the rotation taking ``axis`` to y. Returns ``(2l+1,)``
    ordered ``m = -l..l`` (``|m|`` is meaningful; sine/cosine signs follow e3nn).
    """
    axis = (
        np.array([0.0, 0.0, 1.0])
        if axis is None
        else np.asarray(axis, float) / np.linalg.norm(axis)
    )
    y = np.array([0.0, 1.0, 0.0])
    v = np.cross(axis, y)
    s, c = np.linalg.norm(v), float(axis @ y)
    if s < 1e-12:
        rot = np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
        rot = np.eye(3) + s * k + (1 - c) * k @ k
    d = o3.Irrep(l, parity).D_from_matrix(torch.as_tensor(rot, dtype=torch.float64)).numpy()
    return d @ np.asarray(vector, float)


# --------------------------------------------------------------------------- operations
@dataclass(frozen=True)
class Operations:
    """Symmetry operations of a parent structure, ``r -> R r + t``.

    Attributes
    ----------
    rotations : NDArray[float]
        ``(n, 3, 3)`` Cartesian.
    translations : NDArray[float]
        ``(n, 3)`` Angstrom (zero-based on the centroid for point clouds).
    permutations : NDArray[int]
        ``(n, N)``: operation ``g`` moves site ``i`` onto site ``permutations[g, i]``.
    rotations_lattice, translations_lattice : NDArray or None
        spglib's integer rotations and fractional translations (crystals only).
    periodic : bool
    """

    rotations: NDArray
    translations: NDArray
    permutations: NDArray
    rotations_lattice: NDArray | None
    translations_lattice: NDArray | None
    periodic: bool

    def __len__(self) -> int:
        return len(self.rotations)

    def subset(self, mask: NDArray) -> "Operations":
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return Operations(
            self.rotations[mask],
            self.translations[mask],
            self.permutations[mask],
            pick(self.rotations_lattice),
            pick(self.translations_lattice),
            self.periodic,
        )


def _site_permutation(
    new_pos: NDArray, pos: NDArray, numbers: NDArray, cell: NDArray | None, tol: float
):
    if cell is None:
        d = np.linalg.norm(new_pos[:, None] - pos[None], axis=-1)
    else:
        _, d = get_distances(new_pos, pos, cell=cell, pbc=True)
    d = np.where(numbers[:, None] == numbers[None, :], d, np.inf)
    perm = d.argmin(axis=1)
    if d[np.arange(len(pos)), perm].max() > tol or len(set(perm.tolist())) != len(pos):
        return None
    return perm


def parent_operations(parent: Atoms, symprec: float = 1e-3) -> Operations:
    """All symmetry operations of the parent with their site permutations.

    Crystals: spglib's space-group operations of the given cell (pure translations of a
    supercell included). Point clouds: the point group about the centroid, found by mapping
    a pair of non-collinear reference points onto every pair with the same lengths and angle.
    """
    pos = parent.positions
    numbers = parent.numbers
    if all(parent.pbc):
        cell = np.asarray(parent.cell.array, float)
        # spglib's stubs type the cell as nested Sequences; it takes arrays
        spg_cell = (cell, parent.get_scaled_positions(), numbers)
        ds = spglib.get_symmetry(spg_cell, symprec=symprec)  # type: ignore[arg-type]
        if ds is None:
            raise ValueError(f"spglib found no symmetry for the parent (symprec={symprec})")
        w, tf = np.asarray(ds["rotations"]), np.asarray(ds["translations"])
        rots = np.einsum("ji,njk,lk->nil", cell, w, np.linalg.inv(cell))
        trans = tf @ cell
        perms = []
        for r, t in zip(rots, trans):
            perm = _site_permutation(pos @ r.T + t, pos, numbers, cell, 10 * symprec)
            if perm is None:
                raise RuntimeError("a spglib operation does not map the parent onto itself")
            perms.append(perm)
        return Operations(rots, trans, np.array(perms), w, tf, True)
    return _point_cloud_operations(pos, numbers, symprec)


def _point_cloud_operations(pos: NDArray, numbers: NDArray, tol: float) -> Operations:
    centre = pos.mean(axis=0)
    r = pos - centre
    norms = np.linalg.norm(r, axis=1)
    order = np.argsort(-norms)
    a = order[0]
    if norms[a] < tol:  # a single point
        return Operations(
            np.eye(3)[None], np.zeros((1, 3)), np.arange(len(pos))[None], None, None, False
        )
    b = next(
        (
            j
            for j in order
            if np.linalg.norm(np.cross(r[a], r[j])) > 1e-3 * norms[a] * max(norms[j], tol)
        ),
        None,
    )
    cands = []
    if b is None:  # collinear: rotations about the line and mirrors
        axis = r[a] / norms[a]
        perp = np.cross(axis, [1.0, 0, 0] if abs(axis[0]) < 0.9 else [0, 1.0, 0])
        perp /= np.linalg.norm(perp)
        basis = np.stack([axis, perp, np.cross(axis, perp)], axis=1)
        for s_axis in (1, -1):
            for k in range(12):  # C12 subgroup of the continuous group, enough to classify
                ang = 2 * np.pi * k / 12
                for s_perp in (1, -1):
                    m = (
                        np.diag([s_axis, 1.0, 1.0])
                        @ np.array(
                            [
                                [1, 0, 0],
                                [0, np.cos(ang), -np.sin(ang)],
                                [0, np.sin(ang), np.cos(ang)],
                            ]
                        )
                        @ np.diag([1.0, 1.0, s_perp])
                    )
                    cands.append(basis @ m @ basis.T)
    else:
        frame = np.stack([r[a], r[b], np.cross(r[a], r[b])], axis=1)
        inv = np.linalg.inv(frame)
        for a2 in np.flatnonzero((numbers == numbers[a]) & (np.abs(norms - norms[a]) < tol)):
            for b2 in np.flatnonzero((numbers == numbers[b]) & (np.abs(norms - norms[b]) < tol)):
                if abs(r[a2] @ r[b2] - r[a] @ r[b]) > tol * (norms[a] + norms[b]):
                    continue
                for sign in (1.0, -1.0):
                    img = np.stack([r[a2], r[b2], sign * np.cross(r[a2], r[b2])], axis=1)
                    cands.append(img @ inv)
    rot_list: list[NDArray] = []
    perm_list: list[NDArray] = []
    for m in cands:
        if np.abs(m @ m.T - np.eye(3)).max() > 1e-4:
            continue
        u, _, vt = np.linalg.svd(m)
        m = u @ vt
        perm = _site_permutation(r @ m.T, r, numbers, None, tol)
        if perm is not None and not any(np.allclose(m, q, atol=1e-6) for q in rot_list):
            rot_list.append(m)
            perm_list.append(perm)
    rots = np.array(rot_list)
    first = int(np.argmin([np.abs(q - np.eye(3)).max() for q in rots]))
    idx = [first] + [i for i in range(len(rots)) if i != first]
    rots, perms = rots[idx], np.array(perm_list)[idx]
    trans = centre - rots @ centre
    return Operations(rots, trans, perms, None, None, False)


def feature_stabiliser_mask(
    ops: Operations, features: NDArray, irreps: o3.Irreps, tol: float = 1e-4
) -> NDArray:
    """Boolean ``(n_ops,)``: operations that map the site features onto themselves.

    ``g`` is kept when ``D(R) x_i = x_perm[i]`` for all sites.

    ``tol`` is relative to the largest site norm of ``features``; e3nn's ``D_from_matrix``
    goes through Euler angles and loses about 1e-8 near gimbal lock (90 degree rotations),
    so do not go below about 1e-6.
    """
    x = np.asarray(features, float)
    scale = max(float(np.linalg.norm(x, axis=1).max()), 1e-300)
    keep = np.zeros(len(ops), dtype=bool)
    cache: dict[bytes, NDArray] = {}
    for g, (r, perm) in enumerate(zip(ops.rotations, ops.permutations)):
        key = np.round(r, 6).tobytes()
        if key not in cache:
            cache[key] = irreps.D_from_matrix(torch.as_tensor(r, dtype=torch.float64)).numpy()
        d = cache[key]
        moved = np.empty_like(x)
        moved[perm] = x @ d.T
        keep[g] = np.abs(moved - x).max() <= tol * scale
    return keep


def child_operations(
    ops: Operations, parent: Atoms, displacements: NDArray, strain: NDArray, tol: float
) -> NDArray:
    """Boolean ``(n_ops,)``: parent operations that also map the child onto itself.

    The child is ``parent + displacements`` (parent order, Angstrom) with the homogeneous
    ``strain`` (3, 3); ``g`` is kept when ``R u_i = u_perm[i]`` (within ``tol`` Angstrom)
    and ``R E R^T = E``.
    """
    keep = np.zeros(len(ops), dtype=bool)
    for g, (r, perm) in enumerate(zip(ops.rotations, ops.permutations)):
        moved = np.empty_like(displacements)
        moved[perm] = displacements @ r.T
        keep[g] = (
            np.abs(moved - displacements).max() <= tol
            and np.abs(r @ strain @ r.T - strain).max() <= tol
        )
    return keep


def group_name(ops: Operations, parent: Atoms) -> str:
    """Space group ``"Pnma (62)"`` of a subset of a crystal's operations, or point group
    ``"D2h (mmm)"``.
    """
    if ops.periodic:
        try:
            # set for crystals (periodic); a None raises here as spglib would
            assert ops.rotations_lattice is not None and ops.translations_lattice is not None
            sg = spglib.get_spacegroup_type_from_symmetry(
                ops.rotations_lattice,
                ops.translations_lattice,
                lattice=np.asarray(parent.cell.array),
                symprec=1e-3,
            )
        except Exception:  # noqa: BLE001 - spglib raises several types
            sg = None
        if sg is not None:
            return f"{sg.international_short} ({sg.number})"
        return f"{len(ops)} operations"
    rots = np.rint(ops.rotations)
    if np.abs(rots - ops.rotations).max() < 1e-6:
        try:
            pointgroup = spglib.get_pointgroup(rots.astype(np.intc))
            if pointgroup is not None:
                symbol = pointgroup[0].strip()
                return f"{_SCHOENFLIES.get(symbol, symbol)} ({symbol})"
        except Exception:  # noqa: BLE001
            pass
    return f"order {len(ops)}"


# --------------------------------------------------------------------------- rigid units
def rigid_unit_displacements(
    atoms: Atoms, centres: NDArray, pseudovectors: NDArray, shell: float = 1.2
) -> NDArray:
    """Displacements of rigid polyhedra rotated by small angles about their centres.

    Every neighbour ``j`` of centre ``c`` (other species, within ``shell`` x the centre's
    nearest-neighbour distance) moves by ``omega_c x (r_j - r_c)``, averaged over the
    centres that share ``j`` (corner-sharing octahedra: the two B sites of each X).

    Parameters
    ----------
    atoms : Atoms
    centres : (M,) int
        Indices of the polyhedron centres (e.g. perovskite B sites).
    pseudovectors : (M, 3)
        Rotation vectors in radians (axis times angle), Cartesian.

    Returns
    -------
    (N, 3) displacements in Angstrom.
    """
    pos = atoms.positions
    pbc = all(atoms.pbc)
    u = np.zeros_like(pos)
    count = np.zeros(len(atoms))
    for c, w in zip(np.asarray(centres, int), np.asarray(pseudovectors, float)):
        vec, d = get_distances(pos[c], pos, cell=atoms.cell if pbc else None, pbc=pbc)
        vec, d = vec[0], d[0]
        other = atoms.numbers != atoms.numbers[c]
        dmin = d[other].min()
        for j in np.flatnonzero(other & (d <= shell * dmin)):
            u[j] += np.cross(w, vec[j])
            count[j] += 1
    u[count > 0] /= count[count > 0, None]
    return u
