"""Tolerances that would crash spglib (negative, zero, NaN) are refused with a clear error on
every path into it, and NaN thresholds cannot make an unstable structure stable."""

from __future__ import annotations

import math

import pytest

from ase_symbreak.environments.sites import environment_changes
from ase_symbreak.hessian.forceconstants import symmetry_map
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.symmetry import decompose
from ase_symbreak.symmetry.pointgroup import point_group_operations
from ase_symbreak.symmetry.spacegroup import analyze
from ase_symbreak.validation import check_symprec

BAD = [-1.0, 0.0, math.nan, math.inf, "tight"]


@pytest.mark.parametrize("symprec", BAD)
def test_every_path_into_spglib_refuses_a_bad_symprec(symprec):
    atoms = cubic_perovskite(3.9)
    calls = [
        lambda: analyze(atoms, symprec=symprec),
        lambda: point_group_operations(atoms, symprec=symprec),
        lambda: symmetry_map(atoms, symprec=symprec),
        lambda: decompose(atoms, atoms.repeat(2), symprec=symprec),
        lambda: environment_changes(atoms, atoms, symprec=symprec),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="positive length"):
            call()


def test_good_symprec_passes():
    assert check_symprec("1e-3") == 1e-3


@pytest.mark.parametrize(
    "field",
    [{"threshold_thz": math.nan}, {"amplitudes": (0.1, math.nan)}, {"child_fmax": math.nan}],
)
def test_nan_search_settings_are_refused(field):
    from ase_symbreak.workflows import SearchSettings

    with pytest.raises(ValueError):
        SearchSettings(**field)
