"""What the distortion search predicts for textbook crystals, against their known ground states.

Usage: .venv/bin/python benchmarks/validation.py [--model NAME] [--materials SrTiO3,BaTiO3]
       [--depth 1] [--budget 240] [--out DIR]

Each parent is built here (cubic perovskites with the B site at the origin, fluorite,
antifluorite, rutile, rocksalt at their experimental lattice parameters; the search relaxes
them first), searched with the demo's settings (2x2x2 supercell, coupled pairs, the descent
to ``--depth`` under a ``--budget`` seconds budget) and printed as one Markdown row per
material: the experimental ground state with its source, the predicted ground state (the
lowest-energy dynamically stable node), the soft irreps of the parent and the time taken.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

#: name -> (builder, known low-temperature ground state, source)
KNOWN = {
    "SrTiO3": (
        "perovskite 3.905",
        "I4/mcm (140) below 105 K",
        "Unoki & Sakudo, JPSJ 23, 546 (1967)",
    ),
    "BaTiO3": (
        "perovskite 4.00",
        "R3m (160) below 183 K",
        "Kwei et al., J. Phys. Chem. 97, 2368 (1993)",
    ),
    "PbTiO3": (
        "perovskite 3.97",
        "P4mm (99) below 763 K",
        "Shirane et al., Phys. Rev. 105, 856 (1957)",
    ),
    "CaTiO3": ("perovskite 3.84", "Pnma (62)", "Sasaki et al., Acta Cryst. C 43, 1668 (1987)"),
    "KNbO3": ("perovskite 4.02", "R3m (160) below 263 K", "Hewat, J. Phys. C 6, 2559 (1973)"),
    "ZrO2": (
        "fluorite 5.09",
        "P2_1/c (14) baddeleyite; P4_2/nmc above 1440 K",
        "Howard et al., Acta Cryst. B 44, 116 (1988)",
    ),
    "TiO2": (
        "rutile",
        "P4_2/mnm (136) rutile stays stable",
        "Burdett et al., JACS 109, 3639 (1987)",
    ),
    "Li2O": (
        "antifluorite 4.61",
        "Fm-3m (225) stable",
        "Farley et al., J. Solid State Chem. 73, 3 (1988)",
    ),
    "PbTe": (
        "rocksalt 6.46",
        "Fm-3m (225) stable (incipient ferroelectric)",
        "Jantsch, Springer Tracts Mod. Phys. 99 (1983)",
    ),
}


def build(name: str):
    """The parent structure of ``name``."""
    from ase.build import bulk
    from ase.spacegroup import crystal

    from ase_symbreak.structures import cubic_perovskite

    kind, *params = KNOWN[name][0].split()
    if kind == "perovskite":
        return cubic_perovskite(float(params[0]), name)
    if kind == "fluorite":  # cation at the origin, anions at +-1/4
        return bulk(name, "fluorite", a=float(params[0]))
    if kind == "antifluorite":  # O at the origin, Li at +-1/4
        return bulk("OLi2", "fluorite", a=float(params[0]))
    if kind == "rocksalt":
        return bulk(name, "rocksalt", a=float(params[0]))
    if kind == "rutile":
        return crystal(
            ["Ti", "O"],
            basis=[(0, 0, 0), (0.3048, 0.3048, 0)],
            spacegroup=136,
            cellpar=[4.594, 4.594, 2.959, 90, 90, 90],
        )
    raise ValueError(kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name (default: SevenNet-0)")
    parser.add_argument("--materials", default=",".join(KNOWN))
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--out", default="/tmp/symbreak_validation")
    args = parser.parse_args()

    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.workflows import distortion_search
    from ase_symbreak.workflows.srtio3_demo import DEMO_SETTINGS

    calc = SymBreakCalculator(model=args.model) if args.model else SymBreakCalculator()
    settings = dataclasses.replace(
        DEMO_SETTINGS, max_depth=args.depth, time_budget_s=args.budget, plot=False
    )
    label = args.model or "SevenNet-0"
    print(
        f"model {label}, depth {args.depth}, budget {args.budget:g} s, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| material | known ground state (source) | model | soft irreps of the parent "
        "| predicted ground state | time (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.materials.split(","):
        start = time.perf_counter()
        try:
            result = distortion_search(
                build(name), calc, settings, out_dir=f"{args.out}/{label}/{name}"
            )
            soft = " ".join(m.irrep for m in result.soft_modes.modes) or "none"
            gs = result.predicted_ground_state
            if gs is None:
                predicted = result.ground_state_note() or "no children"
            elif gs.index == 0:
                predicted = f"{gs.label}: the parent is stable"
            else:
                predicted = f"{gs.label} via {gs.via}, {gs.energy_gain_mev_per_fu:.1f} meV/f.u."
                if gs.off_grid is not None:
                    predicted += f" (off-grid dip {gs.off_grid['min_frequency_thz']:.1f} THz)"
        except Exception as err:  # a row per material, whatever happens
            soft, predicted = "-", f"failed: {err}"
        known, source = KNOWN[name][1], KNOWN[name][2]
        print(
            f"| {name} | {known} ({source}) | {label} | {soft} | {predicted} "
            f"| {time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
