"""Deprecated path of :mod:`ase_symbreak.orderparams.relaxed_weights` (warns, then forwards)."""

from ase_symbreak._moved import forward

forward(__name__, "ase_symbreak.orderparams.relaxed_weights")
