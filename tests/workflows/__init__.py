"""Tests of ase_symbreak.workflows."""
