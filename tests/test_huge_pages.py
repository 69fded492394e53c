"""The compiled framers ask for huge pages under the big memory they write first: every
frame, encoding and buffer of 32 MiB or more (Linux; see pyframe_advise_huge in
src/_cframers.pyx). Checked where it is decided, in the kernel's own record of the
advice (the "hg" flag of the mapping in /proc/self/smaps), not by timing."""

import pathlib
import sys

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


@pytest.fixture
def compiled(impls):
    return impls["cython"]  # (the impls fixture fails if it cannot be imported)


def advised(obj: bytes) -> bool:
    """Whether the kernel holds huge-page advice for the middle of ``obj``'s bytes."""
    middle = id(obj) + _DATA_OFFSET + len(obj) // 2
    inside = False
    for line in pathlib.Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            start, end = (int(x, 16) for x in head.split("-"))
            inside = start <= middle < end
        elif inside and head == "VmFlags:":
            return "hg" in line.split()[1:]
    raise AssertionError("no mapping holds the object")


def test_big_encodings_are_advised(compiled):
    payload = bytes(HUGE)
    framer = compiled.LengthPrefixFramer(max_frame_size=None)
    assert advised(framer.encode(payload))
    assert advised(framer.encode_many([payload, b"x"]))
    # (bytes COBS encodes at its bound: no smaller copy, as ASan's realloc() makes one)
    assert advised(compiled.COBSFramer(max_frame_size=None).encode(b"\x01" * HUGE))
    assert not advised(framer.encode(payload[: HUGE // 4]))  # below: malloc's own memory


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
