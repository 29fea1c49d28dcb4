"""Following a strain instability: the children of a strain saddle.

A node with no soft phonon but a negative eigenvalue of its relaxed-ion elastic tensor
(:mod:`ase_symbreak.phonons.elastic`) is a saddle along a homogeneous strain and the
internal relaxations it couples to. Its children are found as those of a soft phonon are:
the cell is strained along the softest eigen-strain, both ways (``+e`` and ``-e`` are not
equivalent in general: c/a up or down), scanned at :data:`STRAIN_AMPLITUDES`, and each
strained structure is relaxed inside the subgroup the strain leaves (positions and cell),
then identified against the node. The strain breaks the symmetry; the relaxation lets the
coupled optical modes follow.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from ase_symbreak.codec import atoms_to_dict, encode
from ase_symbreak.phonons.elastic import ElasticCheck

from .search_result import SearchPlan, SearchResult
from .steps import Candidate, CondenseResult
from .steps.common import formula_units, ranking_energy
from .storage import fingerprint

__all__ = [
    "STRAIN_AMPLITUDES",
    "STRAIN_IRREPS",
    "strain_plan",
    "strain_plan_work",
    "softest_strain",
    "strained",
    "voigt_to_matrix",
]

#: The ``irreps`` of a strained candidate (its decomposition names the strain's irreps).
STRAIN_IRREPS = ("strain",)

#: Norms of the Voigt strain scanned along the softest eigen-strain (dimensionless).
STRAIN_AMPLITUDES = (0.01, 0.02, 0.04)


def voigt_to_matrix(voigt: NDArray) -> NDArray:
    """The symmetric 3x3 strain of a Voigt vector (xx, yy, zz, yz, xz, xy; engineering shears).

    >>> voigt_to_matrix([0, 0, 0, 0, 0, 0.02])[0, 1]
    0.01
    """
    e1, e2, e3, e4, e5, e6 = (float(x) for x in voigt)
    return np.array([[e1, e6 / 2, e5 / 2], [e6 / 2, e2, e4 / 2], [e5 / 2, e4 / 2, e3]], dtype=float)


def strained(atoms: Atoms, strain: NDArray) -> Atoms:
    """``atoms`` with its cell deformed by ``1 + strain`` (atoms keep fractional positions)."""
    out = atoms.copy()
    out.calc = None
    out.set_cell(atoms.cell[:] @ (np.eye(3) + np.asarray(strain, dtype=float)), scale_atoms=True)
    return out


def _candidate(
    atoms: Atoms, e0: float, sign: int, voigt: NDArray, calc, symprec: float
) -> Candidate:
    """The scan along ``sign * voigt`` (a unit Voigt strain) as a :class:`Candidate`;
    ``e0``: the unstrained energy per formula unit (eV, as the search ranks it).
    """
    from ase_symbreak.symmetry import analyze

    n_fu = formula_units(atoms)
    amps = np.asarray(STRAIN_AMPLITUDES, dtype=float)
    trials = [strained(atoms, voigt_to_matrix(sign * a * voigt)) for a in amps]
    energies = np.array([(ranking_energy(calc, t) / n_fu - e0) * 1000.0 for t in trials])
    best = int(np.argmin(energies))
    info = analyze(trials[best], symprec=symprec)
    text = ",".join(f"{x:+.2f}" for x in sign * voigt)
    return Candidate(
        irreps=STRAIN_IRREPS,
        direction=f"{'+' if sign > 0 else '-'}e ({text})",
        n_params=1,
        space_group_number=info.number,
        space_group_symbol=info.symbol,
        index=1,
        amplitudes=amps,
        energies_mev_per_fu=energies,
        best_amplitude=float(amps[best]),
        energy_gain_mev_per_fu=float(-energies[best]),
        structure=trials[best],
        pattern=np.zeros((len(atoms), 3)),
        projected=False,
    )


def _canonical_directions() -> NDArray:
    """Voigt directions tried, in order, for a canonical vector of a degenerate eigenspace:
    the six axes, the three tetragonal stretches (2,-1,-1), then pairs and triples of equal
    normal or shear components.
    """
    rows = [np.eye(6)[k] for k in range(6)]
    for k in range(3):
        v = np.zeros(6)
        v[:3] = -1.0
        v[k] = 2.0
        rows.append(v / np.sqrt(6))
    for block in ((0, 1, 2), (3, 4, 5)):
        for i in range(3):
            for j in range(i + 1, 3):
                for sign in (1, -1):
                    v = np.zeros(6)
                    v[block[i]], v[block[j]] = 1.0, sign
                    rows.append(v / np.sqrt(2))
        v = np.zeros(6)
        v[list(block)] = 1.0
        rows.append(v / np.sqrt(3))
    return np.array(rows)


def softest_strain(check: ElasticCheck, rel_tol: float = 0.02) -> NDArray:
    """The softest eigen-strain (Voigt, unit norm), the same in every run.

    Where the lowest eigenvalue is degenerate (the two tetragonal strains of a cubic crystal,
    its three shears), an eigenvector is defined only up to the noise of the reductions; the
    canonical choice is the first of :func:`_canonical_directions` that lies in the
    eigenspace (a single shear, a tetragonal stretch), else the projection that lies most in
    it; the sign makes the largest component positive.
    """
    c = np.asarray(check.relaxed_gpa, dtype=float)
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    tol = max(0.5, rel_tol * abs(w[0]))
    space = v[:, w <= w[0] + tol]
    projections = _canonical_directions() @ space @ space.T
    norms = np.linalg.norm(projections, axis=1)
    inside = np.flatnonzero(norms > 1 - 1e-6)
    pick = int(inside[0]) if len(inside) else int(np.argmax(norms > norms.max() - 1e-6))
    best = projections[pick] / norms[pick]
    best[np.abs(best) < 1e-9] = 0.0  # exact zeros: the same text and key in every run
    big = int(np.argmax(np.abs(best) > np.abs(best).max() - 1e-9))
    return best if best[big] > 0 else -best


def strain_plan(node: SearchResult, check: ElasticCheck, calc, out_dir: str | None) -> SearchPlan:
    """The plan of a strain saddle's children: its cell strained both ways along the softest
    eigen-strain of ``check``, to be relaxed by :func:`~.search.run_child` (in ``out_dir``).
    """
    s = node.settings
    atoms = node.parent.atoms
    voigt = softest_strain(check)
    e0 = node.parent.energy_per_fu  # relaxed energies are ranking energies already
    chosen = tuple(_candidate(atoms, e0, sign, voigt, calc, s.symprec) for sign in (1, -1))
    key = fingerprint(
        "strain children", atoms_to_dict(atoms), node.model, encode(check.relaxed_gpa)
    )
    return SearchPlan(
        settings=s,
        parent=node.parent,
        phonons=node.phonons,
        soft_modes=node.soft_modes,
        condense=CondenseResult(parent_energy_per_fu=node.parent.energy_per_fu, candidates=chosen),
        chosen=chosen,
        model=dict(node.model),
        key=key,
        out_dir=out_dir,
    )


def strain_plan_work(
    node: SearchResult, check: ElasticCheck, out_dir: str | None, *, calc=None, progress=None
) -> SearchPlan:
    """:func:`strain_plan` as a :class:`~.work.Work` function."""
    return strain_plan(node, check, calc, out_dir)
