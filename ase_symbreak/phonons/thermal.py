"""Phonon density of states and harmonic thermal properties of a :class:`phonopy.Phonopy`.

- :func:`phonon_dos`: total (and per-element projected) phonon DOS on a Gamma-centred mesh,
  tetrahedron method or Gaussian smearing (:class:`PhononDOS`).
- :func:`thermal_properties`: harmonic Helmholtz free energy, entropy and heat capacity at
  constant volume, summed over the mesh modes (:class:`ThermalProperties`).
- :func:`to_pymatgen_dos`: the DOS as :class:`pymatgen.phonon.dos.PhononDos`, or
  :class:`~pymatgen.phonon.dos.CompletePhononDos` with the per-site projections.

Conventions (phonopy's):

- frequencies in THz (``nu``, not ``omega``); an imaginary frequency is a negative number,
  so an unstable crystal has DOS weight at negative frequencies;
- the DOS is per primitive cell (phonopy's ``phonon.primitive``): it integrates over
  frequency to ``3 * n_atoms`` of that cell, in states / THz;
- thermal properties are per mole of primitive cells (kJ/mol, J/K/mol), *not* per mole of
  atoms or of formula units: divide by ``n_atoms`` for per mole of atoms. The free energy is
  also given in eV per primitive cell;
- meshes are Gamma-centred, in the reciprocal basis of the primitive cell. The default is
  phonopy's length rule with :data:`DEFAULT_MESH_LENGTH` (mesh_i about
  ``length * |a*_i|`` rounded, ``|a*_i|`` without the 2 pi, kept symmetric by phonopy):
  24x24x24 for fcc Cu (a = 3.61 A), 15x15x15 for rocksalt NaCl (a = 5.64 A).

Both functions run phonopy's mesh (and DOS / thermal properties) on the object they are
given, so its ``mesh``, ``total_dos``, ``projected_dos`` and ``thermal_properties`` results
are replaced.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.codec import Record

__all__ = [
    "DEFAULT_MESH_LENGTH",
    "IMAGINARY_THRESHOLD_THZ",
    "PhononDOS",
    "ThermalProperties",
    "phonon_dos",
    "thermal_properties",
    "to_pymatgen_dos",
]

#: Default mesh, as phonopy's length (Angstrom): mesh_i ~ length * |a*_i| (no 2 pi).
DEFAULT_MESH_LENGTH = 50.0
#: Mesh modes below this frequency (THz) count as imaginary in :class:`PhononDOS`.
IMAGINARY_THRESHOLD_THZ = -0.05
#: Default temperatures of :func:`thermal_properties`: 0 to 1000 K by 10 K.
DEFAULT_TEMPERATURES_K = tuple(float(t) for t in range(0, 1001, 10))


def _ev_to_kj_per_mol() -> float:
    """phonopy's kJ/mol per eV (the factor its thermal properties were made with)."""
    from phonopy.physical_units import get_physical_units

    return float(get_physical_units().EvTokJmol)


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class PhononDOS(Record):
    """Phonon density of states of a primitive cell.

    Attributes
    ----------
    frequencies_thz : NDArray[float]
        (n_freq,) evenly spaced frequency points, THz (negative = imaginary).
    dos_states_per_thz : NDArray[float]
        (n_freq,) total DOS per primitive cell, states / THz.
    mesh : tuple[int, int, int]
        Gamma-centred q mesh (reciprocal basis of phonopy's primitive cell).
    sigma_thz : float or None
        Gaussian smearing width, THz; None for the tetrahedron method.
    projected_dos_states_per_thz : dict[str, NDArray[float]] or None
        Per element symbol, the DOS projected on the atoms of that element (summed over
        them), states / THz; they sum to the total. None when not projected.
    n_imaginary : int
        Modes of the whole mesh (irreducible points counted with their weights) below
        :data:`IMAGINARY_THRESHOLD_THZ`: the weight the DOS shows at negative frequencies.
    method : str
        ``'tetrahedron'`` or ``'smearing (Normal, sigma=0.1 THz)'``.
    n_atoms : int
        Atoms in phonopy's primitive cell (the DOS integrates to ``3 * n_atoms``).
    primitive_symbols : tuple[str, ...]
        Chemical symbols of the primitive cell's atoms, in phonopy's order.
    atom_projected_dos_states_per_thz : NDArray[float] or None
        (n_atoms, n_freq) DOS projected on each primitive atom (phonopy's order); None when
        not projected.
    """

    frequencies_thz: NDArray[np.float64] = field(repr=False)
    dos_states_per_thz: NDArray[np.float64] = field(repr=False)
    mesh: tuple[int, ...]
    sigma_thz: float | None
    projected_dos_states_per_thz: dict[str, NDArray[np.float64]] | None = field(
        repr=False, default=None
    )
    n_imaginary: int = 0
    method: str = "tetrahedron"
    n_atoms: int = 0
    primitive_symbols: tuple[str, ...] = ()
    atom_projected_dos_states_per_thz: NDArray[np.float64] | None = field(repr=False, default=None)

    @property
    def projected(self) -> bool:
        """Whether the per-element projections are present."""
        return self.projected_dos_states_per_thz is not None

    def integral(self) -> float:
        """Total DOS integrated over frequency (trapezoid rule): ``3 * n_atoms`` when the
        frequency range holds the whole DOS.
        """
        return float(np.trapezoid(self.dos_states_per_thz, self.frequencies_thz))

    def projected_integrals(self) -> dict[str, float] | None:
        """Per element, the projected DOS integrated over frequency (3 per atom)."""
        if self.projected_dos_states_per_thz is None:
            return None
        return {
            el: float(np.trapezoid(d, self.frequencies_thz))
            for el, d in self.projected_dos_states_per_thz.items()
        }

    def summary(self) -> dict:
        """JSON-ready dict: mesh, method, frequency range and integrals."""
        freqs = np.asarray(self.frequencies_thz, dtype=float)
        return {
            "n_atoms": int(self.n_atoms),
            "mesh": [int(m) for m in self.mesh],
            "method": self.method,
            "sigma_thz": None if self.sigma_thz is None else float(self.sigma_thz),
            "n_frequencies": int(freqs.size),
            "frequency_range_thz": [float(freqs.min()), float(freqs.max())],
            "integral_states": self.integral(),
            "expected_states": 3 * int(self.n_atoms),
            "n_imaginary": int(self.n_imaginary),
            "projected_integral_states": self.projected_integrals(),
        }


@dataclass(frozen=True)
class ThermalProperties(Record):
    """Harmonic thermal properties at constant volume, per mole of primitive cells.

    The values are phonopy's: sums over the modes of the mesh, per mole of phonopy's
    primitive cell (divide by ``n_atoms`` for per mole of atoms). Modes at or below the
    cutoff frequency (all imaginary ones, and the three acoustic modes at Gamma) are left
    out of the sums.

    Attributes
    ----------
    temperatures_k : NDArray[float]
        (n_t,) increasing temperatures, K.
    free_energy_kj_per_mol : NDArray[float]
        (n_t,) Helmholtz free energy ``F = E_zp + kT sum ln(1 - exp(-h nu / kT))``, kJ/mol
        (per mole of primitive cells).
    entropy_j_per_k_mol : NDArray[float]
        (n_t,) entropy, J/(K mol).
    heat_capacity_j_per_k_mol : NDArray[float]
        (n_t,) heat capacity at constant volume, J/(K mol); tends to ``3 n_atoms R``.
    free_energy_ev_per_cell : NDArray[float]
        (n_t,) the free energy in eV per primitive cell.
    zero_point_energy_kj_per_mol : float
        ``sum h nu / 2`` over the positive mesh frequencies, kJ/mol (``F`` at 0 K).
    mesh : tuple[int, int, int]
        Gamma-centred q mesh (reciprocal basis of the primitive cell).
    n_imaginary : int
        Modes of the whole mesh left out of the sums because their frequency is at or below
        ``cutoff_frequency_thz`` (imaginary ones, and with a positive cutoff real ones below
        it), not counting the three acoustic modes at Gamma.
    n_modes : int
        Modes on the whole mesh, ``3 * n_atoms * prod(mesh)``.
    cutoff_frequency_thz : float
        Modes at or below it are left out, THz (0 = phonopy's default).
    n_atoms : int
        Atoms in phonopy's primitive cell (Dulong-Petit: ``3 * n_atoms * R``).
    """

    temperatures_k: NDArray[np.float64] = field(repr=False)
    free_energy_kj_per_mol: NDArray[np.float64] = field(repr=False)
    entropy_j_per_k_mol: NDArray[np.float64] = field(repr=False)
    heat_capacity_j_per_k_mol: NDArray[np.float64] = field(repr=False)
    free_energy_ev_per_cell: NDArray[np.float64] = field(repr=False)
    zero_point_energy_kj_per_mol: float
    mesh: tuple[int, ...]
    n_imaginary: int = 0
    n_modes: int = 0
    cutoff_frequency_thz: float = 0.0
    n_atoms: int = 0

    def at(self, temperature_k: float) -> dict[str, float]:
        """The properties at ``temperature_k`` (linear interpolation between the computed
        temperatures; exact on them).

        Raises
        ------
        ValueError
            When ``temperature_k`` is outside the computed range.
        """
        temps = np.asarray(self.temperatures_k, dtype=float)
        t = float(temperature_k)
        if not np.isfinite(t) or t < temps[0] - 1e-9 or t > temps[-1] + 1e-9:
            raise ValueError(
                f"temperature {temperature_k} K is outside the computed range "
                f"[{temps[0]:g}, {temps[-1]:g}] K"
            )

        def interp(values: NDArray) -> float:
            if temps.size == 1:
                return float(np.asarray(values)[0])
            return float(np.interp(t, temps, values))

        return {
            "temperature_k": t,
            "free_energy_kj_per_mol": interp(self.free_energy_kj_per_mol),
            "entropy_j_per_k_mol": interp(self.entropy_j_per_k_mol),
            "heat_capacity_j_per_k_mol": interp(self.heat_capacity_j_per_k_mol),
            "free_energy_ev_per_cell": interp(self.free_energy_ev_per_cell),
        }

    def summary(self) -> dict:
        """JSON-ready dict: mesh, mode counts, zero-point energy and the values at 300 K
        (None when 300 K is outside the computed range).
        """
        temps = np.asarray(self.temperatures_k, dtype=float)
        try:
            at_300 = self.at(300.0)
        except ValueError:
            at_300 = None
        zpe = float(self.zero_point_energy_kj_per_mol)
        return {
            "n_atoms": int(self.n_atoms),
            "mesh": [int(m) for m in self.mesh],
            "n_modes": int(self.n_modes),
            "n_imaginary": int(self.n_imaginary),
            "cutoff_frequency_thz": float(self.cutoff_frequency_thz),
            "n_temperatures": int(temps.size),
            "temperature_range_k": [float(temps[0]), float(temps[-1])],
            "zero_point_energy_kj_per_mol": zpe,
            "zero_point_energy_ev_per_cell": zpe / _ev_to_kj_per_mol(),
            "at_300_k": at_300,
        }


# ----------------------------------------------------------------------------- functions
#: Smearing (THz) of the DOS when every mode has the same frequency (tetrahedra need a width).
ONE_FREQUENCY_SIGMA_THZ = 0.05


def phonon_dos(
    phonon: Any,
    mesh: ArrayLike | float | None = None,
    sigma: float | None = None,
    projected: bool = False,
) -> PhononDOS:
    """Phonon DOS of ``phonon`` (a :class:`phonopy.Phonopy` with force constants).

    Parameters
    ----------
    phonon : phonopy.Phonopy
        With ``force_constants`` set.
    mesh : 3 positive ints or float, optional
        Gamma-centred mesh, or phonopy's length (Angstrom) to derive it from; default
        :data:`DEFAULT_MESH_LENGTH`.
    sigma : float, optional
        Gaussian smearing width, THz; default None: the tetrahedron method (smearing of
        :data:`ONE_FREQUENCY_SIGMA_THZ` when all modes have one frequency, as a one-atom
        1x1x1 supercell's do).
    projected : bool
        Also project the DOS on the atoms, summed per element. This runs the full mesh
        without symmetry reduction and with eigenvectors: seconds already for the default
        mesh of a one-atom cell, so give a coarser ``mesh`` when speed matters.

    Returns
    -------
    PhononDOS

    Raises
    ------
    ValueError
        No force constants, a mesh with non-positive entries, a non-positive ``sigma``.
    """
    _check_force_constants(phonon)
    mesh_arg = _mesh_argument(mesh)
    if sigma is not None:
        sigma = float(sigma)
        if not np.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be a positive width in THz (or None), got {sigma}")

    if projected:
        _run_mesh(phonon, mesh_arg, with_eigenvectors=True, is_mesh_symmetry=False)
    else:
        _run_mesh(phonon, mesh_arg)
    ph_mesh = phonon.mesh
    frequencies = np.asarray(ph_mesh.frequencies, dtype=float)
    window: dict[str, float] = {}
    if np.ptp(frequencies) < 1e-6:  # all modes at one frequency (the zero force constants
        # of a one-atom 1x1x1 supercell): phonopy's window and tetrahedra would have no width
        sigma = sigma or ONE_FREQUENCY_SIGMA_THZ
        centre = float(frequencies.mean())
        window = {"freq_min": centre - 1.0, "freq_max": centre + 1.0, "freq_pitch": 0.01}
    total = phonon.run_total_dos(sigma=sigma, **window)
    freqs = np.array(total.frequency_points, dtype=float)
    dos = np.array(total.dos, dtype=float)

    symbols = tuple(str(s) for s in phonon.primitive.symbols)
    per_element: dict[str, NDArray[np.float64]] | None = None
    per_atom: NDArray[np.float64] | None = None
    if projected:
        pdos = phonon.run_projected_dos(sigma=sigma)
        per_atom = np.array(pdos.projected_dos, dtype=float)
        if not np.allclose(pdos.frequency_points, freqs):  # same mesh: same points
            raise RuntimeError("phonopy's projected and total DOS have different frequencies")
        per_element = {}
        for symbol, row in zip(symbols, per_atom):
            per_element[symbol] = per_element.get(symbol, 0.0) + row

    weights = np.asarray(ph_mesh.weights)
    below = np.asarray(ph_mesh.frequencies) < IMAGINARY_THRESHOLD_THZ
    n_imaginary = int((below.sum(axis=1) * weights).sum())
    method = "tetrahedron" if sigma is None else f"smearing (Normal, sigma={sigma:g} THz)"
    return PhononDOS(
        frequencies_thz=freqs,
        dos_states_per_thz=dos,
        mesh=tuple(int(m) for m in ph_mesh.mesh_numbers),
        sigma_thz=sigma,
        projected_dos_states_per_thz=per_element,
        n_imaginary=n_imaginary,
        method=method,
        n_atoms=len(symbols),
        primitive_symbols=symbols,
        atom_projected_dos_states_per_thz=per_atom,
    )


def thermal_properties(
    phonon: Any,
    temperatures_k: ArrayLike = DEFAULT_TEMPERATURES_K,
    mesh: ArrayLike | float | None = None,
    cutoff_frequency_thz: float | None = None,
) -> ThermalProperties:
    """Harmonic free energy, entropy and heat capacity of ``phonon``, per mole of primitive
    cells (phonopy's ``run_thermal_properties``).

    The three acoustic modes at Gamma are left out (phonopy's ``exclude_gamma_acoustic``:
    their computed frequencies are numerical noise around zero), as are the modes at or below
    ``cutoff_frequency_thz``: every imaginary mode, counted in ``n_imaginary``.

    Parameters
    ----------
    phonon : phonopy.Phonopy
        With ``force_constants`` set.
    temperatures_k : array_like
        Increasing, non-negative temperatures, K; default 0 to 1000 K by 10 K.
    mesh : 3 positive ints or float, optional
        Gamma-centred mesh, or phonopy's length (Angstrom); default
        :data:`DEFAULT_MESH_LENGTH`.
    cutoff_frequency_thz : float, optional
        Leave out modes at or below this frequency, THz (>= 0); default 0.

    Returns
    -------
    ThermalProperties

    Raises
    ------
    ValueError
        No force constants, a bad mesh, negative / non-increasing temperatures, a negative
        cutoff.
    """
    _check_force_constants(phonon)
    mesh_arg = _mesh_argument(mesh)
    temps = np.atleast_1d(np.asarray(temperatures_k, dtype=float))
    if temps.ndim != 1 or temps.size == 0:
        raise ValueError("temperatures_k must be a non-empty 1-D sequence of temperatures in K")
    if not np.all(np.isfinite(temps)):
        raise ValueError(f"temperatures_k must be finite, got {temps.tolist()}")
    if np.any(temps < 0):
        raise ValueError(f"temperatures must be >= 0 K, got negative {temps[temps < 0].tolist()}")
    if np.any(np.diff(temps) <= 0):
        raise ValueError("temperatures_k must be strictly increasing")
    cutoff = 0.0 if cutoff_frequency_thz is None else float(cutoff_frequency_thz)
    if not np.isfinite(cutoff) or cutoff < 0:
        # phonopy silently replaces a negative cutoff by 0: imaginary modes never enter
        raise ValueError(
            f"cutoff_frequency_thz must be >= 0 THz (imaginary modes are always left out), "
            f"got {cutoff_frequency_thz}"
        )

    _run_mesh(phonon, mesh_arg)
    ph_mesh = phonon.mesh
    tp = phonon.run_thermal_properties(
        temperatures=temps, cutoff_frequency=cutoff, exclude_gamma_acoustic=True
    )
    n_gamma_acoustic = 3 if ph_mesh.gamma_index is not None else 0
    n_skipped = int(tp.number_of_modes) - int(tp.number_of_integrated_modes)
    free_energy = np.array(tp.free_energy, dtype=float)
    return ThermalProperties(
        temperatures_k=np.array(tp.temperatures, dtype=float),
        free_energy_kj_per_mol=free_energy,
        entropy_j_per_k_mol=np.array(tp.entropy, dtype=float),
        heat_capacity_j_per_k_mol=np.array(tp.heat_capacity, dtype=float),
        free_energy_ev_per_cell=free_energy / _ev_to_kj_per_mol(),
        zero_point_energy_kj_per_mol=float(tp.zero_point_energy),
        mesh=tuple(int(m) for m in ph_mesh.mesh_numbers),
        n_imaginary=max(0, n_skipped - n_gamma_acoustic),
        n_modes=int(tp.number_of_modes),
        cutoff_frequency_thz=cutoff,
        n_atoms=len(phonon.primitive),
    )


def to_pymatgen_dos(dos: PhononDOS, unitcell: Any = None) -> Any:
    """``dos`` as a pymatgen phonon DOS (frequencies in THz, densities per primitive cell).

    Parameters
    ----------
    dos : PhononDOS
    unitcell : ase.Atoms, PhonopyAtoms or pymatgen Structure, optional
        The primitive cell of the DOS (``phonon.primitive``), atoms in phonopy's order: with
        a projected ``dos`` the result is a ``CompletePhononDos`` with one projection per
        site. Ignored for a DOS without projections.

    Returns
    -------
    pymatgen.phonon.dos.PhononDos or CompletePhononDos
        pymatgen's thermodynamics of it (``cv``, ``entropy``, ...) are per mole of these
        cells ("mol-c"), J/(K mol) and J/mol (not kJ/mol), unless given a ``structure``.

    Raises
    ------
    ValueError
        When ``unitcell``'s atoms are not the DOS's primitive atoms.
    """
    from pymatgen.phonon.dos import CompletePhononDos, PhononDos

    total = PhononDos(
        np.asarray(dos.frequencies_thz, dtype=float), np.asarray(dos.dos_states_per_thz)
    )
    if unitcell is None or dos.atom_projected_dos_states_per_thz is None:
        return total
    structure = _pymatgen_structure(unitcell)
    symbols = tuple(site.specie.symbol for site in structure)
    if symbols != tuple(dos.primitive_symbols):
        raise ValueError(
            f"unitcell has atoms {list(symbols)} but the DOS was projected on phonopy's "
            f"primitive cell {list(dos.primitive_symbols)}: pass phonon.primitive"
        )
    per_atom = np.asarray(dos.atom_projected_dos_states_per_thz, dtype=float)
    return CompletePhononDos(structure, total, dict(zip(structure.sites, per_atom)))


# ----------------------------------------------------------------------------- helpers
def _check_force_constants(phonon: Any) -> None:
    if getattr(phonon, "force_constants", None) is None:
        raise ValueError(
            "the Phonopy object has no force constants: set phonon.force_constants or run "
            "phonon.produce_force_constants() first"
        )


def _run_mesh(phonon: Any, mesh_arg: list[int] | float, **kwargs: Any) -> None:
    """``phonon.run_mesh`` (Gamma-centred), quiet about phonopy's switch to a generalised
    regular grid when a length gives a mesh that breaks the point group (an informational
    warning: the grid it builds keeps the full symmetry; ``mesh`` records what was used).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*generalized regular grid")
        phonon.run_mesh(mesh_arg, is_gamma_center=True, **kwargs)


def _mesh_argument(mesh: ArrayLike | float | None) -> list[int] | float:
    """What ``Phonopy.run_mesh`` gets: 3 positive ints, or a positive length (Angstrom)."""
    if mesh is None:
        return DEFAULT_MESH_LENGTH
    if isinstance(mesh, numbers.Real) and not isinstance(mesh, bool):
        length = float(mesh)
        if not np.isfinite(length) or length <= 0:
            raise ValueError(f"a mesh length must be positive (Angstrom), got {mesh}")
        return length
    values = np.asarray(mesh)
    if values.shape != (3,) or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"mesh must be 3 positive integers or a length, got {mesh!r}")
    if np.any(values != np.round(values)):
        raise ValueError(f"mesh entries must be integers, got {values.tolist()}")
    if np.any(values <= 0):
        raise ValueError(f"mesh entries must be positive, got {values.tolist()}")
    return [int(v) for v in values]


def _pymatgen_structure(cell: Any) -> Any:
    from pymatgen.core import Structure

    if isinstance(cell, Structure):
        return cell
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    if not isinstance(cell, Atoms):
        from ase_symbreak.phonons.phonopy_interface import from_phonopy_atoms

        cell = from_phonopy_atoms(cell)
    return AseAtomsAdaptor.get_structure(cell)
