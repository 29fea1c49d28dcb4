"""The whole search with a plain ASE calculator (issue 33): ASE's EMT, which has forces and
stress but no Hessian.

fcc Al and Cu are stable under EMT: the parent is relaxed, its phonons come from phonopy's
finite displacements (and say so in the record, the step file and phonopy's yaml), no mode
is soft, no child is made, the strain check passes; the force constants written equal
phonopy's own finite-displacement calculation of the relaxed parent. The tilt toy with a
plain calculator (its forces only) descends to the same R-3c ground state through finite
displacements as the exact path does (tests/workflows/test_descent.py). A result folder
written before the record said how the force constants were found still loads.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ase_symbreak.phonons import PhononModes, Phonons
from ase_symbreak.phonons.phonopy_interface import from_phonopy_atoms, to_phonopy_atoms
from ase_symbreak.workflows import SearchSettings, distortion_search
from ase_symbreak.workflows.folder import load_search

FINITE = "finite displacements"


def _phonopy_force_constants(unitcell, supercell=(2, 2, 2), displacement=0.01):
    """phonopy's own finite-displacement force constants with EMT forces."""
    from phonopy import Phonopy

    phonon = Phonopy(to_phonopy_atoms(unitcell), supercell_matrix=np.diag(supercell))
    phonon.generate_displacements(distance=displacement)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = from_phonopy_atoms(cell)
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    return phonon.force_constants


@pytest.mark.parametrize("element, a", [("Al", 4.0), ("Cu", 3.6)])
def test_emt_fcc_search_is_stable_with_finite_displacement_phonons(tmp_path, element, a):
    settings = SearchSettings(supercell=(2, 2, 2), plot=False, random_trials=0)
    result = distortion_search(
        bulk(element, "fcc", a=a), calc=EMT(), settings=settings, out_dir=tmp_path
    )
    assert result is not None
    assert result.children == () and not result.soft_modes.modes
    assert result.phonons.force_constants_method == FINITE
    assert not result.phonons.unstable()
    (node,) = result.nodes
    assert node.dynamically_stable and node.elastic is not None and node.elastic.stable
    assert node.elastic.hessian == FINITE
    assert result.model == {"calculator": "EMT"}
    # the step file and phonopy's yaml say how the force constants were found
    step = json.loads((tmp_path / "02_phonons.json").read_text())
    assert FINITE in json.dumps(step)
    written = Phonons.load(tmp_path / "phonopy_params.yaml")
    assert written.force_constants_method == FINITE
    # equal to phonopy's own finite-displacement calculation of the relaxed parent
    reference = _phonopy_force_constants(result.parent.atoms)
    np.testing.assert_allclose(written.force_constants, reference, atol=1e-6)
    # loaded back as computed
    again = load_search(tmp_path)
    assert again.phonons.force_constants_method == FINITE


class ForcesOnly:
    """The wrapped calculator without its second derivatives: a plain ASE calculator."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name in ("get_hessian", "get_force_constants"):
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.filterwarnings("ignore::ase_symbreak.phonons.OffGridInstabilityWarning")
def test_plain_calculator_descends_to_the_tilt_ground_state():
    from ase_symbreak.calculator import SymBreakCalculator
    from ase_symbreak.testing.toy_models import PlantedTiltModel

    from .test_descent import _tilt_settings

    toy = PlantedTiltModel()
    plain = ForcesOnly(SymBreakCalculator(model=toy, dtype="float64"))
    result = distortion_search(toy.cubic(), calc=plain, settings=_tilt_settings())
    assert result is not None and result.ground_state is not None
    ground = result.nodes[result.ground_state]
    assert ground.space_group_symbol == "R-3c" and ground.dynamically_stable
    assert result.phonons.force_constants_method == FINITE
    assert ground.elastic is not None and ground.elastic.hessian == FINITE
    assert {n.space_group_symbol for n in result.nodes} == {"Pm-3m", "R-3c", "Imma", "I4/mcm"}


def test_phonon_records_written_before_the_method_was_recorded_still_load():
    from ase_symbreak.phonons.records import ModeSet

    mode = ModeSet(q=np.zeros(3), q_label="GM", irrep="GM4-", frequency_thz=1.0, degeneracy=3)
    modes = PhononModes(modes=(mode,), supercell_matrix=np.eye(3, dtype=int), origin_index=0)
    old = modes.to_dict()
    old.pop("force_constants_method", None)
    loaded = PhononModes.from_dict(json.loads(json.dumps(old)))
    assert loaded.force_constants_method is None
    assert "force_constants" not in loaded.summary()
