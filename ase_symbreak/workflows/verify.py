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
stability. With ``write=True`` it is saved as ``verify.json`` in the search folder, its
short form (:func:`verification_block`) goes into the folder's ``search.json`` as
``verification`` and ``report.html`` is drawn again with a "Second opinion" section.

:func:`verify_models` does the same with several calculators (the three models of the
``sevenn`` wheel, say); ``verify.json`` keeps each, and :func:`agreement` sets them side by
side per structure: gain, rank, space group and stability under every calculator.

>>> from ase_symbreak.workflows.verify import verify_search         # doctest: +SKIP
>>> check = verify_search("SrTiO3_search", other_calculator, top=3)  # doctest: +SKIP
>>> check.agrees, check.disagreements                                # doctest: +SKIP
>>> checks = verify_models("SrTiO3_search", {"l3i5": calc_b, "mf0": calc_c})  # doctest: +SKIP
>>> agreement(checks).structures[0].opinions                         # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ase_symbreak.codec import Record
from ase_symbreak.errors import first_line

from .folder import VERIFY_FILE, model_label, verification_block, verification_entries
from .search_result import SearchResult

log = logging.getLogger(__name__)

__all__ = [
    "VERIFY_FILE",
    "Agreement",
    "Opinion",
    "StructureAgreement",
    "Verification",
    "VerifiedStructure",
    "agreement",
    "read_verifications",
    "verify_models",
    "verify_search",
]


#: Two gains closer than this (meV per formula unit) are a tie: their order is not a
#: disagreement (relaxation noise of two calculators).
RANK_TOLERANCE_MEV = 0.1

#: What "stable" means for the second calculator.
STABILITY_CHECK = "phonons at the search's supercell of each structure (no strain check)"

#: What two calculators can disagree on about one structure, in the order they are listed.
KINDS = ("failed", "gain", "ranking", "space group", "stability")


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
    softest_a : str
        The search's lowest labelled mode of the structure ('' when not recorded).
    strain_unstable_a : bool
        The search found its phonons stable but the structure unstable to strain (its
        ``stable_a`` False); the second calculator checks phonons only (:attr:`notes` of the
        :class:`Verification` says so instead of a disagreement).
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
    softest_a: str = ""
    strain_unstable_a: bool = False

    @property
    def same_space_group(self) -> bool:
        return bool(self.failed) or self.space_group_a == self.space_group_b

    @property
    def same_stability(self) -> bool | None:
        """Whether the two calculators' phonons agree on stability (None when the search did
        not check the structure). A structure the search found unstable to strain alone had
        stable phonons there: the second calculator's phonons are compared with those.
        """
        if self.stable_a is None or self.stable_b is None:
            return None
        return (True if self.strain_unstable_a else self.stable_a) == self.stable_b

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
    name_b : str
        The second calculator's name as given ('' : its model's, :attr:`label_b`).
    notes : tuple[str, ...]
        What was not compared, one line each (a structure the search found unstable to
        strain alone: its phonons, stable, are compared with the second calculator's).
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
    name_b: str = ""
    notes: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        """Whether the two calculators agree on everything compared."""
        return not self.disagreements

    @property
    def label_b(self) -> str:
        """The second calculator's name: as it was given (``name_b``), else its model's."""
        return self.name_b or model_label(self.model_b)

    def disagrees_on(self) -> dict[str, tuple[str, ...]]:
        """What the two calculators disagree on, per structure ('parent', '#1', ...): the
        kinds of :data:`KINDS` in that order, empty when they agree on it.
        """
        kinds: dict[str, set[str]] = {"parent": set()}
        kinds.update({s.name: set() for s in self.structures})
        for kind, names, _ in _findings(
            self.structures, self.parent_stable_a, self.parent_stable_b
        ):
            for name in names:
                kinds.setdefault(name, set()).add(kind)
        return {name: tuple(k for k in KINDS if k in found) for name, found in kinds.items()}

    @property
    def ranking_agrees(self) -> bool:
        return not any(line.startswith("ranking:") for line in self.disagreements)

    def summary(self) -> dict:
        """``verify.json``'s readable part (the whole record follows under ``record``)."""
        kinds = self.disagrees_on()
        structures = []
        for x in self.structures:
            d = x.summary()
            d["disagrees_on"] = list(kinds.get(x.name, ()))
            structures.append(d)
        return {
            "folder": self.folder,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "name_b": self.label_b,
            "agrees": self.agrees,
            "ranking_agrees": self.ranking_agrees,
            "disagreements": list(self.disagreements),
            "notes": list(self.notes),
            "parent": {
                "space_group": self.parent_space_group,
                "energy_a_ev_per_fu": self.parent_energy_a_ev_per_fu,
                "energy_b_ev_per_fu": self.parent_energy_b_ev_per_fu,
                "stable_a": self.parent_stable_a,
                "stable_b": self.parent_stable_b,
                "softest_b": self.parent_softest_b,
                "disagrees_on": list(kinds["parent"]),
            },
            "structures": structures,
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
    softest: str = ""
    strain_unstable: bool = False


def _top_structures(result: SearchResult, top: int) -> list[_Entry]:
    """The ``top`` structures in the search's order: the descent's ranked nodes (stable ones
    first, then by energy), or the ranked children of a one-level search.
    """
    from .descent import child_supercell
    from .records import NodeStatus
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
                    _softest_of(n.softest_mode),
                    n.status == NodeStatus.STRAIN_UNSTABLE,
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


def _softest_of(mode) -> str:
    """'R4+ at R, -1.23 THz' of a :class:`~.records.SoftestMode` ('' for None)."""
    if mode is None:
        return ""
    return f"{mode.irrep} at {mode.q_label}, {mode.frequency_thz:.2f} THz"


def _space_group(atoms: Atoms, symprec: float) -> str:
    from ase_symbreak.symmetry import analyze

    info = analyze(atoms, symprec=symprec)
    return f"{info.symbol} ({info.number})"


def _softest(modes) -> str:
    from .records import SoftestMode

    return _softest_of(SoftestMode.of(modes))


def _ranks(gains: list[float]) -> list[int]:
    order = sorted(range(len(gains)), key=lambda i: (-gains[i], i))
    ranks = [0] * len(gains)
    for r, i in enumerate(order):
        ranks[i] = r + 1
    return ranks


def _stable(value: bool | None) -> str:
    return {True: "stable", False: "unstable", None: "not checked"}[value]


def _findings(
    structures: list[VerifiedStructure] | tuple[VerifiedStructure, ...],
    parent_stable_a: bool | None = None,
    parent_stable_b: bool | None = None,
    tolerance_mev: float = RANK_TOLERANCE_MEV,
) -> list[tuple[str, tuple[str, ...], str]]:
    """Every disagreement as ``(kind, names, line)``: ``kind`` one of :data:`KINDS`,
    ``names`` the structures it concerns ('parent' for the parent), ``line`` its sentence.
    """
    found: list[tuple[str, tuple[str, ...], str]] = []
    if None not in (parent_stable_a, parent_stable_b) and parent_stable_a != parent_stable_b:
        found.append(
            (
                "stability",
                ("parent",),
                f"parent: {_stable(parent_stable_a)} with the search's calculator, "
                f"{_stable(parent_stable_b)} with the second",
            )
        )
    for x in structures:
        if x.failed:
            found.append(
                (
                    "failed",
                    (x.name,),
                    f"failed: {x.name} {x.space_group_a} with the second calculator: {x.failed}",
                )
            )
    s = [x for x in structures if not x.failed and x.gain_b_mev_per_fu is not None]
    for i, x in enumerate(s):
        for y in s[i + 1 :]:
            da = x.gain_a_mev_per_fu - y.gain_a_mev_per_fu
            db = float(x.gain_b_mev_per_fu or 0.0) - float(y.gain_b_mev_per_fu or 0.0)
            if abs(da) > tolerance_mev and abs(db) > tolerance_mev and da * db < 0:
                hi, lo = (x, y) if da > 0 else (y, x)
                found.append(
                    (
                        "ranking",
                        (hi.name, lo.name),
                        f"ranking: {hi.name} {hi.space_group_a} lies lower than {lo.name} "
                        f"{lo.space_group_a} with the search's calculator (gains "
                        f"{hi.gain_a_mev_per_fu:.2f} vs {lo.gain_a_mev_per_fu:.2f} meV/f.u.), "
                        f"higher with the second ({float(hi.gain_b_mev_per_fu or 0):.2f} vs "
                        f"{float(lo.gain_b_mev_per_fu or 0):.2f})",
                    )
                )
    for x in s:
        gain_b = float(x.gain_b_mev_per_fu or 0.0)
        if (x.gain_a_mev_per_fu > tolerance_mev) != (gain_b > tolerance_mev):
            found.append(
                (
                    "gain",
                    (x.name,),
                    f"gain: {x.name} {x.space_group_a} lies {x.gain_a_mev_per_fu:.2f} meV/f.u. "
                    f"below the parent with the search's calculator, {gain_b:.2f} with the "
                    "second",
                )
            )
        if not x.same_space_group:
            found.append(
                (
                    "space group",
                    (x.name,),
                    f"space group: {x.name} {x.space_group_a} relaxes to {x.space_group_b} "
                    "with the second calculator",
                )
            )
        if x.same_stability is False:
            soft = f" ({x.softest_b})" if x.stable_b is False and x.softest_b else ""
            found.append(
                (
                    "stability",
                    (x.name,),
                    f"stability: {x.name} {x.space_group_a} is {_stable(x.stable_a)} with the "
                    f"search's calculator, {_stable(x.stable_b)} with the second{soft}",
                )
            )
    return found


def _notes(structures) -> tuple[str, ...]:
    """One line per structure whose comparison is partial (unstable to strain in the search)."""
    return tuple(
        f"{x.name} {x.space_group_a}: unstable to strain with the search's calculator, its "
        f"phonons stable; the second opinion checks phonons only: {_stable(x.stable_b)}"
        for x in structures
        if x.strain_unstable_a and not x.failed
    )


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
    return tuple(
        line
        for _, _, line in _findings(structures, parent_stable_a, parent_stable_b, tolerance_mev)
    )


def verify_search(
    result_or_folder: SearchResult | str | os.PathLike,
    calc,
    top: int = 3,
    *,
    write: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
    name: str = "",
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
        result has one; it replaces an earlier ``verify.json``), add its short form to the
        folder's ``search.json`` (``verification``) and draw ``report.html`` again when
        there is one; the folder is locked meanwhile (:func:`~.storage.folder_lock`).
    progress : ``progress(step, done, total)`` with steps 'verify relax' and 'verify phonons'
    name : the second calculator's name in tables and files (default: its model's name)

    Raises
    ------
    FileNotFoundError, ValueError
        From :func:`~.folder.load_search` for a folder that holds no readable search.
    """
    return verify_models(result_or_folder, {name: calc}, top, write=write, progress=progress)[0]


def verify_models(
    result_or_folder: SearchResult | str | os.PathLike,
    calcs: Mapping[str, Any] | Sequence[Any],
    top: int = 3,
    *,
    write: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[Verification, ...]:
    """:func:`verify_search` with each of several calculators, one after the other; with
    ``write`` all of them go into one ``verify.json`` (and ``search.json``, ``report.html``).

    ``calcs``: ``{name: calculator}`` (an empty name: the model's own) or a sequence of
    calculators. :func:`agreement` of the result gives the table per structure.
    """
    from .folder import load_search
    from .storage import folder_lock

    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    named = list(calcs.items()) if isinstance(calcs, Mapping) else [("", c) for c in calcs]
    if not named:
        raise ValueError("no calculator to verify with")
    result = (
        result_or_folder
        if isinstance(result_or_folder, SearchResult)
        else load_search(result_or_folder)
    )
    folder = result.out_dir if write else None
    with folder_lock(folder):
        checks = []
        for k, (name, calc) in enumerate(named):
            tick = progress
            if progress is not None and len(named) > 1:
                label = name or f"{k + 1}"

                def tick(step, done, total, _label=label, _progress=progress):
                    _progress(f"{step} {_label}", done, total)

            checks.append(_verify_one(result, calc, top, tick, name))
        if folder is not None:
            write_verifications(folder, checks, result)
    return tuple(checks)


def _verify_one(result: SearchResult, calc, top, progress, name) -> Verification:
    from .storage import model_description

    return dataclasses.replace(
        _verify(result, calc, top, progress),
        model_a=dict(result.model),
        model_b=model_description(calc),
        name_b=str(name or ""),
    )


# ----------------------------------------------------------------------------- the files
def write_verifications(
    folder: str | os.PathLike, checks: Sequence[Verification], result: SearchResult | None = None
) -> Path:
    """``verify.json`` (each verification's summary and whole record, and their
    :func:`agreement`), then the ``verification`` block of ``search.json`` and
    ``report.html`` drawn again where the folder has them (``result``: the folder's search,
    None: read back). The caller holds the lock.
    """
    from .records import SCHEMA_VERSION
    from .storage import write_json

    folder = Path(folder)
    path = write_json(
        folder / VERIFY_FILE,
        {
            "schema_version": SCHEMA_VERSION,
            "models": [c.label_b for c in checks],
            "agrees": all(c.agrees for c in checks),
            "verifications": [{**c.summary(), "record": c.to_dict()} for c in checks],
            "agreement": agreement(checks).summary() if checks else None,
        },
    )
    _refresh_summary(folder, result)
    return path


def _refresh_summary(folder: Path, result: SearchResult | None = None) -> None:
    """Put the ``verification`` block into ``search.json`` and draw ``report.html`` again,
    where the folder has them (a failure is logged: the check itself is written).
    """
    from .folder import SUMMARY_FILE
    from .html_report import REPORT_NAME, TREE_IMAGE, write_report_safely
    from .storage import write_json

    path = folder / SUMMARY_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        log.warning("%s not updated with the verification: %s", path, first_line(err))
        return
    if not isinstance(data, dict):
        return
    block = verification_block(folder, result)
    if block is None:
        data.pop("verification", None)
    else:
        data["verification"] = block
    write_json(path, data)
    if (folder / REPORT_NAME).exists():
        write_report_safely(folder, tree_plot=(folder / TREE_IMAGE).exists())


def read_verifications(folder: str | os.PathLike) -> tuple[Verification, ...]:
    """The verifications of ``folder/verify.json`` (one per second calculator).

    Raises ``FileNotFoundError`` when there is none and ``ValueError`` when it cannot be read
    (another schema version, damaged). A ``verify.json`` of one verification written before
    several were kept reads as one.
    """
    path = Path(folder) / VERIFY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {VERIFY_FILE} in {folder}")
    try:
        entries = verification_entries(path)
    except ValueError as err:
        raise ValueError(f"{path} {err}") from None
    try:
        return tuple(Verification.from_dict(e["record"]) for e in entries)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ValueError(f"{path} cannot be read ({err})") from None


# ----------------------------------------------------------------------------- agreement
@dataclass(frozen=True)
class Opinion(Record):
    """What one calculator says about one structure (:func:`agreement`).

    ``gain_mev_per_fu``: below the parent relaxed with the same calculator (0 for the parent;
    None when it failed); ``rank`` among the verified structures (None for the parent);
    ``space_group`` after relaxing with it; ``stable`` None when not checked.
    """

    model: str
    gain_mev_per_fu: float | None
    rank: int | None
    space_group: str
    stable: bool | None
    softest: str = ""
    failed: str = ""


@dataclass(frozen=True)
class StructureAgreement(Record):
    """One structure under every calculator: the search's first, then each second one.

    ``disagreements``: what a second calculator disagrees on with the search's, as
    'stability (7net-l3i5)' (the kinds of :data:`KINDS`); empty when all agree.
    """

    name: str
    space_group: str
    opinions: tuple[Opinion, ...]
    disagreements: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return not self.disagreements


@dataclass(frozen=True)
class Agreement(Record):
    """Several second opinions on one search side by side (:func:`agreement`)."""

    models: tuple[str, ...]
    parent: StructureAgreement
    structures: tuple[StructureAgreement, ...]

    @property
    def agrees(self) -> bool:
        return self.parent.agrees and all(s.agrees for s in self.structures)

    def summary(self) -> dict:
        from ase_symbreak.codec import encode

        return {"models": list(self.models), "agrees": self.agrees, **encode(self)}


def agreement(verifications: Sequence[Verification]) -> Agreement:
    """The verifications of one search with several calculators (:func:`verify_models`) as
    one table per structure: gain, rank, space group and stability under the search's
    calculator and under each second one, and what each disagrees on.

    Raises ``ValueError`` for verifications of different searches (other parents, other
    search calculators, other structures).
    """
    checks = list(verifications)
    if not checks:
        raise ValueError("no verification to compare")
    first = checks[0]
    names = [s.name for s in first.structures]
    for c in checks[1:]:
        if (
            c.parent_space_group != first.parent_space_group
            or c.model_a != first.model_a
            or [s.name for s in c.structures] != names
            or c.parent_energy_a_ev_per_fu != first.parent_energy_a_ev_per_fu
        ):
            raise ValueError("the verifications are not of one search with the same structures")
    labels = [c.label_b for c in checks]
    kinds = [c.disagrees_on() for c in checks]
    search_label = model_label(first.model_a) if first.model_a else "search"

    def disagreeing(name: str) -> tuple[str, ...]:
        return tuple(
            f"{kind} ({label})" for label, k in zip(labels, kinds) for kind in k.get(name, ())
        )

    parent = StructureAgreement(
        name="parent",
        space_group=first.parent_space_group,
        opinions=(
            Opinion(search_label, 0.0, None, first.parent_space_group, first.parent_stable_a),
            *(
                Opinion(
                    label, 0.0, None, c.parent_space_group, c.parent_stable_b, c.parent_softest_b
                )
                for label, c in zip(labels, checks)
            ),
        ),
        disagreements=disagreeing("parent"),
    )
    structures = []
    for i, s in enumerate(first.structures):
        opinions = [
            Opinion(
                search_label,
                s.gain_a_mev_per_fu,
                s.rank_a,
                s.space_group_a,
                s.stable_a,
                "unstable to strain, phonons stable" if s.strain_unstable_a else s.softest_a,
            )
        ]
        for label, c in zip(labels, checks):
            x = c.structures[i]
            opinions.append(
                Opinion(
                    label,
                    x.gain_b_mev_per_fu,
                    x.rank_b,
                    x.space_group_b,
                    x.stable_b,
                    x.softest_b,
                    x.failed,
                )
            )
        structures.append(
            StructureAgreement(s.name, s.space_group_a, tuple(opinions), disagreeing(s.name))
        )
    return Agreement(tuple(labels), parent, tuple(structures))


def _verify(result: SearchResult, calc, top: int, progress) -> Verification:
    from .steps import phonons, relax_child

    start = time.perf_counter()
    s = result.settings
    entries = _top_structures(result, top)
    n_relax = 1 + len(entries)

    def tick(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)

    def relaxed(atoms: Atoms, fmax: float):  # in its own symmetry, as the search relaxes
        return relax_child(
            atoms, calc, fmax=fmax, steps=s.max_steps, optimizer=s.optimizer, symprec=s.symprec
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
                softest_a=e.softest,
                strain_unstable_a=e.strain_unstable,
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
        notes=_notes(structures),
        seconds=time.perf_counter() - start,
    )


def _matrix(supercell) -> np.ndarray:
    m = np.asarray(supercell, dtype=int)
    return np.diag(m) if m.shape == (3,) else m
