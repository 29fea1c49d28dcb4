"""``explain.html``: one self-contained page of an :class:`~.explanation.Explanation`.

The child and its parent (with the other supergroups within reach), the chain of groups,
the modes with their roles, amplitudes and isotropy subgroups (table and bar chart), the
strain, and with a model the energies (table and the energy of each mode along its scan).
Pictures are embedded PNGs; every text is escaped.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from ase_symbreak.htmlpage import Cell, escape, figure, number, page, table

from .explanation import Explanation

__all__ = ["render_page", "write_page"]


def render_page(explanation: Explanation, title: str = "", plots: bool = True) -> str:
    """The HTML of the page (``plots=False``: tables only, no matplotlib)."""
    e = explanation
    name = title or e.parent.structure.get_chemical_formula(empirical=True)
    sections = [
        f"<h1>{escape(name)}: {escape(e.child_space_group_symbol)} "
        f"({e.child_space_group_number}) from {escape(e.parent.space_group_symbol)} "
        f"({e.parent.space_group_number})</h1>",
        _parents(e),
        _chain(e),
        _modes(e),
        figure(_amplitude_plot(e), "Amplitudes Ap by irrep (Angstrom)") if plots else "",
        _strain(e),
        _energies(e),
        _parent_phonons(e),
        figure(_energy_plot(e), "Energy along each mode alone (meV per formula unit)")
        if plots and e.energies is not None and e.energies.modes
        else "",
    ]
    return page(f"explain: {name}", sections)


def write_page(explanation: Explanation, path: str | os.PathLike, title: str = "") -> Path:
    """Write the page to ``path`` (atomically) and return the path."""
    path = Path(path)
    text = render_page(explanation, title)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- sections
def _parents(e: Explanation) -> str:
    rows: list[list[Cell]] = [
        [
            escape(f"{c.space_group_symbol} ({c.space_group_number})"),
            ("num", number(c.max_displacement, ".4f")),
            ("num", number(c.max_strain, ".4f")),
            "chosen" if c is e.parent or c == e.parent else "",
        ]
        for c in (e.candidates or (e.parent,))
    ]
    headers = ["supergroup", "max displacement (A)", "max strain", ""]
    return "<h2>Parent</h2>" + table(headers, rows, "parents")


def _chain(e: Explanation) -> str:
    steps = " &rarr; ".join(
        escape(s.text()) + (f" <small>+{escape(', '.join(s.irreps))}</small>" if s.irreps else "")
        for s in e.chain
    )
    tilt = f"<p>Glazer tilts: <b>{escape(e.glazer)}</b></p>" if e.glazer else ""
    return f"<h2>Group-subgroup chain</h2><p>{steps}</p>{tilt}"


def _modes(e: Explanation) -> str:
    rows: list[list[Cell]] = [
        [
            escape(m.irrep),
            escape(",".join(f"{x:g}" for x in np.round(np.asarray(m.k, dtype=float), 4))),
            escape(m.direction),
            ("num", number(m.amplitude_supercell, ".5f")),
            ("num", number(m.amplitude, ".5f")),
            escape(m.role),
            escape(m.isotropy.text()),
        ]
        for m in e.modes
    ]
    headers = ["irrep", "k", "direction", "As (A)", "Ap (A)", "role", "isotropy subgroup alone"]
    note = (
        f"<p>Origin at parent atom {e.origin_index}; total Ap {e.amplitude:.5f} A, "
        f"As {e.amplitude_supercell:.5f} A; irreps below {e.threshold:g} A: "
        f"{e.below_threshold:.5f} A together.</p>"
    )
    return "<h2>Modes</h2>" + table(headers, rows, "modes") + note


def _strain(e: Explanation) -> str:
    if not e.strain_parts:
        return ""
    rows: list[list[Cell]] = [
        [escape(s.irrep), escape(s.point_group_label), ("num", number(s.amplitude, ".5f"))]
        for s in e.strain_parts
    ]
    return "<h2>Strain</h2>" + table(["irrep", "point-group label", "amplitude"], rows, "strain")


def _energies(e: Explanation) -> str:
    if e.energies is None:
        return ""
    en = e.energies
    rows: list[list[Cell]] = [
        [escape(m.irrep), ("num", number(m.gain, ".3f")), "yes" if m.unstable_in_parent else "no"]
        for m in en.modes
    ]
    totals = (
        f"<p>Model {escape(en.model)}; meV per formula unit ({en.formula_units} in the child's "
        f"cell) relative to the parent: primaries together {en.primaries:.3f} "
        f"(coupling {en.coupling:+.3f}), all modes {en.all_modes:.3f}, strain "
        f"{en.strain:+.3f}, the child {en.child:.3f}.</p>"
    )
    headers = ["irrep", "alone at the child's amplitude (meV/f.u.)", "unstable in the parent"]
    return "<h2>Energies</h2>" + totals + table(headers, rows, "energies")


def _parent_phonons(e: Explanation) -> str:
    if not e.parent_phonons:
        return ""
    rows: list[list[Cell]] = [
        [
            escape(p.q_label),
            escape(p.irrep),
            ("num", number(p.frequency_thz, ".3f")),
            ("num", str(p.degeneracy)),
            "yes" if p.in_child else "",
        ]
        for p in e.parent_phonons
    ]
    headers = ["q", "irrep", "frequency (THz)", "degeneracy", "in the child"]
    note = "<p>Imaginary frequencies as negative; the ideal parent, not relaxed.</p>"
    return "<h2>Parent phonons</h2>" + note + table(headers, rows, "parent-phonons")


# ----------------------------------------------------------------------------- plots
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _amplitude_plot(e: Explanation) -> bytes:
    if not e.modes:
        return b""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(e.modes) + 1.5), 3.0))
    colours = ["#c0392b" if m.role == "primary" else "#7f8c8d" for m in e.modes]
    ax.bar([m.irrep for m in e.modes], [m.amplitude for m in e.modes], color=colours)
    ax.set_ylabel("Ap (A)")
    ax.set_title("primary (red), secondary (grey)", fontsize=9)
    return _png(fig)


def _energy_plot(e: Explanation) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert e.energies is not None
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    for m in e.energies.modes:
        ax.plot(m.fractions, m.energies, marker="o", label=m.irrep)
    ax.axhline(0.0, color="#999", lw=0.8)
    ax.set_xlabel("fraction of the child's amplitude")
    ax.set_ylabel("meV per formula unit")
    ax.legend(fontsize=8)
    return _png(fig)
