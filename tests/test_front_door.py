"""Issue 29: the front door. ``import ase_symbreak`` is light; each public name imports its
subpackage on first use and documents itself with an example, which runs where it needs no
model."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import ase_symbreak

FRONT_DOOR = (
    "SymBreakCalculator",
    "Phonons",
    "distortion_search",
    "SearchSettings",
    "load_search",
    "screen",
    "decompose",
    "isotropy_subgroups",
)


def test_import_is_light():
    code = (
        "import sys, ase_symbreak; "
        "print(sorted(m for m in ('torch', 'phonopy', 'e3nn', 'spglib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_name_imports_from_the_top():
    assert set(FRONT_DOOR) <= set(ase_symbreak.__all__)
    for name in FRONT_DOOR:
        assert getattr(ase_symbreak, name) is not None and name in dir(ase_symbreak)
    with pytest.raises(AttributeError):
        ase_symbreak.not_a_name  # noqa: B018


@pytest.mark.parametrize("name", FRONT_DOOR)
def test_each_name_has_an_example_that_runs(name):
    obj = getattr(ase_symbreak, name)
    assert ">>>" in (obj.__doc__ or ""), f"{name} has no example in its docstring"
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(obj, name, globs={name: obj}):
        runner.run(test)
    assert runner.failures == 0


MOVED = {
    "ase_symbreak.io": "ase_symbreak.hessian.files",
    "ase_symbreak.models.io": "ase_symbreak.models.files",
    "ase_symbreak.nn.relaxed": "ase_symbreak.nn.relaxed_convolution",
    "ase_symbreak.orderparams.relaxed": "ase_symbreak.orderparams.relaxed_weights",
    "ase_symbreak.workflows.report": "ase_symbreak.workflows.html_report",
}


@pytest.mark.parametrize(("old", "new"), MOVED.items())
def test_renamed_modules_keep_their_old_path_with_a_warning(old, new):
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        "assert old is new, (old, new)\n"
        "assert any(issubclass(w.category, FutureWarning) and 'moved to' in str(w.message)"
        " for w in caught), [str(w.message) for w in caught]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
