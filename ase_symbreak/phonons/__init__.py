"""Phonons from the model's exact Hessian, with irrep labels at every commensurate q.

- :class:`Phonons` (:mod:`.calculation`): the front door, one object per calculation
  (``Phonons(atoms, calc, supercell).run()``) with the labelled and soft modes, the
  dispersion check, band structure, DOS, thermal properties, plot, ``save`` / ``load``;
  it chains the functions below.
- :func:`phonopy_from_calculator` (:mod:`.phonopy_interface`): an ordinary
  :class:`phonopy.Phonopy` object whose supercell force constants are the calculator's
  exact Hessian (phonopy's finite displacements for a calculator without one), symmetrised
  by phonopy; :func:`phonopy_force_constants` also says which path was taken.
- :func:`labelled_modes` (:mod:`.labelling`): the modes at Gamma and every q commensurate
  with the supercell, grouped into degenerate sets and labelled with the irreps of the
  symmetry core (Bilbao/ISOTROPY labels, e.g. ``GM4-``, ``R4+``, ``M3+``).
- :class:`PhononModes` / :class:`ModeSet` (:mod:`.records`): the one serialisable record
  of labelled modes (frequency THz, irrep, degeneracy, eigenvectors, IR/Raman activity),
  used as it is by the distortion search.
- :func:`check_dispersion` (:mod:`.dispersion`): the dispersion interpolated from the
  supercell force constants, checked on a dense mesh and the band path for unstable minima
  at q the supercell misses (:class:`DispersionCheck`, with supercells that would hold them).
- :func:`standard_band_path` (:mod:`.bandpath`): seekpath's (or ASE's) band path with the
  irrep tables' names at its points; :func:`band_structure_data` (:mod:`.bands`) runs
  phonopy along it; :func:`to_pymatgen_band_structure` hands it to pymatgen.
- :func:`phonon_dos`, :func:`thermal_properties` (:mod:`.thermal`): DOS and harmonic
  thermodynamics from the same Phonopy object; :func:`to_pymatgen_dos`.
- :func:`plot_band_structure` (:mod:`.plot`): bands along the standard path, irreps at its
  points, imaginary branches in red, the DOS beside it.

Supercell matrices follow the symmetry core: supercell lattice (rows) =
``supercell_matrix @ unitcell.cell``; phonopy's matrix is the transpose (identical for the
usual diagonal ``(n1, n2, n3)``).
"""

from ase_symbreak.symmetry.lattice import supercell_matrix_3x3

from .bandpath import BandPath, SpecialPoint, standard_band_path
from .bands import BandStructureData, band_structure_data, to_pymatgen_band_structure
from .calculation import Phonons
from .dispersion import (
    DispersionCheck,
    OffGridInstability,
    OffGridInstabilityWarning,
    capturing_supercell,
    check_dispersion,
)
from .labelling import labelled_modes, star_and_inverse
from .modulation import mode_modulation, write_modulations
from .phonopy_interface import (
    from_phonopy_atoms,
    phonopy_force_constants,
    phonopy_from_calculator,
    symmetrize_force_constants,
    to_phonopy_atoms,
)
from .plot import plot_band_structure
from .records import ModeSet, PhononModes
from .thermal import PhononDOS, ThermalProperties, phonon_dos, thermal_properties, to_pymatgen_dos

__all__ = [
    "BandPath",
    "BandStructureData",
    "PhononDOS",
    "Phonons",
    "SpecialPoint",
    "ThermalProperties",
    "band_structure_data",
    "phonon_dos",
    "standard_band_path",
    "thermal_properties",
    "to_pymatgen_band_structure",
    "to_pymatgen_dos",
    "mode_modulation",
    "write_modulations",
    "DispersionCheck",
    "ModeSet",
    "OffGridInstability",
    "OffGridInstabilityWarning",
    "PhononModes",
    "capturing_supercell",
    "check_dispersion",
    "from_phonopy_atoms",
    "labelled_modes",
    "phonopy_force_constants",
    "phonopy_from_calculator",
    "plot_band_structure",
    "star_and_inverse",
    "supercell_matrix_3x3",
    "symmetrize_force_constants",
    "to_phonopy_atoms",
]
