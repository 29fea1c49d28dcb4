"""Every command test runs in its own temporary working directory: commands that write a
default output folder there (``phonons`` writes ``STEM_phonons/``) never write into the
checkout.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
