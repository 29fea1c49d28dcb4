"""Tests of ase_symbreak.nn."""
