"""Tests of ase_symbreak, laid out like the package."""
