"""The compiled framers ask for huge pages under the big memory they write first: every
frame and encoding of 32 MiB or more (Linux; see pyframe_advise_huge in
src/_hugepages.h), never their buffer. Checked where it is decided, in the kernel's own
record of the advice (the mappings of /proc/self/smaps and their "hg" flag), not by
timing."""

import ctypes
import os
import pathlib
import platform
import re
import subprocess
import sys
import sysconfig

import pytest

from pyframe._switches import switch

HUGE = 32 << 20
THP = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")

pytestmark = [
    pytest.mark.skipif(
        switch("PYFRAME_NO_EXTENSIONS"), reason="PYFRAME_NO_EXTENSIONS: no compiled module"
    ),
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not THP.exists(),
        reason="huge pages are asked for on Linux with transparent huge pages only",
    ),
]

_DATA_OFFSET = sys.getsizeof(b"") - 1  # where a bytes object's bytes start (CPython)


def _own_mappings() -> bool:
    """Whether each big allocation is a mapping of its own that only pyframe advises:
    glibc's malloc, not one loaded before it (jemalloc, tcmalloc, ASan's) nor mimalloc
    (PYTHONMALLOC=mimalloc, free-threaded CPython), which reuse memory advised before,
    and without the glibc.malloc.hugetlb tunable, with which glibc advises them all."""
    if platform.libc_ver()[0] != "glibc":
        return False
    address = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    glibc = ctypes.cast(ctypes.CDLL("libc.so.6").malloc, ctypes.c_void_p).value
    return (
        address == glibc
        and "mimalloc" not in os.environ.get("PYTHONMALLOC", "")
        and not sysconfig.get_config_var("Py_GIL_DISABLED")
        and not re.search(r"glibc\.malloc\.hugetlb=[^0]", os.environ.get("GLIBC_TUNABLES", ""))
    )


own_mappings = pytest.mark.skipif(
    not _own_mappings(), reason="big allocations are not mappings of their own"
)


@pytest.fixture
def compiled(impls):
    return impls["cython"]  # (the impls fixture fails if it cannot be imported)


def mapping(address: int) -> tuple:
    """The mapping that holds ``address``: its start, its end and its VmFlags."""
    found = None
    for line in pathlib.Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            start, end = (int(x, 16) for x in head.split("-"))
            found = (start, end) if start <= address < end else None
        elif found and head == "VmFlags:":
            return (*found, line.split()[1:])
    raise AssertionError("no mapping holds the address")


def advised(obj: bytes) -> bool:
    """Whether the kernel holds huge-page advice for the middle of ``obj``'s bytes."""
    return "hg" in mapping(id(obj) + _DATA_OFFSET + len(obj) // 2)[2]


def address(view: memoryview) -> int:
    """Where the bytes of ``view`` (writable) start."""
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def test_big_encodings_are_advised(compiled):
    payload = bytes(HUGE)
    framer = compiled.LengthPrefixFramer(max_frame_size=None)
    assert advised(framer.encode(payload))
    assert advised(framer.encode_many([payload, b"x"]))
    # (bytes COBS encodes at its bound: no smaller copy, as ASan's realloc() makes one)
    assert advised(compiled.COBSFramer(max_frame_size=None).encode(b"\x01" * HUGE))


@own_mappings
def test_smaller_encodings_are_not_advised(compiled):
    framer = compiled.LengthPrefixFramer(max_frame_size=None)
    assert advised(framer.encode(bytes(HUGE)))  # (memory malloc() may hand out again)
    assert not advised(framer.encode(bytes(HUGE // 4)))  # below: malloc's own memory


@pytest.mark.parametrize("chunk", [None, 1 << 20], ids=["whole", "1MiB-reads"])
def test_big_frames_are_advised(compiled, chunk):
    """A frame cut whole from one feed() (copied), or filled in place as reads come."""
    wire = compiled.LengthPrefixFramer(max_frame_size=None).encode(b"\x01" * HUGE)
    framer = compiled.LengthPrefixFramer(max_frame_size=None)
    step = chunk or len(wire)
    frames = []
    for at in range(0, len(wire), step):
        frames += framer.feed(wire[at : at + step])
    assert len(frames) == 1 and len(frames[0]) == HUGE
    assert advised(frames[0])


def test_big_decoded_frames_are_advised(compiled):
    for name in ("COBSFramer", "SLIPFramer"):
        framer = getattr(compiled, name)(max_frame_size=None)
        (frame,) = framer.feed(framer.encode(b"\x01" * HUGE))
        assert len(frame) == HUGE and advised(frame), name


@own_mappings
@pytest.mark.parametrize("kept", [False, True], ids=["grown", "moved"])
def test_buffers_stay_one_mapping(compiled, kept):
    """The array a framer buffers into is not advised: it grows by realloc(), which glibc
    does for a big one by moving its mapping whole (mremap, no copy). Advice on part of
    it splits the mapping, and each later growth copies the array instead (a 256 MiB
    line took 3x longer). ``kept``: the caller keeps a view, the array moves to a new one."""
    framer = compiled.DelimiterFramer(b"\n", max_frame_size=None)
    piece, pieces = b"a" * (1 << 20), 40  # (the array grows from 32 to 64 MiB)
    view = None
    for _ in range(pieces):
        if kept:
            view = framer.get_buffer(1)
        assert framer.feed(piece) == []
    del view
    room = framer.get_buffer(1)
    start, end = address(room) - pieces * len(piece), address(room) + len(room)
    assert mapping(start)[:2] == mapping(end - 1)[:2]


_SWITCHED = """
import sys
import pyframe._cframers as compiled
sys.path.insert(0, sys.argv[1])
from test_huge_pages import HUGE, advised
print(advised(compiled.LengthPrefixFramer(max_frame_size=None).encode(bytes(HUGE))))
"""


@own_mappings
@pytest.mark.parametrize("value, said", [("1", "False"), ("0", "True")])
def test_the_switch_turns_the_advice_off(compiled, value, said, tmp_path):
    """PYFRAME_NO_HUGEPAGES=1 (read at import): no advice, for a program that would rather
    not have the kernel compact memory to find huge pages."""
    env = {**os.environ, "PYFRAME_NO_HUGEPAGES": value}
    here = str(pathlib.Path(__file__).parent)
    run = subprocess.run(
        [sys.executable, "-c", _SWITCHED, here],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # (not the checkout: its unbuilt pyframe/ would shadow the package)
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [said]


def test_a_typo_in_the_switch_is_an_error(compiled, tmp_path):
    env = {**os.environ, "PYFRAME_NO_HUGEPAGES": "nope"}
    run = subprocess.run(
        [sys.executable, "-c", "import pyframe._cframers"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # (as above)
    )
    assert run.returncode != 0 and "PYFRAME_NO_HUGEPAGES='nope'" in run.stderr
