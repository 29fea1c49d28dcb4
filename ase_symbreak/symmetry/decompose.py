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
Angstrom, in the unstrained parent frame, with the uniform translation removed. The
homogeneous strain is reported separately (Biot strain, split into the parent point
group's irreps).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import spglib
from ase import Atoms
from numpy.typing import NDArray

from .idealize import Idealization, idealize_and_warn
from .mapping import ParentChildMapping, map_to_parent, smith_invariants
from .pointgroup import (
    point_group_irreps,
    point_group_operations,
    projection_operator,
    tensor_representation,
)
from .spacegroup import default_origin_index, shift_origin, to_atoms

__all__ = ["IrrepAmplitude", "ModeDecomposition", "decompose", "strain_by_irrep"]

from ase_symbreak.validation import check_symprec


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
        ``Ap`` in Angstrom (normalised to the parent cell).
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
class ModeDecomposition:
    """Result of :func:`decompose`.

    Attributes
    ----------
    mapping : ParentChildMapping
        The child mapped onto the origin-shifted parent.
    origin_index : int
        Parent atom placed at the origin (fixes the irrep labels).
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

        lines = [
            f"# mode amplitudes, origin at parent atom {self.origin_index}; "
            f"supercell {np.asarray(self.supercell_matrix).tolist()}",
            f"# {'mode':<40} {'As (A)':>10} {'Ap (A)':>10}",
        ]
        for ir in self.significant(threshold):
            label = f"[{k_text(ir.k)}]{ir.irrep}{ir.direction}"
            lines.append(f"{label:<42} {ir.amplitude_supercell:10.5f} {ir.amplitude:10.5f}")
        lines.append(f"{'Overall':<42} {self.amplitude_supercell:10.5f} {self.amplitude:10.5f}")
        e = np.asarray(self.strain, dtype=float)
        voigt = [e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]]
        lines.append("# strain (Voigt, parent axes): " + " ".join(f"{x:.6f}" for x in voigt))
        return "\n".join(lines) + "\n"

    def to_dict(self, threshold: float = 1e-4) -> dict:
        """JSON-serialisable dict; irreps with amplitude above ``threshold`` Angstrom."""
        return {
            "origin_index": self.origin_index,
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "n": self.n,
            "volume_ratio": float(self.volume_ratio),
            "amplitude_angstrom": float(self.amplitude),
            "amplitude_supercell_angstrom": float(self.amplitude_supercell),
            "completeness_residual": float(self.completeness_residual),
            "irreps": [ir.to_dict() for ir in self.significant(threshold)],
            "strain": _floats(self.strain),
            "strain_parts": {k: _floats(v) for k, v in self.strain_parts.items()},
            "origin_shift": _floats(self.mapping.origin_shift),
            **(
                {"parent_symmetry": self.parent_idealization.to_dict()}
                if self.parent_idealization
                else {}
            ),
        }


def _floats(x) -> list:
    return np.round(np.asarray(x, dtype=float), 12).tolist()


# --------------------------------------------------------------------------- public
def decompose(
    parent,
    child,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    max_displacement: float = 1.0,
    max_strain: float = 0.05,
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
        Parent atom put at the origin; default
        :func:`~ase_symbreak.symmetry.spacegroup.default_origin_index` (B site of a
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
    rep = _displacement_modes(parent, n, origin, symprec)
    if not _same_structure(rep.parent, shifted):
        mapping = map_to_parent(rep.parent, child, max_displacement, max_strain)
    u = _supercell_displacements(mapping, rep)  # (N_sc, 3)
    n_cells = n**3
    s = _primitive_volume_ratio(shifted, mapping.child, symprec)
    irreps = [_irrep_amplitude(m, u, n_cells, s, direction_tol) for m in rep.irreps]
    irreps.sort(key=lambda r: (-round(r.amplitude, 10), r.irrep))
    total_sq = float(np.sum(u**2)) / n_cells
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
        strain_parts=strain_by_irrep(shifted, mapping.strain, symprec),
        parent_idealization=ideal,
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


def _primitive_volume_ratio(parent: Atoms, child: Atoms, symprec: float) -> float:
    """``s``: child primitive cell volume over parent primitive cell volume."""

    def n_primitive(atoms: Atoms) -> int:
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        check_symprec(symprec)
        prim = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=symprec)
        return len(atoms) if prim is None else len(prim[2])

    return n_primitive(child) / n_primitive(parent)


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
