"""The records of a search: one relaxed child, the plan of one structure, the whole result.

:class:`SearchResult` is the object :func:`~.driver.distortion_search` returns and
:func:`~.folder.load_search` reads back; its :meth:`~SearchResult.summary` is
``search.json``, from which ``report.html`` is drawn, and the CLI tables print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ase_symbreak.codec import Record, encode
from ase_symbreak.phonons import PhononModes

from .records import SCHEMA_VERSION, ChildTimings, SkippedCandidate
from .settings import SearchSettings
from .steps import Candidate, CondenseResult, Identification, RelaxResult
from .tree import FamilyTree, Node, node_tree_text, ranked_nodes

__all__ = ["ChildResult", "SearchPlan", "SearchResult"]


@dataclass(frozen=True)
class ChildResult(Record):
    """A relaxed candidate: the candidate, its relaxation and its identification.

    ``timings``: seconds of the relaxation and the identification, ``loaded`` when read
    from its checkpoint (:class:`~.records.ChildTimings`). ``environments``: what the child
    did to the parent's sites (:func:`~ase_symbreak.environments.sites.environment_report`:
    polyhedra per parent site orbit, Glazer system of perovskites).
    """

    candidate_index: int
    candidate: Candidate = field(repr=False)
    relax: RelaxResult = field(repr=False)
    identification: Identification
    duplicate_of: int | None = None
    cif: str | None = None
    timings: ChildTimings = field(default_factory=ChildTimings, compare=False, repr=False)
    environments: dict | None = None

    def summary(self) -> dict:
        """The entry of ``search.json``."""
        idn = self.identification
        return encode(
            {
                "candidate_index": self.candidate_index,
                "space_group_number": idn.space_group_number,
                "space_group_symbol": idn.space_group_symbol,
                "irreps": list(self.candidate.irreps),
                "direction": self.candidate.direction,
                "energy_gain_mev_per_fu": idn.energy_gain_mev_per_fu,
                "scan_gain_mev_per_fu": self.candidate.energy_gain_mev_per_fu,
                "candidate_space_group": (
                    f"{self.candidate.space_group_symbol} ({self.candidate.space_group_number})"
                ),
                "amplitudes_angstrom": {ir.irrep: ir.amplitude for ir in idn.primary},
                "secondary": [
                    {"irrep": ir.irrep, "amplitude_angstrom": ir.amplitude} for ir in idn.secondary
                ],
                "decomposition": [ir.summary() for ir in idn.irreps],
                "converged": self.relax.converged,
                "n_steps": self.relax.n_steps,
                "n_atoms": len(self.relax.atoms),
                "cif": self.cif,
                "poscar": None if self.cif is None else str(Path(self.cif).with_suffix(".vasp")),
                "environments": self.environments,
                "decomposition_error": idn.error,
            }
        )


@dataclass(frozen=True)
class SearchResult(Record):
    """Everything :func:`~.driver.distortion_search` found; ``children`` ranked by energy
    gain, duplicates removed; ``nodes`` the descent (parent first).

    :meth:`to_dict` is the whole record (``result.json`` of a search folder, read back by
    :func:`~.folder.load_search`); :meth:`summary` is the view written as ``search.json``
    (units in the key names), the CLI tables and ``report.html`` are drawn from the record.
    """

    settings: SearchSettings
    parent: RelaxResult = field(repr=False)
    phonons: PhononModes = field(repr=False)
    soft_modes: PhononModes = field(repr=False)
    condense: CondenseResult = field(repr=False)
    children: tuple[ChildResult, ...]
    duplicates: tuple[ChildResult, ...] = ()
    tree: FamilyTree | None = None
    timings: dict = field(default_factory=dict)
    out_dir: str | None = None
    skipped: tuple[SkippedCandidate, ...] = ()
    model: dict = field(default_factory=dict)
    nodes: tuple[Node, ...] = ()
    child_nodes: tuple[int | None, ...] = ()
    ground_state: int | None = None

    @property
    def predicted_ground_state(self) -> Node | None:
        """The lowest-energy dynamically stable node of the descent (None: none found)."""
        return None if self.ground_state is None else self.nodes[self.ground_state]

    def node_of(self, child: ChildResult) -> Node | None:
        """The descent node of one of :attr:`children` (None before the descent)."""
        if not self.child_nodes:
            return None
        k = [c.candidate_index for c in self.children].index(child.candidate_index)
        i = self.child_nodes[k]
        return None if i is None else self.nodes[i]

    def _child_entry(self, rank: int, child: ChildResult) -> dict:
        entry = {"rank": rank, **child.summary()}
        node = self.node_of(child)
        if node is not None:
            entry.update(
                node=node.index,
                depth=node.depth,
                parent_node=0,
                dynamically_stable=node.dynamically_stable,
                softest_mode=node.softest_mode,
                status=node.status_text,
                off_grid=None if node.off_grid is None else node.off_grid.summary(),
            )
        return entry

    def summary(self) -> dict:
        """The content of ``search.json``."""
        p = self.parent
        gs = self.predicted_ground_state
        return encode(
            {
                "schema_version": SCHEMA_VERSION,
                "parent": {
                    "formula": p.atoms.get_chemical_formula(mode="metal", empirical=True),
                    "space_group_number": p.space_group_number,
                    "space_group_symbol": p.space_group_symbol,
                    "energy_ev_per_fu": p.energy_per_fu,
                    "cell_angstrom": np.asarray(p.atoms.cell[:]).tolist(),
                    "converged": p.converged,
                    "force_constants": getattr(self.phonons, "force_constants_method", None),
                },
                "model": dict(self.model),
                "settings": self.settings.to_dict(),
                "soft_modes": [m.summary() for m in self.soft_modes.modes],
                "children": [self._child_entry(r + 1, c) for r, c in enumerate(self.children)],
                "duplicates": [
                    {**c.summary(), "duplicate_of": c.duplicate_of} for c in self.duplicates
                ],
                "rejected": list(self.condense.rejected),
                "skipped": [s.summary() for s in self.skipped],
                "no_children_reason": self.no_children_reason(),
                "tree": None if self.tree is None else self.tree.to_dict(),
                "ground_state": None if gs is None else gs.summary(),
                "ground_state_note": self.ground_state_note(),
                "complete": self.complete,
                "left_by_budget": self.left_by_budget(),
                "ranked": [n.index for n in ranked_nodes(self.nodes)] if self.nodes else [],
                "nodes": [n.summary() for n in self.nodes],
                "descent_tree": node_tree_text(self.nodes) if self.nodes else None,
                "timings": self.timings,
            }
        )

    def left_by_budget(self) -> list[str]:
        """The work the budgets left, one line per kind (empty: the search did everything
        its settings asked for). A rerun with larger budgets resumes it from the folder.
        """
        from collections import Counter

        from .records import NodeStatus

        skipped = [x for n in self.nodes for x in n.skipped] if self.nodes else self.skipped
        left = [
            f"{n} candidate(s) not relaxed ({budget}={getattr(self.settings, budget)})"
            for budget, n in sorted(Counter(x.budget for x in skipped if x.budget).items())
        ]
        limits = {NodeStatus.WORK_BUDGET: "max_nodes", NodeStatus.TIME_BUDGET: "time_budget_s"}
        for status, name in limits.items():
            n = sum(node.status == status for node in self.nodes)
            if n:
                left.append(f"{n} node(s) not checked ({name}={getattr(self.settings, name)})")
        dips = sum(
            n.off_grid_follow is not None and n.off_grid_follow.budget is not None
            for n in self.nodes
        )
        if dips:
            limit = self.settings.time_budget_s
            left.append(f"{dips} off-grid dip(s) not checked (time_budget_s={limit})")
        return left

    @property
    def complete(self) -> bool:
        """Whether no budget left work undone (:meth:`left_by_budget`)."""
        return not self.left_by_budget()

    def ground_state_note(self) -> str | None:
        """One line on the predicted ground state (None before the descent)."""
        if not self.nodes:
            return None
        gs = self.predicted_ground_state
        left = self.left_by_budget()
        incomplete = f"; incomplete: {'; '.join(left)}" if left else ""
        if gs is None:
            return self._no_ground_state_note() + incomplete
        checked = self._checked(gs)
        caution = ""
        if gs.off_grid is not None:
            worst = gs.off_grid.min_frequency_thz
            follow = gs.off_grid_follow
            where = (
                f"the {follow.supercell_text()} of its off-grid check"
                if follow is not None and follow.checked
                else "its supercell"
            )
            caution = (
                f"; the dispersion interpolated from {where} dips to {worst:.2f} THz "
                f"between the computed q points (see nodes[{gs.index}].off_grid): confirm "
                "with a larger supercell"
            )
        caution = self._real_dips_above(gs) + caution
        if gs.index == 0:
            return f"the parent {gs.label} is dynamically stable ({checked}){caution}{incomplete}"
        how = f"reached by {gs.depth} condensation(s)"
        if gs.via.startswith("random"):
            how = f"found by {gs.via}"
        return (
            f"predicted ground state: #{gs.index} {gs.label}, "
            f"{gs.energy_gain_mev_per_fu:.2f} meV/f.u. below the parent, "
            f"{how} ({checked}){caution}{incomplete}"
        )

    def _no_ground_state_note(self) -> str:
        """Why no node is a stable structure: what stopped each line of the search."""
        from .records import NodeStatus

        low = min(self.nodes, key=lambda n: n.energy_per_fu)
        lowest = f"lowest energy: #{low.index} {low.label} ({low.status_text})"
        if len(self.nodes) == 1:
            root = self.nodes[0]
            if root.status == NodeStatus.STRAIN_UNSTABLE:
                return f"no dynamically stable structure found: the parent is {root.status_text}"
            reason = self.no_children_reason() or "the search found no child"
            return f"no dynamically stable structure found: {reason}; {lowest}"
        why = []
        statuses = {n.status for n in self.nodes}
        if NodeStatus.DEPTH_LIMIT in statuses:
            why.append(f"unstable nodes at the depth limit max_depth={self.settings.max_depth}")
        if NodeStatus.WORK_BUDGET in statuses:
            budget = f"max_nodes={self.settings.max_nodes}"
            why.append(f"nodes left unchecked by the work budget {budget}")
        if NodeStatus.TIME_BUDGET in statuses:
            why.append("nodes left unchecked by the time budget")
        if any(
            n.status == NodeStatus.STRAIN_UNSTABLE and "not followed" in n.status_detail
            for n in self.nodes
        ):
            why.append("strain saddles not followed")
        if NodeStatus.FAILED in statuses:
            why.append("nodes whose search failed")
        because = f" ({'; '.join(why)})" if why else ""
        return f"no dynamically stable structure found{because}; {lowest}"

    def _real_dips_above(self, node: Node) -> str:
        """'; reached through the real off-grid dip of #0 ...' for each node on the path
        from the parent to ``node`` whose off-grid dip was real.
        """
        from .records import OffGridOutcome

        notes = []
        i = node.parent
        while i is not None:
            up = self.nodes[i]
            follow = up.off_grid_follow
            if follow is not None and follow.outcome == OffGridOutcome.REAL:
                notes.append(f"#{up.index} {up.label}: {follow.describe()}")
            i = up.parent
        return "".join(f"; reached through {n}" for n in reversed(notes))

    @staticmethod
    def _checked(node: Node) -> str:
        """What the verdict of a stable node rests on."""
        sc = np.asarray(node.phonon_supercell if node.phonon_supercell is not None else np.eye(3))
        cells = round(abs(np.linalg.det(sc)))
        text = f"checked: labelled phonons at the q points of its {cells}-cell supercell"
        if node.off_grid_follow is not None:
            text += f"; {node.off_grid_follow.describe()}"
        sep = "; " if node.off_grid_follow is not None else ", "
        if node.elastic is not None:
            return text + sep + "strain (relaxed-ion elastic tensor positive definite)"
        return text + "; strain not checked"

    def no_children_reason(self) -> str | None:
        """Why the search found no child (None when it found some): soft modes, directions,
        scans.
        """
        if self.children:
            return None
        soft = self.soft_modes.modes
        if not soft:
            return (
                f"no mode below {self.soft_modes.threshold_thz} THz "
                f"at the q-points commensurate with the "
                f"{np.asarray(self.settings.supercell).tolist()} supercell: "
                f"the parent is dynamically stable there"
            )
        modes = ", ".join(f"{m.irrep} at {m.q_label} ({m.frequency_thz:.2f} THz)" for m in soft)
        rejected = self.condense.rejected
        if not rejected and not self.condense.candidates:
            return f"soft modes {modes}, but no order-parameter direction was condensed"
        reasons = "; ".join(
            f"{'+'.join(r['irreps'])} {r.get('direction', '')} "
            f"{r.get('space_group_symbol', '')}: {r['reason']}".strip()
            for r in rejected[:8]
        )
        more = f" (and {len(rejected) - 8} more in 'rejected')" if len(rejected) > 8 else ""
        if self.condense.candidates:
            return (
                f"soft modes {modes}; {len(self.condense.candidates)} candidate(s) "
                f"lowered the energy in the scan "
                f"but none was kept after relaxation and de-duplication; "
                f"rejected directions: {reasons}{more}"
            )
        return (
            f"soft modes {modes}, but no direction lowered the energy by more than "
            f"min_gain_mev={self.settings.min_gain_mev} meV/f.u. in the scan: {reasons}{more}"
        )


@dataclass(frozen=True)
class SearchPlan(Record):
    """The search after its parent stages (relax, phonons, soft modes, condense).

    ``chosen`` are the candidates to relax, in order; each is independent of the others,
    so :func:`run_child` may run them anywhere (a Dask worker, a jobflow job) and
    :func:`finish_search` ranks what comes back. Picklable, and JSON through
    :meth:`to_dict` / :meth:`from_dict`.

    ``hessian_seed`` (optional, ``3N x 3N`` eV/A^2): force constants of a reference cell
    whose atoms every chosen structure displaces in the same order (the random trials: the
    ideal parent in the trial cell); the Newton relaxations project their first Hessian
    from it instead of differencing every coordinate.
    """

    settings: SearchSettings
    parent: RelaxResult = field(repr=False)
    phonons: PhononModes = field(repr=False)
    soft_modes: PhononModes = field(repr=False)
    condense: CondenseResult = field(repr=False)
    chosen: tuple[Candidate, ...] = field(repr=False)
    skipped: tuple[SkippedCandidate, ...] = ()
    model: dict = field(default_factory=dict)
    key: str = ""
    timings: dict = field(default_factory=dict)
    out_dir: str | None = None
    hessian_seed: NDArray[np.float64] | None = field(repr=False, default=None)
