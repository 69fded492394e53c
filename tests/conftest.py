"""Shared fixtures: every test runs on both twins.

``impl`` is the framer module under test: ``pyframe._pyframers`` (the pure-Python twin) or
``pyframe._cframers`` (the compiled module). The cython parameter FAILS when the compiled
module cannot be imported -- a suite that silently tests only the twin proves nothing --
unless ``PYFRAME_NO_EXTENSIONS=1`` is set, in which case only the python parameter exists.
"""

import importlib
import os

import pytest


def _switch(name):
    return os.environ.get(name, "") not in ("", "0")


NO_EXTENSIONS = _switch("PYFRAME_NO_EXTENSIONS")

IMPLEMENTATIONS = ["python"] if NO_EXTENSIONS else ["python", "cython"]

MODULES = {"python": "pyframe._pyframers", "cython": "pyframe._cframers"}


def load_impl(name):
    """The framer module for ``name`` ("python" / "cython"); pytest.fail if it won't import."""
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        pytest.fail(
            f"{MODULES[name]} cannot be imported ({exc}); build it "
            "(python setup.py build_ext --inplace) or set PYFRAME_NO_EXTENSIONS=1",
            pytrace=False,
        )


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """The framer module under test (``pyframe._pyframers`` or ``pyframe._cframers``)."""
    return load_impl(request.param)


@pytest.fixture
def impls():
    """Every framer module available to this run, as a dict name -> module (for tests that
    compare the twins against each other)."""
    return {name: load_impl(name) for name in IMPLEMENTATIONS}


def pytest_report_header(config):
    try:
        import pyframe
    except Exception as exc:  # report it; the tests themselves will fail loudly
        return [f"pyframe: import failed: {exc!r}"]
    lines = [
        f"pyframe: {pyframe.__file__}",
        f"pyframe.IMPLEMENTATION: {pyframe.IMPLEMENTATION}",
        f"framer twins under test: {', '.join(IMPLEMENTATIONS)}",
    ]
    try:
        from pyframe import _cframers

        lines.append(f"pyframe._cframers: {_cframers.__file__}")
    except ImportError as exc:
        lines.append(f"pyframe._cframers: NOT importable ({exc})")
    return lines
