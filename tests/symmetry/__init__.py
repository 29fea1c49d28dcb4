"""Tests of ase_symbreak.symmetry."""
