"""Structures shared by the demo, examples and tests."""

from __future__ import annotations

from ase import Atoms


def cubic_perovskite(a: float = 3.9, symbols: str = "SrTiO3") -> Atoms:
    """Cubic ABX3 perovskite (Pm-3m) with the B site at the origin."""
    return Atoms(
        symbols,
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )

