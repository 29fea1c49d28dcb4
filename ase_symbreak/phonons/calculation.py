"""One phonon calculation as one object: :class:`Phonons`.

A :class:`Phonons` holds a parent structure, a calculator and a supercell; :meth:`~Phonons.run`
computes the supercell force constants from the calculator's exact Hessian where it has one,
from phonopy's finite displacements and its forces otherwise (any ASE calculator,
:func:`~.phonopy_interface.phonopy_force_constants`) and everything else is read off the
:class:`phonopy.Phonopy` object it builds: the labelled modes at every commensurate q
(:func:`~.labelling.labelled_modes`), the soft ones, the dispersion check between the
supercell's q points (:func:`~.dispersion.check_dispersion`), the band structure, DOS and
thermal properties, the band plot. :meth:`~Phonons.save` writes phonopy's
``phonopy_params.yaml`` (force constants included) and :meth:`~Phonons.load` reads it back
without recomputing anything.

Like phonopy's ``Phonopy`` and ASE's ``VibrationsData``, the object is the calculation:
results are computed on first use and kept (the labelled modes, the default dispersion
check); :meth:`~Phonons.run` starts afresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from numpy.typing import ArrayLike, NDArray

from ase_symbreak.protocols import Calculator
from ase_symbreak.structures import as_atoms
from ase_symbreak.symmetry.lattice import supercell_matrix_3x3
from ase_symbreak.validation import check_calculator_reach, check_symprec

from .bandpath import BandPath, standard_band_path
from .bands import BandStructureData, band_structure_data
from .dispersion import DispersionCheck, check_dispersion
from .labelling import labelled_modes
from .phonopy_interface import check_unitcell, from_phonopy_atoms, phonopy_force_constants
from .plot import plot_band_structure
from .records import PhononModes
from .thermal import DEFAULT_TEMPERATURES_K, PhononDOS, ThermalProperties, phonon_dos
from .thermal import thermal_properties as _thermal_properties

if TYPE_CHECKING:
    from ase_symbreak.hessian.any_calculator import Method

__all__ = ["Phonons", "check_supercell"]

#: Top-level key of the settings :meth:`Phonons.save` appends to phonopy's yaml (phonopy
#: ignores keys it does not know).
SETTINGS_KEY = "ase_symbreak"


class Phonons:
    """Harmonic phonons of a crystal from any ASE calculator, labelled by irrep.

    Parameters
    ----------
    atoms : Atoms or pymatgen Structure
        The high-symmetry parent: a 3-D periodic unit cell, used as given (not relaxed).
    calc : ASE calculator, optional
        Its exact Hessian where it has one (``get_force_constants`` of
        :class:`~ase_symbreak.calculator.SymBreakCalculator`, or ``get_hessian``), phonopy's
        finite displacements and its forces otherwise; default: ``SymBreakCalculator()``
        (embedded SevenNet-0), created when :meth:`run` first needs it.
    supercell : (3,) or (3, 3) int
        Supercell lattice (rows) = ``supercell @ atoms.cell``; the modes are labelled at
        Gamma and every q with ``supercell @ q`` integer. Must be invariant under the
        parent's point group (a diagonal ``(n, n, n)`` for a cubic parent).
    origin_index : int, optional
        Unit-cell atom placed at the origin for the labels; default: the B site of a
        perovskite (:func:`ase_symbreak.symmetry.default_origin_index`).
    symprec : float
        Tolerance (Angstrom) of the symmetry analysis that labels the modes and names the
        band path (phonopy's own is 1e-5 Angstrom).
    symmetrize : bool
        Impose phonopy's space-group and sum-rule symmetrisation on the force constants.
    force_constants_method : ``"auto"`` (exact Hessian where the calculator has one, else
        finite displacements), ``"exact hessian"`` or ``"finite displacements"``; the path
        taken is :attr:`force_constants_method` after :meth:`run`.
    displacement : float
        Finite-displacement amplitude, Angstrom.

    Raises
    ------
    ValueError
        A cell that is not 3-D periodic, a bad supercell matrix, or one that the parent's
        point group does not leave invariant.

    Examples
    --------
    >>> from ase_symbreak.phonons import Phonons
    >>> from ase_symbreak.structures import cubic_perovskite
    >>> ph = Phonons(cubic_perovskite(3.9), supercell=(2, 2, 2)).run()  # doctest: +SKIP
    >>> [(m.q_label, m.irrep) for m in ph.soft_modes()]  # doctest: +SKIP
    [('R', 'R4+'), ('M', 'M3+')]
    >>> ph.dispersion_check().stable_off_grid  # doctest: +SKIP
    True
    >>> ph.thermal_properties().at(300.0)["free_energy_kj_per_mol"]  # doctest: +SKIP
    >>> ph.plot("bands.png")  # doctest: +SKIP
    >>> ph.save("phonopy_params.yaml")  # doctest: +SKIP
    >>> again = Phonons.load("phonopy_params.yaml")  # no Hessian  # doctest: +SKIP
    """

    def __init__(
        self,
        atoms: Atoms,
        calc: Calculator | None = None,
        supercell: ArrayLike = (2, 2, 2),
        origin_index: int | None = None,
        symprec: float = 1e-3,
        symmetrize: bool = True,
        force_constants_method: Method = "auto",
        displacement: float = 0.01,
    ) -> None:
        atoms = check_unitcell(as_atoms(atoms)).copy()
        atoms.calc = None
        check_symprec(symprec)
        p = supercell_matrix_3x3(supercell)
        check_supercell(atoms, p, symprec)
        if origin_index is not None:
            if not isinstance(origin_index, (int, np.integer)) or isinstance(origin_index, bool):
                raise TypeError(
                    f"origin_index must be an atom index (int) or None, got {origin_index!r}"
                )
            if not -len(atoms) <= origin_index < len(atoms):
                raise ValueError(f"origin index {origin_index} out of range for {len(atoms)} atoms")
            origin_index = int(origin_index)
        self.atoms: Atoms = atoms
        self.calc = calc
        self.supercell_matrix: NDArray[np.int64] = p
        self.origin_index = origin_index
        self.symprec = float(symprec)
        self.symmetrize = bool(symmetrize)
        if force_constants_method != "auto" or not displacement > 0:
            _check_method(force_constants_method, displacement)
        self.requested_method: Method = force_constants_method
        self.displacement = float(displacement)
        self._phonopy = None
        self._found: str | None = None
        self._modes: PhononModes | None = None
        self._dispersion: DispersionCheck | None = None

    def __repr__(self) -> str:
        state = "force constants" if self._phonopy is not None else "not run"
        formula = self.atoms.get_chemical_formula(mode="metal", empirical=True)
        return (
            f"Phonons({formula}, supercell={self.supercell_matrix.tolist()}, "
            f"origin_index={self.origin_index}, {state})"
        )

    # ------------------------------------------------------------------ computing
    def run(self, progress: Callable[[int, int], None] | None = None) -> Phonons:
        """Compute the force constants: the calculator's exact Hessian where it has one,
        phonopy's finite displacements otherwise (:attr:`force_constants_method` says which).

        Parameters
        ----------
        progress : ``progress(done, total)``, optional
            Called after each Hessian row or force calculation.

        Returns
        -------
        Phonons
            ``self``, with a fresh :attr:`phonopy` and no results kept from before.
        """
        if self.calc is None:
            from ase_symbreak.calculator import SymBreakCalculator

            self.calc = SymBreakCalculator()
        # free atoms (a cell typed in the wrong unit) would give zero force constants: "stable"
        check_calculator_reach(self.atoms, self.calc)
        phonon, found = phonopy_force_constants(
            self.atoms,
            self.calc,
            self.supercell_matrix,
            symmetrize=self.symmetrize,
            progress=progress,
            method=self.requested_method,
            displacement=self.displacement,
        )
        self._set_phonopy(phonon, found.method)
        return self

    @classmethod
    def from_phonopy(
        cls,
        phonon: Any,
        calc: Calculator | None = None,
        origin_index: int | None = None,
        symprec: float = 1e-3,
        force_constants_method: str | None = None,
    ) -> Phonons:
        """Wrap a :class:`phonopy.Phonopy` that already has force constants (no Hessian).

        The parent is phonopy's unit cell, the supercell its supercell matrix (transposed
        to rows, see :mod:`ase_symbreak.phonons`). ``calc`` is kept for a later
        :meth:`run`; ``force_constants_method`` records how the force constants were found
        ('exact hessian' or 'finite displacements'; None: not known).
        """
        if getattr(phonon, "force_constants", None) is None:
            raise ValueError("the phonopy object has no force constants")
        supercell = np.round(np.asarray(phonon.supercell_matrix)).astype(int).T
        out = cls(
            from_phonopy_atoms(phonon.unitcell),
            calc,
            supercell,
            origin_index=origin_index,
            symprec=symprec,
        )
        out._set_phonopy(phonon, force_constants_method)
        return out

    def _set_phonopy(self, phonon: Any, found: str | None) -> None:
        self._phonopy = phonon
        self._found = found
        self._modes = None
        self._dispersion = None

    # ------------------------------------------------------------------ results
    @property
    def phonopy(self):
        """The :class:`phonopy.Phonopy` object with the supercell force constants (eV/A^2)."""
        if self._phonopy is None:
            raise RuntimeError("no force constants yet: call run() first (or Phonons.load)")
        return self._phonopy

    @property
    def force_constants_method(self) -> str | None:
        """How the force constants were found: 'exact hessian' or 'finite displacements'
        (None before :meth:`run`, or for a phonopy object or file that does not say).
        """
        return self._found

    @property
    def force_constants(self) -> NDArray[np.float64]:
        """(N_sc, N_sc, 3, 3) supercell force constants, eV/A^2, phonopy's atom order."""
        from .phonopy_interface import full_force_constants

        return full_force_constants(self.phonopy)

    @property
    def n_cells(self) -> int:
        """Unit cells in the supercell: 1 when the force constants know Gamma only."""
        return int(abs(round(np.linalg.det(self.supercell_matrix))))

    @property
    def modes(self) -> PhononModes:
        """The labelled modes (:meth:`labelled_modes`), computed once."""
        if self._modes is None:
            self._modes = self.labelled_modes()
        return self._modes

    def labelled_modes(self, degeneracy_tol: float = 1e-3) -> PhononModes:
        """Modes at Gamma and every commensurate q, labelled by irrep, with eigenvectors
        and displacement patterns (:func:`~.labelling.labelled_modes`).

        Parameters
        ----------
        degeneracy_tol : float
            THz; copies of one irrep closer than this are merged into one set.

        Returns
        -------
        PhononModes
            Sorted by frequency (THz, imaginary negative), ``n_modes == 3 N_sc``.
        """
        if degeneracy_tol == 1e-3 and self._modes is not None:
            return self._modes
        modes = labelled_modes(
            self.atoms,
            self.phonopy,
            self.supercell_matrix,
            origin_index=self.origin_index,
            degeneracy_tol=degeneracy_tol,
            symprec=self.symprec,
        )
        return dataclasses.replace(modes, force_constants_method=self._found)

    def soft_modes(self, threshold_thz: float = -0.1) -> PhononModes:
        """The unstable irreps (frequency below ``threshold_thz``, THz, <= 0), softest
        first, one set per irrep (:meth:`PhononModes.soft`).
        """
        return self.modes.soft(threshold_thz)

    def dispersion_check(
        self,
        threshold_thz: float = -0.1,
        mesh: ArrayLike | None = None,
        band_path: bool = True,
    ) -> DispersionCheck:
        """Unstable minima of the interpolated dispersion at q between the supercell's q
        points (:func:`~.dispersion.check_dispersion`); the default check is kept.

        Parameters
        ----------
        threshold_thz : float
            THz, <= 0: minima below it are instabilities.
        mesh : 3 ints, optional
            Gamma-centred mesh in phonopy's primitive reciprocal basis (default: a multiple
            of the commensurate grid).
        band_path : bool
            Also scan the band path between the mesh points.

        Returns
        -------
        DispersionCheck
            ``stable_off_grid`` when the labelled modes hold every unstable minimum. For a
            1x1x1 supercell the interpolation is Gamma's force constants only.
        """
        default = threshold_thz == -0.1 and mesh is None and band_path
        if default and self._dispersion is not None:
            return self._dispersion
        check = check_dispersion(
            self.phonopy,
            self.supercell_matrix,
            threshold_thz=threshold_thz,
            mesh=None if mesh is None else [int(m) for m in np.ravel(mesh)],
            band_path=band_path,
        )
        if default:
            self._dispersion = check
        return check

    def band_path(self, source: str = "auto") -> BandPath:
        """The standard band path of phonopy's primitive cell, its points named as the irrep
        tables name them (:func:`~.bandpath.standard_band_path`; ``source`` ``'auto'``,
        ``'seekpath'`` or ``'ase'``).
        """
        return standard_band_path(
            self.phonopy, self.atoms, self.supercell_matrix, source=source, symprec=self.symprec
        )

    def band_structure(
        self, npoints: int = 51, band_path: BandPath | None = None
    ) -> BandStructureData:
        """Frequencies (THz) along ``band_path`` (default: :meth:`band_path`), plus a
        Gamma-q segment to every labelled q the path misses (:func:`~.bands.band_structure_data`).
        """
        return band_structure_data(self.phonopy, self.modes, npoints, band_path)

    def dos(
        self,
        mesh: ArrayLike | float | None = None,
        sigma: float | None = None,
        projected: bool = False,
    ) -> PhononDOS:
        """Phonon density of states (:func:`~.thermal.phonon_dos`): ``mesh`` 3 ints or a
        length in Angstrom (default phonopy's 100 A), ``sigma`` a smearing width in THz
        (default: tetrahedra), ``projected`` also per element.
        """
        return phonon_dos(self.phonopy, mesh=mesh, sigma=sigma, projected=projected)

    def thermal_properties(
        self,
        temperatures_k: ArrayLike = DEFAULT_TEMPERATURES_K,
        mesh: ArrayLike | float | None = None,
        cutoff_frequency_thz: float | None = None,
    ) -> ThermalProperties:
        """Harmonic free energy, entropy and heat capacity per mole of primitive cells
        (:func:`~.thermal.thermal_properties`; temperatures in K, imaginary modes left out
        and counted).
        """
        return _thermal_properties(
            self.phonopy,
            temperatures_k=temperatures_k,
            mesh=mesh,
            cutoff_frequency_thz=cutoff_frequency_thz,
        )

    # ------------------------------------------------------------------ files
    def plot(
        self,
        path: str | Path,
        npoints: int = 51,
        title: str | None = None,
        dos: bool | PhononDOS = True,
        band_path: BandPath | None = None,
    ) -> Path:
        """Plot the band structure with irrep labels and the DOS beside it
        (:func:`~.plot.plot_band_structure`); format from the suffix of ``path``.

        ``title`` defaults to ``"<formula> phonons"``; ``dos`` is True (computed), False, or
        a :class:`PhononDOS` already computed. Returns the path written.
        """
        if title is None:
            title = f"{self.atoms.get_chemical_formula(mode='metal', empirical=True)} phonons"
        return plot_band_structure(
            self.phonopy,
            self.modes,
            path,
            npoints=npoints,
            title=title,
            dos=dos,
            band_path=band_path,
        )

    def save(self, path: str | Path = "phonopy_params.yaml") -> Path:
        """Write phonopy's ``phonopy_params.yaml`` with the force constants.

        ``phonopy.load(path)`` reads it as usual; the labelling settings (``origin_index``,
        ``symprec``) and how the force constants were found follow under a top-level
        ``ase_symbreak`` key, which phonopy ignores and :meth:`load` reads. Missing folders
        are created. Returns the path written.
        """
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.phonopy.save(str(path), settings={"force_constants": True})
        settings = {
            "origin_index": self.origin_index,
            "symprec": self.symprec,
            "force_constants_method": self._found,
        }
        with path.open("a") as handle:
            handle.write("\n" + yaml.safe_dump({SETTINGS_KEY: settings}, sort_keys=False))
        return path

    @classmethod
    def load(cls, path: str | Path, calc: Calculator | None = None) -> Phonons:
        """Read a ``phonopy_params.yaml`` with force constants back, without recomputing.

        The labelling settings come from the file's ``ase_symbreak`` block (written by
        :meth:`save`); a file phonopy wrote itself gets the defaults. Labels are recomputed
        from the structure on first use.

        Raises
        ------
        ValueError
            The file holds no force constants.
        """
        import phonopy

        path = Path(path)
        phonon = phonopy.load(
            str(path), is_compact_fc=False, symmetrize_fc=False, produce_fc=False, log_level=0
        )
        if phonon.force_constants is None:
            raise ValueError(f"{path}: no force constants in the file")
        settings = _stored_settings(path)
        return cls.from_phonopy(
            phonon,
            calc,
            origin_index=settings.get("origin_index"),
            symprec=settings.get("symprec", 1e-3),
            force_constants_method=settings.get("force_constants_method"),
        )


def check_supercell(atoms: Atoms, supercell_matrix: ArrayLike, symprec: float) -> None:
    """Raise ``ValueError`` unless the supercell lattice is invariant under the parent's
    point group (analysed with ``symprec``, Angstrom).
    """
    from ase_symbreak.symmetry import analyze
    from ase_symbreak.symmetry.lattice import check_supercell_invariant

    info = analyze(atoms, symprec=symprec)
    p = np.asarray(supercell_matrix_3x3(supercell_matrix))
    check_supercell_invariant(p, info.rotations, info.pointgroup)


def _check_method(method: str, displacement: float) -> None:
    """Raise ``ValueError`` on an unknown force-constant method or a non-positive amplitude."""
    from ase_symbreak.hessian.any_calculator import FORCE_CONSTANT_METHODS

    if method not in FORCE_CONSTANT_METHODS:
        raise ValueError(
            f"force_constants_method must be one of "
            f"{', '.join(map(repr, FORCE_CONSTANT_METHODS))}, got {method!r}"
        )
    if not displacement > 0:
        raise ValueError(f"displacement must be a positive length (Angstrom), got {displacement}")


def _stored_settings(path: Path) -> dict:
    """The ``ase_symbreak`` block :meth:`Phonons.save` appended to ``path``, or {}."""
    import yaml

    text = path.read_text()
    start = text.rfind(f"\n{SETTINGS_KEY}:")
    if start < 0:
        return {}
    block = yaml.safe_load(text[start:]) or {}
    settings = block.get(SETTINGS_KEY) or {}
    return settings if isinstance(settings, dict) else {}
