"""Structure fixtures built in code, named after the structure and expected space group."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

A_STO = 3.9


def _perovskite(b_at_origin: bool) -> Atoms:
    a = A_STO
    if b_at_origin:  # Ti at 0, Sr at body centre, O on face centres of Ti
        return Atoms(
            "SrTiO3",
            cell=[a, a, a],
            pbc=True,
            scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        )
    return Atoms(
        "SrTiO3",
        cell=[a, a, a],
        pbc=True,
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]],
    )


@pytest.fixture
def srtio3_ti_origin_pm3m() -> Atoms:
    """Cubic SrTiO3 (221), Ti at the origin; Sr is atom 0, Ti atom 1."""
    return _perovskite(True)


@pytest.fixture
def srtio3_sr_origin_pm3m() -> Atoms:
    """Cubic SrTiO3 (221), Sr (atom 0) at the origin, Ti atom 1 at (1/2,1/2,1/2)."""
    return _perovskite(False)


@pytest.fixture
def nacl_rocksalt_fm3m() -> Atoms:
    """Rocksalt NaCl (225), primitive fcc cell."""
    return bulk("NaCl", "rocksalt", a=5.64)


@pytest.fixture
def nacl_rocksalt_conventional_fm3m() -> Atoms:
    """Rocksalt NaCl (225), conventional 8-atom cubic cell (centred)."""
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True)


@pytest.fixture
def caf2_fluorite_fm3m() -> Atoms:
    """Fluorite CaF2 (225), primitive fcc cell."""
    return bulk("CaF2", "fluorite", a=5.46)


@pytest.fixture
def nias_p63mmc() -> Atoms:
    """NiAs (194): Ni at 2a (0,0,0),(0,0,1/2); As at 2c (1/3,2/3,1/4),(2/3,1/3,3/4)."""
    a, c = 3.62, 5.03
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
    return Atoms(
        "Ni2As2",
        cell=cell,
        pbc=True,
        scaled_positions=[[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]],
    )


@pytest.fixture
def rutile_tio2_p42mnm() -> Atoms:
    """Rutile TiO2 (136), u = 0.305."""
    a, c, u = 4.594, 2.959, 0.305
    return Atoms(
        "Ti2O4",
        cell=[a, a, c],
        pbc=True,
        scaled_positions=[
            [0, 0, 0],
            [0.5, 0.5, 0.5],
            [u, u, 0],
            [1 - u, 1 - u, 0],
            [0.5 + u, 0.5 - u, 0.5],
            [0.5 - u, 0.5 + u, 0.5],
        ],
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def srtio3_ti_origin_modes_222():
    """Displacement modes of the 2x2x2 supercell of cubic SrTiO3, Ti at the origin."""
    from ase_symbreak.symmetry import displacement_modes

    return displacement_modes(_perovskite(True), (2, 2, 2))
