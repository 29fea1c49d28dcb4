"""Identification of a relaxed child: space group (at a looser tolerance, symmetrised),
energy gain per formula unit and decomposition into the parent's irreps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import NOT_SAVED, Record

from ..records import IrrepRole
from ..settings import DEFAULTS
from .common import formula_units
from .relax import RelaxResult

__all__ = ["Identification", "identify"]


@dataclass(frozen=True)
class Identification(Record):
    """Result of :func:`identify`.

    Attributes
    ----------
    space_group_number, space_group_symbol
        spglib, of the relaxed child.
    energy_per_fu : float
        eV per formula unit of the child.
    energy_gain_mev_per_fu : float
        Parent minus child energy per formula unit, meV (positive: the child is lower).
    irreps : tuple[IrrepRole, ...]
        Irreps of the parent in the child's distortion above the threshold, largest first:
        ``irrep``, ``amplitude`` (Ap, Angstrom), ``direction``, ``role`` (``"primary"`` for
        condensed irreps, ``"secondary"`` for those that appeared by coupling).
    amplitude : float
        Total ``Ap`` (Angstrom).
    strain : NDArray
        (3, 3) Biot strain of the child relative to the parent.
    error : str or None
        Why the decomposition failed, if it did.
    relaxed_space_group_number, relaxed_space_group_symbol
        spglib, of the relaxed child at the parent's ``symprec`` (before symmetrisation).
    child_symprec : float
        Tolerance (Angstrom) at which the child was identified: a relaxation stopped at
        ``fmax`` leaves residual displacements of this order, so a child that relaxed back
        towards a higher group is reported (and symmetrised) in that group.
    symmetrized : Atoms or None
        The child idealised to ``space_group_number`` (written as the child's CIF); not in
        the JSON.
    """

    space_group_number: int
    space_group_symbol: str
    energy_per_fu: float
    energy_gain_mev_per_fu: float
    irreps: tuple[IrrepRole, ...] = ()
    amplitude: float = 0.0
    strain: NDArray = field(default_factory=lambda: np.zeros((3, 3)))
    error: str | None = None
    relaxed_space_group_number: int = 0
    relaxed_space_group_symbol: str = ""
    child_symprec: float = 0.0
    symmetrized: Atoms | None = field(repr=False, default=None, compare=False, metadata=NOT_SAVED)

    @property
    def primary(self) -> list[IrrepRole]:
        return [ir for ir in self.irreps if ir.role == "primary"]

    @property
    def secondary(self) -> list[IrrepRole]:
        return [ir for ir in self.irreps if ir.role == "secondary"]


def _energy_of(x: RelaxResult | Atoms, energy: float | None) -> tuple[Atoms, float]:
    if isinstance(x, RelaxResult):
        return x.atoms, x.energy if energy is None else energy
    if energy is None:
        if x.calc is None:
            raise ValueError("give the energy or attach a calculator")
        energy = float(x.get_potential_energy())
    return x, energy


def identify(
    child: RelaxResult | Atoms,
    parent: RelaxResult | Atoms,
    condensed: Sequence[str] = (),
    child_energy: float | None = None,
    parent_energy: float | None = None,
    origin_index: int | None = None,
    symprec: float = 1e-3,
    threshold: float = 2e-3,
    child_symprec: float | None = 1e-2,
    max_strain: float = DEFAULTS.max_strain,
    max_displacement: float = DEFAULTS.max_displacement,
) -> Identification:
    """Space group, energy gain per formula unit and mode decomposition of a relaxed child.

    Parameters
    ----------
    child, parent : RelaxResult, or Atoms (energies then from ``*_energy`` or their calculator)
    condensed : irreps that were condensed (``role="primary"``); others found are secondary.
    origin_index : parent atom at the origin for the labels (default: B site of perovskites).
    threshold : smallest ``Ap`` (Angstrom) reported.
    child_symprec : tolerance (Angstrom) of the child's space group, at least ``symprec``;
        the child is symmetrised to the group found (``Identification.symmetrized``). None:
        ``symprec``.
    max_strain, max_displacement : limits of the parent-child mapping of the decomposition
        (principal Biot strain; Angstrom), :func:`~ase_symbreak.symmetry.map_to_parent`.
    """
    from ase_symbreak.symmetry import analyze, decompose
    from ase_symbreak.symmetry.idealize import idealize

    child_atoms, e_child = _energy_of(child, child_energy)
    parent_atoms, e_parent = _energy_of(parent, parent_energy)
    info = analyze(child_atoms, symprec=symprec)
    tol = symprec if child_symprec is None else max(float(child_symprec), symprec)
    number, symbol, symmetrized = int(info.number), str(info.symbol), None
    try:
        ideal = idealize(child_atoms, tol)
        number, symbol, symmetrized = ideal.number, ideal.symbol, ideal.atoms
    except ValueError:  # no consistent group at the looser tolerance: keep the relaxed one
        tol = symprec
    e_child_fu = e_child / formula_units(child_atoms, parent_atoms)
    gain = (e_parent / formula_units(parent_atoms) - e_child_fu) * 1000.0
    irreps: list[IrrepRole] = []
    error = None
    amplitude = 0.0
    strain = np.zeros((3, 3))
    try:
        dec = decompose(
            parent_atoms,
            child_atoms,
            origin_index=origin_index,
            symprec=symprec,
            max_strain=max_strain,
            max_displacement=max_displacement,
        )
        amplitude = float(dec.amplitude)
        strain = np.asarray(dec.strain, dtype=float)
        for ir in dec.significant(threshold):
            irreps.append(
                IrrepRole(
                    irrep=ir.irrep,
                    amplitude=float(ir.amplitude),
                    direction=ir.direction,
                    role="primary" if ir.irrep in condensed else "secondary",
                )
            )
    except (ValueError, RuntimeError) as err:
        error = str(err)
    return Identification(
        space_group_number=number,
        space_group_symbol=symbol,
        energy_per_fu=float(e_child_fu),
        energy_gain_mev_per_fu=float(gain),
        irreps=tuple(irreps),
        amplitude=amplitude,
        strain=strain,
        error=error,
        relaxed_space_group_number=int(info.number),
        relaxed_space_group_symbol=str(info.symbol),
        child_symprec=float(tol),
        symmetrized=symmetrized,
    )
