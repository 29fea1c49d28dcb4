"""Time isotropy-subgroup enumeration for SrTiO3 (Ti at the origin).

Prints seconds for R4+, M3+ and the coupled R4+ + M3+ (a+b-b- tilts -> Pnma), each
measured once cold (first call in the process) and as the best of 3 warm calls.
Run: .venv/bin/python benchmarks/symmetry_speed.py
"""

from __future__ import annotations

import time

from ase import Atoms

from ase_symbreak.symmetry import displacement_modes, isotropy_subgroups


def srtio3(a: float = 3.9) -> Atoms:
    return Atoms(
        "SrTiO3",
        cell=[a, a, a],
        pbc=True,
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
    )


def timed(fn, repeat: int = 3) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return cold, min(warm), out


def main() -> None:
    parent = srtio3()
    cold, warm, rep = timed(lambda: displacement_modes(parent, (2, 2, 2)), repeat=1)
    print(
        f"displacement_modes 2x2x2 (40 atoms, {len(rep.operations)} ops): "
        f"cold {cold:.2f} s, warm {warm:.2f} s"
    )
    for labels in (["R4+"], ["M3+"], ["R4+", "M3+"]):
        cold, warm, hs = timed(lambda: isotropy_subgroups(parent, labels))
        names = ", ".join(f"{h.direction}->{h.space_group_symbol}" for h in hs[:3])
        print(
            f"isotropy_subgroups {'+'.join(labels):8s}: {len(hs):2d} subgroups, "
            f"cold {cold:.2f} s, warm {warm:.2f} s  [{names}, ...]"
        )


if __name__ == "__main__":
    main()
