"""Tests of ase_symbreak.orderparams."""
