"""The calculator of the commands: :class:`~ase_symbreak.calculator.SymBreakCalculator` that
also refuses periodic structures with atoms out of the model's reach.

A crystal typed in the wrong unit (a perovskite cell of 39 A) has atoms that see no
neighbour within the model's cutoff: their forces and force constants are zero, and a
phonon calculation or a search would call the crystal dynamically stable. The library's
calculator takes such structures (an atom in a periodic box is how one computes an isolated
atom's energy); the commands, which compute phonons of crystals, refuse them.
"""

from __future__ import annotations

from ase import Atoms

from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.validation import check_reach

__all__ = ["CommandCalculator"]


class CommandCalculator(SymBreakCalculator):
    """:class:`SymBreakCalculator` whose :meth:`check_structure` also raises ``ValueError``
    for a 3-D periodic structure with an atom that has no neighbour within the model's cutoff
    (:func:`~ase_symbreak.validation.check_reach`).
    """

    def check_structure(self, atoms: Atoms) -> None:
        super().check_structure(atoms)
        cutoff = getattr(self.model, "cutoff", None)
        if isinstance(cutoff, (int, float)):
            check_reach(atoms, float(cutoff))
