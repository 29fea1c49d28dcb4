"""ase-symbreak: symmetry-aware machine learning for ASE.

The front door (each name imports its subpackage when first used, so ``import ase_symbreak``
stays light)::

    from ase_symbreak import (
        SymBreakCalculator,  # ASE calculator with exact Hessians (e3nn / SevenNet models)
        Phonons,             # labelled phonons from the exact Hessian (phonopy inside)
        distortion_search,   # soft modes -> children -> descent to the stable ground state
        SearchSettings,
        load_search,         # a search folder back as the SearchResult
        screen,              # many structures on a Dask cluster
        decompose,           # a distortion as symmetry-adapted modes with amplitudes
        isotropy_subgroups,  # the subgroups each order-parameter direction leads to
    )

Subpackages: ``calculator``, ``hessian`` (the exact-Hessian engine), ``models`` / ``nn``
(e3nn potentials), ``symmetry``, ``phonons``, ``orderparams``, ``environments``,
``training``, ``workflows``, ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "SymBreakCalculator": "ase_symbreak.calculator",
    "Phonons": "ase_symbreak.phonons",
    "distortion_search": "ase_symbreak.workflows.driver",
    "SearchSettings": "ase_symbreak.workflows.settings",
    "load_search": "ase_symbreak.workflows.folder",
    "screen": "ase_symbreak.workflows.screening",
    "decompose": "ase_symbreak.symmetry",
    "isotropy_subgroups": "ase_symbreak.symmetry",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import a front-door name's module on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
