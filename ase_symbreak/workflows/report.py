"""Deprecated path of :mod:`ase_symbreak.workflows.html_report`, kept for a while.

Importing it warns (``FutureWarning``) and puts the moved module itself in ``sys.modules``
under the old name: every name is the same object.
"""

from __future__ import annotations

import sys
import warnings

from ase_symbreak.workflows import html_report as _moved

warnings.warn(
    "ase_symbreak.workflows.report moved to ase_symbreak.workflows.html_report; "
    "the old path will be removed in a future release",
    FutureWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
