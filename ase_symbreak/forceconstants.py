"""Deprecated path of :mod:`ase_symbreak.hessian.forceconstants` (warns, then forwards)."""

from ase_symbreak._moved import forward

forward(__name__, "ase_symbreak.hessian.forceconstants")
