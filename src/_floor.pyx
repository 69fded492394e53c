# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The floor of decoding: the work no decoder can avoid, and nothing else.

Built as ``pyframe._bench._floor``, a measuring stick of the benchmark report, not part of
pyframe's API. For each chunk of a stream it makes one ``bytes`` object per frame holding a
copy of the frame's payload and appends it to a new list, the list a decoder returns per
chunk. A frame that lies whole in the chunk costs one ``PyBytes_FromStringAndSize``. A frame
that straddles chunks is allocated once, at its full size, when its first piece arrives,
and each piece is copied in as it comes: one copy per payload byte. Large frames (64 KiB
and up) are thus a plain ``memcpy`` of their bytes into fresh objects.

Where the frames lie was worked out before timing (:func:`pyframe._bench.floor.plan`):
the timed loop does no parsing at all, so a decoder that finds the frames itself can only
come near this loop, never beat it.
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

# A piece of a frame inside one chunk: (kind, start in the chunk, length, frame size)
cdef enum:
    OPENS = 1  # the frame's first piece: allocate the whole frame
    CLOSES = 2  # the frame's last piece: the frame is complete, append it
    WHOLE = 3  # the frame lies whole in this chunk
    STEP = 4  # integers per piece

PIECE = STEP  # integers per piece in a plan
OPENS_FRAME = OPENS
CLOSES_FRAME = CLOSES
WHOLE_FRAME = WHOLE


def decode(list chunks, array.array plan not None, list out=None):
    """Cut every frame of ``chunks`` as ``plan`` says; return how many were made.

    ``plan`` holds, for each chunk in order, the number of pieces in that chunk, then
    ``PIECE`` integers per piece (an ``array('q')``): kind (``OPENS_FRAME``, ``CLOSES_FRAME``, both, or
    neither for a middle piece), start in the chunk, length, and the frame's size.
    With a list ``out``, the frames are appended to it too (to verify the plan).
    """
    cdef Py_ssize_t i = 0, k, j, kind, start, length, size = 0, filled = 0, n = 0
    cdef Py_ssize_t total = len(plan)
    cdef const long long *steps
    if plan.typecode != "q":
        raise TypeError(f"the plan must be an array('q'), not array({plan.typecode!r})")
    steps = plan.data.as_longlongs
    cdef const char *data
    cdef char *dest = NULL
    cdef bytes chunk
    cdef bytes frame = None
    cdef list frames
    for chunk in chunks:
        data = PyBytes_AS_STRING(chunk)
        frames = []
        if i >= total:
            raise ValueError("the plan ends before the chunks")
        k = <Py_ssize_t>steps[i]
        i += 1
        if k < 0 or k > (total - i) // STEP:
            raise ValueError("the plan ends inside a chunk's pieces")
        for j in range(k):
            kind = <Py_ssize_t>steps[i]
            start = <Py_ssize_t>steps[i + 1]
            length = <Py_ssize_t>steps[i + 2]
            # a wrong plan raises rather than read or write out of bounds
            if start < 0 or length < 0 or length > len(chunk) - start:
                raise ValueError("a piece lies outside its chunk")
            if kind == WHOLE:
                frames.append(PyBytes_FromStringAndSize(data + start, length))
            else:
                if kind & OPENS:
                    size = <Py_ssize_t>steps[i + 3]
                    if size < 0:
                        raise ValueError("a negative frame size")
                    frame = PyBytes_FromStringAndSize(NULL, size)
                    dest = PyBytes_AS_STRING(frame)
                    filled = 0
                elif frame is None:
                    raise ValueError("a piece continues no frame")
                if length > size - filled:
                    raise ValueError("the pieces overflow their frame")
                memcpy(dest + filled, data + start, length)
                filled += length
                if kind & CLOSES:
                    if filled != size:
                        raise ValueError("a frame closed before it was filled")
                    frames.append(frame)
                    frame = None
            i += STEP
        n += len(frames)
        if out is not None:
            out.extend(frames)
    return n
