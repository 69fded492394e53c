"""Every Python snippet in README.md runs as written, in a fresh interpreter, on the
installed pyframe (a snippet that is a fragment, or whose asserts are wrong, fails)."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "README.md")


def snippets():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    found = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        found.append(pytest.param(match.group(1), id=f"line{line}"))
    return found


def test_readme_has_snippets():
    assert len(snippets()) >= 4


@pytest.mark.parametrize("code", snippets())
def test_snippet_runs(code, python_run):
    proc = python_run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
