"""Descent to dynamic stability: search the children of a search again until they are stable.

After :func:`~ase_symbreak.workflows.search.search_one_level` has relaxed the parent's
children, every child becomes a :class:`Node`: its own labelled phonons (Gamma and the q
points of a supercell of the child) say whether it is dynamically stable; an unstable node
is searched again (its soft modes condensed, its children relaxed), down to
``SearchSettings.max_depth`` condensations from the parent. Nodes are checked lowest energy
first, so that the work budget (``SearchSettings.max_nodes`` nodes; optionally a wall-clock
``time_budget_s``) is spent where the ground state is likeliest; nodes it leaves unchecked
say so.
A structure reached along two paths (same space group, pymatgen's ``StructureMatcher``) is
one node with several parents.
The predicted ground state is the lowest-energy stable node.

A structure stable at its supercell's q points whose interpolated dispersion dips between
them (``SearchSettings.follow_off_grid``) has its phonons recomputed in the supercell that
captures the deepest dip (:mod:`.offgrid_follow`, in its ``offgrid/`` folder): a real dip
makes it unstable and its soft modes there are condensed (their children become nodes);
an artefact is recorded as checked. Then its strain is checked (:mod:`.strain_follow`).

Each node's search lives in ``out_dir/descent/node_NN_<group>/`` (the files of a search),
so a killed descent resumes where it stopped: finished steps are loaded, not recomputed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.phonons import DispersionCheck, PhononModes
from ase_symbreak.phonons.elastic import ElasticCheck

from .budget import Deadline
from .folder import write_search_files
from .offgrid_follow import (
    OFFGRID_FOLDER,
    deepest_dip,
    follow_settings,
    follow_supercell,
    not_checked,
    off_grid_verdict,
)
from .random_trials import RANDOM_IRREPS, random_plan, trial_cell, trial_hessian_work
from .records import NodeStatus, OffGridFollow, SkippedCandidate, SoftestMode, matrix_text
from .runner import SearchProgress
from .search import (
    ChildResult,
    SearchResult,
    _default_calculator,
    _ranked_unique,
    child_work,
    level_steps,
)
from .settings import SearchSettings
from .steps.common import rank_value
from .steps.strain import strain_work
from .storage import safe_filename
from .strain_follow import STRAIN_IRREPS, strain_plan_work
from .tree import Node, ground_state
from .work import Steps, Work, drain

__all__ = [
    "DESCENT_STEP",
    "descent_steps",
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
    found = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=symprec)
    if found is None:  # spglib found no symmetry at this tolerance: keep the cell
        return atoms.copy()
    lattice, positions, numbers = found
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


def _off_grid(phonons: PhononModes) -> DispersionCheck | None:
    """The dispersion check of a node's phonons when it found instabilities off the grid."""
    check = getattr(phonons, "dispersion", None)
    if check is None or getattr(check, "stable_off_grid", True):
        return None
    return check


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

    def __init__(
        self, result: SearchResult, progress: SearchProgress | None, deadline: Deadline
    ) -> None:
        self.result = result
        self.s = result.settings
        self.progress = progress
        self.deadline = deadline
        self.out = None if result.out_dir is None else Path(result.out_dir)
        self.checked = 0  # nodes searched so far (the work budget max_nodes counts them)
        self.root_energy = result.parent.energy_per_fu
        self.root_lattice = np.asarray(self.s.supercell) @ result.parent.atoms.cell[:]
        self.nodes: list[dict] = []
        self.structures: list[Atoms] = []
        self.queue: list[int] = []  # pending nodes, evaluated lowest energy first

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
                softest_mode=SoftestMode.of(r.phonons),
                phonon_supercell=self.s.supercell,
                status=NodeStatus.STABLE if stable else NodeStatus.SEARCHED,
                other_parents=[],
                children=[],
                skipped=list(r.skipped),
                off_grid=_off_grid(r.phonons),
                off_grid_follow=None,
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
                status=NodeStatus.PENDING,
                other_parents=[],
                children=[],
                skipped=[],
                off_grid=None,
                off_grid_follow=None,
                folder=None,
                cif=None,
            )
        )
        self.structures.append(atoms)
        self.queue.append(index)
        return index

    def add_children(
        self, parent: int, children: Sequence[ChildResult], duplicates: Sequence[ChildResult] = ()
    ) -> list[int | None]:
        """Nodes of relaxed ``children`` of node ``parent`` (None for one skipped: relaxed back
        to the node's group), in their order; ``duplicates`` are listed as skipped.
        """
        node = self.nodes[parent]
        mapped: list[int | None] = []
        for c in children:
            idn = c.identification
            if (
                (parent > 0 or c.candidate.irreps in (STRAIN_IRREPS, RANDOM_IRREPS))
                and idn.space_group_number == node["space_group_number"]
                and idn.energy_gain_mev_per_fu <= self.s.min_gain_mev
            ):
                node["skipped"].append(
                    SkippedCandidate(
                        candidate=c.candidate.name,
                        reason=(
                            f"relaxed back to the node's group {idn.space_group_symbol} "
                            f"(gain {idn.energy_gain_mev_per_fu:.3f} meV/f.u.)"
                        ),
                    )
                )
                mapped.append(None)
                continue
            i = self.add_child(c, parent)
            mapped.append(i)
            if i not in node["children"]:
                node["children"].append(i)
        for c in duplicates:
            node["skipped"].append(
                SkippedCandidate(
                    candidate=c.candidate.name,
                    reason=f"same minimum as candidate {c.duplicate_of} of this search",
                )
            )
        return mapped

    # -- the search of one node ------------------------------------------------------
    def node_search(self, index: int) -> tuple[Atoms, SearchSettings, Path | None, bool] | None:
        """What the search of node ``index`` needs (its structure, settings, folder, and
        whether to condense its soft modes), or None when the time budget leaves it unchecked.
        """
        node, atoms, s = self.nodes[index], self.structures[index], self.s
        if s.max_nodes is not None and self.checked >= s.max_nodes:
            node["status"] = NodeStatus.WORK_BUDGET
            node["status_detail"] = (
                f"not checked (max_nodes={s.max_nodes} nodes were checked first, lowest "
                "energy first; a rerun with a larger max_nodes resumes here)"
            )
            return None
        if self.deadline.passed():
            node["status"] = NodeStatus.TIME_BUDGET
            node["status_detail"] = self.deadline.reason("its check")
            return None
        self.checked += 1
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
            max_nodes=None,
            time_budget_s=None,
        )
        out = None if self.out is None else self.out / folder
        # a P1 node (a random trial's minimum) has no symmetry left to break: phonons only
        search_more = node["depth"] < s.max_depth and node["space_group_number"] != 1
        return atoms, sub_settings, out, search_more

    def strain_checked(self, index: int, check: ElasticCheck) -> None:
        """Record the strain check of a node stable at its q points: a negative eigenvalue
        of its relaxed-ion elastic tensor makes it a strain saddle, not a stable structure.
        """
        node = self.nodes[index]
        node["elastic"] = check
        if check.stable:
            return
        strain = ", ".join(f"{x:+.2f}" for x in check.softest_strain)
        node["dynamically_stable"] = False
        node["status"] = NodeStatus.STRAIN_UNSTABLE
        node["status_detail"] = (
            f"relaxed-ion elastic tensor eigenvalue {check.eigenvalues_gpa.min():.2f} GPa "
            f"along the Voigt strain ({strain})"
        )

    def off_grid_unchecked(self, index: int, follow: OffGridFollow) -> None:
        """A node stable at its q points whose deepest off-grid dip could not be checked:
        'stable at the computed q', never plain 'stable'.
        """
        node = self.nodes[index]
        node["off_grid_follow"] = follow
        node["status"] = NodeStatus.OFF_GRID_UNCHECKED
        node["status_detail"] = follow.describe()

    def off_grid_checked(
        self, index: int, follow: OffGridFollow, checked: SearchResult, search_more: bool
    ) -> None:
        """Record the off-grid check of node ``index`` (``checked``: its search in the
        capturing supercell): stable when no mode there is soft; otherwise unstable, and its
        children in that supercell become nodes when ``search_more``.
        """
        node = self.nodes[index]
        node["off_grid_follow"] = follow
        node["status_detail"] = follow.describe()
        if not checked.soft_modes.modes:
            # what the larger supercell's interpolation still shows (None: nothing)
            node["off_grid"] = _off_grid(checked.phonons)
            return
        node["dynamically_stable"] = False
        node["softest_mode"] = SoftestMode.of(checked.phonons)
        node["off_grid"] = None  # the instability is on the checked supercell's grid now
        node["skipped"] += list(checked.skipped)
        if search_more:
            node["status"] = NodeStatus.SEARCHED
            added = self.add_children(index, checked.children, checked.duplicates)
            n = len([i for i in added if i is not None])
            node["status_detail"] += f"; searched in that supercell: {n} child node(s)"
        else:
            node["status"] = NodeStatus.DEPTH_LIMIT
            why = (
                "P1: no symmetry left to break"
                if node["space_group_number"] == 1
                else f"the node is at max_depth={self.s.max_depth}"
            )
            node["status_detail"] += f"; not searched further ({why})"

    def failed(self, index: int, err: BaseException) -> None:
        from ase_symbreak.errors import first_line

        self.nodes[index]["status"] = NodeStatus.FAILED
        self.nodes[index]["status_detail"] = first_line(err)

    def searched(self, index: int, sub: SearchResult) -> None:
        """Record the search of node ``index``: its relaxed structure, stability, children."""
        node, s = self.nodes[index], self.s
        parent = sub.parent
        node["phonon_supercell"] = sub.settings.supercell
        node["space_group_number"] = parent.space_group_number
        node["space_group_symbol"] = parent.space_group_symbol
        node["energy_per_fu"] = parent.energy_per_fu
        node["energy_gain_mev_per_fu"] = (self.root_energy - parent.energy_per_fu) * 1000.0
        node["softest_mode"] = SoftestMode.of(sub.phonons)
        node["off_grid"] = _off_grid(sub.phonons)
        node["skipped"] += list(sub.skipped)
        if self.out is not None:
            node["cif"] = f"{node['folder']}/parent_relaxed.cif"
        self.structures[index] = parent.atoms
        on_grid_stable = not sub.soft_modes.modes
        node["dynamically_stable"] = on_grid_stable
        if on_grid_stable:
            node["status"] = NodeStatus.STABLE
        elif node["depth"] < s.max_depth and parent.space_group_number != 1:
            node["status"] = NodeStatus.SEARCHED
            self.add_children(index, sub.children, sub.duplicates)
        else:
            node["status"] = NodeStatus.DEPTH_LIMIT
            if parent.space_group_number == 1:
                node["status_detail"] = "P1: no symmetry left to break, not searched further"

    def next_node(self) -> int:
        """The pending node to check next: lowest energy first, then shallowest."""
        best = min(
            self.queue,
            key=lambda i: (
                rank_value(self.nodes[i]["energy_per_fu"], 1e-9),
                self.nodes[i]["depth"],
                i,
            ),
        )
        self.queue.remove(best)
        return best

    def final_nodes(self) -> list[Node]:
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


#: Errors of one node's search that mark the node failed instead of ending the descent.
NODE_ERRORS = (ValueError, RuntimeError, np.linalg.LinAlgError)


def descent_steps(
    result: SearchResult,
    progress: SearchProgress | None = None,
    deadline: Deadline | None = None,
) -> Steps:
    """The descent below a finished search, as a search generator (:mod:`.work`).

    Each pending node is searched by :func:`~.search.level_steps` (its phonons; its
    children when it is unstable and above ``max_depth``), lowest energy first, at most
    ``max_nodes`` of them; none is started after ``deadline`` (default: the search's
    ``time_budget_s`` from now). Returns
    ``result`` with ``nodes`` (parent first), ``ground_state`` and the descent's time in
    ``timings["descent"]``; rewrites ``search.json`` and ``report.html`` in ``result.out_dir``.
    """
    start = time.perf_counter()
    if deadline is None:
        deadline = Deadline.start(result.settings.time_budget_s)
    descent = _Descent(result, progress, deadline)
    descent.add_root()
    yield from _follow_off_grid(descent, 0, result, result.out_dir)
    yield from _check_strain(descent, 0, result, result.out_dir)
    child_nodes = descent.add_children(0, result.children, result.duplicates)
    yield from _random_trials(descent, result)
    done = 0
    while descent.queue:
        if progress is not None:
            progress(DESCENT_STEP, done, done + len(descent.queue))
        index = descent.next_node()
        job = descent.node_search(index)
        if job is not None:
            atoms, settings, out, search_more = job
            try:
                sub = yield from level_steps(
                    atoms,
                    settings,
                    out,
                    condense_modes=search_more,
                    quiet=True,
                    deadline=descent.deadline,
                )
            except NODE_ERRORS as err:
                descent.failed(index, err)
            else:
                descent.searched(index, sub)
                yield from _follow_off_grid(descent, index, sub, out)
                yield from _check_strain(descent, index, sub, out)
        done += 1
    if progress is not None:
        progress(DESCENT_STEP, done, done)
    nodes = descent.final_nodes()
    timings = dict(result.timings)
    timings[DESCENT_STEP] = {"seconds": time.perf_counter() - start, "nodes": len(nodes) - 1}
    final = dataclasses.replace(
        result,
        nodes=tuple(nodes),
        child_nodes=tuple(child_nodes),
        ground_state=ground_state(nodes),
        timings=timings,
    )
    if result.out_dir is not None:
        from .html_report import write_report_safely

        write_search_files(final)
        write_report_safely(final, tree_plot=result.settings.plot)
    return final


def _follow_off_grid(descent: _Descent, index: int, sub: SearchResult, out) -> Steps:
    """The off-grid check of node ``index`` (searched as ``sub`` in folder ``out``) when it
    has no soft mode at its q points but its interpolated dispersion dips between them
    (:mod:`.offgrid_follow`): its phonons in the supercell capturing the deepest dip, a
    search of its own (work items of this generator) in ``out/offgrid``; its soft modes
    there condensed when the node is above ``max_depth``.
    """
    node = descent.nodes[index]
    s = descent.s
    check = node["off_grid"]
    if not s.follow_off_grid or node["dynamically_stable"] is not True or check is None:
        return
    atoms = sub.parent.atoms
    dip = deepest_dip(check)
    supercell, refusal = follow_supercell(atoms, dip)
    budget = None
    if not refusal and descent.deadline.passed():
        refusal, budget = descent.deadline.reason("its check"), "time_budget_s"
    if refusal:
        record = not_checked(dip, check.supercell_matrix, refusal, supercell, len(atoms))
        descent.off_grid_unchecked(index, dataclasses.replace(record, budget=budget))
        return
    folder = OFFGRID_FOLDER if index == 0 else f"{node['folder']}/{OFFGRID_FOLDER}"
    path = None if out is None else Path(out) / OFFGRID_FOLDER
    search_more = node["depth"] < s.max_depth and node["space_group_number"] != 1
    try:
        checked = yield from level_steps(
            atoms,
            follow_settings(sub.settings, supercell),
            path,
            condense_modes=search_more,
            quiet=True,
            deadline=descent.deadline,
        )
    except NODE_ERRORS as err:
        from ase_symbreak.errors import first_line

        reason = f"its check in supercell {matrix_text(supercell)} failed: {first_line(err)}"
        descent.off_grid_unchecked(index, not_checked(dip, check.supercell_matrix, reason))
        return
    follow = off_grid_verdict(dip, check.supercell_matrix, checked, folder)
    descent.off_grid_checked(index, follow, checked, search_more)


def _check_strain(descent: _Descent, index: int, sub: SearchResult, out) -> Steps:
    """The strain check of node ``index`` (searched as ``sub``) when its phonons found it
    stable (a work item); a strain saddle above ``max_depth`` is followed to its children.
    """
    node = descent.nodes[index]
    if not descent.s.check_strain or node["dynamically_stable"] is not True:
        return
    folder = None if out is None else str(out)
    atoms = sub.parent.atoms
    try:
        (check,) = yield (Work("check", strain_work, (atoms, folder), label=f"strain {index}"),)
    except NODE_ERRORS as err:
        from ase_symbreak.errors import first_line

        node["dynamically_stable"] = None
        node["status"] = NodeStatus.FAILED
        node["status_detail"] = f"strain check: {first_line(err)}"
        return
    descent.strain_checked(index, check)
    if not check.stable:
        yield from _follow_strain(descent, index, sub, check, folder)


def _random_trials(descent: _Descent, result: SearchResult) -> Steps:
    """Minima past barriers (:mod:`.random_trials`): ``random_trials`` random structures
    around the parent relaxed without symmetry; their minima become children of the root.
    """
    n = descent.s.random_trials
    if not n:
        return
    folder = None if result.out_dir is None else str(Path(result.out_dir) / "random")
    cell = trial_cell(result.parent.atoms, descent.s.symprec)
    plan = random_plan(result, n, folder, cell)
    if not descent.deadline.passed() and not _all_checkpointed(folder, n):
        # one force-constant calculation of the ideal trial cell seeds every trial's Hessian
        (seed,) = yield (
            Work(
                "plan",
                trial_hessian_work,
                (result.parent.atoms, cell),
                label="random trials: force constants of the ideal trial cell",
            ),
        )
        plan = dataclasses.replace(plan, hessian_seed=seed)
    try:
        relaxed = yield tuple(
            Work("child", child_work, (plan, i, descent.deadline), label=f"random trial {i}")
            for i in range(n)
        )
    except NODE_ERRORS as err:
        from ase_symbreak.errors import first_line

        descent.nodes[0]["skipped"].append(
            SkippedCandidate(candidate="random trials", reason=f"failed: {first_line(err)}")
        )
        return
    children = [c for c in relaxed if c is not None]
    for i, c in enumerate(relaxed):
        if c is None:
            descent.nodes[0]["skipped"].append(
                SkippedCandidate.of(
                    plan.chosen[i], descent.deadline.reason("the relaxation"), "time_budget_s"
                )
            )
    unique, duplicates = _ranked_unique(children)
    lower = [c for c in unique if c.identification.energy_gain_mev_per_fu > descent.s.min_gain_mev]
    for c in unique:
        if all(c is not x for x in lower):
            descent.nodes[0]["skipped"].append(
                SkippedCandidate(
                    candidate=c.candidate.name,
                    reason=(
                        f"a minimum {-c.identification.energy_gain_mev_per_fu:.3f} meV/f.u. "
                        f"above the parent ({c.identification.space_group_symbol})"
                    ),
                )
            )
    descent.add_children(0, lower, duplicates)


def _all_checkpointed(folder: str | None, n: int) -> bool:
    """Whether ``folder`` holds a checkpoint of each of ``n`` relaxations (a resumed run)."""
    from .search import CHILD_STEP

    if folder is None:
        return False
    return all((Path(folder) / CHILD_STEP.file.format(index=i)).is_file() for i in range(n))


def _follow_strain(
    descent: _Descent, index: int, sub: SearchResult, check: ElasticCheck, out: str | None
) -> Steps:
    """The children of a strain saddle (:mod:`.strain_follow`): its cell strained both ways
    along the softest eigen-strain, relaxed in the subgroup the strain leaves.
    """
    node = descent.nodes[index]
    if node["depth"] >= descent.s.max_depth:
        node["status_detail"] += f"; not followed (the node is at max_depth={descent.s.max_depth})"
        return
    if descent.deadline.passed():
        node["status_detail"] += "; " + descent.deadline.reason("following it")
        return
    folder = None if out is None else str(Path(out) / "strain")
    try:
        (plan,) = yield (
            Work("plan", strain_plan_work, (sub, check, folder), label=f"strain plan {index}"),
        )
        relaxed = yield tuple(
            Work("child", child_work, (plan, i, descent.deadline), label=f"strain child {i}")
            for i in range(len(plan.chosen))
        )
    except NODE_ERRORS as err:
        from ase_symbreak.errors import first_line

        node["status_detail"] += f"; following it failed: {first_line(err)}"
        return
    children = [c for c in relaxed if c is not None]
    unique, duplicates = _ranked_unique(children)
    added = [i for i in descent.add_children(index, unique, duplicates) if i is not None]
    node["status_detail"] += (
        f"; followed: the cell strained both ways along it and relaxed, {len(added)} child node(s)"
    )
    if len(children) < len(relaxed):
        node["status_detail"] += f" ({descent.deadline.reason('a strained relaxation')})"


def descend(
    result: SearchResult, calc=None, progress: SearchProgress | None = None
) -> SearchResult:
    """The descent below a finished search (``result.settings.max_depth`` levels), run here:
    :func:`descent_steps` drained with ``calc``.
    """
    return drain(descent_steps(result, progress), _default_calculator(calc), progress)
