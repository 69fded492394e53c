"""The compiled framers' portable scan loop, which a CPU without AVX2 runs: the
differential tests of several delimiters and of markers again, with the vector scan off.
(On this machine the vector scan runs everywhere else.)"""

import importlib.util
import pathlib

import pytest

from pyframe._switches import switch

pytestmark = pytest.mark.skipif(
    switch("PYFRAME_NO_EXTENSIONS"), reason="PYFRAME_NO_EXTENSIONS: no compiled module to test"
)


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, pathlib.Path(__file__).with_name(name + ".py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


diff = _load("test_differential")


@pytest.fixture
def compiled(impls):
    return impls["cython"]  # (the impls fixture fails if it cannot be imported)


@pytest.fixture
def portable(compiled):
    before = compiled._vector_scan()
    compiled._vector_scan(False)
    assert not compiled._vector_scan()
    yield
    compiled._vector_scan(before)


def test_the_switch_gives_back_what_the_cpu_runs(portable, compiled):
    assert compiled._vector_scan(True) in (True, False)
    assert not compiled._vector_scan(False)


def test_several_delimiters(portable, impls):
    diff.test_several_delimiters(impls)


def test_encoded_streams(portable, impls):
    diff.test_encoded_streams(impls)


def test_damaged_streams(portable, impls):
    diff.test_damaged_streams(impls)


def test_recovery(portable, impls):
    diff.test_recovery(impls)
