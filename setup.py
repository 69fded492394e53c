"""Declares the Cython extension pyframe._cframers, built from src/_cframers.pyx.

Build switch, PYFRAME_BUILD_EXTENSION:
  "1"   forced: a build failure fails the install (CI uses this);
  "0"   skipped: install the pure-Python twin only;
  unset best effort: try to build, fall back to the pure twin with a warning.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("PYFRAME_BUILD_EXTENSION", "")


class optional_build_ext(build_ext):
    """build_ext that, in best-effort mode, turns a failed build into a warning."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # compiler missing, Cython missing, ...
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc):
        if MODE == "1":
            raise
        sys.stderr.write(
            f"warning: pyframe's compiled module was not built ({exc}); "
            "the pure-Python twin will be used\n"
        )


def extensions():
    if MODE == "0":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if MODE == "1":
            raise
        sys.stderr.write("warning: Cython is missing; installing the pure-Python twin\n")
        return []
    return cythonize(
        [Extension("pyframe._cframers", ["src/_cframers.pyx"])],
        compiler_directives={"language_level": "3"},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": optional_build_ext})
