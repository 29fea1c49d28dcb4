"""Phonon band structure from phonopy with the irrep label of every mode set at its q."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .records import PhononModes

__all__ = ["plot_band_structure"]


_CUBIC_PATH = [["GM", "X", "M", "GM", "R", "X"], ["M", "R"]]


def _band_path(
    phonon, modes: PhononModes | None, npoints: int
) -> tuple[list, list[str], list[bool]]:
    """Band paths (list of (npoints, 3) arrays in phonopy primitive basis), labels, connections."""
    from phonopy.phonon.band_structure import get_band_qpoints

    named: dict[str, NDArray] = {"GM": np.zeros(3)}
    if modes is not None:
        for m in modes.modes:
            named.setdefault(m.q_label, np.asarray(m.q, dtype=float))
    pmat = np.asarray(phonon.primitive_matrix, dtype=float)
    if all(lab in named for lab in ("X", "M", "R")):
        segments = _CUBIC_PATH
    elif modes is None:
        try:
            from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

            bands, labels, conn = get_band_qpoints_by_seekpath(
                phonon.primitive, npoints, is_const_interval=True
            )
            return bands, labels, conn
        except ImportError:  # seekpath is an optional extra of phonopy
            segments = [["GM", "X"]] if "X" in named else [["GM"]]
            if segments == [["GM"]]:
                named["Z"] = np.array([0, 0, 0.5])
                segments = [["GM", "Z"]]
    else:
        others = [lab for lab in named if lab != "GM"]
        seq = ["GM"]
        for lab in others:
            seq += [lab, "GM"]
        segments = [seq] if len(seq) > 1 else [["GM", "GM"]]
    path, labels, connections = [], [], []
    for seg in segments:
        pts = [pmat.T @ named[lab] for lab in seg]
        path.append(pts)
        labels.extend(seg)
        connections.extend([True] * (len(seg) - 2) + [False])
    bands = get_band_qpoints(path, npoints=npoints)
    return bands, labels, connections


def plot_band_structure(
    phonon,
    modes: PhononModes | None,
    path: str | Path,
    npoints: int = 51,
    title: str | None = None,
) -> Path:
    """Plot the phonon band structure, with irrep labels at the high-symmetry points.

    Parameters
    ----------
    phonon : phonopy.Phonopy with force constants.
    modes : labelled modes (their q labels define the path and get annotated), or None
        (phonopy's seekpath path when seekpath is installed).
    path : output file; format from the suffix (``.png``, ``.pdf``, ``.svg``).
    npoints : q-points per segment.

    Returns
    -------
    Path of the written file. Imaginary frequencies are drawn below zero.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    bands, labels, connections = _band_path(phonon, modes, npoints)
    bs = phonon.run_band_structure(bands, path_connections=connections, labels=labels)
    distances, frequencies = bs.distances, bs.frequencies

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ticks, tick_labels = [], []
    li = 0
    for i, (dist, freq) in enumerate(zip(distances, frequencies)):
        ax.plot(dist, freq, color="tab:blue", lw=1)
        if i == 0 or not connections[i - 1]:
            ticks.append(dist[0])
            tick_labels.append(labels[li])
            li += 1
        ticks.append(dist[-1])
        tick_labels.append(labels[li])
        li += 1
    # merge labels at the same distance ("X|M" for jumps)
    merged_t, merged_l = [], []
    for t, lab in zip(ticks, tick_labels):
        if merged_t and abs(merged_t[-1] - t) < 1e-9:
            if merged_l[-1] != lab:
                merged_l[-1] = f"{merged_l[-1]}|{lab}"
            continue
        merged_t.append(t)
        merged_l.append(lab)
    ax.set_xticks(merged_t)
    ax.set_xticklabels([_pretty(lab) for lab in merged_l])
    for t in merged_t:
        ax.axvline(t, color="0.7", lw=0.6)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlim(distances[0][0], distances[-1][-1])
    ax.set_ylabel("frequency (THz, imaginary < 0)")
    if title:
        ax.set_title(title)
    if modes is not None:
        _annotate_irreps(ax, modes, merged_t, merged_l)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _pretty(label: str) -> str:
    return "|".join("Γ" if part == "GM" else part for part in label.split("|"))


def _annotate_irreps(ax, modes: PhononModes, ticks: Sequence[float], labels: Sequence[str]) -> None:
    """Irrep label of each mode set next to its frequency at the first tick of its q."""
    where: dict[str, float] = {}
    for t, lab in zip(ticks, labels):
        for part in lab.split("|"):
            where.setdefault(part, t)
    ymin, ymax = ax.get_ylim()
    span = ymax - ymin
    for q_label, x in where.items():
        placed: list[float] = []
        for m in sorted(modes.at(q_label), key=lambda s: s.frequency_thz):
            y = m.frequency_thz
            if placed and y - placed[-1] < 0.035 * span:
                y = placed[-1] + 0.035 * span
            placed.append(y)
            color = "tab:red" if m.frequency_thz < -0.1 else "0.25"
            ax.annotate(
                m.irrep,
                (x, m.frequency_thz),
                xytext=(x, y),
                textcoords="data",
                fontsize=6,
                color=color,
                ha="left",
                va="center",
            )
