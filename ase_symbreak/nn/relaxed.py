"""Deprecated path of :mod:`ase_symbreak.nn.relaxed_convolution` (warns, then forwards)."""

from ase_symbreak._moved import forward

forward(__name__, "ase_symbreak.nn.relaxed_convolution")
