"""Allocator policy: glibc's mmap/trim thresholds raised once per process, opt-out honoured."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
import pytest

SCRIPT = """
from ase_symbreak.hessian import allocator
print(allocator.keep_freed_memory(), allocator.keep_freed_memory())
"""


def run(setting: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ASE_SYMBREAK_MALLOC", None)
    if setting is not None:
        env["ASE_SYMBREAK_MALLOC"] = setting
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)
def test_thresholds_raised_on_glibc_and_opt_out():
    assert run(None).stdout.split() == ["True", "True"]
    assert run("keep").stdout.split() == ["True", "True"]
    assert run("system").stdout.split() == ["False", "False"]


def test_bad_setting_is_an_error():
    res = run("jemalloc")
    assert res.returncode != 0 and "ASE_SYMBREAK_MALLOC must be" in res.stderr


@pytest.mark.slow
def test_calculator_applies_it_for_sevennet_and_values_do_not_change():
    """Small models leave malloc alone; SevenNet sets it; its forces and Hessian are the same
    bit for bit with either allocator (fresh processes)."""
    pytest.importorskip("sevenn")
    script = """
import sys
import numpy as np
from ase_symbreak.hessian import allocator
from ase_symbreak.calculator import SymBreakCalculator
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.testing.samples import small_e3nn_potential
SymBreakCalculator(small_e3nn_potential())
small = allocator._applied
atoms = cubic_perovskite(3.9)
atoms.rattle(0.05, seed=1)
calc = SymBreakCalculator(dtype="float64")
print(small, allocator._applied)
np.save(sys.argv[1], np.concatenate([calc.get_forces(atoms).ravel(),
        calc.get_hessian(atoms).ravel()]))
"""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for setting in ("keep", "system"):
            path = os.path.join(tmp, f"{setting}.npy")
            env = dict(os.environ, ASE_SYMBREAK_MALLOC=setting)
            res = subprocess.run(
                [sys.executable, "-c", script, path],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert res.returncode == 0, res.stderr
            out[setting] = (res.stdout.split()[-2:], np.load(path))
    glibc = platform.libc_ver()[0] == "glibc"
    assert out["keep"][0] == ["None", "True" if glibc else "False"]
    assert out["system"][0] == ["None", "None"]
    np.testing.assert_array_equal(out["keep"][1], out["system"][1])
