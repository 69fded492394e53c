"""The compiled framers' portable scan loop, which a CPU without AVX2 runs: the
differential tests of several delimiters and of markers again, with the vector scan off,
and SLIP's END and ESC at every offset around its 32-byte blocks.
(On this machine the vector scan runs everywhere else.)"""

import importlib.util
import pathlib

import pytest

from pyframe import MalformedFrameError
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


def _slip_everywhere(impls):
    """SLIP's END and ESC at every offset around the scan's 32-byte blocks, in payloads
    (encoded: compiled and twin alike, decoded back whole and a byte at a time) and as a
    bad escape (the same fault, its offset in the message)."""
    twin, compiled = impls["python"], impls["cython"]
    for size in (31, 32, 33, 64, 65, 97):
        for at in range(size):
            for special in (b"\xc0", b"\xdb"):
                payload = b"a" * at + special + b"b" * (size - at - 1)
                wire = compiled.SLIPFramer().encode(payload)
                assert wire == twin.SLIPFramer().encode(payload)
                assert compiled.SLIPFramer().feed(wire * 2) == [payload] * 2
                framer = compiled.SLIPFramer()
                frames = [f for i in range(len(wire)) for f in framer.feed(wire[i : i + 1])]
                assert frames == [payload]
            bad = b"a" * at + b"\xdbx" + b"b" * size + b"\xc0"
            faults = []
            for module in (twin, compiled):
                with pytest.raises(MalformedFrameError) as info:
                    module.SLIPFramer().feed(bad)
                faults.append(str(info.value))
            assert faults[0] == faults[1] and f"ESC (0xdb) at offset {at} " in faults[0]


def test_slip_specials_at_every_offset(portable, impls):
    _slip_everywhere(impls)


def test_slip_specials_at_every_offset_vector_scan(compiled, impls):
    """The same with what this CPU runs (AVX2 here), for the blocks' edges."""
    before = compiled._vector_scan()
    compiled._vector_scan(True)
    try:
        _slip_everywhere(impls)
    finally:
        compiled._vector_scan(before)
