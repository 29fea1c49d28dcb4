"""Symmetry-mode decomposition of a distorted structure (AMPLIMODES / ISODISTORT-like).

The child is mapped onto the parent (:func:`~ase_symbreak.symmetry.mapping.map_to_parent`);
its displacement field, periodic on the child lattice, is carried onto the diagonal parent
supercell ``n x n x n`` with ``n`` the largest invariant factor of the supercell matrix
(so the supercell is a superlattice of the child lattice and every k-star commensurate
with the child appears whole), and projected onto the symmetry-adapted displacement modes
of that supercell (:func:`~ase_symbreak.symmetry.modes.displacement_modes`).

Amplitudes follow ISODISTORT: ``As = sqrt(sum |u|^2)`` over the child's primitive cell and
``Ap = As / sqrt(s)`` with ``s`` the child / parent primitive volume ratio; equivalently
``Ap^2 = sum |u|^2 / (number of parent cells)`` over any supercell. Displacements are in
Angstrom, in the unstrained parent frame (the parent's metric: a strongly strained child's
displacements are measured in its ideal, unstrained supercell), with the uniform
translation removed. The homogeneous strain is reported separately, as ISODISTORT does: the
finite Biot strain ``U - 1`` (``F = R U``, rotation removed, parent Cartesian axes) split into
the parent's irreps at Gamma (:class:`StrainMode`: ``GM1+`` volume, ``GM3+`` and ``GM5+``
for a cubic parent, each with its point-group name), the amplitude of each the Frobenius
norm of its part.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from .idealize import Idealization, idealize_and_warn
from .mapping import DEFAULT_MAX_STRAIN, ParentChildMapping, map_to_parent, smith_invariants
from .origin import LabelOrigin, default_origin_index
from .pointgroup import (
    point_group_irreps,
    point_group_operations,
    projection_operator,
    tensor_representation,
)
from .spacegroup import (
    analyze,
    primitive_structure,
    shift_origin,
    to_atoms,
)

__all__ = [
    "IrrepAmplitude",
    "ModeDecomposition",
    "StrainMode",
    "decompose",
    "strain_by_irrep",
    "strain_modes",
]


@dataclass(frozen=True)
class IrrepAmplitude:
    """Amplitude of one irrep of the parent in the child's distortion.

    Attributes
    ----------
    irrep : str
        Irrep label of the parent space group, e.g. ``"R4+"`` (origin as in the
        decomposition's ``origin_index``).
    k : NDArray[float]
        ``(3,)`` wave vector, reciprocal basis of the parent cell.
    star : NDArray[float]
        ``(n_arms, 3)`` all arms of the star of ``k``.
    dim : int
        Dimension of the (real) order parameter.
    multiplicity : int
        Number of copies of the irrep in the displacement representation.
    amplitude : float
        ``Ap`` in Angstrom, per parent primitive cell (whichever parent cell is given).
    amplitude_supercell : float
        ``As`` in Angstrom (over the child's primitive cell).
    order_parameter : NDArray[float]
        ``(dim,)`` Angstrom, ``|order_parameter| = amplitude``: the copies' order
        parameters, each signed to agree with the largest copy, summed and rescaled.
    direction : str
        ISOTROPY-style order-parameter direction of the canonical equivalent domain,
        e.g. ``"(a,0,0)"`` for a tilt about any cubic axis: the images of the order
        parameter under the parent's operations, the one with leading non-zero components
        and fewest minus signs.
    domain_direction : str
        Direction string of ``order_parameter`` itself (this child's domain and setting).
    copy_amplitudes : NDArray[float]
        ``(multiplicity,)`` ``Ap`` of each copy, Angstrom; their squares add to
        ``amplitude ** 2``.
    copy_order_parameters : NDArray[float]
        ``(multiplicity, dim)`` Angstrom, ``Ap``-normalised projections on each copy's
        basis.
    """

    irrep: str
    k: NDArray  # (3,)
    star: NDArray = field(repr=False)  # (n_arms, 3)
    dim: int
    multiplicity: int
    amplitude: float  # Angstrom (Ap)
    amplitude_supercell: float  # Angstrom (As)
    order_parameter: NDArray  # (dim,), Angstrom
    direction: str
    domain_direction: str
    copy_amplitudes: NDArray = field(repr=False)  # (multiplicity,), Angstrom
    copy_order_parameters: NDArray = field(repr=False)  # (multiplicity, dim), Angstrom

    def to_dict(self) -> dict:
        """JSON-serialisable dict; amplitudes in Angstrom."""
        return {
            "irrep": self.irrep,
            "k": _floats(self.k),
            "star": _floats(self.star),
            "dim": self.dim,
            "multiplicity": self.multiplicity,
            "amplitude_angstrom": float(self.amplitude),
            "amplitude_supercell_angstrom": float(self.amplitude_supercell),
            "direction": self.direction,
            "domain_direction": self.domain_direction,
            "order_parameter_angstrom": _floats(self.order_parameter),
            "copy_amplitudes_angstrom": _floats(self.copy_amplitudes),
        }


@dataclass(frozen=True)
class StrainMode:
    """One irrep's part of the homogeneous strain of a child.

    Attributes
    ----------
    irrep : str
        Label of the parent space group's irrep at Gamma ('GM1+', 'GM3+', 'GM5+'; a pair
        of complex-conjugate irreps is written as both labels, 'GM2+GM3+'); the point-group
        name where no table label is found.
    point_group_label : str
        Mulliken name in the parent's point group ('A1g', 'Eg', 'T2g').
    amplitude : float
        Frobenius norm of :attr:`tensor` (dimensionless).
    tensor : NDArray[float]
        ``(3, 3)`` the part of the Biot strain, parent Cartesian axes; the parts add up to
        the strain.
    """

    irrep: str
    point_group_label: str
    amplitude: float
    tensor: NDArray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "irrep": self.irrep,
            "point_group_label": self.point_group_label,
            "strain_amplitude": float(self.amplitude),
            "strain": _floats(self.tensor),
        }


@dataclass(frozen=True)
class ModeDecomposition:
    """Result of :func:`decompose`.

    Attributes
    ----------
    mapping : ParentChildMapping
        The child mapped onto the origin-shifted parent (the child's primitive cell when
        the cell given is a centred one whose modes would need a larger parent supercell).
    origin_index : int
        Parent atom placed at coordinate zero.
    origin : LabelOrigin
        The origin of the ITA standard setting the labels refer to, and why.
    supercell_matrix : NDArray[int]
        ``(3, 3)`` child lattice = ``supercell_matrix @ parent.cell`` (before strain).
    n : int
        The ``n x n x n`` parent supercell in which the modes were computed.
    volume_ratio : float
        ``s`` = child primitive volume / parent primitive volume.
    amplitude : float
        Total ``Ap`` of the displacements, Angstrom.
    amplitude_supercell : float
        Total ``As`` over the child's primitive cell, Angstrom.
    irreps : tuple of IrrepAmplitude
        Every irrep of the displacement representation of the ``n x n x n`` supercell,
        largest amplitude first.
    completeness_residual : float
        ``|Ap_total^2 - sum Ap_irrep^2|`` in Angstrom^2; zero up to rounding when the
        modes span all displacements.
    strain : NDArray[float]
        ``(3, 3)`` symmetric Biot strain in the parent frame (dimensionless).
    strain_parts : dict[str, NDArray]
        Strain split into the parent point group's irreps (Mulliken labels, e.g.
        ``A1g`` volume, ``Eg`` tetragonal/orthorhombic, ``T2g`` shear for Oh); each
        ``(3, 3)``, they add up to ``strain``.
    strain_modes : tuple of StrainMode
        The same parts under the space group's Gamma labels (``GM1+``, ``GM3+``,
        ``GM5+``), largest first.
    parent_idealization : Idealization
        The parent's space group (found at ``symprec``) and how far the parent given was
        from it; the decomposition is done against the idealised parent.
    """

    mapping: ParentChildMapping = field(repr=False)
    origin_index: int
    supercell_matrix: NDArray  # (3, 3) int
    n: int
    volume_ratio: float
    amplitude: float  # Angstrom
    amplitude_supercell: float  # Angstrom
    irreps: tuple[IrrepAmplitude, ...]
    completeness_residual: float  # Angstrom^2
    strain: NDArray  # (3, 3)
    strain_parts: dict = field(repr=False)  # label -> (3, 3)
    parent_idealization: Idealization | None = field(repr=False, default=None)
    strain_modes: tuple[StrainMode, ...] = ()
    origin: LabelOrigin | None = field(repr=False, default=None)

    @property
    def principal_strains(self) -> NDArray:
        """``(3,)`` eigenvalues of the Biot strain, ascending (dimensionless)."""
        return np.linalg.eigvalsh(np.asarray(self.strain, dtype=float))

    def significant(self, threshold: float = 1e-4) -> list[IrrepAmplitude]:
        """Irreps with ``amplitude > threshold`` (Angstrom)."""
        return [ir for ir in self.irreps if ir.amplitude > threshold]

    def __getitem__(self, label: str) -> IrrepAmplitude:
        for ir in self.irreps:
            if ir.irrep == label:
                return ir
        raise KeyError(f"no irrep {label!r}; have {[ir.irrep for ir in self.irreps]}")

    def isodistort_text(self, threshold: float = 1e-4) -> str:
        """The amplitudes as ISODISTORT lists them, to compare line by line: one line per irrep
        above ``threshold``, ``[k]irrep(direction)  As  Ap`` (Angstrom: ``As`` over the child's
        primitive cell, ``Ap`` per parent cell), totals, then the strain (Voigt, e1..e6).
        """
        from fractions import Fraction

        def k_text(k) -> str:
            return ",".join(str(Fraction(float(x)).limit_denominator(24)) for x in k)

        where = (
            f"parent atom {self.origin_index}"
            if self.origin is None
            else self.origin.describe(self.mapping.parent)
        )
        lines = [
            f"# mode amplitudes, {where}; supercell {np.asarray(self.supercell_matrix).tolist()}",
            f"# {'mode':<40} {'As (A)':>10} {'Ap (A)':>10}",
        ]
        for ir in self.significant(threshold):
            label = f"[{k_text(ir.k)}]{ir.irrep}{ir.direction}"
            lines.append(f"{label:<42} {ir.amplitude_supercell:10.5f} {ir.amplitude:10.5f}")
        lines.append(f"{'Overall':<42} {self.amplitude_supercell:10.5f} {self.amplitude:10.5f}")
        e = np.asarray(self.strain, dtype=float)
        voigt = [e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]]
        for mode in self.strain_modes:
            label = f"[0,0,0]{mode.irrep} strain ({mode.point_group_label})"
            lines.append(f"{label:<42} {mode.amplitude:10.5f}")
        lines.append("# strain (Voigt, parent axes): " + " ".join(f"{x:.6f}" for x in voigt))
        return "\n".join(lines) + "\n"

    def to_dict(self, threshold: float = 1e-4) -> dict:
        """JSON-serialisable dict; irreps with amplitude above ``threshold`` Angstrom."""
        return {
            "origin_index": self.origin_index,
            **({"origin": self.origin.to_dict(self.mapping.parent)} if self.origin else {}),
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "n": self.n,
            "volume_ratio": float(self.volume_ratio),
            "amplitude_angstrom": float(self.amplitude),
            "amplitude_supercell_angstrom": float(self.amplitude_supercell),
            "completeness_residual": float(self.completeness_residual),
            "irreps": [ir.to_dict() for ir in self.significant(threshold)],
            "strain": _floats(self.strain),
            "strain_parts": {k: _floats(v) for k, v in self.strain_parts.items()},
            "strain_modes": [m.to_dict() for m in self.strain_modes],
            "principal_strains": _floats(self.principal_strains),
            "origin_shift": _floats(self.mapping.origin_shift),
            **(
                {"parent_symmetry": self.parent_idealization.to_dict()}
                if self.parent_idealization
                else {}
            ),
        }


#: Largest n x n x n parent supercell (atoms) a decomposition builds its modes in: a child
#: whose cell maps to the parent through a long, thin supercell (Smith invariant 8: a random
#: trial relaxed into another stacking) is reported, not decomposed in 512 cells.
MAX_MODE_ATOMS = 1000
MAX_MODE_N = 6


def _floats(x) -> list:
    return np.round(np.asarray(x, dtype=float), 12).tolist()


# --------------------------------------------------------------------------- public
def decompose(
    parent,
    child,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    max_displacement: float = 1.0,
    max_strain: float = DEFAULT_MAX_STRAIN,
    direction_tol: float = 1e-2,
) -> ModeDecomposition:
    """Decompose the child's distortion into irreps of the parent space group.

    Parameters
    ----------
    parent : ase.Atoms or pymatgen Structure
        High-symmetry structure (its cell is the unit of the supercell matrix).
    child : ase.Atoms or pymatgen Structure
        Distorted structure in any setting (see :func:`map_to_parent`).
    origin_index : int, optional
        Parent atom put at coordinate zero (the labels refer to it when it sits on an origin
        of the ITA standard setting, see :mod:`~ase_symbreak.symmetry.origin`); default
        :func:`~ase_symbreak.symmetry.origin.default_origin_index` (B site of a
        perovskite).
    symprec : float
        Symmetry tolerance of the parent, Angstrom.
    max_displacement, max_strain : float
        Limits passed to :func:`map_to_parent`.
    direction_tol : float
        Relative tolerance of the order-parameter direction strings: components (and
        differences of components) below ``direction_tol`` times the amplitude count as
        zero, so small noise on a relaxed structure does not hide ``(a,0,0)``.

    Returns
    -------
    ModeDecomposition

    Raises
    ------
    ValueError
        If the child cannot be mapped onto the parent (see :func:`map_to_parent`).

    Examples
    --------
    >>> from ase_symbreak.structures import cubic_perovskite
    >>> from ase_symbreak.symmetry import isotropy_subgroups
    >>> parent = cubic_perovskite(3.9)
    >>> tilted = isotropy_subgroups(parent, "R4+")[1].structure   # I4/mcm, 0.05 A
    >>> [(ir.irrep, ir.direction) for ir in decompose(parent, tilted).significant(1e-3)]
    [('R4+', '(a,0,0)')]
    """
    ideal = idealize_and_warn(to_atoms(parent), symprec)
    parent = ideal.atoms
    origin = default_origin_index(parent, symprec) if origin_index is None else int(origin_index)
    shifted = shift_origin(parent, origin)
    mapping = map_to_parent(
        shifted, child, max_displacement=max_displacement, max_strain=max_strain
    )
    n = smith_invariants(mapping.supercell_matrix)[2]
    if n > 1:  # a centred cell (R-3c in hexagonal axes) may need a larger supercell than
        # its primitive cell does: decompose the primitive cell then
        primitive = primitive_structure(mapping.child, symprec)
        if len(primitive) < len(mapping.child):
            reduced = map_to_parent(
                shifted, primitive, max_displacement=max_displacement, max_strain=max_strain
            )
            if smith_invariants(reduced.supercell_matrix)[2] < n:
                mapping, n = reduced, smith_invariants(reduced.supercell_matrix)[2]
    if n > MAX_MODE_N or n**3 * len(parent) > MAX_MODE_ATOMS:
        raise ValueError(
            f"the child's cell maps to the parent with a supercell whose largest Smith "
            f"invariant is {n}: its modes would need an {n}x{n}x{n} supercell of "
            f"{n**3 * len(parent)} atoms (limits n <= {MAX_MODE_N}, {MAX_MODE_ATOMS} atoms); "
            "not decomposed"
        )
    rep = _displacement_modes(parent, n, origin, symprec)
    if not _same_structure(rep.parent, shifted):
        mapping = map_to_parent(rep.parent, child, max_displacement, max_strain)
    u = _supercell_displacements(mapping, rep)  # (N_sc, 3)
    # Ap is per parent *primitive* cell, whichever parent cell was given (a conventional
    # F-centred cell holds 4): n_cells counts primitive cells of the parent in the supercell
    n_cells = n**3 * _primitive_cells_in(shifted, symprec)
    s = _primitive_volume_ratio(shifted, mapping.child, symprec)
    irreps = [_irrep_amplitude(m, u, n_cells, s, direction_tol) for m in rep.irreps]
    irreps.sort(key=lambda r: (-round(r.amplitude, 10), r.irrep))
    total_sq = float(np.sum(u**2)) / n_cells
    parts = strain_by_irrep(shifted, mapping.strain, symprec)
    residual = abs(total_sq - sum(r.amplitude**2 for r in irreps))
    return ModeDecomposition(
        mapping=mapping,
        origin_index=origin,
        supercell_matrix=mapping.supercell_matrix,
        n=n,
        volume_ratio=s,
        amplitude=float(np.sqrt(total_sq)),
        amplitude_supercell=float(np.sqrt(total_sq * s)),
        irreps=tuple(irreps),
        completeness_residual=residual,
        strain=mapping.strain,
        strain_parts=parts,
        parent_idealization=ideal,
        strain_modes=_named_strain_modes(shifted, parts, symprec),
        origin=rep.origin,
    )


def strain_by_irrep(parent, strain: NDArray, symprec: float = 1e-3, tol: float = 1e-12) -> dict:
    """Split a symmetric strain into parts transforming like the parent's point-group irreps.

    Parameters
    ----------
    parent : ase.Atoms
        Its point group (Cartesian, parent frame) defines the split.
    strain : NDArray
        ``(3, 3)`` strain tensor in the parent frame.

    Returns
    -------
    dict[str, NDArray]
        Mulliken label -> ``(3, 3)`` part, for parts with a norm above ``tol``.
    """
    if np.linalg.norm(strain) <= tol:
        return {}
    rotations = point_group_operations(parent, symprec=symprec)
    rep = tensor_representation(rotations, 2)
    vec = np.asarray(strain, dtype=float).ravel()
    parts = {}
    for irrep in point_group_irreps(rotations):
        part = np.real(projection_operator(rep, irrep) @ vec).reshape(3, 3)
        if np.linalg.norm(part) > tol:
            parts[irrep.label] = part
    return parts


# --------------------------------------------------------------------------- helpers
_MODES_CACHE: OrderedDict = OrderedDict()
_MODES_CACHE_SIZE = 8


def _displacement_modes(parent: Atoms, n: int, origin: int, symprec: float):
    """``displacement_modes(parent, (n, n, n))``, cached for repeated decompositions."""
    from .modes import displacement_modes

    key = (
        parent.numbers.tobytes(),
        np.round(parent.get_positions(), 10).tobytes(),
        np.round(parent.cell[:], 10).tobytes(),
        n,
        origin,
        symprec,
    )
    if key in _MODES_CACHE:
        _MODES_CACHE.move_to_end(key)
        return _MODES_CACHE[key]
    rep = displacement_modes(parent, (n, n, n), origin_index=origin, symprec=symprec)
    _MODES_CACHE[key] = rep
    if len(_MODES_CACHE) > _MODES_CACHE_SIZE:
        _MODES_CACHE.popitem(last=False)
    return rep


def _same_structure(a: Atoms, b: Atoms, tol: float = 1e-6) -> bool:
    if len(a) != len(b) or not np.allclose(a.cell[:], b.cell[:], atol=tol):
        return False
    return bool(
        np.array_equal(a.numbers, b.numbers) and np.allclose(a.positions, b.positions, atol=tol)
    )


def _supercell_displacements(mapping: ParentChildMapping, rep) -> NDArray:
    """The child's displacement field on the sites of the modes' parent supercell."""
    sc = rep.supercell
    frac = sc.get_positions() @ np.linalg.inv(np.asarray(mapping.parent.cell[:]))
    return mapping.displacement_field(frac)


def _n_primitive(atoms: Atoms, symprec: float) -> int:
    """Number of atoms in the primitive cell of ``atoms``."""
    return len(primitive_structure(atoms, symprec))


def _primitive_cells_in(parent: Atoms, symprec: float) -> int:
    """How many primitive cells the parent cell as given holds (1, or 2, 4 for centred)."""
    return max(1, round(len(parent) / _n_primitive(parent, symprec)))


def _primitive_volume_ratio(parent: Atoms, child: Atoms, symprec: float) -> float:
    """``s``: child primitive cell volume over parent primitive cell volume."""
    return _n_primitive(child, symprec) / _n_primitive(parent, symprec)


def _irrep_amplitude(modes, u: NDArray, n_cells: int, s: float, tol: float) -> IrrepAmplitude:
    basis = np.asarray(modes.basis)  # (mult, dim, N, 3)
    mult, dim = basis.shape[:2]
    coeffs = np.einsum("mdna,na->md", basis, u) / np.sqrt(n_cells)  # Ap-normalised
    amplitude = float(np.linalg.norm(coeffs))
    op = _combined_order_parameter(coeffs, amplitude)
    return IrrepAmplitude(
        irrep=modes.irrep.label,
        k=np.asarray(modes.irrep.k, dtype=float),
        star=np.asarray(modes.irrep.star, dtype=float),
        dim=int(dim),
        multiplicity=int(mult),
        amplitude=amplitude,
        amplitude_supercell=amplitude * float(np.sqrt(s)),
        order_parameter=op,
        direction=_direction(op, amplitude, tol, np.asarray(modes.matrices)),
        domain_direction=_direction(op, amplitude, tol),
        copy_amplitudes=np.linalg.norm(coeffs, axis=1),
        copy_order_parameters=coeffs,
    )


def _combined_order_parameter(coeffs: NDArray, amplitude: float) -> NDArray:
    """Sum the copies' order parameters, each signed to agree with the largest copy.

    With one copy this is that copy's order parameter; the result is rescaled so that
    its norm is the irrep's total amplitude.
    """
    if amplitude < 1e-12:
        return np.zeros(coeffs.shape[1])
    ref = coeffs[np.argmax(np.linalg.norm(coeffs, axis=1))]
    signs = np.where(coeffs @ ref < 0, -1.0, 1.0)
    total = signs @ coeffs
    return amplitude * total / np.linalg.norm(total)


def _direction(op: NDArray, amplitude: float, tol: float, matrices: NDArray | None = None) -> str:
    """Direction string of ``op``; with ``matrices`` the canonical one over its images."""
    if amplitude < 1e-8:
        return "(" + ",".join("0" for _ in op) + ")"
    from .isotropy import order_parameter_direction

    unit = op / amplitude
    if matrices is None:
        return order_parameter_direction(unit, tol=tol)
    images = np.unique(np.round(np.einsum("gij,j->gi", matrices, unit), 8), axis=0)
    names = {order_parameter_direction(v, tol=tol) for v in images}
    return min(names, key=_direction_key)


def _direction_key(name: str) -> tuple:
    tokens = name.strip("()").split(",")
    return (tuple(t == "0" for t in tokens), sum(t.startswith("-") for t in tokens), tokens)


def strain_modes(parent, strain: NDArray, symprec: float = 1e-3) -> tuple[StrainMode, ...]:
    """The strain split into the parent's irreps at Gamma, with their Bilbao labels.

    Parameters
    ----------
    parent : ase.Atoms
        Its space group names the parts (the labels at Gamma do not depend on the origin).
    strain : NDArray
        ``(3, 3)`` symmetric strain, parent Cartesian axes.

    Returns
    -------
    tuple[StrainMode, ...]
        Largest amplitude first; parts with a norm below 1e-12 are left out.
    """
    return _named_strain_modes(parent, strain_by_irrep(parent, strain, symprec), symprec)


def _named_strain_modes(parent, parts: dict, symprec: float) -> tuple[StrainMode, ...]:
    """:class:`StrainMode` of each part of :func:`strain_by_irrep`, largest first."""
    if not parts:
        return ()
    names = _gamma_names(parent, symprec)
    modes = [
        StrainMode(
            irrep=names.get(label, label),
            point_group_label=label,
            amplitude=float(np.linalg.norm(part)),
            tensor=part,
        )
        for label, part in parts.items()
    ]
    return tuple(sorted(modes, key=lambda m: (-round(m.amplitude, 12), m.irrep)))


#: Gamma names by (space group number, cell, Cartesian point-group rotations): every child
#: of one parent needs the same (a decomposition per relaxed child in a search). The cell is
#: in the key because its orientation decides which mirrors the tables call which.
_GAMMA_NAMES: dict[tuple[int, bytes, bytes], dict[str, str]] = {}


def _gamma_names(parent, symprec: float) -> dict[str, str]:
    """Mulliken label of each real point-group irrep -> the space group's Gamma label(s)."""
    rotations = point_group_operations(parent, symprec=symprec)
    key = (
        analyze(parent, symprec=symprec).number,
        np.round(np.asarray(parent.cell[:], dtype=float), 8).tobytes(),
        np.round(rotations, 8).tobytes(),
    )
    if key not in _GAMMA_NAMES:
        _GAMMA_NAMES[key] = _match_gamma_names(parent, rotations, symprec)
    return dict(_GAMMA_NAMES[key])


def _match_gamma_names(parent, rotations: NDArray, symprec: float) -> dict[str, str]:
    """The Gamma irreps whose characters on ``rotations`` are each point-group irrep's."""
    from .irreps import irreps_at_k

    try:
        gamma = irreps_at_k(parent, np.zeros(3), origin_index=0, symprec=symprec)
    except (ValueError, RuntimeError, KeyError):  # no tables: keep the point-group names
        return {}
    a = np.asarray(parent.cell[:], dtype=float)
    characters = []
    for irr in gamma:  # each Gamma irrep's characters on the Cartesian point-group rotations
        cart = np.einsum("ji,njk,lk->nil", a, np.asarray(irr.little_rotations), np.linalg.inv(a))
        chi = np.zeros(len(rotations), dtype=complex)
        for r, c in zip(cart, irr.characters):
            i = int(np.argmin(np.abs(rotations - r).sum(axis=(1, 2))))
            chi[i] = c
        characters.append(chi)
    names = {}
    for pg in point_group_irreps(rotations):
        target = np.asarray(pg.characters, dtype=complex)
        found = [irr.label for irr, chi in zip(gamma, characters) if np.allclose(chi, target)]
        if not found:  # a real pair of complex-conjugate irreps
            found = [
                gamma[i].label + gamma[j].label
                for i in range(len(gamma))
                for j in range(i + 1, len(gamma))
                if np.allclose(characters[i] + characters[j], target)
            ]
        if found:
            names[pg.label] = found[0]
    return names
