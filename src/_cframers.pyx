# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: auto_pickle=False
"""The compiled framers: the same classes as ``pyframe._pyframers``, written the same way.

Every decoder keeps one ``bytearray``. Live bytes are ``_buf[_pos:_end]``; the slack after
``_end`` is room for the next read, handed out by ``get_buffer()``. The array is never
resized while a frame is being cut (views from ``get_buffer()`` may still be alive): room is
made by moving the live bytes to the front (same-size copy) or by moving them to a new,
larger array, so the cost stays amortised O(1) per byte.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_FromStringAndSize,
                                PyByteArray_Resize)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy, memmove

from operator import index as _index

from pyframe import _errors, _rules

__all__ = ["LengthPrefixFramer", "DecimalLengthFramer", "DelimiterFramer", "LineFramer"]

_NOT_PICKLED = "cannot pickle a {}: it holds a stream's state; make a new one instead"

cdef Py_ssize_t READ_SIZE = 65536  # room get_buffer() offers when given no size hint
cdef Py_ssize_t MIN_CAPACITY = 4096  # smallest array allocated once data arrives
cdef Py_ssize_t SHRINK_ABOVE = 4 * 1024 * 1024  # an idle buffer above this is given back


cdef inline Py_ssize_t _find(const char *buf, Py_ssize_t start, Py_ssize_t end,
                             const char *needle, Py_ssize_t size) noexcept nogil:
    """Offset of the first ``needle`` in ``buf[start:end]``, or -1."""
    cdef const char *at
    cdef Py_ssize_t last = end - size  # the last offset a match can start at
    while start <= last:
        at = <const char *>memchr(buf + start, needle[0], last - start + 1)
        if at == NULL:
            return -1
        if size == 1:
            return at - buf
        start = at - buf
        if memcmp(at + 1, needle + 1, size - 1) == 0:
            return start
        start += 1
    return -1


cdef inline bint _length_ok(uint64_t value, int64_t adjustment, uint64_t limit) noexcept:
    """0 <= value + adjustment <= limit, without overflowing 64 bits."""
    if adjustment < 0:
        return value >= <uint64_t>(-adjustment) and value - <uint64_t>(-adjustment) <= limit
    return <uint64_t>adjustment <= limit and value <= limit - <uint64_t>adjustment


cdef class _Framer:
    """Buffer handling shared by every decoder; subclasses define ``_next()``."""

    cdef bytearray _buf
    cdef Py_ssize_t _pos, _end
    cdef Py_ssize_t _lent  # size of the view lent by get_buffer(); -1 when none is out
    cdef bint _final  # set by eof() while it cuts the last frames: no more bytes
    cdef Py_ssize_t _limit
    cdef object _error

    def __init__(self, max_frame_size):
        self._limit = _rules.limit(max_frame_size)
        self.reset()

    @property
    def max_frame_size(self):
        return _rules.public_limit(self._limit)

    @property
    def pending(self):
        """Bytes buffered that have not been returned as frames yet."""
        return self._end - self._pos

    def reset(self):
        """Forget all buffered bytes and any error: ready for a new stream."""
        self._buf = bytearray()
        self._pos = self._end = 0
        self._lent = -1
        self._final = False
        self._error = None
        self._restart()

    def __reduce__(self):
        raise TypeError(_NOT_PICKLED.format(type(self).__name__))

    cdef inline int _check(self) except -1:
        if self._error is not None:
            raise self._error.with_traceback(None)
        return 0

    # -- filling the buffer -------------------------------------------------------------

    def feed(self, data):
        """Append ``data`` (any bytes-like object); return every complete frame now buffered."""
        cdef Py_buffer view
        cdef list frames = []
        cdef Py_ssize_t cut
        self._check()
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._lent = -1
            if self._pos == self._end:
                # Nothing buffered (the usual case): cut the frames straight from the
                # caller's bytes and buffer only the tail, saving a copy of every byte.
                # The twin appends first; the frames and errors are the same.
                self._rebase(self._pos)
                self._pos, self._end = 0, view.len
                self._cut_all(<const char *>view.buf, frames)
                cut = self._pos
                self._rebase(cut)
                self._pos = self._end = 0
                self._reserve(view.len - cut)
                memcpy(PyByteArray_AS_STRING(self._buf), <const char *>view.buf + cut,
                       view.len - cut)
                self._end = view.len - cut
            else:
                self._reserve(view.len)
                memcpy(PyByteArray_AS_STRING(self._buf) + self._end, view.buf, view.len)
                self._end += view.len
                self._cut_all(PyByteArray_AS_STRING(self._buf), frames)
        finally:
            PyBuffer_Release(&view)
        self._consumed()
        if not frames:
            self._check()
        return frames

    def get_buffer(self, Py_ssize_t sizehint=-1):
        """A writable view of at least ``sizehint`` bytes (64 KiB if <= 0) at the buffer's end."""
        self._check()
        self._reserve(sizehint if sizehint > 0 else READ_SIZE)
        self._lent = len(self._buf) - self._end
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, nbytes):
        """Commit ``nbytes`` written into the view from ``get_buffer()``."""
        self._check()
        nbytes = _index(nbytes)
        if self._lent < 0:
            raise RuntimeError("buffer_updated() called without a buffer from get_buffer()")
        if not 0 <= nbytes <= self._lent:
            raise ValueError(f"nbytes must be between 0 and {self._lent}, got {nbytes}")
        self._lent = -1
        self._end += <Py_ssize_t>nbytes

    cdef int _reserve(self, Py_ssize_t size) except -1:
        """Make ``size`` bytes of room after ``_end``."""
        cdef Py_ssize_t capacity = len(self._buf)
        cdef Py_ssize_t live = self._end - self._pos
        cdef bytearray new
        if capacity - self._end >= size:
            return 0
        if live + size <= capacity // 2:
            # same size: allowed while views live
            memmove(PyByteArray_AS_STRING(self._buf),
                    PyByteArray_AS_STRING(self._buf) + self._pos, live)
        else:
            capacity = max(2 * capacity, live + size, MIN_CAPACITY)
            # Grow in place (realloc: no copy of a large buffer, no fresh pages to fault
            # in) unless a view of the array is still alive; then move to a new array.
            memmove(PyByteArray_AS_STRING(self._buf),
                    PyByteArray_AS_STRING(self._buf) + self._pos, live)
            try:
                PyByteArray_Resize(self._buf, capacity)
            except BufferError:
                new = PyByteArray_FromStringAndSize(NULL, capacity)
                memcpy(PyByteArray_AS_STRING(new), PyByteArray_AS_STRING(self._buf), live)
                self._buf = new
        self._rebase(self._pos)
        self._pos, self._end = 0, live
        return 0

    cdef inline void _consumed(self):
        """Called after frames were cut: an empty buffer starts again at offset 0 (not
        while a view from get_buffer() awaits buffer_updated(): it points past _end)."""
        if self._pos == self._end and self._pos and self._lent < 0:
            self._rebase(self._pos)
            self._pos = self._end = 0
            if len(self._buf) > SHRINK_ABOVE:
                self._buf = bytearray()

    # -- taking frames out --------------------------------------------------------------

    def next_frame(self):
        """The next complete frame, or None if none is buffered."""
        cdef Py_ssize_t start, stop
        cdef const char *data = PyByteArray_AS_STRING(self._buf)
        self._check()
        if not self._next(data, &start, &stop):
            self._check()
            return None
        frame = PyBytes_FromStringAndSize(data + start, stop - start)
        self._consumed()
        return frame

    def pop_frames(self):
        """Every complete frame buffered, as a list (frames cut before a fault are
        returned; the fault is raised by the next call)."""
        cdef list frames = []
        self._check()
        self._cut_all(PyByteArray_AS_STRING(self._buf), frames)
        self._consumed()
        if not frames:
            self._check()
        return frames

    def eof(self):
        """The stream has ended: return the frames still buffered; raise
        IncompleteFrameError (with ``.partial``) if a partial frame is left."""
        self._final = True  # bytes that could begin a delimiter will not be followed
        try:
            frames = self.pop_frames()
        finally:
            self._final = False
            self._restart()  # scan positions settled for the end are not for more bytes
        if self._error is None and self._end > self._pos:
            self._error = _errors.incomplete(self._buf[self._pos:self._end])
            if not frames:
                self._check()
        return frames

    def encode(self, payload):
        """``payload`` framed: the header, the payload, the trailer."""
        header, trailer = self.encode_parts(payload)
        return b"".join((header, payload, trailer))

    def encode_many(self, payloads):
        """Encode several payloads into one buffer."""
        return b"".join([self.encode(payload) for payload in payloads])

    cdef int _cut_all(self, const char *data, list frames) except -1:
        """Append every complete frame in ``data[_pos:_end]`` to ``frames``."""
        cdef Py_ssize_t start, stop
        while self._next(data, &start, &stop):
            frames.append(PyBytes_FromStringAndSize(data + start, stop - start))
        return 0

    # -- hooks of the framing rules -----------------------------------------------------

    cdef void _restart(self) noexcept:
        """Reset per-stream scan state."""

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        """The live bytes moved ``shift`` bytes towards the front."""

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        """Cut the next frame from ``data[_pos:_end]``: advance ``_pos`` past it and set the
        span of the bytes to return; 0 when no whole frame is there (setting ``_error`` on
        a fault). ``data`` is the bytearray's storage, or the caller's bytes in feed()."""
        return 0


cdef class LengthPrefixFramer(_Framer):
    """Frames preceded by an unsigned binary length field of 1 to 8 bytes.

    ``offset`` bytes come before the field; ``adjustment`` is added to the field's value to
    give the number of bytes that follow the field; ``include_header`` keeps the offset bytes
    and the field in returned frames. ``max_frame_size`` limits those following bytes.
    """

    cdef readonly int length_size
    cdef readonly str byteorder
    cdef readonly Py_ssize_t offset
    cdef readonly int64_t adjustment
    cdef readonly bint include_header
    cdef bint _big
    cdef uint64_t _field_max
    cdef Py_ssize_t _header

    def __init__(self, length_size=4, byteorder="big", *, offset=0, adjustment=0,
                 include_header=False, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE):
        self._field_max = _rules.length_prefix(length_size, byteorder, offset, adjustment)
        self.length_size = length_size
        self.byteorder = byteorder
        self._big = byteorder == "big"
        self.offset = offset
        self.adjustment = adjustment
        self.include_header = bool(include_header)
        self._header = offset + length_size
        super().__init__(max_frame_size)

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t pos = self._pos
        cdef const unsigned char *field
        cdef uint64_t value = 0
        cdef Py_ssize_t length
        cdef int i
        if self._end - pos < self._header:
            return 0
        field = <const unsigned char *>data + pos + self.offset
        if self._big:
            for i in range(self.length_size):
                value = (value << 8) | field[i]
        else:
            for i in range(self.length_size - 1, -1, -1):
                value = (value << 8) | field[i]
        if not _length_ok(value, self.adjustment, self._limit):
            self._error = _errors.length_error(value, self.adjustment, self._limit)
            return 0
        # 0 <= value + adjustment <= limit: unsigned wrap-around gives the exact sum
        length = <Py_ssize_t>(value + <uint64_t>self.adjustment)
        if length > self._end - pos - self._header:
            return 0
        start[0] = pos if self.include_header else pos + self._header
        stop[0] = self._pos = pos + self._header + length
        return 1

    def encode(self, payload):
        """``payload`` preceded by its header (offset bytes are zeros); written in place
        here, as the hot encode path (the twin joins encode_parts())."""
        cdef Py_buffer view
        cdef bytes wire
        cdef unsigned char *out
        cdef uint64_t value
        cdef int i
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            # the shared check (and its errors) only when the quick one fails
            if not (view.len <= self._limit and view.len < (1LL << 62)
                    and self.adjustment <= view.len
                    and <uint64_t>(view.len - self.adjustment) <= self._field_max):
                _rules.check_field(view.len, view.len - self.adjustment, self._field_max,
                                   self._limit)
            value = <uint64_t>(view.len - self.adjustment)
            wire = PyBytes_FromStringAndSize(NULL, self._header + view.len)
            out = <unsigned char *>PyBytes_AS_STRING(wire)
            for i in range(self.offset):
                out[i] = 0
            out += self.offset
            for i in range(self.length_size):
                if self._big:
                    out[self.length_size - 1 - i] = <unsigned char>(value & 0xFF)
                else:
                    out[i] = <unsigned char>(value & 0xFF)
                value >>= 8
            memcpy(out + self.length_size, view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return wire

    def encode_parts(self, payload):
        """``(header, trailer)``: the bytes encode() puts before and after ``payload``,
        checked as encode() checks them (for sending the payload without copying it)."""
        cdef Py_ssize_t size = _rules.payload_size(payload)
        field = size - self.adjustment
        _rules.check_field(size, field, self._field_max, self._limit)
        return bytes(self.offset) + field.to_bytes(self.length_size, self.byteorder), b""


cdef class DecimalLengthFramer(_Framer):
    """Frames preceded by their length as ``digits`` zero-padded ASCII digits: ``0003AAA``."""

    cdef readonly Py_ssize_t digits
    cdef Py_ssize_t _field_max

    def __init__(self, digits=4, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE):
        self.digits = _rules.decimal_digits(digits)
        self._field_max = 10 ** digits - 1
        super().__init__(max_frame_size)

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t body = self._pos + self.digits
        cdef const unsigned char *header
        cdef int64_t length = 0
        cdef Py_ssize_t i
        if self._end < body:
            return 0
        header = <const unsigned char *>data + self._pos
        for i in range(self.digits):
            if not (48 <= header[i] <= 57):  # b"0" .. b"9"
                self._error = _errors.bad_decimal_header(data[self._pos:body])
                return 0
            length = length * 10 + (header[i] - 48)
        if length > self._limit:
            self._error = _errors.too_large(length, self._limit)
            return 0
        if body + length > self._end:
            return 0
        start[0] = body
        stop[0] = self._pos = body + length
        return 1

    def encode_parts(self, payload):
        """``(header, trailer)``: the bytes encode() puts before and after ``payload``."""
        cdef Py_ssize_t size = _rules.payload_size(payload)
        _rules.check_field(size, size, self._field_max, self._limit)
        return b"%0*d" % (self.digits, size), b""


cdef class DelimiterFramer(_Framer):
    """Frames ended by a delimiter, or by the earliest of several (the longest on a tie).

    Each delimiter keeps how far it has been searched, so no byte is searched twice for it.
    """

    cdef readonly tuple delimiters
    cdef readonly bint keep_delimiter
    cdef Py_ssize_t _count
    cdef const char **_delim  # the delimiters' bytes (kept alive by the tuple) and sizes
    cdef Py_ssize_t *_size
    # For delimiter i, no match starts before _seen[i]; _hit[i] says whether one
    # starts exactly there (otherwise the delimiter may begin there once more bytes
    # arrive, or _seen[i] == _end).
    cdef Py_ssize_t *_seen
    cdef bint *_hit

    def __init__(self, delimiter=b"\n", *, keep_delimiter=False,
                 max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE):
        self.delimiters = _rules.delimiters(delimiter)
        self.keep_delimiter = bool(keep_delimiter)
        self._free()
        self._count = len(self.delimiters)
        self._delim = <const char **>PyMem_Malloc(self._count * sizeof(char *))
        self._size = <Py_ssize_t *>PyMem_Malloc(self._count * sizeof(Py_ssize_t))
        self._seen = <Py_ssize_t *>PyMem_Malloc(self._count * sizeof(Py_ssize_t))
        self._hit = <bint *>PyMem_Malloc(self._count * sizeof(bint))
        if not (self._delim and self._size and self._seen and self._hit):
            raise MemoryError()
        for i, delim in enumerate(self.delimiters):
            self._delim[i] = PyBytes_AS_STRING(delim)
            self._size[i] = len(delim)
        super().__init__(max_frame_size)

    def __dealloc__(self):
        self._free()

    cdef void _free(self) noexcept:
        PyMem_Free(self._delim)
        PyMem_Free(self._size)
        PyMem_Free(self._seen)
        PyMem_Free(self._hit)
        self._delim, self._size, self._seen, self._hit = NULL, NULL, NULL, NULL

    cdef void _restart(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self._count):
            self._seen[i] = 0
            self._hit[i] = False

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        cdef Py_ssize_t i
        for i in range(self._count):
            self._seen[i] -= shift

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # Fast path for one delimiter, the common case: its matches end the frames (no tie
        # to break, nothing to wait for), so cut them in one tight loop; the general
        # _next() then settles the tail (and any fault) exactly as the twin does.
        cdef Py_ssize_t begin = self._pos, at = max(self._seen[0], begin)
        cdef Py_ssize_t size = self._size[0], extra = size if self.keep_delimiter else 0
        if self._count == 1:
            while True:
                at = _find(data, at, self._end, self._delim[0], size)
                if at < 0 or at - begin > self._limit:
                    break
                frames.append(PyBytes_FromStringAndSize(data + begin, at - begin + extra))
                begin = at = at + size
            self._pos = begin
            if at < 0:  # searched to the end: resume at the tail, never rescan
                self._seen[0] = max(begin, self._end - size + 1)
                self._hit[0] = False
        return _Framer._cut_all(self, data, frames)

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t begin = self._pos, end = self._end, at, size, i, best = -1
        cdef const char *delim
        for i in range(self._count):
            delim, size = self._delim[i], self._size[i]
            if self._seen[i] < begin:
                self._seen[i], self._hit[i] = begin, False
            if not self._hit[i]:
                at = _find(data, self._seen[i], end, delim, size)
                if at >= 0:
                    self._seen[i], self._hit[i] = at, True
                else:
                    # The first tail position where the delimiter may still begin.
                    at = max(self._seen[i], end - size + 1)
                    if self._final:
                        at = end
                    while at < end and memcmp(data + at, delim, end - at) != 0:
                        at += 1
                    self._seen[i] = at
            # The earliest position decides; on a tie the longer delimiter.
            if best < 0 or self._seen[i] < self._seen[best] or (
                    self._seen[i] == self._seen[best]
                    and size > self._size[best]):
                best = i
        at = self._seen[best]
        if at - begin > self._limit:
            self._error = (
                _errors.too_large(at - begin, self._limit)
                if self._hit[best]
                else _errors.no_delimiter(at - begin, self._limit)
            )
            return 0
        if not self._hit[best]:  # the earliest candidate is not complete yet
            return 0
        self._pos = at + self._size[best]
        start[0] = begin
        stop[0] = self._pos if self.keep_delimiter else at
        return 1

    def encode(self, payload):
        """``payload`` plus the first delimiter; ValueError if it would not decode back."""
        cdef Py_buffer view
        cdef bytes wire
        cdef Py_ssize_t size
        cdef char *out
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            size = view.len
            wire = PyBytes_FromStringAndSize(NULL, size + self._size[0])
            out = PyBytes_AS_STRING(wire)
            memcpy(out, view.buf, size)
            memcpy(out + size, self._delim[0], self._size[0])
        finally:
            PyBuffer_Release(&view)
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        # One delimiter: the frame is right unless the delimiter occurs before the end
        # (checked here in C); otherwise the shared check decides and explains.
        if self._count > 1 or _find(out, 0, size + self._size[0] - 1, self._delim[0],
                                    self._size[0]) >= 0:
            _rules.check_delimited(payload, self.delimiters)
        return wire

    def encode_parts(self, payload):
        """``(b"", delimiter)``; ValueError if ``payload`` would not decode back (it
        contains a delimiter, or its end plus the delimiter could begin a longer one)."""
        cdef Py_ssize_t size = _rules.payload_size(payload)
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        _rules.check_delimited(payload, self.delimiters)
        return b"", self.delimiters[0]


cdef class LineFramer(DelimiterFramer):
    """Lines ended by ``\\n`` or ``\\r\\n`` (both stripped); encode() appends ``line_ending``."""

    def __init__(self, *, line_ending=b"\n", max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE):
        ending = _rules.line_ending(line_ending)
        other = b"\r\n" if ending == b"\n" else b"\n"
        super().__init__((ending, other), max_frame_size=max_frame_size)
