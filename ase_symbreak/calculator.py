"""SymBreakCalculator: an ASE calculator for e3nn potentials with exact Hessians.

>>> from ase.build import bulk
>>> from ase_symbreak.calculator import SymBreakCalculator
>>> atoms = bulk("Cu", "fcc", a=3.6)
>>> atoms.calc = SymBreakCalculator()          # embedded SevenNet-0
>>> atoms.get_potential_energy()               # doctest: +SKIP
>>> atoms.calc.get_hessian(atoms).shape        # (3N, 3N), eV/A^2
(3, 3)
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Sequence
from typing import overload

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from numpy.typing import NDArray

from ase_symbreak.hessian.allocator import keep_freed_memory
from ase_symbreak.hessian.autodiff import (
    energy_forces_stress,
    hessian_rows,
    hessian_vector_products,
    potential_energy,
)
from ase_symbreak.hessian.colouring import ColouredHessian, coloured_hessian
from ase_symbreak.hessian.forceconstants import (
    complete_force_constants,
    force_constants_from_forces,
    force_constants_from_orbit_products,
    hessian_to_force_constants,
    orbit_directions,
    phonopy_displacements,
    symmetry_map,
)
from ase_symbreak.models import registry
from ase_symbreak.models.base import EnergyModel
from ase_symbreak.validation import check_atoms

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@overload
def _to_dtype(value: str | torch.dtype) -> torch.dtype: ...
@overload
def _to_dtype(value: None) -> None: ...
def _to_dtype(value: str | torch.dtype | None) -> torch.dtype | None:
    if value is None or isinstance(value, torch.dtype):
        return value
    if value not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {value!r}")
    return _DTYPES[value]


class SymBreakCalculator(Calculator):
    """ASE calculator: energy, forces, stress and the exact Hessian of an e3nn potential.

    Parameters
    ----------
    model : ``None`` for the embedded pretrained default (SevenNet-0, shipped in the
        ``sevenn`` wheel), a pretrained name, a ``.safetensors`` file saved by
        :func:`ase_symbreak.models.save_model`, or an :class:`EnergyModel`.
    dtype : precision of energy/forces/stress, ``"float32"`` or ``"float64"``;
        ``None`` keeps the model's own (float32 for SevenNet-0).
    hessian_dtype : precision of Hessians and force constants (default ``"float64"``).
    symprec : spglib tolerance (Angstrom) of the symmetry-reduced strategies of
        :meth:`get_force_constants`.
    device : torch device of the model, ``"cpu"`` (default) or ``"cuda"`` / ``"cuda:N"``;
        results come back as numpy arrays on the host either way.
    hvp_batch_size : Hessian rows / vector products per backward pass; ``None``: 1 on
        CPUs (batching was slower there), on CUDA as many as half the free GPU memory holds
        (:func:`hvp_batch_size`).
    progress : how Hessian rows report: ``True`` a line on stderr every 10 s, a callable
        ``progress(done, total)``, ``None`` (default) INFO records of the ``ase_symbreak``
        logger every 10 s (``logging.basicConfig(level=logging.INFO)`` shows them), ``False``
        nothing.

    The Hessian is stored in ``results["hessian"]`` as (3N, 3N) in eV/A^2, row ``3*i+alpha``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("Si", "diamond", a=5.43)
    >>> atoms.calc = SymBreakCalculator()                    # SevenNet-0  # doctest: +SKIP
    >>> fc = atoms.calc.get_force_constants(atoms)           # (N, N, 3, 3) eV/A^2  # doctest: +SKIP
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "hessian"]
    default_parameters = {
        "dtype": None,
        "hessian_dtype": "float64",
        "symprec": 1e-5,
        "device": "cpu",
    }

    def __init__(
        self,
        model: str | os.PathLike | EnergyModel | None = None,
        dtype: str | None = None,
        hessian_dtype: str = "float64",
        symprec: float = 1e-5,
        device: str | torch.device = "cpu",
        hvp_batch_size: int | None = None,
        progress: Callable[[int, int], None] | bool | None = None,
        **kwargs,
    ) -> None:
        self.device = _to_device(device)
        #: ``progress(done, total)`` of Hessian rows where a method is not given one.
        self.progress = _progress_reporter(progress)
        if hvp_batch_size is not None and not (
            isinstance(hvp_batch_size, int) and hvp_batch_size >= 1
        ):
            raise ValueError(f"hvp_batch_size must be a positive integer, got {hvp_batch_size!r}")
        self.hvp_batch_size = hvp_batch_size
        super().__init__(
            dtype=dtype,
            hessian_dtype=hessian_dtype,
            symprec=symprec,
            device=str(self.device),
            **kwargs,
        )
        self.dtype = _to_dtype(dtype)
        self.hessian_dtype = _to_dtype(hessian_dtype)
        self.model = registry.load(model, self.dtype).to(self.device)
        self.model.eval()
        if self.device.type == "cpu" and type(self.model).__name__ == "SevenNetModel":
            keep_freed_memory()  # large edge tensors; ASE_SYMBREAK_MALLOC=system opts out
        self._hessian_model: EnergyModel | None = None
        self._precise_model: EnergyModel | None = None

    # -- ASE interface --------------------------------------------------------------
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        Calculator.calculate(self, atoms, properties, system_changes)
        atoms = self.atoms
        self.check_structure(atoms)
        if "hessian" in properties:
            self.results["hessian"] = hessian_rows(
                self.hessian_model,
                atoms,
                None,
                self.hessian_dtype,
                self.progress,
                batch_size=self._batch(atoms),
            )
        first_order = {"energy", "free_energy", "energies", "forces", "stress"}
        if first_order & set(properties) or "energy" not in self.results:
            if "stress" in properties and not np.all(atoms.pbc):
                raise PropertyNotImplementedError("stress is defined only for 3-D periodic cells")
            dtype = self.dtype or _native_dtype(self.model)
            out = energy_forces_stress(self.model, atoms, dtype, stress=bool(np.all(atoms.pbc)))
            self.results.update(
                energy=out.energy, free_energy=out.energy, energies=out.energies, forces=out.forces
            )
            if out.stress is not None:
                self.results["stress"] = out.stress

    # -- Hessians -------------------------------------------------------------------
    @property
    def hessian_model(self) -> EnergyModel:
        """The model in ``hessian_dtype`` (built on first use)."""
        if self._hessian_model is None:
            self._hessian_model = registry.load(self.model, self.hessian_dtype).to(self.device)
            self._hessian_model.eval()
        return self._hessian_model

    def get_precise_energy(self, atoms: Atoms | None = None) -> float:
        """Energy (eV) in float64 whatever ``dtype`` is: the energy that ranks structures.

        A float32 model sums per-atom energies to ~1e-7 relative (0.03 meV on a 40-atom
        cell), enough to reorder near-degenerate structures between runs with other thread
        counts; the float64 copy of the model (shared with float64 Hessians) does not.
        """
        atoms = self._current(atoms)
        self.check_structure(atoms)
        if self.hessian_dtype == torch.float64:
            model = self.hessian_model
        else:
            if self._precise_model is None:
                self._precise_model = registry.load(self.model, torch.float64).to(self.device)
                self._precise_model.eval()
            model = self._precise_model
        return potential_energy(model, atoms, torch.float64)

    def get_hessian(
        self, atoms: Atoms | None = None, atom_indices: Sequence[int] | None = None
    ) -> NDArray[np.float64]:
        """Exact Hessian d2E/dx2 in eV/A^2.

        With ``atom_indices=None``: the full (3N, 3N) matrix, cached like any ASE property.
        With ``atom_indices``: only the rows of those atoms, (3 * len(atom_indices), 3N).
        """
        if atom_indices is None:
            return self.get_property("hessian", atoms)
        atoms = self._current(atoms)
        self.check_structure(atoms)
        return hessian_rows(
            self.hessian_model,
            atoms,
            atom_indices,
            self.hessian_dtype,
            self.progress,
            batch_size=self._batch(atoms),
        )

    def get_force_constants(
        self,
        atoms: Atoms | None = None,
        strategy: str = "orbits",
        progress: Callable[[int, int], None] | None = None,
        method: str | None = None,
        *,
        symmetry_reduced: bool | None = None,
    ) -> NDArray[np.float64]:
        """Force constants (N, N, 3, 3) in eV/A^2, phonopy's layout, in the order of ``atoms``.

        For a model with the symmetry of the structure every strategy gives the exact force
        constants (to rounding, ~1e-10 eV/A^2 in float64); they differ in cost. The
        symmetry-reduced ones (``"orbits"``, ``"directions"``, ``"rows"``) use the space
        group that spglib finds at ``symprec``: for a model that breaks a symmetry of the
        structure (SevenNet-0 is not parity-equivariant, ~2e-3 eV/A^2 on cubic SrTiO3) they
        differ from ``"full"`` by that breaking.

        Parameters
        ----------
        atoms : the supercell (default: the attached atoms)
        strategy : one of :data:`FORCE_CONSTANT_STRATEGIES`:

            - ``"orbits"`` (default, what the distortion search uses): Hessian-vector
              products ``H u`` only along the fewest random directions whose space-group
              images span all 3N directions (1 for cubic SrTiO3 2x2x2: fastest), solved
              for the whole Hessian (:func:`force_constants_from_orbit_products`);
            - ``"directions"``: ``H u`` along phonopy's displacement directions (3 for
              cubic SrTiO3 2x2x2); phonopy builds the force constants from the exact
              harmonic forces ``-H u`` (its fit also projects onto the space group);
            - ``"rows"``: the 3 exact Hessian rows of each symmetry-independent atom,
              completed by the operations (:func:`complete_force_constants`);
            - ``"full"``: all 3N exact Hessian rows, no symmetry used;
            - ``"coloured"``: the exact coloured Hessian (:meth:`get_coloured_hessian`
              with ``radius=None``): 3 products per colour instead of 3N rows in cells
              larger than the model's receptive field, plain rows otherwise; no symmetry
              used; needs the model's ``num_interactions``.
        progress : ``progress(done, total)`` after each Hessian row / vector product
        method : deprecated, with ``symmetry_reduced=True`` the same as ``strategy=method``
            (``"rows"`` when not given)
        symmetry_reduced : deprecated: ``False`` is ``strategy="full"``, ``True`` is
            ``strategy=method``; also accepted as a bool in place of ``strategy``

        Raises
        ------
        ValueError
            An unknown ``strategy`` or ``method``; ``strategy`` together with the
            deprecated arguments; ``"coloured"`` for a model without ``num_interactions``.
        """
        strategy = _force_constant_strategy(strategy, symmetry_reduced, method)
        atoms = self._current(atoms)
        self.check_structure(atoms)
        progress = self.progress if progress is None else progress
        compute = {
            "full": self._full_force_constants,
            "rows": self._row_force_constants,
            "directions": self._direction_force_constants,
            "orbits": self._orbit_force_constants,
            "coloured": self._coloured_force_constants,
        }[strategy]
        return compute(atoms, progress)

    def _full_force_constants(
        self, atoms: Atoms, progress: Callable[[int, int], None] | None
    ) -> NDArray[np.float64]:
        rows = hessian_rows(
            self.hessian_model,
            atoms,
            None,
            self.hessian_dtype,
            progress,
            batch_size=self._batch(atoms),
        )
        return hessian_to_force_constants(rows)

    def _row_force_constants(
        self, atoms: Atoms, progress: Callable[[int, int], None] | None
    ) -> NDArray[np.float64]:
        sym = symmetry_map(atoms, self.parameters.symprec)
        rows = hessian_rows(
            self.hessian_model,
            atoms,
            sym.independent_atoms,
            self.hessian_dtype,
            progress,
            batch_size=self._batch(atoms),
        )
        n = len(atoms)
        per_atom = rows.reshape(len(sym.independent_atoms), 3, n, 3).transpose(0, 2, 1, 3)
        return complete_force_constants(dict(zip(sym.independent_atoms.tolist(), per_atom)), sym)

    def _direction_force_constants(
        self, atoms: Atoms, progress: Callable[[int, int], None] | None
    ) -> NDArray[np.float64]:
        displacements = phonopy_displacements(atoms, symprec=self.parameters.symprec)
        hu = hessian_vector_products(
            self.hessian_model,
            atoms,
            displacements.vectors,
            self.hessian_dtype,
            progress=progress,
            batch_size=self._batch(atoms),
        )
        return force_constants_from_forces(displacements, -hu)

    def _orbit_force_constants(
        self, atoms: Atoms, progress: Callable[[int, int], None] | None
    ) -> NDArray[np.float64]:
        sym = symmetry_map(atoms, self.parameters.symprec)
        vectors = orbit_directions(sym)
        hu = hessian_vector_products(
            self.hessian_model,
            atoms,
            vectors,
            self.hessian_dtype,
            progress=progress,
            batch_size=self._batch(atoms),
        )
        return force_constants_from_orbit_products(sym, vectors, hu)

    def _coloured_force_constants(
        self, atoms: Atoms, progress: Callable[[int, int], None] | None
    ) -> NDArray[np.float64]:
        model = self.hessian_model
        if getattr(model, "num_interactions", None) is None:
            raise ValueError(
                f"strategy='coloured' needs the message-passing depth of the model "
                f"(num_interactions), which {type(model).__name__} does not set; use "
                "strategy='full', or get_coloured_hessian(radius=...) to assume a range"
            )
        coloured = coloured_hessian(
            model, atoms, self.hessian_dtype, progress=progress, batch_size=self._batch(atoms)
        )
        return hessian_to_force_constants(coloured.hessian)

    def get_coloured_hessian(
        self,
        atoms: Atoms | None = None,
        radius: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ColouredHessian:
        """The Hessian by coloured Hessian-vector products (:mod:`~ase_symbreak.hessian.colouring`).

        ``radius=None``: exact, from the model's message-passing depth (falls back to plain
        rows where the cell is within its receptive field); a radius in Angstrom: force
        constants assumed zero beyond it. The result says which (``assumption``).
        """
        atoms = self._current(atoms)
        self.check_structure(atoms)
        return coloured_hessian(
            self.hessian_model,
            atoms,
            self.hessian_dtype,
            radius=radius,
            progress=self.progress if progress is None else progress,
            batch_size=self._batch(atoms),
        )

    # -- helpers --------------------------------------------------------------------
    def _batch(self, atoms: Atoms) -> int:
        if self.hvp_batch_size is not None:
            return self.hvp_batch_size
        return hvp_batch_size(self.device, len(atoms), self.hessian_dtype)

    def _current(self, atoms: Atoms | None) -> Atoms:
        if atoms is None:
            if self.atoms is None:
                raise ValueError("no atoms: pass atoms or attach the calculator to an Atoms object")
            return self.atoms
        return atoms

    def check_structure(self, atoms: Atoms) -> None:
        """``ValueError`` for input the model cannot take: non-finite or overlapping atoms,
        a bad cell, elements the model was not trained on.
        """
        check_atoms(atoms)
        unknown = self.model.unknown_species(atoms.numbers.tolist())
        if unknown:
            from ase.data import chemical_symbols

            names = [chemical_symbols[z] for z in unknown]
            known = ", ".join(chemical_symbols[z] for z in sorted(self.model.species or []))
            raise ValueError(f"the model does not know element(s) {names}; it knows: {known}")


#: The strategies of :meth:`SymBreakCalculator.get_force_constants`, the default first.
FORCE_CONSTANT_STRATEGIES = ("orbits", "directions", "rows", "full", "coloured")
_SYMMETRY_METHODS = ("rows", "directions", "orbits")


def _force_constant_strategy(
    strategy: str | bool, symmetry_reduced: bool | None, method: str | None
) -> str:
    """The strategy of ``get_force_constants``, mapped from the deprecated arguments.

    ``symmetry_reduced=False`` was all rows (``method`` then did nothing);
    ``symmetry_reduced=True`` took ``method`` (default ``"rows"``). A bool in place of
    ``strategy`` is ``symmetry_reduced`` passed by position, as the old signature had it.
    """
    if isinstance(strategy, bool):
        if symmetry_reduced is not None:
            raise TypeError("get_force_constants got symmetry_reduced twice")
        symmetry_reduced = strategy
        strategy = FORCE_CONSTANT_STRATEGIES[0]
    if not isinstance(strategy, str) or strategy not in FORCE_CONSTANT_STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, FORCE_CONSTANT_STRATEGIES))}, "
            f"got {strategy!r}"
        )
    if symmetry_reduced is None and method is None:
        return strategy
    if strategy != FORCE_CONSTANT_STRATEGIES[0]:
        raise ValueError(
            f"pass strategy={strategy!r} alone: symmetry_reduced= and method= are its "
            "deprecated spellings"
        )
    if method is not None and method not in _SYMMETRY_METHODS:
        raise ValueError(f"method must be 'rows', 'directions' or 'orbits', got {method!r}")
    mapped = (method or "rows") if symmetry_reduced else "full"
    given = ", ".join(
        f"{name}={value!r}"
        for name, value in (("symmetry_reduced", symmetry_reduced), ("method", method))
        if value is not None
    )
    warnings.warn(
        f"get_force_constants({given}) is deprecated and will be removed in a future "
        f"release: pass strategy={mapped!r}",
        FutureWarning,
        stacklevel=3,
    )
    return mapped


#: bytes a batched Hessian-vector product keeps per atom in float64 (measured on CPU with
#: SevenNet-0: about 0.8 MB per edge, about 50 edges per atom in oxides at a 5 A cutoff)
_HVP_BYTES_PER_ATOM = 40e6


def hvp_batch_size(device: torch.device, n_atoms: int, dtype: torch.dtype | None) -> int:
    """Vectors per batched backward pass: 1 on CPUs; on CUDA, as many as half the free
    memory of the GPU holds by the CPU-measured cost per atom (at most 64).
    """
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    per_vector = _HVP_BYTES_PER_ATOM * max(n_atoms, 1) * (0.5 if dtype == torch.float32 else 1)
    return int(max(1, min(64, 0.5 * free // per_vector)))


def _progress_reporter(
    progress: Callable[[int, int], None] | bool | None,
) -> Callable[[int, int], None] | None:
    if progress is False:
        return None
    if progress is None or progress is True:
        from ase_symbreak.progress import RowProgress

        return RowProgress(stream=progress is True)
    if not callable(progress):
        raise ValueError(f"progress must be a callable, True, False or None, got {progress!r}")
    return progress


def _to_device(value: str | torch.device) -> torch.device:
    """A torch device, checked: CUDA only where torch sees a GPU."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {value!r}") from err
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {value!r} asked for, but torch sees no CUDA GPU (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'})"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {value!r}: torch sees {torch.cuda.device_count()} GPU(s)")
    return device


def _native_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()
