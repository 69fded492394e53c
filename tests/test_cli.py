"""The ``pyframe`` command's own options (the subcommands have tests of their own)."""

import pytest

import pyframe


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(python_run, impl_env, flag):
    proc = python_run("-m", "pyframe", flag)
    assert proc.returncode == 0, proc.stderr
    implementation = "python" if impl_env.get("PYFRAME_NO_EXTENSIONS") else "cython"
    assert proc.stdout == f"pyframe-codec {pyframe.__version__} ({implementation} framers)\n"


def test_usage_without_a_command(python_run):
    proc = python_run("-m", "pyframe")
    assert proc.returncode == 2 and proc.stderr.startswith("usage: pyframe COMMAND")
