"""Deprecated path of :mod:`ase_symbreak.hessian.forceconstants`, kept for a while.

Importing it warns (``FutureWarning``) and puts the moved module itself in ``sys.modules``
under the old name: every name, private ones included, is the same object, and module state
(and monkeypatching) is shared.
"""

from __future__ import annotations

import sys
import warnings

from ase_symbreak.hessian import forceconstants as _moved

warnings.warn(
    "ase_symbreak.forceconstants moved to ase_symbreak.hessian.forceconstants; "
    "the old path will be removed in a future release",
    FutureWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
