"""Declares the Cython extensions: pyframe._cframers, built from src/_cframers.pyx, and
pyframe._bench._floor from src/_floor.pyx (the benchmark report's measuring stick: the least
work a decoder can do; not part of the API). Both are built, or neither.

Policy: the compiled module is built, or the install fails with the reason. The pure-Python
twin alone is something a user asks for: ``PYFRAME_BUILD_EXTENSION=0`` installs it, as a
pure wheel (``py3-none-any``). ``PYFRAME_BUILD_EXTENSION`` is read by the same parser as the
switches pyframe reads at import (pyframe/_switches.py: 1/true/yes/on, 0/false/no/off).

The build writes its choice into the package (pyframe/_build.py), so that ``import pyframe``
warns about a compiled module that should be there and is not, and stays quiet about a
twin-only install that was asked for.

Debug information is left out of the compiled module (about 6x smaller) unless CFLAGS
asks for it with -g (the sanitizer build does).
"""

import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
switch = runpy.run_path(os.path.join(HERE, "pyframe", "_switches.py"))["switch"]
BUILD_EXTENSION = switch("PYFRAME_BUILD_EXTENSION", default=True)

HOW_TO_SKIP = (
    "install a C compiler and the Python headers, or install the pure-Python twin "
    "on purpose with PYFRAME_BUILD_EXTENSION=0 (several times slower)"
)


class build_py_recording(build_py):
    """build_py that records in the package whether the compiled module was built."""

    def run(self):
        super().run()
        path = os.path.join(self.build_lib, "pyframe", "_build.py")
        with open(path, "w") as f:
            f.write(
                '"""Written by setup.py: whether this install carries the compiled module."""\n'
                f"EXTENSION = {BUILD_EXTENSION!r}\n"
            )


class build_ext_explained(build_ext):
    """build_ext whose failure says what to do about it."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            raise SystemExit(
                f"error: pyframe's compiled module was not built ({exc}); {HOW_TO_SKIP}"
            ) from exc


def extensions():
    if not BUILD_EXTENSION:
        return []
    try:
        from Cython.Build import cythonize  # build-system.requires brings it
    except ImportError as exc:
        message = f"error: Cython is needed to build pyframe ({exc}); {HOW_TO_SKIP}"
        raise SystemExit(message) from exc
    debug = "-g" in os.environ.get("CFLAGS", "").split()
    strip = [] if debug or sys.platform == "win32" else ["-Wl,-S"]
    return cythonize(
        [
            Extension("pyframe._cframers", ["src/_cframers.pyx"], extra_link_args=strip),
            Extension("pyframe._bench._floor", ["src/_floor.pyx"], extra_link_args=strip),
        ],
        compiler_directives={"language_level": "3"},
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_py": build_py_recording, "build_ext": build_ext_explained},
)
