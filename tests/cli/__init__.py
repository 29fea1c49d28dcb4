"""Tests of ase_symbreak.cli."""
