"""Implementation selection, checked in fresh interpreters with the environment switches."""

import json
import os
import subprocess
import sys

import pytest

import pyframe
from pyframe._switches import switch

NO_EXTENSIONS_OUTSIDE = switch("PYFRAME_NO_EXTENSIONS")
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pyframe.__file__)))

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pyframe._cframers":
            raise ImportError("blocked by the test")
sys.meta_path.insert(0, Block())
"""

REPORT = """
import json, pyframe
from pyframe import _pyframers
names = [n for n in pyframe.__all__ if n.endswith("Framer") and n != "Framer"]
twin = {n: getattr(pyframe, n) is getattr(_pyframers, n) for n in names}
try:
    from pyframe import _cframers
    compiled = {n: getattr(pyframe, n) is getattr(_cframers, n) for n in names}
except ImportError:
    compiled = None
print(json.dumps({"impl": pyframe.IMPLEMENTATION, "file": pyframe.__file__,
                  "twin": twin, "compiled": compiled}))
"""


def run_python(code, tmp_path, **switches):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYFRAME_")}
    env.update(switches)
    # The same pyframe as the tests import (an editable install resolves to it anyway).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(tmp_path, block=False, **switches):
    proc = run_python((BLOCK if block else "") + REPORT, tmp_path, **switches)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert os.path.samefile(result["file"], pyframe.__file__)  # not some other copy
    return result


def test_no_extensions_selects_the_twin(tmp_path):
    result = report(tmp_path, PYFRAME_NO_EXTENSIONS="1")
    assert result["impl"] == "python"
    assert all(result["twin"].values())


def test_default_selects_the_compiled_module(tmp_path):
    result = report(tmp_path)
    if result["compiled"] is None:
        if NO_EXTENSIONS_OUTSIDE:
            assert result["impl"] == "python"  # a run that asked for the twin only
            return
        pytest.fail("pyframe._cframers is not importable: the compiled module is missing")
    assert result["impl"] == "cython"
    assert all(result["compiled"].values())
    assert not any(result["twin"].values())


@pytest.mark.parametrize("value", ["", "0", "false", "No", " off "])
def test_switch_values_that_mean_off(tmp_path, value):
    result = report(tmp_path, PYFRAME_NO_EXTENSIONS=value)
    expected = "python" if result["compiled"] is None else "cython"
    if not NO_EXTENSIONS_OUTSIDE and result["compiled"] is None:
        pytest.fail("pyframe._cframers is not importable: the compiled module is missing")
    assert result["impl"] == expected


def test_both_twins_importable_by_name_with_no_extensions(tmp_path):
    result = report(tmp_path, PYFRAME_NO_EXTENSIONS="1")
    if result["compiled"] is None and not NO_EXTENSIONS_OUTSIDE:
        pytest.fail("pyframe._cframers is not importable: the compiled module is missing")
    if result["compiled"] is not None:
        assert not any(result["compiled"].values())


def test_missing_extension_falls_back_to_the_twin_with_a_warning(tmp_path):
    result = report(tmp_path, block=True)
    assert result["impl"] == "python"
    assert result["compiled"] is None  # the blocker works
    assert all(result["twin"].values())
    proc = run_python(BLOCK + "import pyframe", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning: pyframe's compiled module cannot be imported" in proc.stderr
    assert "blocked by the test" in proc.stderr and "PYFRAME_NO_EXTENSIONS=1" in proc.stderr


@pytest.mark.parametrize(
    "prelude, switches",
    [
        # an install made without the compiled module on purpose (PYFRAME_BUILD_EXTENSION=0)
        (
            "import sys, types; sys.modules['pyframe._build'] = types.SimpleNamespace("
            "EXTENSION=False)\n",
            {},
        ),
        ("", {"PYFRAME_NO_EXTENSIONS": "true"}),  # the twin chosen at run time
    ],
)
def test_a_twin_asked_for_is_used_quietly(tmp_path, prelude, switches):
    code = BLOCK + prelude + "import pyframe; print(pyframe.IMPLEMENTATION)"
    proc = run_python(code, tmp_path, **switches)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "python" and "Warning" not in proc.stderr


@pytest.mark.parametrize("name", ["PYFRAME_NO_EXTENSIONS", "PYFRAME_REQUIRE_EXTENSION"])
def test_a_switch_value_that_means_nothing_is_refused(tmp_path, name):
    proc = run_python("import pyframe", tmp_path, **{name: "maybe"})
    assert proc.returncode != 0
    assert f"{name}='maybe': use one of 1, true, yes, on or 0, false, no, off" in proc.stderr


def test_switch_parser():
    env = {"A": "TRUE", "B": "off", "C": "", "D": "2"}
    assert switch("A", environ=env) and not switch("B", environ=env, default=True)
    assert switch("C", default=True, environ=env) and not switch("missing", environ=env)
    with pytest.raises(ValueError):
        switch("D", environ=env)


def test_require_extension_turns_a_missing_module_into_import_error(tmp_path):
    proc = run_python(BLOCK + "import pyframe", tmp_path, PYFRAME_REQUIRE_EXTENSION="1")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "PYFRAME_REQUIRE_EXTENSION" in proc.stderr
    assert "blocked by the test" in proc.stderr  # the cause is reported
    # Without the blocker the same switch imports fine (if the module was built).
    proc = run_python(
        "import pyframe; print(pyframe.IMPLEMENTATION)", tmp_path, PYFRAME_REQUIRE_EXTENSION="yes"
    )
    if proc.returncode != 0 and NO_EXTENSIONS_OUTSIDE:
        return
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cython"


def test_contradictory_switches_are_refused(tmp_path):
    proc = run_python(
        "import pyframe", tmp_path, PYFRAME_NO_EXTENSIONS="1", PYFRAME_REQUIRE_EXTENSION="1"
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "both set" in proc.stderr


def test_this_run_tests_what_it_says(impl):
    """The in-process selection matches the switches this suite runs with."""
    if NO_EXTENSIONS_OUTSIDE:
        assert pyframe.IMPLEMENTATION == "python"
    elif switch("PYFRAME_REQUIRE_EXTENSION"):
        assert pyframe.IMPLEMENTATION == "cython"
    assert impl.__name__ in ("pyframe._pyframers", "pyframe._cframers")
