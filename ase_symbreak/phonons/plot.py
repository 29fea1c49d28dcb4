"""Plot of the phonon band structure along a standard path, irrep labels at its points, the
DOS beside it.

The data come from :func:`~.bands.band_structure_data`; imaginary branches (negative,
phonopy's convention) are drawn in red, the irrep of every labelled mode next to it at its
commensurate point, and the density of states (:func:`~.thermal.phonon_dos`) in a panel on
the right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bandpath import BandPath
from .bands import BandStructureData, band_structure_data, modes_at
from .records import PhononModes

__all__ = ["plot_band_structure", "spread_labels"]

#: Frequencies below this (THz) are drawn as imaginary.
IMAGINARY_THZ = -0.05
#: At most this many mode sets are annotated per point besides the unstable ones.
MAX_ANNOTATED = 12


def plot_band_structure(
    phonon,
    modes: PhononModes | None,
    path: str | Path,
    npoints: int = 51,
    title: str | None = None,
    dos: bool | object = True,
    band_path: BandPath | None = None,
) -> Path:
    """Plot the phonon band structure along a standard path, with irrep labels and the DOS.

    Parameters
    ----------
    phonon : phonopy.Phonopy with force constants.
    modes : labelled modes (annotated at their points; labelled q off the standard path get a
        segment from Gamma), or None.
    path : output file; format from the suffix (``.png``, ``.pdf``, ``.svg``).
    npoints : q-points per segment.
    title : figure title.
    dos : True (compute :func:`~.thermal.phonon_dos` on phonopy's default mesh), False, or a
        :class:`~.thermal.PhononDOS`.
    band_path : a path to use instead of the standard one.

    Returns
    -------
    Path of the written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    path = Path(path)
    data = band_structure_data(phonon, modes, npoints, band_path)
    if dos is True:
        from .thermal import phonon_dos

        dos = phonon_dos(phonon)
    with_dos = dos is not False and dos is not None
    if with_dos:
        fig, (ax, ax_dos) = plt.subplots(
            1,
            2,
            figsize=(9, 5),
            sharey=True,
            gridspec_kw={"width_ratios": [4, 1]},
            layout="constrained",
        )
    else:
        fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    segments, imaginary = [], []  # every branch of every path segment: one collection
    for dist, freq in zip(data.distances, data.frequencies):
        for branch in freq.T:
            pts = np.column_stack([dist, branch])
            segments.append(np.stack([pts[:-1], pts[1:]], axis=1))
            imaginary.append(np.minimum(branch[:-1], branch[1:]) < IMAGINARY_THZ)
    if segments:
        red = np.concatenate(imaginary)[:, None]
        colors = np.where(red, [[0.84, 0.15, 0.16, 1]], [[0.12, 0.47, 0.71, 1]])
        lines = list(np.concatenate(segments))  # (2, 2) arrays: one per drawn segment
        ax.add_collection(LineCollection(lines, colors=colors, linewidths=1.2))
    ax.set_xticks(data.ticks)
    ax.set_xticklabels(_staggered(data.ticks, data.tick_labels), fontsize=12)
    for t in data.ticks:
        ax.axvline(t, color="0.75", lw=0.7, zorder=0)
    ax.axhline(0.0, color="k", lw=0.7)
    ax.set_xlim(data.ticks[0], data.ticks[-1])
    fmin = min(data.min_frequency_thz, 0.0)
    fmax = max(float(f.max()) for f in data.frequencies)
    pad = 0.05 * (fmax - fmin or 1.0)
    ax.set_ylim(fmin - pad, fmax + pad)
    ax.set_ylabel("frequency (THz); imaginary drawn < 0, red", fontsize=11)
    ax.tick_params(axis="y", labelsize=10)
    if modes is not None:
        _annotate_irreps(ax, modes, data)
    if with_dos:
        _draw_dos(ax_dos, dos)
    if title:
        fig.suptitle(title, fontsize=13)
    source = data.band_path.source
    ax.set_xlabel(f"wave vector (path: {source})", fontsize=9, color="0.3")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _staggered(ticks, labels: list[str], closest: float = 0.04) -> list[str]:
    """``labels`` with every other one of a run of ticks closer than ``closest`` of the
    path's length moved to a second line, so that their names do not overlap.
    """
    span = float(ticks[-1] - ticks[0]) or 1.0
    out, low = list(labels), False
    for i in range(1, len(out)):
        low = (not low) and (ticks[i] - ticks[i - 1]) < closest * span
        if low:
            out[i] = "\n" + out[i]
    return out


def _draw_dos(ax, dos) -> None:
    freq = np.asarray(dos.frequencies_thz, float)
    total = np.asarray(dos.dos_states_per_thz, float)
    ax.fill_betweenx(freq, 0.0, total, color="0.85")
    ax.plot(total, freq, color="k", lw=0.9, label="total")
    projected = getattr(dos, "projected_dos_states_per_thz", None) or {}
    for symbol, values in projected.items():
        ax.plot(np.asarray(values, float), freq, lw=0.9, label=symbol)
    if projected:
        ax.legend(fontsize=8, loc="upper right")
    ax.axhline(0.0, color="k", lw=0.7)
    ax.set_xlabel("DOS (states/THz)", fontsize=10)
    ax.set_xlim(0, None)
    ax.tick_params(axis="x", labelsize=8)


def _annotate_irreps(ax, modes: PhononModes, data: BandStructureData) -> None:
    """Irrep label of each mode set next to its frequency at the first tick of its point."""
    ymin, ymax = ax.get_ylim()
    step = 0.04 * (ymax - ymin)
    done: set[str] = set()
    for x, points in zip(data.ticks, data.tick_points):
        for point in points:
            sets = sorted(modes_at(point, modes), key=lambda s: s.frequency_thz)
            key = point.label
            if not sets or key in done:
                continue
            done.add(key)
            shown = [s for s in sets if s.frequency_thz < IMAGINARY_THZ]
            shown += [s for s in sets if s.frequency_thz >= IMAGINARY_THZ][:MAX_ANNOTATED]
            shown.sort(key=lambda s: s.frequency_thz)
            for s, y in zip(shown, spread_labels([s.frequency_thz for s in shown], step)):
                unstable = s.frequency_thz < IMAGINARY_THZ
                ax.annotate(
                    s.irrep,
                    (x, s.frequency_thz),
                    xytext=(x, y),
                    textcoords="data",
                    fontsize=8,
                    color="tab:red" if unstable else "0.2",
                    fontweight="bold" if unstable else "normal",
                    ha="left",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
                )


def spread_labels(targets: list[float], step: float) -> list[float]:
    """Label positions at least ``step`` apart, each run of crowded labels centred on its
    targets (so that labels stay next to their lines), in the order of ``targets`` (sorted).
    """
    groups: list[list[float]] = []
    for y in targets:
        groups.append([y])
        while len(groups) > 1:
            a, b = groups[-2], groups[-1]
            start_a = float(np.mean(a)) - (len(a) - 1) * step / 2
            start_b = float(np.mean(b)) - (len(b) - 1) * step / 2
            if start_b >= start_a + len(a) * step - 1e-12:
                break
            groups[-2:] = [a + b]
    out: list[float] = []
    for g in groups:
        start = float(np.mean(g)) - (len(g) - 1) * step / 2
        out.extend(start + i * step for i in range(len(g)))
    return out
