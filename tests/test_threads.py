"""The thread policy (ase_symbreak.threads): environment first, then cores minus load."""

from __future__ import annotations

import pytest
import torch
from ase.io import write
from typer.testing import CliRunner

from ase_symbreak.cli import _common, app, main
from ase_symbreak.structures import cubic_perovskite
from ase_symbreak.threads import THREADS_VARIABLE, apply_thread_policy, policy_threads


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    old = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(old)
    _common.set_console_script(False)


@pytest.mark.parametrize(
    "cores, load, expected", [(4, 0.0, 4), (4, 0.4, 4), (4, 1.6, 2), (4, 3.6, 1), (2, 9.0, 1)]
)
def test_cores_minus_load(clean_env, cores, load, expected):
    assert policy_threads(cores=cores, load=load)[0] == expected


def test_environment_wins_over_load(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert policy_threads(cores=2, load=2.0) == (3, "OMP_NUM_THREADS=3")
    clean_env.setenv(THREADS_VARIABLE, "1")
    assert policy_threads(cores=8, load=0.0) == (1, f"{THREADS_VARIABLE}=1")


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_environment_value_is_named(clean_env, value):
    clean_env.setenv(THREADS_VARIABLE, value)
    with pytest.raises(ValueError, match=f"{THREADS_VARIABLE} must be a positive integer"):
        policy_threads()


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_threads_argument(clean_env, value):
    with pytest.raises(ValueError, match="positive integer"):
        apply_thread_policy(value)


def test_apply_sets_torch_threads(clean_env):
    assert apply_thread_policy(1) == 1 and torch.get_num_threads() == 1
    clean_env.setenv(THREADS_VARIABLE, "2")
    assert apply_thread_policy() == 2 and torch.get_num_threads() == 2


@pytest.fixture
def srtio3(tmp_path):
    path = tmp_path / "srtio3.cif"
    write(path, cubic_perovskite(3.9))
    return path


def test_cli_threads_option(clean_env, srtio3):
    torch.set_num_threads(2)
    res = CliRunner().invoke(app, ["--threads", "1", "irreps", str(srtio3), "--json"])
    assert res.exit_code == 0, res.output
    assert torch.get_num_threads() == 1
    res = CliRunner().invoke(app, ["--threads", "0", "irreps", str(srtio3)])
    assert res.exit_code == 2


def test_console_script_applies_the_policy(clean_env, srtio3):
    torch.set_num_threads(2)
    clean_env.setenv(THREADS_VARIABLE, "1")
    with pytest.raises(SystemExit) as info:
        main(["irreps", str(srtio3), "--json"])
    assert info.value.code == 0
    assert torch.get_num_threads() == 1
    clean_env.setenv(THREADS_VARIABLE, "nope")
    with pytest.raises(SystemExit) as info:
        main(["irreps", str(srtio3)])
    assert info.value.code == 2
