"""Tests of ase_symbreak.models."""
