"""Tests of ase_symbreak.training."""
