"""Old module paths that forward to where a module moved, with a ``FutureWarning``."""

from __future__ import annotations

import importlib
import sys
import warnings


def forward(old: str, new: str) -> None:
    """Make the module ``old`` (being imported) the module ``new``: warn once, at the line
    that imports it, and put ``new`` in ``sys.modules`` under the old name, so that every
    name (private ones too) and any module state are shared.
    """
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in a future release",
        FutureWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
