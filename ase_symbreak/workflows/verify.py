"""A second opinion on a finished search: its top structures again, with another calculator.

:func:`verify_search` takes a :class:`~.search_result.SearchResult` (or its folder, read by
:func:`~.folder.load_search`) and a second ASE calculator (another machine-learned
potential; DFT through ASE to confirm what the fast model predicted). It relaxes the
search's parent and its ``top`` ranked structures again with the second calculator, each in
its own space group (``FixSymmetry``, positions and cell, the search's force criteria and
optimiser), recomputes their energy gains relative to the parent relaxed with that same
calculator, and checks their dynamical stability there: labelled phonons from
:func:`~ase_symbreak.hessian.any_calculator.calculator_force_constants` (the exact Hessian
where the calculator has one, finite displacements otherwise) at the supercell the search
used for each structure. The strain (elastic) check of the search is not repeated: a
structure unstable to strain alone reads as stable here.

The result, a :class:`Verification`, says where the two calculators agree and where they
disagree: the order of the energy gains (ranking), the space group each structure keeps
after relaxing, its stability, whether it lies below the parent at all, and the parent's own
stability. With ``write=True`` it is saved as ``verify.json`` in the search folder.

>>> from ase_symbreak.workflows.verify import verify_search         # doctest: +SKIP
>>> check = verify_search("SrTiO3_search", other_calculator, top=3)  # doctest: +SKIP
>>> check.agrees, check.disagreements                                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ase_symbreak.codec import Record
from ase_symbreak.errors import first_line

from .search_result import SearchResult

__all__ = ["VERIFY_FILE", "Verification", "VerifiedStructure", "verify_search"]

#: The file :func:`verify_search` writes into the search folder.
VERIFY_FILE = "verify.json"

#: Two gains closer than this (meV per formula unit) are a tie: their order is not a
#: disagreement (relaxation noise of two calculators).
RANK_TOLERANCE_MEV = 0.1

#: What "stable" means for the second calculator.
STABILITY_CHECK = "phonons at the search's supercell of each structure (no strain check)"


@dataclass(frozen=True)
class VerifiedStructure(Record):
    """One of the search's top structures, as the search found it (``_a``) and relaxed again
    with the second calculator (``_b``).

    Attributes
    ----------
    name : str
        '#3' (a node of the descent) or 'child 2' (a child of a one-level search).
    node, candidate_index : int or None
        Which node / child of the search it is.
    space_group_a, space_group_b : str
        'R3m (160)', of the search's structure and of the one relaxed with the second
        calculator, both found at the search's ``child_symprec``.
    gain_a_mev_per_fu, gain_b_mev_per_fu : float
        Energy below the parent, each relaxed with its own calculator (meV per formula unit).
    rank_a, rank_b : int
        1 for the largest gain among the verified structures, with each calculator.
    stable_a, stable_b : bool or None
        Dynamically stable (None: not checked; the search's one-level children are not).
    softest_b : str
        The lowest labelled mode with the second calculator ('R4+ at R, -1.23 THz').
    supercell : tuple
        The phonon supercell (3x3) of the second calculator's check.
    converged_b : bool
        Whether the relaxation with the second calculator reached the force criterion.
    atoms_b : Atoms
        The structure relaxed with the second calculator.
    failed : str
        Why the second calculator's relaxation or phonons failed ('' when they did not;
        then ``gain_b_mev_per_fu``, ``rank_b`` and ``stable_b`` are None).
    """

    name: str
    node: int | None
    candidate_index: int | None
    space_group_a: str
    space_group_b: str
    gain_a_mev_per_fu: float
    gain_b_mev_per_fu: float | None
    rank_a: int
    rank_b: int | None
    stable_a: bool | None
    stable_b: bool | None
    softest_b: str
    supercell: tuple[tuple[int, ...], ...]
    converged_b: bool
    atoms_b: Atoms | None = field(default=None, repr=False, compare=False)
    failed: str = ""

    @property
    def same_space_group(self) -> bool:
        return bool(self.failed) or self.space_group_a == self.space_group_b

    @property
    def same_stability(self) -> bool | None:
        """None when the search did not check the structure."""
        if self.stable_a is None or self.stable_b is None:
            return None
        return self.stable_a == self.stable_b

    def summary(self) -> dict:
        from ase_symbreak.codec import encode

        d = encode(self)
        d.pop("atoms_b", None)
        d["same_space_group"] = self.same_space_group
        d["same_stability"] = self.same_stability
        return d


@dataclass(frozen=True)
class Verification(Record):
    """Where two calculators agree on a search's top structures (:func:`verify_search`).

    Attributes
    ----------
    folder : str or None
        The search folder.
    model_a, model_b : dict
        The search's calculator and the second one (``storage.model_description``).
    parent_space_group : str
    parent_energy_a_ev_per_fu, parent_energy_b_ev_per_fu : float
        The parent relaxed with each calculator.
    parent_stable_a, parent_stable_b : bool or None
        The parent's stability at the search's supercell with each calculator.
    parent_softest_b : str
    structures : tuple[VerifiedStructure, ...]
        The top structures, in the search's order.
    force_constants_b : str
        How the second calculator's force constants were found ('exact hessian', 'finite
        displacements').
    stability_check : str
        What "stable" means for the second calculator (:data:`STABILITY_CHECK`).
    disagreements : tuple[str, ...]
        One line per disagreement (empty: the two agree on everything compared).
    seconds : float
    """

    folder: str | None
    model_a: dict
    model_b: dict
    parent_space_group: str
    parent_energy_a_ev_per_fu: float
    parent_energy_b_ev_per_fu: float
    parent_stable_a: bool | None
    parent_stable_b: bool | None
    parent_softest_b: str
    structures: tuple[VerifiedStructure, ...]
    force_constants_b: str
    stability_check: str = STABILITY_CHECK
    disagreements: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)

    @property
    def agrees(self) -> bool:
        """Whether the two calculators agree on everything compared."""
        return not self.disagreements

    @property
    def ranking_agrees(self) -> bool:
        return not any(line.startswith("ranking:") for line in self.disagreements)

    def summary(self) -> dict:
        """``verify.json``'s readable part (the whole record follows under ``record``)."""
        return {
            "folder": self.folder,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "agrees": self.agrees,
            "ranking_agrees": self.ranking_agrees,
            "disagreements": list(self.disagreements),
            "parent": {
                "space_group": self.parent_space_group,
                "energy_a_ev_per_fu": self.parent_energy_a_ev_per_fu,
                "energy_b_ev_per_fu": self.parent_energy_b_ev_per_fu,
                "stable_a": self.parent_stable_a,
                "stable_b": self.parent_stable_b,
                "softest_b": self.parent_softest_b,
            },
            "structures": [s.summary() for s in self.structures],
            "force_constants_b": self.force_constants_b,
            "stability_check": self.stability_check,
            "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------- the check
@dataclass
class _Entry:
    """A structure of the search to verify."""

    name: str
    node: int | None
    candidate_index: int | None
    atoms: Atoms
    gain: float
    stable: bool | None
    supercell: Any


def _top_structures(result: SearchResult, top: int) -> list[_Entry]:
    """The ``top`` structures in the search's order: the descent's ranked nodes (stable ones
    first, then by energy), or the ranked children of a one-level search.
    """
    from .descent import child_supercell
    from .tree import ranked_nodes

    root = None
    if not isinstance(result.settings.supercell, str):
        root = np.asarray(result.settings.supercell) @ result.parent.atoms.cell[:]
    entries = []
    if result.nodes:
        for n in ranked_nodes(result.nodes):
            if n.atoms is None:
                continue
            supercell = n.phonon_supercell or child_supercell(n.atoms, root)
            entries.append(
                _Entry(
                    f"#{n.index}",
                    n.index,
                    None,
                    n.atoms,
                    n.energy_gain_mev_per_fu,
                    n.dynamically_stable,
                    supercell,
                )
            )
    else:
        for k, c in enumerate(result.children):
            atoms = c.relax.atoms
            supercell = result.settings.child_supercell or child_supercell(atoms, root)
            entries.append(
                _Entry(
                    f"child {k + 1}",
                    None,
                    c.candidate_index,
                    atoms,
                    c.identification.energy_gain_mev_per_fu,
                    None,
                    supercell,
                )
            )
    return entries[: max(int(top), 0)]


def _space_group(atoms: Atoms, symprec: float) -> str:
    from ase_symbreak.symmetry import analyze

    info = analyze(atoms, symprec=symprec)
    return f"{info.symbol} ({info.number})"


def _softest(modes) -> str:
    from .records import SoftestMode

    m = SoftestMode.of(modes)
    return "" if m is None else f"{m.irrep} at {m.q_label}, {m.frequency_thz:.2f} THz"


def _ranks(gains: list[float]) -> list[int]:
    order = sorted(range(len(gains)), key=lambda i: (-gains[i], i))
    ranks = [0] * len(gains)
    for r, i in enumerate(order):
        ranks[i] = r + 1
    return ranks


def _stable(value: bool | None) -> str:
    return {True: "stable", False: "unstable", None: "not checked"}[value]


def disagreements(
    structures: list[VerifiedStructure] | tuple[VerifiedStructure, ...],
    parent_stable_a: bool | None = None,
    parent_stable_b: bool | None = None,
    tolerance_mev: float = RANK_TOLERANCE_MEV,
) -> tuple[str, ...]:
    """One line per disagreement between the two calculators: the parent's stability, the
    order of every pair of structures whose gains differ by more than ``tolerance_mev`` with
    both, a structure below the parent with one and not with the other, a space group that
    changed on relaxing again, a stability verdict that differs.
    """
    lines = []
    if None not in (parent_stable_a, parent_stable_b) and parent_stable_a != parent_stable_b:
        lines.append(
            f"parent: {_stable(parent_stable_a)} with the search's calculator, "
            f"{_stable(parent_stable_b)} with the second"
        )
    for x in structures:
        if x.failed:
            lines.append(
                f"failed: {x.name} {x.space_group_a} with the second calculator: {x.failed}"
            )
    s = [x for x in structures if not x.failed and x.gain_b_mev_per_fu is not None]
    for i, x in enumerate(s):
        for y in s[i + 1 :]:
            da = x.gain_a_mev_per_fu - y.gain_a_mev_per_fu
            db = float(x.gain_b_mev_per_fu or 0.0) - float(y.gain_b_mev_per_fu or 0.0)
            if abs(da) > tolerance_mev and abs(db) > tolerance_mev and da * db < 0:
                hi, lo = (x, y) if da > 0 else (y, x)
                lines.append(
                    f"ranking: {hi.name} {hi.space_group_a} lies lower than {lo.name} "
                    f"{lo.space_group_a} with the search's calculator (gains "
                    f"{hi.gain_a_mev_per_fu:.2f} vs {lo.gain_a_mev_per_fu:.2f} meV/f.u.), "
                    f"higher with the second ({float(hi.gain_b_mev_per_fu or 0):.2f} vs "
                    f"{float(lo.gain_b_mev_per_fu or 0):.2f})"
                )
    for x in s:
        gain_b = float(x.gain_b_mev_per_fu or 0.0)
        if (x.gain_a_mev_per_fu > tolerance_mev) != (gain_b > tolerance_mev):
            lines.append(
                f"gain: {x.name} {x.space_group_a} lies {x.gain_a_mev_per_fu:.2f} meV/f.u. below "
                f"the parent with the search's calculator, {gain_b:.2f} with the second"
            )
        if not x.same_space_group:
            lines.append(
                f"space group: {x.name} {x.space_group_a} relaxes to {x.space_group_b} with the "
                "second calculator"
            )
        if x.same_stability is False:
            soft = f" ({x.softest_b})" if x.stable_b is False and x.softest_b else ""
            lines.append(
                f"stability: {x.name} {x.space_group_a} is {_stable(x.stable_a)} with the "
                f"search's calculator, {_stable(x.stable_b)} with the second{soft}"
            )
    return tuple(lines)


def verify_search(
    result_or_folder: SearchResult | str | os.PathLike,
    calc,
    top: int = 3,
    *,
    write: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Verification:
    """Relax the parent and the ``top`` ranked structures of a finished search again with
    ``calc`` (any ASE calculator), recompute their gains and stability, and compare.

    Parameters
    ----------
    result_or_folder : SearchResult or a search folder (:func:`~.folder.load_search`)
    calc : ASE calculator, the second opinion
    top : how many of the search's structures (descent nodes in ranked order, stable ones
        first; the ranked children of a one-level search)
    write : save the :class:`Verification` as ``verify.json`` in the search folder (when the
        result has one); the folder is locked meanwhile
        (:func:`~.storage.folder_lock`).
    progress : ``progress(step, done, total)`` with steps 'verify relax' and 'verify phonons'

    Raises
    ------
    FileNotFoundError, ValueError
        From :func:`~.folder.load_search` for a folder that holds no readable search.
    """
    from .folder import load_search
    from .storage import folder_lock, model_description

    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    result = (
        result_or_folder
        if isinstance(result_or_folder, SearchResult)
        else load_search(result_or_folder)
    )
    folder = result.out_dir
    with folder_lock(folder if write else None):
        verification = dataclasses.replace(
            _verify(result, calc, top, progress),
            model_a=dict(result.model),
            model_b=model_description(calc),
        )
        if write and folder is not None:
            from .records import SCHEMA_VERSION
            from .storage import write_json

            write_json(
                Path(folder) / VERIFY_FILE,
                {
                    "schema_version": SCHEMA_VERSION,
                    **verification.summary(),
                    "record": verification.to_dict(),
                },
            )
    return verification


def _verify(result: SearchResult, calc, top: int, progress) -> Verification:
    from .steps import phonons, relax

    start = time.perf_counter()
    s = result.settings
    entries = _top_structures(result, top)
    n_relax = 1 + len(entries)

    def tick(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)

    def relaxed(atoms: Atoms, fmax: float):
        return relax(
            atoms,
            calc,
            fmax=fmax,
            relax_cell=True,
            keep_symmetry=True,
            steps=s.max_steps,
            optimizer=s.optimizer,
            symprec=s.symprec,
        )

    def check(atoms: Atoms, supercell):
        modes = phonons(atoms, calc, supercell, symprec=s.symprec, check_off_grid=False)
        stable = not modes.unstable(s.threshold_thz)
        return stable, _softest(modes), modes.force_constants_method

    tick("verify relax", 0, n_relax)
    parent_b = relaxed(result.parent.atoms, s.parent_fmax)
    tick("verify relax", 1, n_relax)
    relaxed_b: list[Any] = []
    for k, e in enumerate(entries):
        try:
            relaxed_b.append(relaxed(e.atoms, s.child_fmax))
        except Exception as err:  # noqa: BLE001 - one structure's failure is a finding
            relaxed_b.append(f"relaxation failed: {first_line(err)}")
        tick("verify relax", k + 2, n_relax)
    tick("verify phonons", 0, n_relax)
    supercell = s.supercell
    if isinstance(supercell, str):  # 'auto' in a result from before it was resolved
        from ase_symbreak.phonons.supercell import auto_supercell

        supercell = auto_supercell(result.parent.atoms, symprec=s.symprec)
    parent_stable_b, parent_softest_b, method = check(parent_b.atoms, supercell)
    tick("verify phonons", 1, n_relax)
    checks: list[Any] = []
    for k, (e, r) in enumerate(zip(entries, relaxed_b)):
        if isinstance(r, str):
            checks.append(r)
        else:
            try:
                checks.append(check(r.atoms, e.supercell))
            except Exception as err:  # noqa: BLE001 - one structure's failure is a finding
                checks.append(f"phonons failed: {first_line(err)}")
        tick("verify phonons", k + 2, n_relax)
    ok = [not isinstance(c, str) for c in checks]
    gains_b = [
        (parent_b.energy_per_fu - r.energy_per_fu) * 1000.0 if good else None
        for r, good in zip(relaxed_b, ok)
    ]
    ranks_a = _ranks([e.gain for e in entries])
    ranked_b = iter(_ranks([g for g in gains_b if g is not None]))
    ranks_b = [next(ranked_b) if g is not None else None for g in gains_b]
    structures = []
    for e, r, gb, ra, rb, c in zip(entries, relaxed_b, gains_b, ranks_a, ranks_b, checks):
        failed = c if isinstance(c, str) else ""
        structures.append(
            VerifiedStructure(
                name=e.name,
                node=e.node,
                candidate_index=e.candidate_index,
                space_group_a=_space_group(e.atoms, s.child_symprec),
                space_group_b="" if isinstance(r, str) else _space_group(r.atoms, s.child_symprec),
                gain_a_mev_per_fu=float(e.gain),
                gain_b_mev_per_fu=None if gb is None else float(gb),
                rank_a=ra,
                rank_b=rb,
                stable_a=e.stable,
                stable_b=None if failed else bool(c[0]),
                softest_b="" if failed else c[1],
                supercell=tuple(tuple(int(x) for x in row) for row in _matrix(e.supercell)),
                converged_b=False if isinstance(r, str) else bool(r.converged),
                atoms_b=None if isinstance(r, str) else r.atoms,
                failed=failed,
            )
        )
    parent_stable_a = not result.soft_modes.modes
    return Verification(
        folder=result.out_dir,
        model_a={},
        model_b={},
        parent_space_group=_space_group(result.parent.atoms, s.child_symprec),
        parent_energy_a_ev_per_fu=float(result.parent.energy_per_fu),
        parent_energy_b_ev_per_fu=float(parent_b.energy_per_fu),
        parent_stable_a=parent_stable_a,
        parent_stable_b=bool(parent_stable_b),
        parent_softest_b=parent_softest_b,
        structures=tuple(structures),
        force_constants_b=str(method or ""),
        disagreements=disagreements(structures, parent_stable_a, bool(parent_stable_b)),
        seconds=time.perf_counter() - start,
    )


def _matrix(supercell) -> np.ndarray:
    m = np.asarray(supercell, dtype=int)
    return np.diag(m) if m.shape == (3,) else m
