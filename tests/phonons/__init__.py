"""Tests of ase_symbreak.phonons."""
