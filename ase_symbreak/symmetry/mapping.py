"""Map a distorted child structure onto its high-symmetry parent.

Given a parent and a child that derives from it by small atomic displacements and a small
homogeneous strain, :func:`map_to_parent` finds

- the integer supercell matrix ``P`` with ``child cell ~ R (P @ parent cell) U`` (rows are
  lattice vectors; ``R`` a rotation, ``U`` the symmetric stretch, both near the identity),
- the origin shift ``t``: child site ``i`` sits at ``parent site + t + u_i``,
- the atom correspondence (child atom -> parent supercell site, same species),
- the homogeneous strain (symmetric Biot strain ``U - 1``, with Green-Lagrange also given),
- the displacement ``u_i`` of every atom, in Angstrom, in the parent (unstrained,
  unrotated) frame, with the mean displacement removed.

The child may be in any setting: another origin, another (equivalent) choice of basis
vectors, atoms in any order, rigidly rotated, and strained as real phase transitions strain
it (monoclinic angles 10-15 degrees off the parent's, volume changes of several percent).
The supercell matrix is found by enumerating parent lattice vectors whose lengths match the
Minkowski-reduced child vectors, so results are exact to rounding on exact inputs. The
lattice correspondence that needs the least strain is chosen: the search widens its strain
window step by step (:data:`STRAIN_STEPS`) up to ``max_strain``, so that a nearly unstrained
child is mapped as fast as before and a strongly strained one is still found.

The parent cell is used as given: the child lattice must be an integer supercell of it, so
give the parent as a primitive cell when the child is not a supercell of its conventional
cell.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.geometry import minkowski_reduce
from numpy.typing import NDArray

from .matching import nearest_sites
from .spacegroup import to_atoms

__all__ = ["DEFAULT_MAX_STRAIN", "ParentChildMapping", "map_to_parent", "smith_invariants"]

#: Default largest principal Biot strain of a child cell: covers monoclinic children whose
#: angle is 15 degrees off the parent's together with volume changes of several percent
#: (baddeleyite ZrO2 against fluorite needs 0.12; a 15 degree shear with 3 % volume about 0.16).
DEFAULT_MAX_STRAIN = 0.2

#: Strain windows tried in turn (then ``max_strain`` itself): the least-strained lattice
#: correspondence is found in the first window that holds one.
STRAIN_STEPS = (0.05, 0.1)


@dataclass(frozen=True)
class ParentChildMapping:
    """How a child structure derives from a parent structure.

    All Cartesian quantities are in the parent frame (the parent's Cartesian axes, no
    strain), in Angstrom. With ``L = supercell_matrix @ parent.cell`` the ideal child cell,
    child atom ``i`` at child-fractional position ``x_i`` sits at
    ``x_i @ L = reference_positions[i] + displacements[i] + mean_displacement`` modulo ``L``.

    Attributes
    ----------
    parent : Atoms
        The parent structure used (a copy).
    child : Atoms
        The child structure as given (a copy).
    supercell_matrix : NDArray[int]
        ``(3, 3)`` integer ``P``: the child lattice vectors (rows of ``child.cell``) are
        ``F @ (P @ parent.cell)[j]``; ``|det P|`` is the number of parent cells per child cell.
    deformation_gradient : NDArray[float]
        ``(3, 3)`` ``F`` (dimensionless): ``child.cell = (P @ parent.cell) @ F.T``. It
        contains the strain and any rigid rotation of the child's frame (``det F > 0``).
    rotation : NDArray[float]
        ``(3, 3)`` orthogonal ``R`` of the polar decomposition ``F = R @ U``.
    strain : NDArray[float]
        ``(3, 3)`` symmetric Biot strain ``U - 1`` in the parent frame (dimensionless).
    origin_shift : NDArray[float]
        ``(3,)`` Angstrom, parent frame: translation ``t`` that carries the parent sites onto
        the child's ideal sites, including the child's mean displacement.
    parent_index : NDArray[int]
        ``(n_child,)`` index of the parent atom that child atom ``i`` derives from.
    lattice_translation : NDArray[int]
        ``(n_child, 3)`` parent lattice vector (parent fractional, integer) of the
        supercell site of child atom ``i``: the site is ``parent_index[i]`` plus this vector,
        reduced modulo the child lattice.
    site_index : NDArray[int]
        ``(n_child,)`` index of the supercell site in :meth:`supercell_sites` order; a
        permutation of ``range(n_child)``.
    reference_positions : NDArray[float]
        ``(n_child, 3)`` Angstrom: ideal (undistorted) positions of the child's atoms in the
        parent frame, ``(parent position + lattice translation) + origin_shift``.
    displacements : NDArray[float]
        ``(n_child, 3)`` Angstrom, parent frame; their mean is zero.
    """

    parent: Atoms = field(repr=False)
    child: Atoms = field(repr=False)
    supercell_matrix: NDArray  # (3, 3) int
    deformation_gradient: NDArray  # (3, 3)
    rotation: NDArray  # (3, 3)
    strain: NDArray  # (3, 3), Biot, dimensionless
    origin_shift: NDArray  # (3,), Angstrom
    parent_index: NDArray = field(repr=False)  # (n_child,) int
    lattice_translation: NDArray = field(repr=False)  # (n_child, 3) int
    site_index: NDArray = field(repr=False)  # (n_child,) int
    reference_positions: NDArray = field(repr=False)  # (n_child, 3), Angstrom
    displacements: NDArray = field(repr=False)  # (n_child, 3), Angstrom

    @property
    def n_cells(self) -> int:
        """Number of parent cells in the child cell, ``|det P|``."""
        return int(round(abs(np.linalg.det(self.supercell_matrix))))

    @property
    def reference_cell(self) -> NDArray:
        """``(3, 3)`` Angstrom: ideal child cell ``P @ parent.cell`` in the parent frame."""
        return self.supercell_matrix @ np.asarray(self.parent.cell[:])

    @property
    def green_lagrange_strain(self) -> NDArray:
        """``(3, 3)`` Green-Lagrange strain ``(F^T F - 1) / 2`` (dimensionless)."""
        f = self.deformation_gradient
        return 0.5 * (f.T @ f - np.eye(3))

    @property
    def amplitude(self) -> float:
        """Total displacement amplitude ``sqrt(sum |u_i|^2)`` over the child cell, Angstrom."""
        return float(np.sqrt(np.sum(self.displacements**2)))

    @property
    def max_displacement(self) -> float:
        """Largest ``|u_i|``, Angstrom."""
        return float(np.linalg.norm(self.displacements, axis=1).max())

    def ideal_child(self) -> Atoms:
        """The undistorted child: reference positions in the ideal cell, child atom order."""
        return Atoms(
            numbers=self.child.numbers,
            positions=self.reference_positions,
            cell=self.reference_cell,
            pbc=True,
        )

    def supercell_sites(self) -> tuple[NDArray, NDArray]:
        """Sites of the parent supercell in ``site_index`` order.

        Returns
        -------
        parent_index : NDArray[int]
            ``(n_child,)`` parent atom of each site.
        lattice_translation : NDArray[int]
            ``(n_child, 3)`` parent lattice vector of each site.
        """
        order = np.argsort(self.site_index)
        return self.parent_index[order], self.lattice_translation[order]

    def displacement_field(self, parent_fractional: NDArray, tol: float = 1e-4) -> NDArray:
        """Displacements at parent sites of any supercell commensurate with the child.

        Parameters
        ----------
        parent_fractional : NDArray
            ``(n, 3)`` positions of parent sites in parent-fractional coordinates
            (e.g. the sites of a bigger parent supercell), origin as in :attr:`parent`.
        tol : float
            Tolerance (fractional) for recognising a parent site.

        Returns
        -------
        NDArray
            ``(n, 3)`` Angstrom: the child's displacement at each site (the child's
            displacement field is periodic on the child lattice).
        """
        y = np.asarray(parent_fractional, dtype=float)
        basis = self.parent.get_scaled_positions(wrap=False)
        diff = y[:, None, :] - basis[None, :, :]
        off = np.abs(diff - np.round(diff)).max(axis=-1)
        b = off.argmin(axis=1)
        if off[np.arange(len(y)), b].max() > tol:
            bad = int(np.argmax(off[np.arange(len(y)), b]))
            raise ValueError(f"position {y[bad].tolist()} is not a parent site")
        n = np.round(diff[np.arange(len(y)), b]).astype(int)
        keys = _site_keys(b, _reduce_translations(n, self.supercell_matrix))
        lookup = dict(zip(_site_keys(self.parent_index, self.lattice_translation), range(len(b))))
        try:
            rows = [lookup[k] for k in keys]
        except KeyError as err:  # pragma: no cover - guarded by the construction
            raise ValueError(f"site {err} is not in the child cell") from err
        return self.displacements[rows]


# --------------------------------------------------------------------------- public
def map_to_parent(
    parent,
    child,
    max_displacement: float = 1.0,
    max_strain: float = DEFAULT_MAX_STRAIN,
) -> ParentChildMapping:
    """Find the supercell, origin shift, atom correspondence, strain and displacements.

    Parameters
    ----------
    parent : ase.Atoms or pymatgen Structure
        The high-symmetry structure; its cell is the unit of the supercell matrix.
    child : ase.Atoms or pymatgen Structure
        The distorted structure, in any setting (origin, basis, atom order, orientation).
    max_displacement : float
        Largest allowed atomic displacement (Angstrom, after removing the mean).
    max_strain : float
        Largest allowed principal Biot strain (dimensionless); the correspondence with the
        least strain is chosen (:data:`STRAIN_STEPS`).

    Returns
    -------
    ParentChildMapping

    Raises
    ------
    ValueError
        Empty or non-finite structures; different species or stoichiometry; an atom
        count or a cell that is not an integer supercell of the parent (incommensurate,
        or strained beyond ``max_strain``); displacements beyond ``max_displacement``.
    """
    if not (max_displacement > 0 and np.isfinite(max_displacement)):
        raise ValueError(f"max_displacement must be positive, got {max_displacement}")
    if not (0 < max_strain < 0.5):
        raise ValueError(f"max_strain must be in (0, 0.5), got {max_strain}")
    parent = _checked(parent, "parent")
    child = _checked(child, "child")
    n_cells = _check_composition(parent, child)
    _check_volume(parent, child, n_cells, max_strain)
    p = _least_strained_correspondence(parent, child, n_cells, max_strain)
    result = _map_atoms(parent, child, p, recentre=True)
    disp = result["displacements"]
    umax = np.linalg.norm(disp, axis=1)
    if umax.max() > max_displacement:
        i = int(umax.argmax())
        raise ValueError(
            f"child atom {i} ({child[i].symbol}) is displaced by {umax[i]:.3f} A from its parent "
            f"site, more than max_displacement={max_displacement} A: the child does not derive "
            "from this parent by a small distortion (or raise max_displacement, "
            "--max-displacement on the command line)"
        )
    f, rot, u = _deformation(parent.cell[:], child.cell[:], p)
    return ParentChildMapping(
        parent=parent,
        child=child,
        supercell_matrix=p,
        deformation_gradient=f,
        rotation=rot,
        strain=u - np.eye(3),
        origin_shift=result["origin_shift"],
        parent_index=result["parent_index"],
        lattice_translation=result["lattice_translation"],
        site_index=result["site_index"],
        reference_positions=result["reference_positions"],
        displacements=disp,
    )


def _least_strained_correspondence(
    parent: Atoms, child: Atoms, n_cells: int, max_strain: float
) -> NDArray:
    """The supercell matrix ``P`` of the least-strained lattice correspondence whose atoms
    match one to one (smallest mean displacement among equally strained ones).
    """
    windows = [w for w in STRAIN_STEPS if w < max_strain] + [max_strain]
    no_lattice: ValueError | None = None
    no_atoms: str | None = None
    for window in windows:
        try:
            groups = list(_supercell_candidates(parent.cell[:], child.cell[:], n_cells, window))
        except ValueError as err:  # no lattice correspondence within this window
            no_lattice = err
            continue
        best: tuple | None = None
        for group in groups:
            for p in group:
                try:
                    result = _map_atoms(parent, child, p)
                except _NoMatch as err:
                    no_atoms = no_atoms or str(err)
                    continue
                score = np.sqrt(np.mean(np.sum(result["displacements"] ** 2, axis=1)))
                if best is None or score < best[0] - 1e-10:
                    best = (score, p)
            if best is not None:
                return best[1]
    if no_atoms is not None:
        raise ValueError(f"no atom correspondence between child and parent: {no_atoms}")
    assert no_lattice is not None
    raise no_lattice


def smith_invariants(matrix: NDArray) -> tuple[int, int, int]:
    """Invariant factors ``(d1, d2, d3)`` of a non-singular integer 3x3 matrix.

    ``d1 | d2 | d3`` and ``d1 d2 d3 = |det|``; ``d3`` is the smallest ``n`` for which the
    ``n x n x n`` supercell is a superlattice of the lattice spanned by ``matrix``.

    >>> smith_invariants([[1, 1, 0], [-1, 1, 0], [0, 0, 2]])
    (1, 2, 2)
    """
    m = np.asarray(matrix)
    if m.shape != (3, 3) or not np.all(m == np.round(m)):
        raise ValueError(f"expected an integer 3x3 matrix, got {m.tolist()}")
    m = np.round(m).astype(int)
    det = abs(int(round(np.linalg.det(m))))
    if det == 0:
        raise ValueError(f"matrix is singular: {m.tolist()}")
    d1 = int(np.gcd.reduce(np.abs(m).ravel()))
    minors = [
        int(round(np.linalg.det(m[np.ix_(r, c)])))
        for r in itertools.combinations(range(3), 2)
        for c in itertools.combinations(range(3), 2)
    ]
    g2 = int(np.gcd.reduce(np.abs(minors)))
    return d1, g2 // d1, det // g2


# --------------------------------------------------------------------------- checks
class _NoMatch(Exception):
    """A candidate supercell matrix for which the atoms do not correspond."""


def _checked(structure, name: str) -> Atoms:
    try:
        return to_atoms(structure)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: {err}") from err


def _formula(counts: dict[str, int]) -> str:
    return "".join(f"{s}{n if n != 1 else ''}" for s, n in sorted(counts.items()))


def _check_composition(parent: Atoms, child: Atoms) -> int:
    pc = _counts(parent)
    cc = _counts(child)
    if set(pc) != set(cc):
        raise ValueError(
            f"different species: parent {_formula(pc)} has {sorted(pc)}, child {_formula(cc)} "
            f"has {sorted(cc)}"
        )
    ratios = {s: cc[s] / pc[s] for s in pc}
    n = len(child) / len(parent)
    if any(abs(r - n) > 1e-9 for r in ratios.values()) or abs(n - round(n)) > 1e-9:
        raise ValueError(
            f"stoichiometry differs: child {_formula(cc)} is not an integer multiple of "
            f"parent {_formula(pc)} (atom ratios {ratios})"
        )
    return int(round(n))


def _counts(atoms: Atoms) -> dict[str, int]:
    symbols, counts = np.unique(atoms.get_chemical_symbols(), return_counts=True)
    return {str(s): int(c) for s, c in zip(symbols, counts)}


def _check_volume(parent: Atoms, child: Atoms, n_cells: int, max_strain: float) -> None:
    ratio = abs(child.get_volume()) / (n_cells * abs(parent.get_volume()))
    lo, hi = (1 - max_strain) ** 3, (1 + max_strain) ** 3
    if not lo <= ratio <= hi:
        raise ValueError(
            f"child cell volume {abs(child.get_volume()):.4f} A^3 is {ratio * n_cells:.4f} parent "
            f"cells, but the child has {n_cells} formula units of the parent: the child cell is "
            f"not an integer supercell of the parent (incommensurate) or is strained beyond "
            f"max_strain={max_strain} (raise it: --max-strain on the command line)"
        )


# --------------------------------------------------------------------------- lattice
def _deformation(parent_cell: NDArray, child_cell: NDArray, p: NDArray):
    """``F, R, U`` with ``child = (P A) F^T`` and ``F = R U``."""
    ideal = p @ np.asarray(parent_cell, dtype=float)
    f = (np.linalg.solve(ideal, np.asarray(child_cell, dtype=float))).T
    w, v = np.linalg.eigh(f.T @ f)
    u = (v * np.sqrt(w)) @ v.T
    rot = f @ np.linalg.inv(u)
    return f, rot, u


def _lattice_vectors(cell: NDArray, max_len: float) -> NDArray:
    """Integer combinations ``n`` (rows) with ``|n @ cell| <= max_len``."""
    recip = np.linalg.inv(cell)  # columns are reciprocal vectors / (2 pi)
    bound = np.ceil(max_len * np.linalg.norm(recip, axis=0)).astype(int)
    ranges = [np.arange(-b, b + 1) for b in bound]
    n = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T
    n = n[np.any(n != 0, axis=1)]
    return n[np.linalg.norm(n @ cell, axis=1) <= max_len]


def _supercell_candidates(parent_cell, child_cell, n_cells: int, max_strain: float):
    """Yield groups of integer ``P`` (``child ~ P @ parent``), best strain first.

    Within a group all candidates have the same strain magnitude (they differ by lattice
    symmetry); they are sorted by ``|F - 1|`` so the least rotated setting comes first.
    """
    a = np.asarray(parent_cell, dtype=float)
    c = np.asarray(child_cell, dtype=float)
    a_red, op_p = minkowski_reduce(a)
    c_red, op_c = minkowski_reduce(c)
    lengths = np.linalg.norm(c_red, axis=1)
    slack = 1e-8
    vecs = _lattice_vectors(a_red, lengths.max() * (1 + max_strain) + slack)
    cart = vecs @ a_red
    norms = np.linalg.norm(cart, axis=1)
    cand = [
        np.flatnonzero(
            (norms >= lengths[i] / (1 + max_strain) - slack)
            & (norms <= lengths[i] / (1 - max_strain) + slack)
        )
        for i in range(3)
    ]
    gram_c = c_red @ c_red.T
    tol_pair = 2.5 * max_strain + 1e-8
    found: list[tuple[float, float, NDArray]] = []
    for i0 in cand[0]:
        for i1 in cand[1]:
            if not _angle_ok(cart[i0], cart[i1], gram_c[0, 1], lengths[0], lengths[1], tol_pair):
                continue
            ok2 = [
                i2
                for i2 in cand[2]
                if _angle_ok(cart[i0], cart[i2], gram_c[0, 2], lengths[0], lengths[2], tol_pair)
                and _angle_ok(cart[i1], cart[i2], gram_c[1, 2], lengths[1], lengths[2], tol_pair)
            ]
            for i2 in ok2:
                p_red = np.array([vecs[i0], vecs[i1], vecs[i2]])
                det = int(round(np.linalg.det(p_red)))
                if abs(det) != n_cells:
                    continue
                if np.sign(det) != np.sign(np.linalg.det(c_red) * np.linalg.det(a_red)):
                    continue  # would need an improper F; the same lattice appears with det > 0
                p = np.round(np.linalg.inv(op_c) @ p_red @ op_p).astype(int)
                f, _, u = _deformation(a, c, p)
                eps = np.abs(np.linalg.eigvalsh(u - np.eye(3))).max()
                if eps <= max_strain + slack:
                    found.append((round(eps, 9), float(np.linalg.norm(f - np.eye(3))), p))
    if not found:
        raise ValueError(
            f"the child cell {np.round(c, 4).tolist()} is not an integer supercell of the parent "
            f"cell {np.round(a, 4).tolist()} with {n_cells} parent cells and principal strain "
            f"<= {max_strain} (incommensurate lattice, or too strained: raise max_strain, "
            "--max-strain on the command line)"
        )
    found.sort(key=lambda x: (x[0], x[1], x[2].ravel().tolist()))
    for _, grp in itertools.groupby(found, key=lambda x: x[0]):
        yield [g[2] for g in grp]


def _angle_ok(v1, v2, target, l1, l2, tol) -> bool:
    return abs(float(v1 @ v2) - target) <= tol * l1 * l2


# --------------------------------------------------------------------------- atoms
def _reduce_translations(n: NDArray, p: NDArray) -> NDArray:
    """Canonical representatives of parent translations ``n`` (rows) modulo the rows of ``P``."""
    f = np.asarray(n, dtype=float) @ np.linalg.inv(p)
    f = f - np.floor(f + 1e-9)
    return np.round(f @ p).astype(int)


def _site_keys(b: NDArray, n: NDArray) -> list[tuple[int, int, int, int]]:
    return [(int(bi), int(x), int(y), int(z)) for bi, (x, y, z) in zip(b, n)]


def _map_atoms(parent: Atoms, child: Atoms, p: NDArray, recentre: bool = False) -> dict:
    """Origin shift and site correspondence for one supercell matrix ``P``.

    With ``recentre`` the assignment is redone with the mean-corrected shift.
    """
    a = np.asarray(parent.cell[:], dtype=float)
    ideal = p @ a
    pos = child.get_scaled_positions(wrap=True) @ ideal  # parent-frame Cartesian
    basis = parent.get_scaled_positions(wrap=False)
    pz, cz = parent.numbers, child.numbers
    species, counts = np.unique(pz, return_counts=True)
    ref_z = species[np.argmin(counts)]
    i0 = int(np.flatnonzero(cz == ref_z)[0])
    best = None
    for b0 in np.flatnonzero(pz == ref_z):
        shift = pos[i0] - basis[b0] @ a
        shift = shift - np.round(shift @ np.linalg.inv(a)) @ a  # parent cell nearest origin
        try:
            res = _assign(pos, cz, basis, pz, a, p, shift)
        except _NoMatch:
            continue
        score = float(np.sum(res["displacements"] ** 2))
        if best is None or score < best[0] - 1e-12:
            best = (score, res)
    if best is None:
        raise _NoMatch(f"no one-to-one site assignment for supercell matrix {p.tolist()}")
    if not recentre:
        return best[1]
    try:  # the first guess of the shift was off by atom i0's displacement
        return _assign(pos, cz, basis, pz, a, p, best[1]["origin_shift"])
    except _NoMatch:  # pragma: no cover - keep the first assignment
        return best[1]


def _unit_cell(a: NDArray, basis: NDArray, pz: NDArray) -> Atoms:
    return Atoms(numbers=pz, cell=a, scaled_positions=basis, pbc=True)


def _assign(pos, cz, basis, pz, a, p, shift) -> dict:
    """Nearest same-species parent site of every child atom, for a given origin shift."""
    y = (pos - shift) @ np.linalg.inv(a)  # parent fractional
    match = nearest_sites(y, cz, _unit_cell(a, basis, pz))
    b, n = match.index, match.translation
    n_red = _reduce_translations(n, p)
    keys = _site_keys(b, n_red)
    if len(set(keys)) != len(keys):
        raise _NoMatch(f"two child atoms map onto one parent site (supercell {p.tolist()})")
    disp = match.vectors
    mean = disp.mean(axis=0)
    disp = disp - mean
    new_shift = shift + mean
    order = sorted(range(len(keys)), key=lambda i: (keys[i][1:], keys[i][0]))
    site_index = np.empty(len(keys), dtype=int)
    site_index[order] = np.arange(len(keys))
    return {
        "origin_shift": new_shift,
        "parent_index": b,
        "lattice_translation": n_red,
        "site_index": site_index,
        "reference_positions": (basis[b] + n_red) @ a + new_shift,
        "displacements": disp,
    }
