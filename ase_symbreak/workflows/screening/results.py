"""What a screen reports and keeps: an entry per structure, summary files, resume records."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms

from ase_symbreak.codec import Record, atoms_to_dict, encode

from ..calcspec import CalculatorSpec
from ..search import SearchResult, SearchSettings
from ..storage import fingerprint, write_json, write_text
from .inputs import StructureInput

__all__ = [
    "SUMMARY_COLUMNS",
    "ScreenEntry",
    "ScreenResult",
    "done_entry",
    "failed_entry",
    "load_entry",
    "screen_key",
    "write_summary",
]

#: Columns of ``summary.csv`` (and keys of each row of ``summary.json``).
SUMMARY_COLUMNS = (
    "name",
    "formula",
    "parent_space_group",
    "unstable_irreps",
    "best_child_space_group",
    "energy_gain_mev_per_fu",
    "n_children",
    "ground_state",
    "ground_state_gain_mev_per_fu",
    "status",
    "attempts",
    "error",
    "source",
)


@dataclass(frozen=True)
class ScreenEntry(Record):
    """One structure of the screen.

    Attributes
    ----------
    name : folder name under ``out_dir``.
    source : where the structure came from (file path, or 'input').
    status : 'done' or 'failed'.
    formula, parent_space_group : of the (relaxed) parent; the input's when it failed early.
    unstable_irreps : labels of the soft modes, softest first.
    best_child_space_group : 'Pnma (62)' of the child with the largest energy gain, '' if none.
    energy_gain_mev_per_fu : that child's gain (meV per formula unit), 0.0 if none.
    n_children : unique relaxed children.
    ground_state : 'R3c (161)', the lowest-energy dynamically stable structure of the descent
        ('' without a descent or when none was found; the parent's group when it is stable).
    ground_state_gain_mev_per_fu : its energy below the parent, meV per formula unit.
    attempts : tries this run (0 when loaded from an earlier run).
    error : 'Type: message' of the last failure, '' when done.
    loaded : True when taken from an earlier run's ``screen.json``.
    seconds : wall time from first submission to the end, this run.
    """

    name: str
    source: str
    status: str
    formula: str = ""
    parent_space_group: str = ""
    unstable_irreps: tuple[str, ...] = ()
    best_child_space_group: str = ""
    energy_gain_mev_per_fu: float = 0.0
    n_children: int = 0
    ground_state: str = ""
    ground_state_gain_mev_per_fu: float = 0.0
    attempts: int = 0
    error: str = ""
    loaded: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def row(self) -> dict:
        """The row of ``summary.csv`` / ``summary.json``."""
        d = {k: getattr(self, k) for k in SUMMARY_COLUMNS}
        d["unstable_irreps"] = " ".join(self.unstable_irreps)
        return encode(d)


@dataclass(frozen=True)
class ScreenResult:
    """What :func:`~ase_symbreak.workflows.screening.screen` did: entries in input order."""

    entries: tuple[ScreenEntry, ...]
    out_dir: str
    seconds: float = 0.0
    n_workers: int = 0
    model_loads: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[ScreenEntry]:
        return [e for e in self.entries if not e.ok]

    def __getitem__(self, name: str) -> ScreenEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def errors(self) -> list[str]:
        """``'NAME: error'`` of each failed structure."""
        return [f"{e.name}: {e.error}" for e in self.failed]

    def search(self, name: str) -> dict:
        """The ``search.json`` of structure ``name`` (ranked children, soft modes, tree)."""
        return json.loads((Path(self.out_dir) / name / "search.json").read_text())


def _formula(atoms: Atoms) -> str:
    return atoms.get_chemical_formula(mode="metal", empirical=True)


def _space_group(symbol: str, number: int) -> str:
    return f"{symbol} ({number})"


def done_entry(
    inp: StructureInput, result: SearchResult, attempts: int, seconds: float
) -> ScreenEntry:
    """The entry of a finished search."""
    p = result.parent
    best = result.children[0].identification if result.children else None
    gs = result.predicted_ground_state
    return ScreenEntry(
        name=inp.name,
        source=inp.source,
        status="done",
        formula=_formula(p.atoms),
        parent_space_group=_space_group(p.space_group_symbol, p.space_group_number),
        unstable_irreps=tuple(dict.fromkeys(m.irrep for m in result.soft_modes.modes)),
        best_child_space_group=""
        if best is None
        else _space_group(best.space_group_symbol, best.space_group_number),
        energy_gain_mev_per_fu=0.0 if best is None else float(best.energy_gain_mev_per_fu),
        n_children=len(result.children),
        ground_state="" if gs is None else gs.label,
        ground_state_gain_mev_per_fu=0.0 if gs is None else float(gs.energy_gain_mev_per_fu),
        attempts=attempts,
        seconds=seconds,
    )


def failed_entry(
    inp: StructureInput, error: str, attempts: int, seconds: float = 0.0
) -> ScreenEntry:
    """The entry of a structure that failed; formula and space group of the input when known."""
    formula, sg = "", ""
    if inp.atoms is not None:
        formula = _formula(inp.atoms)
        try:
            from ase_symbreak.symmetry import analyze

            info = analyze(inp.atoms)
            sg = _space_group(info.symbol, info.number)
        except Exception:  # a structure spglib cannot read
            pass
    return ScreenEntry(
        name=inp.name,
        source=inp.source,
        status="failed",
        formula=formula,
        parent_space_group=sg,
        attempts=attempts,
        error=error,
        seconds=seconds,
    )


def write_summary(out: Path, entries: list[ScreenEntry], meta: dict) -> None:
    """``summary.json`` (``meta`` plus the rows) and ``summary.csv`` in ``out``."""
    rows = [e.row() for e in entries]
    write_json(out / "summary.json", {**meta, "structures": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "summary.csv", buf.getvalue())


def screen_key(atoms: Atoms, settings: SearchSettings, spec: CalculatorSpec) -> str:
    """What a structure's result depends on: a rerun with the same key loads it."""
    return fingerprint("screen", atoms_to_dict(atoms), settings.to_dict(), spec.identity())


def load_entry(path: Path, key: str) -> ScreenEntry | None:
    """The done entry of an earlier run's ``screen.json`` with the same key, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key or data.get("entry", {}).get("status") != "done":
        return None
    try:
        return ScreenEntry.from_dict(
            {**data["entry"], "loaded": True, "attempts": 0, "seconds": 0.0}
        )
    except (TypeError, KeyError):
        return None
