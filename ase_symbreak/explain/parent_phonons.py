"""The parent's labelled phonons with the child's modes marked.

With a calculator, :class:`~ase_symbreak.phonons.Phonons` of the ideal parent (its primitive
cell, the decomposition's ``n x n x n`` supercell, so every wave vector of the child is on
the grid, and the decomposition's origin, so the labels are the same) gives every mode at
every commensurate q with its irrep; the modes whose irrep the child carries are marked.
The parent is the ideal structure found from the child, not relaxed with the model: an
imaginary frequency says the mode lowers the energy at that geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from ase import Atoms

from ase_symbreak.codec import Record
from ase_symbreak.progress import Progress

__all__ = ["ParentPhonon", "parent_phonons"]


@dataclass(frozen=True)
class ParentPhonon(Record):
    """One labelled set of degenerate modes of the parent.

    Attributes
    ----------
    q_label, irrep : str
    frequency_thz : float
        Imaginary as negative.
    degeneracy : int
    in_child : bool
        The child carries this irrep (above the explanation's threshold).
    """

    q_label: str
    irrep: str
    frequency_thz: float
    degeneracy: int
    in_child: bool


def parent_phonons(
    primitive: Atoms,
    calc,
    n: int,
    origin_index: int,
    child_irreps: set[str],
    progress: Progress | None = None,
) -> tuple[ParentPhonon, ...]:
    """Labelled phonons of ``primitive`` in its ``n x n x n`` supercell, lowest first
    (``progress(done, total)`` over the Hessian rows or displaced cells).
    """
    from ase_symbreak.phonons import Phonons

    calculation = Phonons(primitive, calc, supercell=(n, n, n), origin_index=origin_index)
    modes = calculation.run(progress).modes
    out = [
        ParentPhonon(
            q_label=str(m.q_label),
            irrep=str(m.irrep),
            frequency_thz=float(m.frequency_thz),
            degeneracy=int(m.degeneracy),
            in_child=m.irrep in child_irreps,
        )
        for m in modes
    ]
    return tuple(sorted(out, key=lambda p: p.frequency_thz))
