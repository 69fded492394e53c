# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The floor of decoding: the work no decoder can avoid, and nothing else.

Built as ``pyframe._bench._floor``, a measuring stick of the benchmark report, not part of
pyframe's API. For each chunk of a stream it makes one ``bytes`` object per frame holding a
copy of the frame's payload and appends it to a new list, the list a decoder returns per
chunk. A frame that lies whole in the chunk costs one ``PyBytes_FromStringAndSize``. A frame
that straddles chunks is allocated once, at its full size, when its first piece arrives,
and each piece is copied in as it comes: one copy per payload byte. Large frames (64 KiB
and up) are thus a plain ``memcpy`` of their bytes into fresh objects, in huge pages from
32 MiB as pyframe asks for them (src/_hugepages.h): page faults are avoidable work.

Where the frames lie was worked out before timing (:func:`pyframe._bench.floor.plan`):
the timed loop does no parsing at all, so a decoder that finds the frames itself can only
come near this loop, never beat it by much.
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING
from libc.string cimport memcpy

from pyframe._switches import switch


cdef extern from "_hugepages.h":
    bytes pyframe_fresh_bytes(Py_ssize_t size)
    bytes pyframe_bytes_from(const char *data, Py_ssize_t size)
    int pyframe_huge_off

pyframe_huge_off = switch("PYFRAME_NO_HUGEPAGES")  # as pyframe's framers do

#: Integers the plan holds per chunk besides its whole frames (see decode()).
FIXED = 5


def decode(list chunks, array.array plan not None, list out=None):
    """Cut every frame of ``chunks`` as ``plan`` says; return how many were made.

    ``plan`` (an ``array('q')``) holds, for each chunk in order: ``head``, the bytes at the
    chunk's start that continue the frame under way (0 if none); ``closes``, 1 if they end
    it; ``n``, the number of frames lying whole in the chunk, then ``n`` pairs (start,
    length); then ``tail``, where a frame that continues into the next chunk starts (-1 if
    none) and ``size``, that frame's size. With a list ``out``, the frames are appended to
    it too (to verify the plan). A wrong plan raises ValueError, never reads or writes out
    of bounds.
    """
    cdef Py_ssize_t total = len(plan), i = 0, k, j, head, start, length, tail
    cdef Py_ssize_t size = 0, filled = 0, n = 0, have
    cdef const long long *steps
    cdef const char *data
    cdef bytes chunk
    cdef bytes frame = None
    cdef list frames
    if plan.typecode != "q":
        raise TypeError(f"the plan must be an array('q'), not array({plan.typecode!r})")
    steps = plan.data.as_longlongs
    for chunk in chunks:
        data = PyBytes_AS_STRING(chunk)
        have = len(chunk)
        frames = []
        if total - i < FIXED:
            raise ValueError("the plan ends before the chunks")
        head = <Py_ssize_t>steps[i]
        if head:  # the frame under way
            if frame is None or head < 0 or head > have or head > size - filled:
                raise ValueError("a wrong piece for the frame under way")
            memcpy(PyBytes_AS_STRING(frame) + filled, data, head)
            filled += head
            if steps[i + 1]:
                if filled != size:
                    raise ValueError("a frame closed before it was filled")
                frames.append(frame)
                frame = None
        k = <Py_ssize_t>steps[i + 2]
        i += 3
        if k < 0 or k > (total - i - 2) // 2:
            raise ValueError("the plan ends inside a chunk's frames")
        for j in range(k):
            start = <Py_ssize_t>steps[i]
            length = <Py_ssize_t>steps[i + 1]
            if start < 0 or length < 0 or length > have - start:
                raise ValueError("a frame lies outside its chunk")
            frames.append(pyframe_bytes_from(data + start, length))
            i += 2
        tail = <Py_ssize_t>steps[i]
        if tail >= 0:  # a frame starts here and goes on in the next chunk
            size = <Py_ssize_t>steps[i + 1]
            if frame is not None or tail > have or size < have - tail:
                raise ValueError("a wrong first piece of a frame")
            frame = pyframe_fresh_bytes(size)
            memcpy(PyBytes_AS_STRING(frame), data + tail, have - tail)
            filled = have - tail
        i += 2
        n += len(frames)
        if out is not None:
            out.extend(frames)
    return n
