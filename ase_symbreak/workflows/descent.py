"""Descent to dynamic stability: search the children of a search again until they are stable.

After :func:`~ase_symbreak.workflows.search.search_one_level` has relaxed the parent's
children, every child becomes a :class:`Node`: its own labelled phonons (Gamma and the q
points of a supercell of the child) say whether it is dynamically stable; an unstable node
is searched again (its soft modes condensed, its children relaxed), down to
``SearchSettings.max_depth`` condensations from the parent. Nodes are checked lowest energy
first, so that a time budget (``SearchSettings.time_budget_s``, counted from the start of
the search) is spent where the ground state is likeliest; nodes it leaves unchecked say so.
A structure reached along two paths (same space group, pymatgen's ``StructureMatcher``) is
one node with several parents.
The predicted ground state is the lowest-energy stable node.

Each node's search lives in ``out_dir/descent/node_NN_<group>/`` (the files of a search),
so a killed descent resumes where it stopped: finished steps are loaded, not recomputed.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.phonons import OffGridInstabilityWarning, PhononModes
from ase_symbreak.structures import as_atoms

from .runner import SearchProgress
from .search import (
    ChildResult,
    SearchResult,
    SearchSettings,
    _default_calculator,
    finish_search,
    plan_search,
    run_child,
    search_one_level,
)
from .steps.common import rank_value
from .storage import folder_lock, safe_filename, write_json
from .tree import Node, ground_state

__all__ = [
    "DESCENT_STEP",
    "distortion_search",
    "descend",
    "child_supercell",
    "primitive_structure",
    "same_structure",
]

#: Progress step name of the descent (``progress("descent", done, total)``).
DESCENT_STEP = "descent"

#: Smallest cube root of the phonon supercell volume of a child (Angstrom), see
#: :func:`child_supercell`.
CHILD_SUPERCELL_LENGTH = 6.0


def child_supercell(
    atoms: Atoms, root_lattice: NDArray | None = None, length: float = CHILD_SUPERCELL_LENGTH
) -> tuple:
    """Phonon supercell of a child: the parent's phonon supercell written in the child's cell.

    ``root_lattice`` (3x3, rows, Angstrom) is the lattice of the parent's phonon supercell.
    A child condensed in that supercell has a lattice containing it, so ``root_lattice`` in
    the child's basis is an integer matrix, and the child's phonons see every q point the
    parent's did (Gamma only, for a child that fills the whole supercell). Without ``root_lattice``,
    or when the child's cell does not divide it (a cell rotated or strained beyond 10 %),
    ``n x n x n`` with the smallest ``n`` such that ``n V**(1/3) >= length`` (Angstrom).

    >>> from ase_symbreak.structures import cubic_perovskite
    >>> child_supercell(cubic_perovskite(3.9))[0]
    (2, 0, 0)
    """
    if root_lattice is not None:
        m = np.asarray(root_lattice, dtype=float) @ np.linalg.inv(atoms.cell[:])
        rounded = np.rint(m)
        if np.abs(m - rounded).max() < 0.1 and round(np.linalg.det(rounded)) >= 1:
            return tuple(tuple(int(x) for x in row) for row in rounded)
    side = abs(atoms.cell.volume) ** (1.0 / 3.0)
    n = max(1, math.ceil(length / side - 1e-9))
    return tuple(tuple(n if i == j else 0 for j in range(3)) for i in range(3))


def primitive_structure(atoms: Atoms, symprec: float = 1e-5) -> Atoms:
    """The primitive cell of an idealised structure (the input when it is primitive)."""
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.standardize_cell(
        cell, to_primitive=True, no_idealize=True, symprec=symprec
    )
    if len(numbers) >= len(atoms):
        return atoms.copy()
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def same_structure(a: Atoms, b: Atoms, ltol: float = 0.02, stol: float = 0.05) -> bool:
    """Whether two structures are the same up to rotation, translation and choice of cell
    (pymatgen ``StructureMatcher``, tight tolerances: the relaxed minima of two paths differ
    by residual displacements only).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    if a.get_chemical_formula(empirical=True) != b.get_chemical_formula(empirical=True):
        return False
    matcher = StructureMatcher(ltol=ltol, stol=stol, angle_tol=1.0, scale=False)
    return bool(matcher.fit(AseAtomsAdaptor.get_structure(a), AseAtomsAdaptor.get_structure(b)))


def _softest(phonons: PhononModes) -> dict | None:
    if not phonons.modes:
        return None
    m = min(phonons.modes, key=lambda m: m.frequency_thz)
    return {
        "irrep": m.irrep,
        "q_label": m.q_label,
        "q": np.asarray(m.q, dtype=float).tolist(),
        "frequency_thz": float(m.frequency_thz),
    }


def _off_grid(phonons: PhononModes) -> dict | None:
    check = getattr(phonons, "dispersion", None)
    if check is None or getattr(check, "stable_off_grid", True):
        return None
    return check.summary()


def _child_atoms(child: ChildResult) -> Atoms:
    """A relaxed child as the next node's structure: symmetrised in its group, primitive."""
    from ase_symbreak.symmetry.idealize import idealize

    idn = child.identification
    atoms = idn.symmetrized
    if atoms is None:  # loaded from a checkpoint (not saved): symmetrise again
        try:
            atoms = idealize(child.relax.atoms, max(idn.child_symprec, 1e-5)).atoms
        except ValueError:
            atoms = child.relax.atoms
    return primitive_structure(atoms)


def _via(child: ChildResult) -> str:
    return f"{'+'.join(child.candidate.irreps)} {child.candidate.direction}"


class _Descent:
    """The mutable state of one descent (nodes as dicts until they are final)."""

    def __init__(self, result: SearchResult, calc, progress: SearchProgress | None) -> None:
        self.result = result
        self.s = result.settings
        self.calc = calc
        self.progress = progress
        self.out = None if result.out_dir is None else Path(result.out_dir)
        self.start = time.perf_counter()
        self.root_energy = result.parent.energy_per_fu
        self.root_lattice = np.asarray(self.s.supercell) @ result.parent.atoms.cell[:]
        self.nodes: list[dict] = []
        self.structures: list[Atoms] = []
        self.queue: list[int] = []  # pending nodes, evaluated lowest energy first
        self.node_seconds: list[float] = []  # wall time of each node computed here
        spent = sum(float(t.get("seconds", 0.0)) for t in result.timings.values())
        self.start -= spent  # the time budget counts the parent's search too

    # -- nodes -----------------------------------------------------------------------
    def add_root(self) -> None:
        r = self.result
        stable = not r.soft_modes.modes
        self.nodes.append(
            dict(
                index=0,
                depth=0,
                parent=None,
                via="",
                space_group_number=r.parent.space_group_number,
                space_group_symbol=r.parent.space_group_symbol,
                energy_per_fu=r.parent.energy_per_fu,
                energy_gain_mev_per_fu=0.0,
                dynamically_stable=stable,
                softest_mode=_softest(r.phonons),
                phonon_supercell=self.s.supercell,
                status="stable" if stable else "searched",
                other_parents=[],
                children=[],
                skipped=list(r.skipped),
                off_grid=_off_grid(r.phonons),
                folder=".",
                cif="parent_relaxed.cif" if self.out is not None else None,
            )
        )
        self.structures.append(r.parent.atoms)

    def add_child(self, child: ChildResult, parent: int) -> int:
        """The node of a relaxed child: an existing one it matches, or a new one queued."""
        idn = child.identification
        atoms = _child_atoms(child)
        for i, n in enumerate(self.nodes):
            if (
                i > 0
                and n["space_group_number"] == idn.space_group_number
                and same_structure(self.structures[i], atoms)
            ):
                if i != parent and parent not in n["other_parents"] and n["parent"] != parent:
                    n["other_parents"].append(parent)
                return i
        index = len(self.nodes)
        self.nodes.append(
            dict(
                index=index,
                depth=self.nodes[parent]["depth"] + 1,
                parent=parent,
                via=_via(child),
                space_group_number=idn.space_group_number,
                space_group_symbol=idn.space_group_symbol,
                energy_per_fu=idn.energy_per_fu,
                energy_gain_mev_per_fu=(self.root_energy - idn.energy_per_fu) * 1000.0,
                dynamically_stable=None,
                softest_mode=None,
                phonon_supercell=None,
                status="pending",
                other_parents=[],
                children=[],
                skipped=[],
                off_grid=None,
                folder=None,
                cif=None,
            )
        )
        self.structures.append(atoms)
        self.queue.append(index)
        return index

    def add_children(self, parent: int, sub: SearchResult) -> list[int | None]:
        """Nodes of the children of ``sub`` (None for one skipped), in their order."""
        node = self.nodes[parent]
        mapped: list[int | None] = []
        for c in sub.children:
            idn = c.identification
            if (
                parent > 0
                and idn.space_group_number == node["space_group_number"]
                and idn.energy_gain_mev_per_fu <= self.s.min_gain_mev
            ):
                node["skipped"].append(
                    {
                        "candidate": c.candidate.name,
                        "reason": (
                            f"relaxed back to the node's group {idn.space_group_symbol} "
                            f"(gain {idn.energy_gain_mev_per_fu:.3f} meV/f.u.)"
                        ),
                    }
                )
                mapped.append(None)
                continue
            i = self.add_child(c, parent)
            mapped.append(i)
            if i not in node["children"]:
                node["children"].append(i)
        for c in sub.duplicates:
            node["skipped"].append(
                {
                    "candidate": c.candidate.name,
                    "reason": f"same minimum as candidate {c.duplicate_of} of this search",
                }
            )
        return mapped

    # -- the search of one node ------------------------------------------------------
    def evaluate(self, index: int) -> None:
        node, atoms, s = self.nodes[index], self.structures[index], self.s
        elapsed = time.perf_counter() - self.start
        typical = float(np.median(self.node_seconds)) if self.node_seconds else 0.0
        # the lowest-energy child is always checked; then a node runs when it fits the budget
        if self.node_seconds and s.time_budget_s is not None:
            if elapsed + typical > s.time_budget_s:
                node["status"] = (
                    f"time budget: not checked (time_budget_s={s.time_budget_s:g}: "
                    f"{elapsed:.0f} s spent, a node takes about {typical:.0f} s; nodes are "
                    "checked lowest energy first)"
                )
                return
        folder = f"descent/node_{index:02d}_{safe_filename(node['space_group_symbol'])}"
        node["folder"] = folder
        sc = s.child_supercell
        if sc is None:
            sc = child_supercell(atoms, self.root_lattice)
        sub_settings = dataclasses.replace(
            s,
            supercell=sc,
            relax_parent=True,
            parent_fmax=s.child_fmax,
            origin_index=None,
            max_depth=0,
            time_budget_s=None,
        )
        search_more = node["depth"] < s.max_depth
        out = None if self.out is None else self.out / folder
        try:
            with warnings.catch_warnings():  # recorded in the node's off_grid, not shouted
                warnings.simplefilter("ignore", OffGridInstabilityWarning)
                plan = plan_search(atoms, self.calc, sub_settings, out, condense_modes=search_more)
            children = [run_child(plan, i, self.calc) for i in range(len(plan.chosen))]
            sub = finish_search(plan, children)
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            from ase_symbreak.errors import first_line

            node["status"] = f"failed: {first_line(err)}"
            return
        node["phonon_supercell"] = sub_settings.supercell
        node["space_group_number"] = plan.parent.space_group_number
        node["space_group_symbol"] = plan.parent.space_group_symbol
        node["energy_per_fu"] = plan.parent.energy_per_fu
        node["energy_gain_mev_per_fu"] = (self.root_energy - plan.parent.energy_per_fu) * 1000.0
        node["softest_mode"] = _softest(plan.phonons)
        node["off_grid"] = _off_grid(plan.phonons)
        node["skipped"] += list(plan.skipped)
        if out is not None:
            node["cif"] = f"{folder}/parent_relaxed.cif"
        self.structures[index] = plan.parent.atoms
        on_grid_stable = not plan.soft_modes.modes
        node["dynamically_stable"] = on_grid_stable
        if on_grid_stable:
            node["status"] = "stable"
        elif search_more:
            node["status"] = "searched"
            self.add_children(index, sub)
        else:
            node["status"] = "depth limit"

    def run(self) -> list[Node]:
        self.add_root()
        self.child_nodes = self.add_children(0, self.result)
        done = 0
        while self.queue:
            if self.progress is not None:
                self.progress(DESCENT_STEP, done, done + len(self.queue))
            best = min(
                self.queue,
                key=lambda i: (
                    rank_value(self.nodes[i]["energy_per_fu"], 1e-9),
                    self.nodes[i]["depth"],
                    i,
                ),
            )
            self.queue.remove(best)
            t0 = time.perf_counter()
            self.evaluate(best)
            if self.nodes[best]["dynamically_stable"] is not None:
                self.node_seconds.append(time.perf_counter() - t0)
            done += 1
        if self.progress is not None:
            self.progress(DESCENT_STEP, done, done)
        return [
            Node(
                **{
                    **n,
                    "other_parents": tuple(n["other_parents"]),
                    "children": tuple(n["children"]),
                    "skipped": tuple(n["skipped"]),
                },
                atoms=self.structures[i],
            )
            for i, n in enumerate(self.nodes)
        ]


def descend(
    result: SearchResult, calc=None, progress: SearchProgress | None = None
) -> SearchResult:
    """The descent below a finished search (``result.settings.max_depth`` levels).

    Returns ``result`` with ``nodes`` (parent first), ``ground_state`` and the descent's
    time in ``timings["descent"]``; rewrites ``search.json`` in ``result.out_dir``.
    """
    calc = _default_calculator(calc)
    start = time.perf_counter()
    descent = _Descent(result, calc, progress)
    nodes = descent.run()
    timings = dict(result.timings)
    timings[DESCENT_STEP] = {
        "seconds": time.perf_counter() - start,
        "nodes": len(nodes) - 1,
    }
    out = dataclasses.replace(
        result,
        nodes=tuple(nodes),
        child_nodes=tuple(descent.child_nodes),
        ground_state=ground_state(nodes),
        timings=timings,
    )
    if result.out_dir is not None:
        from .report import write_report_safely

        write_json(Path(result.out_dir) / "search.json", out.to_dict())
        write_report_safely(result.out_dir, tree_plot=result.settings.plot)
    return out


def distortion_search(
    atoms: Atoms,
    calc=None,
    settings: SearchSettings | None = None,
    out_dir: str | Path | None = None,
    progress: SearchProgress | None = None,
    stop_after: str | None = None,
) -> SearchResult | None:
    """Find the lower-symmetry children of a high-symmetry structure.

    :func:`plan_search` (steps 1-4), :func:`run_child` for each chosen candidate (step 5),
    :func:`finish_search` (step 6), one after the other in this process, then the descent to
    dynamic stability (:func:`~ase_symbreak.workflows.descent.descend`, ``settings.max_depth``
    levels: each child's phonons, unstable children searched again); see
    :func:`ase_symbreak.workflows.screening` for many structures on a Dask cluster.

    Parameters
    ----------
    atoms : Atoms
        High-symmetry parent (not P1), 3-D periodic.
    calc : ASE calculator; default :class:`~ase_symbreak.calculator.SymBreakCalculator`
        (SevenNet-0).
    settings : SearchSettings
    out_dir : folder for the step JSONs, CIFs, plots and ``search.json`` (None: nothing written).
    progress : ``progress(step, done, total)`` with ``step`` in :data:`STEPS`.
    stop_after : a name in :data:`STEPS`: stop after that step (returns None).

    ``out_dir`` is locked while the search runs (:func:`~.storage.folder_lock`): a second
    search on the same folder raises :class:`~.storage.FolderLocked`. Step files are checked
    on reuse; damaged ones are reported and recomputed (:class:`~.storage.Checkpoints`).

    Returns
    -------
    SearchResult, or None when stopped early. ``result.nodes`` holds the descent (parent
    first) and ``result.predicted_ground_state`` its lowest-energy stable structure.
    """
    atoms = as_atoms(atoms)
    calc = _default_calculator(calc)
    with folder_lock(out_dir):
        result = search_one_level(atoms, calc, settings, out_dir, progress, stop_after)
        if result is None or result.settings.max_depth == 0:
            return result
        return descend(result, calc, progress)
