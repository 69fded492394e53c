"""The ``pyframe`` command's own options (the subcommands have tests of their own)."""

import subprocess
import sys

import pytest

import pyframe


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(impl_env, tmp_path, flag):
    proc = subprocess.run(
        [sys.executable, "-m", "pyframe", flag],
        cwd=tmp_path,
        env=impl_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    implementation = "python" if impl_env.get("PYFRAME_NO_EXTENSIONS") else "cython"
    assert proc.stdout == f"pyframe-codec {pyframe.__version__} ({implementation} framers)\n"


def test_usage_without_a_command(impl_env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyframe"],
        cwd=tmp_path,
        env=impl_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("usage: pyframe COMMAND")
