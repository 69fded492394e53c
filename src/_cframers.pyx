# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: auto_pickle=False, embedsignature=True, binding=True
"""The compiled framers: the same classes as ``pyframe._pyframers``, written the same way.

Every decoder keeps one ``bytearray``. Live bytes are ``_buf[_pos:_end]``; the slack after
``_end`` is room for the next read, handed out by ``get_buffer()``. Rules of the buffer
engine (the twin keeps the same ones):

* Bytes never move within an array that a view from ``get_buffer()`` may still write to,
  and ``feed()`` never writes into such an array: while a view is alive, room is made in a
  new array. So a stale view can change only bytes that came in through views of that same
  room, never bytes given to feed() or moved by the framer, never the framer's state.
* Room is allocated before any byte moves: a failed allocation leaves the framer as it was.
  A call that fails while cutting frames consumes nothing.
* Memory handed out is zeros or bytes of the stream; a big array whose live bytes became
  few is given back.
* One call at a time: a second, concurrent call is refused (``RuntimeError``); the flag is
  set atomically where there is no GIL (free-threaded CPython).
* State lives in ``__cinit__``: a framer whose ``__init__`` never ran refuses every call.
"""

cimport cython
from cpython.buffer cimport (PyBUF_FORMAT, PyBUF_FULL_RO, PyBUF_ND, PyBUF_READ, PyBUF_STRIDES,
                             PyBUF_WRITABLE, PyBuffer_IsContiguous, PyBuffer_Release,
                             PyObject_CheckBuffer, PyObject_GetBuffer)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_SetFromErrno
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.memoryview cimport PyMemoryView_FromMemory, PyMemoryView_FromObject
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

from operator import index as _index

from pyframe import _errors, _rules
from pyframe._switches import switch as _switch

__all__ = ["LengthPrefixFramer", "DecimalLengthFramer", "NetstringFramer", "VarintFramer",
           "FixedLengthFramer", "DelimiterFramer", "LineFramer", "MarkerFramer",
           "COBSFramer", "SLIPFramer"]

_NOT_PICKLED = "cannot pickle a {}: it holds a stream's state; make a new one instead"

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject **, Py_ssize_t) except -1
    ctypedef struct PyByteArrayObject:
        Py_ssize_t ob_exports  # views alive: while > 0 the array cannot change size
    const Py_ssize_t PY_SSIZE_T_MAX
    # A memoryview's own state (CPython's headers, 3.9 to 3.13): the views registered on
    # its managed buffer, the buffers exported from it, whether it was released.
    ctypedef struct _PyManagedBufferObject:
        Py_ssize_t exports
    ctypedef struct PyMemoryViewObject:
        _PyManagedBufferObject *mbuf
        int flags
        Py_ssize_t exports
        Py_buffer view
    const int _Py_MEMORYVIEW_RELEASED
    void PyObject_GC_UnTrack(void *obj)

cdef extern from *:
    """
    /* The busy flag of a framer. With the GIL, no other thread runs between the test and
       the set (no Python code does), so plain loads and stores are atomic enough; without
       it (free-threaded CPython), a compare-and-swap. */
    #if !defined(Py_GIL_DISABLED)
    static int pyframe_enter(long *flag) {
        if (*flag) return 0;
        *flag = 1;
        return 1;
    }
    static void pyframe_leave(long *flag) { *flag = 0; }
    #elif defined(_MSC_VER)
    #include <intrin.h>
    static int pyframe_enter(long *flag) {
        return _InterlockedCompareExchange((volatile long *)flag, 1, 0) == 0;
    }
    static void pyframe_leave(long *flag) { _InterlockedExchange((volatile long *)flag, 0); }
    #else
    static int pyframe_enter(long *flag) {
        long expected = 0;
        return __atomic_compare_exchange_n(flag, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED);
    }
    static void pyframe_leave(long *flag) { __atomic_store_n(flag, 0, __ATOMIC_RELEASE); }
    #endif
    static char pyframe_unsigned_bytes[] = "B";  /* the format of a view: unsigned bytes */

    /* A set of up to 8 bytes, as two tables of 16 entries: bit k of lo[b & 15] and of
       hi[b >> 4] is set for the set's k-th byte, so b is in the set exactly when
       lo[b & 15] & hi[b >> 4] is not 0 (two lookups, which AVX2 does for 32 bytes at once:
       one pass over the data finds the next byte of any of several delimiters). */
    typedef struct { unsigned char lo[16], hi[16]; } pyframe_set;

    static int pyframe_set_add(pyframe_set *set, int count, unsigned char byte) {
        int k;
        for (k = 0; k < count; k++)
            if (set->lo[byte & 15] & set->hi[byte >> 4] & (1 << k)) return count;
        if (count == 8) return 9;  /* too many for the tables */
        set->lo[byte & 15] |= (unsigned char)(1 << count);
        set->hi[byte >> 4] |= (unsigned char)(1 << count);
        return count + 1;
    }

    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    #include <immintrin.h>
    static int pyframe_can_scan(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    }
    __attribute__((target("avx2")))
    static Py_ssize_t pyframe_scan(const char *data, Py_ssize_t at, Py_ssize_t end,
                                   const pyframe_set *set) {
        const unsigned char *bytes = (const unsigned char *)data;
        const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)set->lo));
        const __m256i hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)set->hi));
        const __m256i nibble = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
        for (; end - at >= 32; at += 32) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(bytes + at));
            __m256i l = _mm256_shuffle_epi8(lo, _mm256_and_si256(v, nibble));
            __m256i h = _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
            unsigned int miss = (unsigned int)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(_mm256_and_si256(l, h), zero));
            if (miss != 0xffffffffu) return at + __builtin_ctz(~miss);
        }
        for (; at < end; at++)
            if (set->lo[bytes[at] & 15] & set->hi[bytes[at] >> 4]) return at;
        return end;
    }
    #else
    static int pyframe_can_scan(void) { return 0; }
    static Py_ssize_t pyframe_scan(const char *data, Py_ssize_t at, Py_ssize_t end,
                                   const pyframe_set *set) { return end; }  /* not called */
    #endif
    #define pyframe_refcount(o) Py_REFCNT(o)  /* of a borrowed pointer: no temporary ref */
    """
    char *pyframe_unsigned_bytes
    Py_ssize_t pyframe_refcount(PyObject *obj)
    ctypedef struct pyframe_set:
        pass
    int pyframe_set_add(pyframe_set *set, int count, unsigned char byte)
    bint pyframe_can_scan()
    Py_ssize_t pyframe_scan(const char *data, Py_ssize_t at, Py_ssize_t end,
                            const pyframe_set *set) noexcept nogil
    bint pyframe_enter(long *flag) nogil
    void pyframe_leave(long *flag) nogil

cdef extern from "_hugepages.h":
    bytes _fresh "pyframe_fresh_bytes"(Py_ssize_t size)
    # the same, as a pointer, for _PyBytes_Resize() (which may replace it)
    PyObject *_fresh_raw "pyframe_fresh_bytes"(Py_ssize_t size) except NULL
    bytes pyframe_bytes_from(const char *data, Py_ssize_t size)
    int pyframe_huge_off

pyframe_huge_off = _switch("PYFRAME_NO_HUGEPAGES")

cdef Py_ssize_t READ_SIZE = 65536  # room get_buffer() offers when given no size hint
cdef Py_ssize_t MIN_CAPACITY = 4096  # smallest array allocated once data arrives
cdef Py_ssize_t SHRINK_ABOVE = 4 * 1024 * 1024  # an array above this size is given back when
cdef Py_ssize_t SHRINK_RATIO = 8  # live bytes fill at most 1/SHRINK_RATIO of it
cdef Py_ssize_t PART_MIN = 4096  # a frame this big that spans reads is filled in place,
cdef Py_ssize_t PART_EAGER = 1024 * 1024  # at once up to this size, and a bigger one once
cdef Py_ssize_t PART_SHARE = 16  # 1/PART_SHARE of it has arrived
cdef bint CAN_SCAN = pyframe_can_scan()  # this CPU runs pyframe_scan (AVX2)


def _vector_scan(on=None):
    """For tests: whether framers scan for several bytes at once with AVX2. ``False``
    makes every framer made from now on (and MarkerFramer's next scan) use the portable
    loop, as on a CPU without AVX2; ``True`` gives back what this CPU runs."""
    global CAN_SCAN
    if on is not None:
        CAN_SCAN = bool(on) and pyframe_can_scan()
    return CAN_SCAN

cdef int RAISE = _rules.RAISE  # on_error: a skipped frame's fault is raised once


cdef struct _Mark:
    # What a failed call goes back to (see _Framer._undo), with the part and head objects.
    Py_ssize_t pos, filled, discard, skipped, garbage
    int discarding


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


cdef inline void _copy(void *to, const void *source, Py_ssize_t size) noexcept nogil:
    """memcpy, but nothing at all for 0 bytes: an exporter may give NULL for an empty buffer,
    and memcpy from NULL is undefined even for 0 bytes."""
    if size:
        memcpy(to, source, size)


cdef int _get_bytes(object data, Py_buffer *view) except -1:
    """The bytes of ``data`` in ``view``, asked for and refused as the twin's
    ``memoryview(data)`` asks and refuses: with one request of memoryview()'s own kind (an
    exporter may serve a simple request it will not describe, as numpy does for an array of
    datetimes, and refuse a simple one it describes, as numpy does for a strided array),
    then memoryview's checks of what it got."""
    if not PyObject_CheckBuffer(data):  # (CPython's message: the type's tp_name, cut short)
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'")
    PyObject_GetBuffer(data, view, PyBUF_FULL_RO)
    if view.ndim > 64:  # (PyBUF_MAX_NDIM)
        PyBuffer_Release(view)
        raise ValueError("memoryview: number of dimensions must not exceed 64")
    if not _c_contiguous(view):
        PyBuffer_Release(view)
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    return 0


cdef inline bint _c_contiguous(Py_buffer *view) noexcept:
    """Whether a memoryview of ``view`` is C-contiguous: never with suboffsets; in one
    dimension, its items one itemsize apart or only one of them (an empty view with other
    strides is not, as memoryview(b"")[::2] is not)."""
    if view.suboffsets != NULL:
        return False
    if view.ndim == 1 and view.strides != NULL:
        return view.strides[0] == view.itemsize or view.shape != NULL and view.shape[0] == 1
    return PyBuffer_IsContiguous(view, b'C')


cdef inline bint _viewed(bytearray buf) noexcept:
    """Whether a view of ``buf`` is alive."""
    return (<PyByteArrayObject *><PyObject *>buf).ob_exports > 0


cdef bytearray _moved(bytearray buf, Py_ssize_t start, Py_ssize_t live, Py_ssize_t capacity):
    """A new array of ``capacity`` bytes: ``buf[start:start + live]``, then zeros."""
    cdef bytearray new = bytearray()
    cdef char *data
    # Not PyByteArray_FromStringAndSize(NULL, capacity): CPython 3.11 reads an uninitialised
    # export count when that allocation fails ("deallocated bytearray object has exported
    # buffers"). Resizing an empty array fails cleanly.
    PyByteArray_Resize(new, capacity)
    data = PyByteArray_AS_STRING(new)
    _copy(data, PyByteArray_AS_STRING(buf) + start, live)
    memset(data + live, 0, capacity - live)
    return new


cdef class _Lease:
    """What a view from get_buffer() is a view of: a slice of the framer's array. It holds
    an export of the array, so the array cannot change size under the view, and it has no
    methods: ``view.obj`` gives the caller no handle on the framer's storage."""

    cdef Py_buffer _array
    cdef bint _held  # _array is an export to release
    cdef char *_start
    cdef Py_ssize_t _size

    def __getbuffer__(self, Py_buffer *view, int flags):
        if not self._held:  # made from Python, not by get_buffer(): a view of nothing
            raise BufferError("not a view of a framer's buffer: use get_buffer()")
        view.buf = self._start
        view.obj = self
        view.len = self._size
        view.readonly = 0
        view.itemsize = 1
        view.format = pyframe_unsigned_bytes if flags & PyBUF_FORMAT else NULL
        view.ndim = 1
        view.shape = &view.len if flags & PyBUF_ND else NULL
        view.strides = &view.itemsize if flags & PyBUF_STRIDES == PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        if self._held:
            PyBuffer_Release(&self._array)

    def __reduce__(self):
        raise TypeError(_NOT_PICKLED.format("view of a framer's buffer"))


cdef class _Framer:
    """Buffer handling shared by every decoder; subclasses define ``_next()``."""

    cdef bytearray _buf
    cdef Py_ssize_t _pos, _end
    cdef Py_ssize_t _lent  # size of the view lent by get_buffer(); -1 when none is out
    cdef object _view  # that view, kept to be lent again once nobody else holds it
    cdef bint _final  # set by eof() while it cuts the last frames: no more bytes
    cdef Py_ssize_t _limit
    cdef object _error
    cdef bint _ready  # __init__ ran to its end; until then every call refuses
    cdef Py_ssize_t _head_size  # encoding: the header's size (-1: _varhead() tells it)
    cdef bytes _trailer  # encoding: what follows each payload
    # encoding: whether the payload goes out unchanged between header and trailer; if
    # not, _framed() is an upper bound, _write() tells where the frame ends, and
    # encode_parts() refuses
    cdef bint _verbatim
    cdef long _busy  # a call is under way (see pyframe_enter)
    # A big frame that spans reads is filled in place: _part is its bytes object (nobody
    # else holds it until it is whole), _filled how much of it has arrived, _head the
    # header bytes before it that it does not include.
    cdef bytes _part
    cdef Py_ssize_t _filled
    cdef bytes _head
    cdef bint _tail_is_frame  # eof(last_frame=True) returns an unended tail as a frame
    cdef Py_ssize_t _part_tail  # trailer bytes after a frame filled in place (_tail_ok)
    # Recovery (on_error "raise" or "skip"): a bad frame is skipped. _discard bytes of it
    # are still to come and be dropped (length framings), or with _discarding every byte
    # up to the next delimiter is (a framing may tell several kinds of dropping apart by
    # its value); _skipped counts the frames skipped; _once says the fault in _error is
    # raised once, then decoding goes on. _garbage counts the bytes dropped between frames
    # (framings that tell frames from what lies between them: markers).
    cdef int _on_error
    cdef Py_ssize_t _discard
    cdef int _discarding
    cdef Py_ssize_t _skipped
    cdef bint _once
    cdef Py_ssize_t _garbage

    def __cinit__(self, *args, **kwargs):
        self._buf = bytearray()
        self._lent = -1
        self._head_size, self._trailer = 0, b""
        self._verbatim = True

    # __init__ in three steps: _initialising(); check and convert every argument into
    # locals (the caller's code may run there: __bool__, __index__, __eq__ ...); then
    # _settle(), set the state with no Python code in between, and _open().

    @cython.final
    cdef int _initialising(self) except -1:
        """Refuse a second __init__: settings are fixed, and changing them under a stream
        (or under another thread's call) would break it."""
        if self._ready:
            raise _errors.already_initialised(self)
        return 0

    @cython.final
    cdef int _settle(self) except -1:
        """Every argument checked: refuse once more a framer initialised meanwhile (by
        the caller's code run in the checks, or by another thread), and hold the busy
        flag until _open()."""
        self._initialising()
        if not pyframe_enter(&self._busy):
            raise _errors.busy(self)
        return 0

    @cython.final
    cdef int _open(self, Py_ssize_t limit, int on_error) except -1:
        """End of __init__: the framer is ready for a stream."""
        self._limit = limit
        self._on_error = on_error
        self._clear()
        self._ready = True
        return 0

    @cython.final
    cdef inline int _require(self) except -1:
        if not self._ready:
            raise _errors.not_initialised(self)
        return 0

    @cython.final
    cdef inline int _enter(self) except -1:
        self._require()
        if not pyframe_enter(&self._busy):
            raise _errors.busy(self)
        return 0

    @cython.final
    cdef inline void _leave(self) noexcept:
        pyframe_leave(&self._busy)

    @property
    def max_frame_size(self):
        """The limit of a frame's size; it may be changed between frames (it applies to
        every frame not returned yet)."""
        self._require()
        return _rules.public_limit(self._limit)

    @max_frame_size.setter
    def max_frame_size(self, value):
        cdef Py_ssize_t limit = _rules.limit(value)
        self._enter()
        try:
            self._limit_ok(limit)
            if self._part is not None and limit < PyBytes_GET_SIZE(self._part):  # it may be over
                self._unpart()
            self._limit = limit
        finally:
            self._leave()

    @cython.final
    cdef int _unpart(self) except -1:
        """Buffer again the frame in filling, before the rest: a frame let in under a
        higher limit is cut (or refused) under the new one, as one never filled in place
        would be. The bytes move to a new array: that ends a view lent by get_buffer()."""
        cdef bytes held = self._held()  # first: may fail
        cdef bytearray buf = bytearray(held)
        self._buf, self._view = buf, None
        self._pos, self._end, self._lent = 0, PyBytes_GET_SIZE(held), -1
        self._part, self._filled, self._head = None, 0, b""
        self._restart()
        return 0

    @cython.final
    cdef bytes _held(self):
        """A copy of every byte buffered that is not yet returned as a frame."""
        cdef Py_ssize_t head = 0, live = self._end - self._pos
        cdef bytes held
        cdef char *out
        if self._part is not None:
            head = PyBytes_GET_SIZE(self._head)
        held = _fresh(head + self._filled + live)
        out = PyBytes_AS_STRING(held)
        if self._part is not None:
            _copy(out, PyBytes_AS_STRING(self._head), head)
            _copy(out + head, PyBytes_AS_STRING(self._part), self._filled)
        _copy(out + head + self._filled, PyByteArray_AS_STRING(self._buf) + self._pos, live)
        return held

    def detach(self):
        """Take out every byte buffered that was not returned as a frame (a partial frame's
        included): the framer starts a new stream, its fault forgotten. For handing the
        rest of a stream to another framer or to raw reads (an HTTP body after its head),
        once the frames wanted are taken with next_frame() (feed() and pop_frames() cut
        every frame buffered)."""
        cdef bytes held
        self._enter()
        try:
            held = self._held()
            self._clear()
            return held
        finally:
            self._leave()

    @property
    def on_error(self):
        self._require()
        return _rules.ON_ERROR[self._on_error]

    @property
    def verbatim(self):
        """Whether encode() puts the payload unchanged between a header and a trailer,
        which encode_parts() gives (so that a large payload is sent without a copy);
        False when the framing changes the payload's bytes (COBS, SLIP, escaped
        markers): encode() then writes them, and encode_parts() refuses."""
        self._require()
        return self._verbatim

    @property
    def failed(self):
        """Whether a fault the framer cannot go past has been met: every call that cuts
        frames raises it until reset() (a skipped frame's fault, raised once with on_error
        "raise", does not fail the framer)."""
        self._require()
        return self._error is not None and not self._once

    @property
    def skipped(self):
        """Bad frames skipped so far in this stream (with on_error "raise" or "skip")."""
        self._require()
        return self._skipped

    @property
    def pending(self):
        """Bytes buffered that have not been returned as frames yet."""
        self._require()
        return self._end - self._pos + self._filled + PyBytes_GET_SIZE(self._head)

    def reset(self):
        """Forget all buffered bytes and any error: ready for a new stream."""
        self._enter()
        try:
            self._clear()
        finally:
            self._leave()

    @cython.final
    cdef int _clear(self) except -1:
        self._buf = bytearray()  # first: if that fails, nothing has changed
        self._view = None
        self._pos = self._end = 0
        self._lent = -1
        self._final = False
        self._error = None
        self._part, self._filled, self._head = None, 0, b""
        self._discard, self._discarding, self._skipped, self._once = 0, False, 0, False
        self._garbage = 0
        self._restart()
        return 0

    def __reduce__(self):
        raise TypeError(_NOT_PICKLED.format(type(self).__name__))

    @cython.final
    cdef inline int _check(self) except -1:
        cdef object error = self._error
        if error is not None:
            if self._once:  # a skipped frame's fault: raised once, then decoding goes on
                self._error, self._once = None, False
            raise error.with_traceback(None)
        return 0

    @cython.final
    cdef inline int _check_failed(self) except -1:
        """Refuse a failed framer (a skipped frame's fault is raised by the calls that cut
        frames, not by get_buffer() and buffer_updated(): an event loop ends a connection
        whose protocol raises there)."""
        if self._error is not None and not self._once:
            raise self._error.with_traceback(None)
        return 0

    # -- filling the buffer -------------------------------------------------------------

    # The methods called per read or per frame are plain methods (@cython.binding(False): no
    # function object around them, a fifth fewer instructions per get_buffer() and
    # buffer_updated() pair), their signatures in CPython's docstring form.

    @cython.binding(False)
    @cython.embedsignature(False)
    def feed(self, data):
        """feed(self, data)
--

        Append ``data`` (any bytes-like object); return every complete frame now buffered."""
        cdef Py_buffer view
        cdef list frames = []
        cdef Py_ssize_t drop
        self._enter()
        try:
            _get_bytes(data, &view)
            try:
                if self._once:  # a skipped frame's fault to raise: keep data for later
                    drop = min(self._discard, view.len)  # (but not the skipped frame's)
                    self._reserve(view.len - drop, True)
                    _copy(PyByteArray_AS_STRING(self._buf) + self._end,
                          <const char *>view.buf + drop, view.len - drop)
                    self._end += view.len - drop
                    self._discard -= drop
                    self._lent = -1
                self._check()
                self._lent = -1  # feed() ends the view lent by get_buffer()
                self._append(<const char *>view.buf, view.len, frames)
            finally:
                PyBuffer_Release(&view)
            self._consumed()
            if not frames:
                self._check()
            return frames
        finally:
            self._leave()

    @cython.final
    cdef int _append(self, const char *data, Py_ssize_t size, list frames) except -1:
        """feed()'s work: on an exception nothing is consumed and nothing appended."""
        cdef Py_ssize_t pos, end, take = 0, skip = 0, n, cut
        cdef bytes part = self._part, head = self._head
        cdef _Mark mark
        cdef char *buf
        if self._pos != self._end:  # room for all of data, as the slow path needs
            self._reserve(size, True)
        pos, end = self._pos, self._end
        self._mark(&mark)
        try:
            if pos != end:
                # A frame is pending in the buffer: append only the bytes it needs (as the
                # framing tells), until the bytes buffered before are all cut; the rest is
                # cut straight from data below. A fault or a frame still short: the rest
                # is buffered (and cut) as it comes.
                buf = PyByteArray_AS_STRING(self._buf)
                while True:
                    n = self._discard or self._wanted(data + take, size - take)
                    n = min(size - take, max(1, n))
                    _copy(buf + self._end, data + take, n)
                    self._end += n
                    take += n
                    self._cut_all(buf, frames)
                    if self._error is not None or take == size:
                        _copy(buf + self._end, data + take, size - take)  # as it came
                        self._end += size - take
                        return 0
                    if self._pos >= end:
                        break
                # What is left buffered came from data: take it back, go on from there.
                skip = self._pos - end
            # Nothing buffered (the usual case): cut the frames straight from the caller's
            # bytes and buffer only the tail, saving a copy of every byte (the twin does
            # the same, so that the array holds the same bytes in both).
            self._rebase(end)  # offsets in data from here on
            self._pos, self._end = skip, size
            self._cut_all(data, frames)
            cut = self._pos
            self._rebase(cut)
            self._pos = self._end = 0
            self._reserve(size - cut, True)
        except BaseException:
            del frames[:]
            self._pos, self._end = pos, end
            self._undo(&mark, part, head)
            raise
        _copy(PyByteArray_AS_STRING(self._buf), data + cut, size - cut)
        self._end = size - cut
        return 0

    @cython.binding(False)
    @cython.embedsignature(False)
    def get_buffer(self, sizehint=-1):
        """get_buffer(self, sizehint=-1)
--

        A writable view of at least ``sizehint`` bytes (64 KiB if <= 0) at the buffer's
        end, for one receive: valid until buffer_updated(), feed(), reset(), detach(), the
        next get_buffer() (asyncio's contract; see the module docstring for a stale view),
        or a lower max_frame_size while a big frame is filled in place."""
        cdef Py_ssize_t size
        cdef _Lease lease
        cdef char *start
        self._enter()
        try:
            self._check_failed()
            size = sizehint
            if size <= 0:
                size = READ_SIZE
            if PyByteArray_GET_SIZE(self._buf) - self._end < size:
                self._reserve(size, False)
            start = PyByteArray_AS_STRING(self._buf) + self._end
            size = PyByteArray_GET_SIZE(self._buf) - self._end
            if not self._relendable(start, size):
                lease = _Lease.__new__(_Lease)
                PyObject_GetBuffer(self._buf, &lease._array, PyBUF_WRITABLE)
                lease._held = True
                lease._start, lease._size = start, size
                self._view = PyMemoryView_FromObject(lease)
            self._lent = size
            return self._view
        finally:
            self._leave()

    @cython.final
    cdef inline bint _relendable(self, char *start, Py_ssize_t size) noexcept:
        """Whether the view lent last can be lent again for this room: it is the same room,
        and nobody holds the view, a slice of it or a buffer from it (it was not released
        either). Saves making a view per receive when the room stays the same (a buffer
        emptied by whole frames)."""
        cdef PyMemoryViewObject *view = <PyMemoryViewObject *>self._view
        if self._view is None:
            return False
        return (pyframe_refcount(<PyObject *>view) == 1 and view.mbuf.exports == 1
                and view.exports == 0
                and not view.flags & _Py_MEMORYVIEW_RELEASED
                and view.view.buf == start and view.view.len == size)

    @cython.binding(False)
    @cython.embedsignature(False)
    def buffer_updated(self, nbytes):
        """buffer_updated(self, nbytes)
--

        Commit ``nbytes`` written into the view from ``get_buffer()``."""
        cdef long long n
        cdef int overflow = 0
        self._enter()
        try:
            self._check_failed()
            if type(nbytes) is not int:
                nbytes = _index(nbytes)
            n = PyLong_AsLongLongAndOverflow(nbytes, &overflow)
            if self._lent < 0:
                raise RuntimeError("buffer_updated() called without a buffer from get_buffer()")
            if overflow or not 0 <= n <= self._lent:
                raise ValueError(f"nbytes must be between 0 and {self._lent}, got {nbytes}")
            self._lent = -1
            self._end += <Py_ssize_t>n
        finally:
            self._leave()

    @cython.final
    cdef int _reserve(self, Py_ssize_t size, bint writing) except -1:
        """Make ``size`` bytes of room after ``_end``; with ``writing``, in an array no view
        can write to (the caller writes there next). Allocates before moving any byte."""
        cdef Py_ssize_t capacity = PyByteArray_GET_SIZE(self._buf), old = capacity
        cdef Py_ssize_t live = self._end - self._pos, need
        cdef char *data
        cdef bint fits = capacity - self._end >= size, viewed
        if fits and not writing:  # the usual get_buffer(): no need to look for views
            return 0
        self._view = None  # a view kept for lending again counts once the caller holds it
        viewed = _viewed(self._buf)
        if fits and not viewed:
            return 0
        if size > PY_SSIZE_T_MAX - 1 - live:
            raise _errors.no_room(size, live)
        need = live + size
        if not viewed and need <= capacity // 2:
            data = PyByteArray_AS_STRING(self._buf)  # compact: same size, nothing to fail
            memmove(data, data + self._pos, live)
        else:
            if need > capacity:
                capacity = max(min(2 * capacity, PY_SSIZE_T_MAX - 1), need, MIN_CAPACITY)
            if viewed:  # a view still alive keeps the old array, which nobody reads
                self._buf = _moved(self._buf, self._pos, live, capacity)
            else:  # grow in place (realloc: no copy of a large buffer; so no huge-page
                # advice on the array, see src/_hugepages.h), then move
                PyByteArray_Resize(self._buf, capacity)
                data = PyByteArray_AS_STRING(self._buf)
                memset(data + old, 0, capacity - old)
                memmove(data, data + self._pos, live)
        self._rebase(self._pos)
        self._pos, self._end = 0, live
        return 0

    @cython.final
    cdef inline void _consumed(self) noexcept:
        """Called after frames were cut: an empty buffer starts again at offset 0, and a big
        array whose live bytes became few is given back (not while a view from get_buffer()
        awaits buffer_updated(): it points past _end)."""
        cdef Py_ssize_t live = self._end - self._pos
        cdef Py_ssize_t capacity = PyByteArray_GET_SIZE(self._buf)
        if self._lent >= 0:
            return
        if capacity > SHRINK_ABOVE and live <= capacity // SHRINK_RATIO:
            try:
                self._buf = _moved(self._buf, self._pos, live,
                                   max(2 * live, MIN_CAPACITY) if live else 0)
            except MemoryError:
                return  # keeping the big array is always correct
            self._view = None  # (it would keep the big array alive)
        elif live or not self._pos:
            return
        self._rebase(self._pos)
        self._pos, self._end = 0, live

    # -- taking frames out --------------------------------------------------------------

    @cython.binding(False)
    @cython.embedsignature(False)
    def next_frame(self):
        """next_frame(self)
--

        The next complete frame, or None if none is buffered."""
        cdef _Mark mark
        cdef bytes part, head, frame
        self._enter()
        try:
            self._check()
            self._mark(&mark)
            part, head = self._part, self._head
            try:
                frame = self._one(PyByteArray_AS_STRING(self._buf))
            except MemoryError:
                self._undo(&mark, part, head)
                raise
            self._consumed()
            if frame is None:
                self._check()
            return frame
        finally:
            self._leave()

    @cython.binding(False)
    @cython.embedsignature(False)
    def pop_frames(self):
        """pop_frames(self)
--

        Every complete frame buffered, as a list (frames cut before a fault are
        returned; the fault is raised by the next call)."""
        self._enter()
        try:
            return self._pop()
        finally:
            self._leave()

    @cython.final
    cdef list _pop(self):
        cdef list frames = []
        self._check()
        self._cut(PyByteArray_AS_STRING(self._buf), frames)
        self._consumed()
        if not frames:
            self._check()
        return frames

    @cython.final
    cdef int _cut(self, const char *data, list frames) except -1:
        """Cut every complete frame; if that fails (MemoryError), nothing is consumed."""
        cdef _Mark mark
        cdef bytes part = self._part, head = self._head
        self._mark(&mark)
        try:
            self._cut_all(data, frames)
        except BaseException:
            del frames[:]
            self._undo(&mark, part, head)
            raise
        return 0

    @cython.final
    cdef inline void _mark(self, _Mark *mark) noexcept:
        """Keep the state a failed call goes back to (see _undo), with _part and _head."""
        mark.pos, mark.filled, mark.discard = self._pos, self._filled, self._discard
        mark.discarding, mark.skipped, mark.garbage = self._discarding, self._skipped, self._garbage

    @cython.final
    cdef void _undo(self, _Mark *mark, bytes part, bytes head) noexcept:
        """Back to the state of ``mark``, with no fault: frames cut since then were not
        delivered (a part only ever grows, so its bytes up to the filled mark are still
        the same)."""
        self._pos, self._part, self._filled, self._head = mark.pos, part, mark.filled, head
        self._discard, self._discarding = mark.discard, mark.discarding
        self._skipped, self._error, self._once = mark.skipped, None, False
        self._garbage = mark.garbage
        self._restart()

    @cython.final
    cdef bytes _fill(self, const char *data):
        """Move the bytes of the frame in filling that ``data[_pos:_end]`` holds into it;
        return the frame once whole (else None)."""
        cdef Py_ssize_t size = PyBytes_GET_SIZE(self._part)
        cdef Py_ssize_t n = min(size - self._filled, self._end - self._pos)
        cdef bytes frame = self._part
        _copy(PyBytes_AS_STRING(frame) + self._filled, data + self._pos, n)
        self._filled += n
        self._pos += n
        if self._filled < size:
            return None
        if self._part_tail:  # the trailer after it, checked before it is returned
            if self._end - self._pos < self._part_tail or not self._tail_ok(data):
                return None
            self._pos += self._part_tail
        self._part, self._filled, self._head = None, 0, b""
        return frame

    @cython.final
    cdef int _begin_part(self, const char *data, Py_ssize_t head, Py_ssize_t start,
                         Py_ssize_t size) except -1:
        """Take the frame ``data[start:start + size]``, which has only partly arrived, as the
        frame in filling, with the header bytes ``data[head:start]``; consume the buffer."""
        cdef Py_ssize_t have = self._end - start
        cdef bytes part = _fresh(size)  # first: may fail
        cdef bytes header = pyframe_bytes_from(data + head, start - head)
        _copy(PyBytes_AS_STRING(part), data + start, have)
        self._part, self._filled, self._head = part, have, header
        self._pos = self._end
        return 0

    @cython.final
    cdef inline bint _parted(self, Py_ssize_t size, Py_ssize_t have) noexcept:
        """Whether a frame of ``size`` bytes of which ``have`` have arrived is better filled
        in place (one copy of each byte, no buffer growing to hold it). Not before a share
        of it is there: a header alone must not make the framer allocate a big frame."""
        return (size >= PART_MIN and not self._final
                and (size <= PART_EAGER or have >= size // PART_SHARE))

    def eof(self, *, last_frame=False):
        """The stream has ended: return the frames still buffered; raise
        IncompleteFrameError (with ``.partial`` and ``.expected``) if a partial frame is
        left. With ``last_frame``, a delimited stream's unended tail is returned as its last
        frame instead, byte for byte (a b"\\r" that might have begun b"\\r\\n" included); a
        frame whose header announced its size stays incomplete."""
        cdef list frames = []
        cdef _Mark mark
        cdef bytes part, head
        cdef bint tail = last_frame
        self._enter()
        try:
            self._check()
            self._mark(&mark)
            part, head = self._part, self._head
            self._final = True  # bytes that could begin a delimiter will not be followed
            try:
                self._cut(PyByteArray_AS_STRING(self._buf), frames)
            finally:
                self._final = False
                self._restart()  # scan positions settled for the end are not for more bytes
            if self._error is None:  # a frame being skipped ends with the stream
                self._discard, self._discarding = 0, False
            if self._error is None and (self._end > self._pos or self._part is not None):
                try:  # (a copy of the partial frame: if that fails, nothing was consumed)
                    if tail and self._tail_is_frame:
                        frames.append(self._held())
                        self._pos = self._end
                    else:
                        self._error = _errors.incomplete(self._held(), self._expected())
                except BaseException:
                    del frames[:]
                    self._undo(&mark, part, head)
                    raise
            self._consumed()
            if not frames:
                self._check()
            return frames
        finally:
            self._leave()

    # -- encoding: each framer sets _head_size (or -1 and defines _varhead()) and _trailer
    # in __init__, and defines _refuse() and _write_head(). Encoders read only settings: no
    # busy flag.

    @cython.binding(False)
    @cython.embedsignature(False)
    def encode(self, payload):
        """encode(self, payload)
--

        ``payload`` framed: the header, the payload, the trailer."""
        cdef Py_buffer view
        self._require()
        if type(payload) is bytes:  # the usual payload: no buffer to ask for
            return self._encoded(payload, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
        _get_bytes(payload, &view)
        try:
            return self._encoded(payload, <const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    @cython.final
    cdef bytes _encoded(self, object payload, const char *data, Py_ssize_t size):
        cdef bytes wire
        cdef PyObject *raw
        cdef char *out
        cdef Py_ssize_t used
        self._refuse(payload, data, size)
        if self._verbatim:
            wire = _fresh(self._framed(size, 0))
            self._write(PyBytes_AS_STRING(wire), data, size)
            return wire
        # A transformed payload: _framed() is an upper bound, the rest is given back
        # (a new bytes object nobody else holds may be resized).
        raw = _fresh_raw(self._framed(size, 0))
        out = PyBytes_AS_STRING(<object>raw)
        used = self._write(out, data, size) - out
        _PyBytes_Resize(&raw, used)  # on failure raw is freed
        wire = <bytes>raw
        Py_DECREF(wire)  # the reference _fresh_raw() returned
        return wire

    @cython.binding(False)
    @cython.embedsignature(False)
    def encode_parts(self, payload):
        """encode_parts(self, payload)
--

        ``(header, trailer)``: the bytes encode() puts before and after ``payload``,
        checked as encode() checks them (for sending the payload without copying it)."""
        cdef Py_buffer view
        cdef bytes header
        self._require()
        if not self._verbatim:
            raise _errors.not_verbatim(self)
        if type(payload) is bytes:  # the usual payload: no buffer to ask for
            view.len = PyBytes_GET_SIZE(payload)
            self._refuse(payload, PyBytes_AS_STRING(payload), view.len)
        else:
            _get_bytes(payload, &view)
            try:
                self._refuse(payload, <const char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        cdef tuple parts
        header = PyBytes_FromStringAndSize(NULL, self._head_len(view.len))
        self._write_head(PyBytes_AS_STRING(header), view.len)
        parts = (header, self._trailer)
        # Two bytes objects cannot make a cycle: not for the garbage collector to scan
        # (as it would untrack it itself, after scanning it once).
        PyObject_GC_UnTrack(<PyObject *>parts)
        return parts

    @cython.binding(False)
    @cython.embedsignature(False)
    def encode_many(self, payloads):
        """encode_many(self, payloads)
--

        Encode several payloads into one buffer (each payload copied once)."""
        return self._joined(payloads, PY_SSIZE_T_MAX)

    @cython.binding(False)
    def _encode_many_below(self, payloads, Py_ssize_t largest):
        """encode_many(), or None if a payload is over ``largest`` bytes (found in the
        same pass: for FramedSocket.send_many, which sends large payloads uncopied)."""
        return self._joined(payloads, largest)

    @cython.final
    cdef bytes _joined(self, payloads, Py_ssize_t largest):
        """encode_many()'s work: each payload checked and copied as it comes, as the twin
        encodes it (a generator may yield one buffer changed each time; a check may run
        the caller's code), straight into the bytes object returned when a list or tuple
        of plain bytes-like objects tells its size at once; otherwise (or if the payloads
        change meanwhile) into memory that grows, copied into the result at the end.
        None if a payload is over ``largest`` bytes."""
        cdef Py_buffer view
        cdef Py_ssize_t total = 0, capacity = 0, need
        cdef char *out
        cdef char *grown
        cdef char *spill = NULL
        cdef bytes result
        self._require()
        if type(payloads) is list or type(payloads) is tuple:
            for item in payloads:  # sizes that no code of the caller's can change
                if type(item) is bytes:
                    need = PyBytes_GET_SIZE(item)
                elif type(item) is bytearray:
                    need = PyByteArray_GET_SIZE(item)
                else:
                    continue
                if need <= largest:
                    capacity = self._framed(need, capacity)
        result = _fresh(capacity)
        out = PyBytes_AS_STRING(result)
        try:
            for item in payloads:
                _get_bytes(item, &view)
                try:
                    if view.len > largest:
                        return None
                    self._refuse(item, <const char *>view.buf, view.len)
                    need = self._framed(view.len, total)
                    if need > capacity:  # on into memory that grows (doubling)
                        capacity = need + min(capacity, PY_SSIZE_T_MAX - need)
                        grown = <char *>PyMem_Realloc(spill, capacity)
                        if grown == NULL:
                            raise MemoryError()
                        if spill == NULL:
                            _copy(grown, out, total)
                            result = None
                        spill = out = grown
                    total = self._write(out + total, <const char *>view.buf, view.len) - out
                finally:
                    PyBuffer_Release(&view)
            if spill != NULL or total != capacity:
                return pyframe_bytes_from(out, total)
            return result
        finally:
            PyMem_Free(spill)

    @cython.final
    cdef Py_ssize_t _framed(self, Py_ssize_t size, Py_ssize_t before) except -1:
        """``before`` plus the size of ``size`` bytes framed, if that fits a Py_ssize_t."""
        cdef Py_ssize_t extra = self._head_len(size) + PyBytes_GET_SIZE(self._trailer)
        if not self._verbatim:
            size = self._bound(size)
        if size > PY_SSIZE_T_MAX - extra - before:
            raise MemoryError()
        return before + extra + size

    @cython.final
    cdef char *_write(self, char *out, const char *payload, Py_ssize_t size) noexcept:
        """Write ``payload`` framed at ``out``; return where it ends."""
        self._write_head(out, size)
        out += self._head_len(size)
        if not self._verbatim:
            out = self._transform(out, payload, size)
        else:
            _copy(out, payload, size)
            out += size
        _copy(out, PyBytes_AS_STRING(self._trailer), PyBytes_GET_SIZE(self._trailer))
        return out + PyBytes_GET_SIZE(self._trailer)

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        """Raise (as the twin's checks do) if ``payload`` would not decode back."""
        return 0

    cdef Py_ssize_t _bound(self, Py_ssize_t size) except -1:
        """A transforming framing: the most bytes ``size`` payload bytes become (raise
        MemoryError if that does not fit a Py_ssize_t)."""
        return size

    cdef char *_transform(self, char *out, const char *payload, Py_ssize_t size) noexcept:
        """A transforming framing: write the ``size`` bytes at ``payload`` encoded at
        ``out`` (at most ``_bound(size)`` bytes); return where they end."""
        return out

    cdef bytes _frame(self, const char *data, Py_ssize_t start, Py_ssize_t stop):
        """The frame whose wire bytes _next() found at ``data[start:stop]``: those bytes,
        or (a transforming framing) the payload they encode."""
        return pyframe_bytes_from(data + start, stop - start)

    @cython.final
    cdef inline Py_ssize_t _head_len(self, Py_ssize_t size) noexcept:
        """The size of the header of a payload of ``size`` bytes."""
        return self._head_size if self._head_size >= 0 else self._varhead(size)

    cdef Py_ssize_t _varhead(self, Py_ssize_t size) noexcept:
        """The size of a header that depends on the payload's size (``_head_size`` -1)."""
        return 0

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        """Write the header of a payload of ``size`` bytes (``_head_len(size)`` bytes)
        at ``out``."""

    cdef int _cut_all(self, const char *data, list frames) except -1:
        """Append every complete frame in ``data[_pos:_end]`` to ``frames``."""
        cdef Py_ssize_t start, stop
        cdef bytes frame
        while True:
            if not self._discard and self._part is None:  # the usual loop, tight
                while self._next(data, &start, &stop):
                    frames.append(pyframe_bytes_from(data + start, stop - start))
            frame = self._one(data)  # the rest: a frame filled in place, a skipped one
            if frame is None:
                return 0
            frames.append(frame)

    @cython.final
    cdef bytes _one(self, const char *data):
        """Cut the next complete frame in ``data[_pos:_end]``, or None (at a fault too).
        With recovery, a bad frame is skipped: "skip" goes on to the next frame, "raise"
        stops there, its fault to be raised once."""
        cdef Py_ssize_t start, stop, n
        if self._discard:  # the rest of a skipped frame
            n = min(self._discard, self._end - self._pos)
            self._pos += n
            self._discard -= n
        if self._part is not None:
            return self._fill(data)
        while True:
            if self._next(data, &start, &stop):
                return self._frame(data, start, stop)
            if self._error is None or not self._on_error or not self._skip(data):
                return None
            self._skipped += 1
            if self._on_error == RAISE:
                self._once = True
                return None
            self._error = None

    @cython.final
    cdef inline bint _skip_bytes(self, uint64_t total) noexcept:
        """Skip the frame at ``_pos``, ``total`` bytes long, now or as its bytes come."""
        cdef Py_ssize_t n
        if total > <uint64_t>PY_SSIZE_T_MAX:
            return False
        n = min(<Py_ssize_t>total, self._end - self._pos)
        self._pos += n
        self._discard = <Py_ssize_t>total - n
        return True

    @cython.final
    cdef Py_ssize_t _expected(self) noexcept:
        """The size of the frame pending (header and trailer included) as its header
        tells it, or -1."""
        if self._part is not None:
            return (PyBytes_GET_SIZE(self._head) + PyBytes_GET_SIZE(self._part)
                    + self._part_tail)
        return self._announced(PyByteArray_AS_STRING(self._buf))

    # -- hooks of the framing rules -----------------------------------------------------

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        """The size of the frame at ``data[_pos]`` (header and trailer included), if its
        header is buffered and tells it (and it fits a Py_ssize_t); else -1."""
        return -1

    cdef bint _skip(self, const char *data) noexcept:
        """Skip the bad frame at ``data[_pos]`` (the fault _next() set), now or as its
        bytes come; False if the framing cannot tell where it ends."""
        return False

    cdef int _limit_ok(self, Py_ssize_t limit) except -1:
        """Refuse a new max_frame_size that the settings rule out."""
        return 0

    cdef int _tail_ok(self, const char *data) except -1:
        """Whether the trailer at ``data[_pos]``, after a frame filled in place, is right;
        if not, set ``_error``."""
        return 1

    cdef void _restart(self) noexcept:
        """Reset per-stream scan state."""

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        """The live bytes moved ``shift`` bytes towards the front."""

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        """How many of the ``size`` bytes at ``data``, about to follow the buffered ones,
        to append so that the frame pending there can be cut (too few or too many is only
        slower). By default all of them."""
        return size

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        """Cut the next frame from ``data[_pos:_end]``: advance ``_pos`` past it and set the
        span of the bytes to return; 0 when no whole frame is there (setting ``_error`` on
        a fault). ``data`` is the bytearray's storage, or the caller's bytes in feed()."""
        return 0


# Each framer's docstring opens with its signature in the form CPython reads as the class's
# __text_signature__ (``Name(...)`` then a ``--`` line), so inspect.signature(), help() and
# mypy.stubtest see it. Cython's own embedded signature is off for these __init__ methods:
# it puts the ``*`` of keyword-only arguments one parameter late.
cdef class LengthPrefixFramer(_Framer):
    """LengthPrefixFramer(length_size=4, byteorder='big', *, offset=0, adjustment=0,
    include_header=False, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Frames preceded by an unsigned binary length field of 1 to 8 bytes.

    ``offset`` bytes come before the field; ``adjustment`` is added to the field's value to
    give the number of bytes that follow the field; ``include_header`` keeps the offset bytes
    and the field in returned frames. ``max_frame_size`` limits those following bytes.
    """

    cdef int _length_size
    cdef str _byteorder
    cdef Py_ssize_t _offset
    cdef int64_t _adjustment
    cdef bint _include_header
    cdef bint _big
    cdef uint64_t _field_max
    cdef Py_ssize_t _header

    @cython.embedsignature(False)
    def __init__(self, length_size=4, byteorder="big", *, offset=0, adjustment=0,
                 include_header=False, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        cdef int size
        cdef Py_ssize_t off
        cdef int64_t adjust
        cdef bint big, keep_header
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        size, off, adjust, field_max = _rules.length_prefix(length_size, byteorder, offset,
                                                            adjustment)
        big, keep_header = byteorder == "big", include_header
        self._settle()
        try:
            self._field_max = field_max
            self._length_size = size
            self._byteorder = "big" if big else "little"
            self._big = big
            self._offset = off
            self._adjustment = adjust
            self._include_header = keep_header
            self._header = self._head_size = off + size
            self._open(limit, recover)
        finally:
            self._leave()

    @property
    def length_size(self):
        self._require()
        return self._length_size

    @property
    def byteorder(self):
        self._require()
        return self._byteorder

    @property
    def offset(self):
        self._require()
        return self._offset

    @property
    def adjustment(self):
        self._require()
        return self._adjustment

    @property
    def include_header(self):
        self._require()
        return self._include_header

    @cython.final
    cdef inline uint64_t _field(self, const char *header) noexcept:
        """The value of the length field in the header at ``header``."""
        cdef const unsigned char *field = <const unsigned char *>header + self._offset
        cdef uint64_t value = 0
        cdef int i
        if self._length_size == 4 and self._big:  # the usual header, unrolled
            return ((<uint64_t>field[0] << 24) | (<uint64_t>field[1] << 16)
                    | (<uint64_t>field[2] << 8) | field[3])
        if self._big:
            for i in range(self._length_size):
                value = (value << 8) | field[i]
        else:
            for i in range(self._length_size - 1, -1, -1):
                value = (value << 8) | field[i]
        return value

    @cython.final
    cdef inline Py_ssize_t _length(self, const char *header) noexcept:
        """The number of bytes after the field that the header at ``header`` announces, or
        -1 if that is negative or over the limit (a fault: _next() tells which)."""
        cdef uint64_t value = self._field(header)
        if not _length_ok(value, self._adjustment, self._limit):
            return -1
        # 0 <= value + adjustment <= limit: unsigned wrap-around gives the exact sum
        return <Py_ssize_t>(value + <uint64_t>self._adjustment)

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t pos = self._pos, length, first
        if self._end - pos < self._header:
            return 0
        length = self._length(data + pos)
        if length < 0:
            self._error = _errors.length_error(self._field(data + pos), self._adjustment,
                                               self._limit)
            return 0
        first = pos if self._include_header else pos + self._header
        if length > self._end - pos - self._header:
            # (a length near 2**63 cannot be filled in place: its size would overflow)
            if length <= PY_SSIZE_T_MAX - self._header and self._parted(
                    pos + self._header + length - first, self._end - first):
                self._begin_part(data, pos, first, pos + self._header + length - first)
            return 0
        start[0] = first
        stop[0] = self._pos = pos + self._header + length
        return 1

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # Fast path: the loop of _next() over whole frames, inline; _next() then settles
        # the tail (a frame to fill in place, or a fault) as the twin does.
        cdef Py_ssize_t pos, end = self._end, header = self._header, length
        cdef Py_ssize_t skip = 0 if self._include_header else header
        if self._part is not None or self._discard:
            return _Framer._cut_all(self, data, frames)
        pos = self._pos
        while end - pos >= header:
            length = self._length(data + pos)
            if length < 0 or length > end - pos - header:
                break
            frames.append(pyframe_bytes_from(data + pos + skip, header + length - skip))
            pos += header + length
            self._pos = pos
        return _Framer._cut_all(self, data, frames)

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        cdef Py_ssize_t live = self._end - self._pos, length
        if live < self._header:
            return min(size, self._header - live)
        length = self._length(PyByteArray_AS_STRING(self._buf) + self._pos)
        if length < 0 or length > PY_SSIZE_T_MAX - self._header:  # (a fault; an overflow)
            return size
        return min(size, self._header + length - live)

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        cdef Py_ssize_t length
        if self._end - self._pos < self._header:
            return -1
        length = self._length(data + self._pos)
        return self._header + length if 0 <= length <= PY_SSIZE_T_MAX - self._header else -1

    cdef bint _skip(self, const char *data) noexcept:
        cdef uint64_t length, value = self._field(data + self._pos)
        if self._adjustment < 0:
            if value < <uint64_t>(-self._adjustment):
                return False  # a negative length: only a length too large is skipped
            length = value - <uint64_t>(-self._adjustment)
        elif value > <uint64_t>PY_SSIZE_T_MAX:
            return False
        else:
            length = value + <uint64_t>self._adjustment
        if length > <uint64_t>(PY_SSIZE_T_MAX - self._header):
            return False
        return self._skip_bytes(length + <uint64_t>self._header)

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        # the shared check (and its errors) only when the quick one fails
        if not (size <= self._limit and size < (1LL << 62) and self._adjustment <= size
                and <uint64_t>(size - self._adjustment) <= self._field_max):
            _rules.check_field(size, size - self._adjustment, self._field_max, self._limit)
        return 0

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        """Offset bytes (zeros), then the length field."""
        cdef unsigned char *field = <unsigned char *>out + self._offset
        cdef uint64_t value = <uint64_t>(size - self._adjustment)
        cdef int i
        if self._length_size == 4 and self._big and not self._offset:  # the usual header
            field[0], field[1] = <unsigned char>(value >> 24), <unsigned char>(value >> 16)
            field[2], field[3] = <unsigned char>(value >> 8), <unsigned char>value
            return
        memset(out, 0, self._offset)
        for i in range(self._length_size):
            if self._big:
                field[self._length_size - 1 - i] = <unsigned char>(value & 0xFF)
            else:
                field[i] = <unsigned char>(value & 0xFF)
            value >>= 8


cdef class DecimalLengthFramer(_Framer):
    """DecimalLengthFramer(digits=4, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Frames preceded by their length as ``digits`` zero-padded ASCII digits: ``0003AAA``."""

    cdef Py_ssize_t _digits
    cdef Py_ssize_t _field_max

    @cython.embedsignature(False)
    def __init__(self, digits=4, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        cdef Py_ssize_t count, field_max
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        digits = _rules.decimal_digits(digits)
        count, field_max = digits, 10**digits - 1
        self._settle()
        try:
            self._digits = self._head_size = count
            self._field_max = field_max
            self._open(limit, recover)
        finally:
            self._leave()

    @property
    def digits(self):
        self._require()
        return self._digits

    @cython.final
    cdef inline Py_ssize_t _length(self, const char *header) noexcept:
        """The number the header's digits make (at most 10**18 - 1), or -1 if one is not a
        digit."""
        cdef const unsigned char *digit = <const unsigned char *>header
        cdef Py_ssize_t length = 0, i
        for i in range(self._digits):
            if not (48 <= digit[i] <= 57):  # b"0" .. b"9"
                return -1
            length = length * 10 + (digit[i] - 48)
        return length

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t body = self._pos + self._digits, length
        if self._end < body:
            return 0
        length = self._length(data + self._pos)
        if length < 0:
            self._error = _errors.bad_decimal_header(data[self._pos:body])
            return 0
        if length > self._limit:
            self._error = _errors.too_large(length, self._limit)
            return 0
        if length > self._end - body:
            if self._parted(length, self._end - body):
                self._begin_part(data, self._pos, body, length)
            return 0
        start[0] = body
        stop[0] = self._pos = body + length
        return 1

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        cdef Py_ssize_t live = self._end - self._pos, length
        if live < self._digits:
            return min(size, self._digits - live)
        length = self._length(PyByteArray_AS_STRING(self._buf) + self._pos)
        if length < 0 or length > self._limit:
            return size  # a fault: _next() tells
        return min(size, self._digits + length - live)

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        cdef Py_ssize_t length
        if self._end - self._pos < self._digits:
            return -1
        length = self._length(data + self._pos)
        return self._digits + length if length >= 0 else -1

    cdef bint _skip(self, const char *data) noexcept:
        cdef Py_ssize_t length = self._length(data + self._pos)
        return length >= 0 and self._skip_bytes(<uint64_t>(self._digits + length))

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        if not (size <= self._limit and size <= self._field_max):
            _rules.check_field(size, size, self._field_max, self._limit)
        return 0

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        """The size in ASCII digits, zero-padded."""
        cdef Py_ssize_t i
        for i in range(self._digits - 1, -1, -1):
            out[i] = <char>(48 + size % 10)  # 48: b"0"
            size //= 10


cdef class NetstringFramer(_Framer):
    """NetstringFramer(*, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Netstrings (D. J. Bernstein): the length in ASCII decimal, ``:``, the bytes, ``,``,
    as in ``3:abc,`` (``0:,`` is empty). A length with a leading zero, a non-digit or a
    missing comma is malformed; a length over ``max_frame_size`` is refused as soon as its
    digits make it so, before more is read."""

    @cython.embedsignature(False)
    def __init__(self, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        try:
            self._head_size, self._trailer = -1, b","
            self._part_tail = 1  # the comma after a frame filled in place
            self._open(limit, recover)
        finally:
            self._leave()

    @cython.final
    cdef inline Py_ssize_t _header(self, const char *data, Py_ssize_t at,
                                   Py_ssize_t *length) noexcept:
        """The size of the header at ``data[at]`` with its ``:``, setting ``length``; 0 if it
        is not whole yet; -1 if its byte ``length`` is wrong (a non-digit, a leading zero,
        or a digit that makes it too long)."""
        cdef const unsigned char *text = <const unsigned char *>data + at
        cdef Py_ssize_t n = self._end - at, i, digit
        cdef Py_ssize_t value
        if n == 0:
            return 0
        value = <Py_ssize_t>text[0] - 48  # b"0"
        if not 0 <= value <= 9 or value > self._limit:
            length[0] = 0
            return -1
        for i in range(1, n):
            digit = <Py_ssize_t>text[i] - 48
            if digit == 10:  # b":"
                length[0] = value
                return i + 1
            # (value * 10 + digit > limit, without overflowing)
            if not 0 <= digit <= 9 or text[0] == 48 or value > (self._limit - digit) // 10:
                length[0] = i
                return -1
            value = value * 10 + digit
        return 0

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t pos = self._pos, length = 0, body
        cdef Py_ssize_t size = self._header(data, pos, &length)
        if size < 0:
            self._error = _errors.netstring_error(data[pos:pos + length + 1], self._limit)
            return 0
        body = pos + size
        if size == 0:
            return 0
        if self._end - body <= length:
            if self._parted(length, self._end - body):
                self._begin_part(data, pos, body, length)
            return 0
        if data[body + length] != 44:  # b","
            self._error = _errors.netstring_comma(length, data[body + length:body + length + 1])
            return 0
        start[0] = body
        stop[0] = body + length
        self._pos = body + length + 1
        return 1

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        cdef Py_ssize_t length = 0, head
        cdef const char *colon
        head = self._header(PyByteArray_AS_STRING(self._buf), self._pos, &length)
        if head > 0:
            if length >= size:  # (and no overflow below)
                return size
            return min(size, head + length + 1 - (self._end - self._pos))
        if head < 0:
            return size  # a fault: _next() tells
        colon = <const char *>memchr(data, 58, min(size, 24))  # at most 19 digits, b":"
        return colon - data + 1 if colon != NULL else min(size, 24)

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        cdef Py_ssize_t length = 0, size = self._header(data, self._pos, &length)
        return size + length + 1 if 0 < size and length <= PY_SSIZE_T_MAX - 1 - size else -1

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        return 0

    cdef int _tail_ok(self, const char *data) except -1:
        if data[self._pos] == 44:  # b","
            return 1
        self._error = _errors.netstring_comma(PyBytes_GET_SIZE(self._part),
                                              data[self._pos:self._pos + 1])
        return 0

    cdef Py_ssize_t _varhead(self, Py_ssize_t size) noexcept:
        cdef Py_ssize_t digits = 1
        while size >= 10:
            size //= 10
            digits += 1
        return digits + 1

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        """The size in ASCII digits, then b":"."""
        cdef Py_ssize_t i = self._varhead(size) - 1
        out[i] = 58  # b":"
        while i:
            i -= 1
            out[i] = <char>(48 + size % 10)
            size //= 10


cdef class VarintFramer(_Framer):
    """VarintFramer(*, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Frames preceded by their length as a base-128 varint, as protobuf's delimited
    streams (``writeDelimitedTo``): 7 bits per byte, least significant first, the high bit
    set on every byte but the last. A varint longer than 10 bytes or over 64 bits is
    malformed; a length over ``max_frame_size`` is refused before its bytes are read."""

    @cython.embedsignature(False)
    def __init__(self, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        try:
            self._head_size = -1
            self._open(limit, recover)
        finally:
            self._leave()

    @cython.final
    cdef inline Py_ssize_t _varint(self, const char *data, Py_ssize_t at, Py_ssize_t end,
                                   uint64_t *value) noexcept:
        """The size of the varint at ``data[at]``, setting ``value``; 0 if it is not whole
        yet; -1 if it is longer than 10 bytes or over 64 bits."""
        cdef const unsigned char *field = <const unsigned char *>data + at
        cdef Py_ssize_t n = min(10, end - at), i
        value[0] = 0
        for i in range(n):
            value[0] |= <uint64_t>(field[i] & 0x7F) << (7 * i)
            if field[i] < 0x80:
                # the 10th byte holds bit 63 only: more is over 64 bits
                return -1 if i == 9 and field[i] > 1 else i + 1
        return -1 if end - at >= 10 else 0

    @cython.final
    cdef inline Py_ssize_t _header(self, const char *data, Py_ssize_t at,
                                   Py_ssize_t end, Py_ssize_t *length) noexcept:
        """The size of the varint at ``data[at]``, setting ``length``, as _varint(); -1
        for a length over the limit too."""
        cdef const unsigned char *field = <const unsigned char *>data + at
        cdef uint64_t value
        cdef Py_ssize_t size
        if end > at and field[0] < 0x80:  # a frame under 128 bytes
            length[0] = field[0]
            return 1 if field[0] <= <uint64_t>self._limit else -1
        size = self._varint(data, at, end, &value)
        if size > 0 and value > <uint64_t>self._limit:
            return -1
        length[0] = <Py_ssize_t>value
        return size

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t pos = self._pos, length = 0, body
        cdef Py_ssize_t size = self._header(data, pos, self._end, &length)
        if size < 0:
            self._error = _errors.varint_error(data[pos:min(pos + 10, self._end)], self._limit)
            return 0
        if size == 0:
            return 0
        body = pos + size
        if length > self._end - body:
            if self._parted(length, self._end - body):
                self._begin_part(data, pos, body, length)
            return 0
        start[0] = body
        stop[0] = self._pos = body + length
        return 1

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # Fast path: the loop of _next() over whole frames, inline; _next() then settles
        # the tail (a frame to fill in place, or a fault) as the twin does.
        cdef Py_ssize_t pos, end = self._end, size, length = 0
        if self._part is not None or self._discard:
            return _Framer._cut_all(self, data, frames)
        pos = self._pos
        while True:
            size = self._header(data, pos, end, &length)
            if size <= 0 or length > end - pos - size:
                break
            frames.append(pyframe_bytes_from(data + pos + size, length))
            pos += size + length
            self._pos = pos
        return _Framer._cut_all(self, data, frames)

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        cdef Py_ssize_t length = 0
        cdef Py_ssize_t head = self._header(PyByteArray_AS_STRING(self._buf), self._pos,
                                            self._end, &length)
        if head > 0:
            if length >= size:  # (and no overflow below)
                return size
            return min(size, head + length - (self._end - self._pos))
        return 1 if head == 0 else size  # the varint's next byte; a fault: _next() tells

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        cdef Py_ssize_t length = 0, size = self._header(data, self._pos, self._end, &length)
        return size + length if 0 < size and length <= PY_SSIZE_T_MAX - size else -1

    cdef bint _skip(self, const char *data) noexcept:
        cdef uint64_t value
        cdef Py_ssize_t size = self._varint(data, self._pos, self._end, &value)
        # too large: skipped (if its size fits); malformed: not
        if size <= 0 or value > <uint64_t>(PY_SSIZE_T_MAX - size):
            return False
        return self._skip_bytes(value + <uint64_t>size)

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        return 0

    cdef Py_ssize_t _varhead(self, Py_ssize_t size) noexcept:
        cdef Py_ssize_t n = 1
        while size >= 0x80:
            size >>= 7
            n += 1
        return n

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        """7 bits per byte, least significant first, the high bit on all but the last."""
        cdef unsigned char *field = <unsigned char *>out
        while size >= 0x80:
            field[0] = <unsigned char>((size & 0x7F) | 0x80)
            field += 1
            size >>= 7
        field[0] = <unsigned char>size


cdef class FixedLengthFramer(_Framer):
    """FixedLengthFramer(size, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Frames of exactly ``size`` bytes each, one after the other with nothing between them
    (records of devices and legacy systems)."""

    cdef Py_ssize_t _size

    @cython.embedsignature(False)
    def __init__(self, size, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        cdef Py_ssize_t frame
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        frame = _rules.fixed_size(size, limit)
        self._settle()
        try:
            self._size = frame
            self._open(limit, recover)
        finally:
            self._leave()

    @property
    def size(self):
        self._require()
        return self._size

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t pos = self._pos
        if self._end - pos < self._size:
            if self._end > pos and self._parted(self._size, self._end - pos):
                self._begin_part(data, pos, pos, self._size)
            return 0
        start[0] = pos
        stop[0] = self._pos = pos + self._size
        return 1

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # Fast path: the loop of _next() over whole frames, inline.
        cdef Py_ssize_t pos, end = self._end, size = self._size
        if self._part is not None or self._discard:
            return _Framer._cut_all(self, data, frames)
        pos = self._pos
        while end - pos >= size:
            frames.append(pyframe_bytes_from(data + pos, size))
            pos += size
            self._pos = pos
        return _Framer._cut_all(self, data, frames)

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        return min(size, self._size - (self._end - self._pos))

    cdef Py_ssize_t _announced(self, const char *data) noexcept:
        return self._size

    cdef int _limit_ok(self, Py_ssize_t limit) except -1:
        _rules.fixed_size(self._size, limit)
        return 0

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        if size != self._size:
            _rules.check_fixed(size, self._size)
        return 0


cdef class DelimiterFramer(_Framer):
    """DelimiterFramer(delimiter=b'\\n', *, keep_delimiter=False,
    max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Frames ended by a delimiter, or by the earliest of several (the longest on a tie).

    Each delimiter keeps how far it has been searched, so no byte is searched twice for it.
    """

    cdef tuple _delimiters
    cdef bint _keep_delimiter
    cdef Py_ssize_t _count
    cdef const char **_delim  # the delimiters' bytes (kept alive by the tuple) and sizes
    cdef Py_ssize_t *_size
    # For delimiter i, no match starts before _seen[i]; _hit[i] says whether one
    # starts exactly there (otherwise the delimiter may begin there once more bytes
    # arrive, or _seen[i] == _end).
    cdef Py_ssize_t *_seen
    cdef bint *_hit
    cdef Py_ssize_t *_found  # room for _cut_several()
    cdef Py_ssize_t _longest  # the longest delimiter's size
    cdef Py_ssize_t _newline  # lines: which delimiter is b"\n" (the other is b"\r\n"); else -1
    cdef pyframe_set _firsts  # the delimiters' first bytes, when _scan (see _cut_scanned)
    cdef bint _scan

    @cython.embedsignature(False)
    def __init__(self, delimiter=b"\n", *, keep_delimiter=False,
                 max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        cdef Py_ssize_t count, i
        cdef int firsts
        cdef bint keep
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        delimiters = _rules.delimiters(delimiter)  # a tuple of exact bytes
        keep = keep_delimiter
        count = len(delimiters)
        self._settle()
        try:
            self._free()  # what an __init__ that failed may have left
            self._delim = <const char **>PyMem_Malloc(count * sizeof(char *))
            self._size = <Py_ssize_t *>PyMem_Malloc(count * sizeof(Py_ssize_t))
            self._seen = <Py_ssize_t *>PyMem_Malloc(count * sizeof(Py_ssize_t))
            self._hit = <bint *>PyMem_Malloc(count * sizeof(bint))
            self._found = <Py_ssize_t *>PyMem_Malloc(count * sizeof(Py_ssize_t))
            if not (self._delim and self._size and self._seen and self._hit and self._found):
                raise MemoryError()  # __dealloc__ frees what was allocated
            self._longest, self._newline = 0, -1
            for i in range(count):
                self._delim[i] = PyBytes_AS_STRING(delimiters[i])
                self._size[i] = PyBytes_GET_SIZE(delimiters[i])
                self._longest = max(self._longest, self._size[i])
            if sorted(delimiters) == [b"\n", b"\r\n"]:
                self._newline = delimiters.index(b"\n")
            memset(&self._firsts, 0, sizeof(pyframe_set))
            firsts = 0
            for i in range(count):
                firsts = pyframe_set_add(&self._firsts, firsts, <unsigned char>self._delim[i][0])
            self._scan = CAN_SCAN and count > 1 and firsts <= 8
            self._delimiters = delimiters
            self._trailer = delimiters[0]
            self._keep_delimiter = keep
            self._tail_is_frame = True
            self._count = count
            self._open(limit, recover)
        finally:
            self._leave()

    def __dealloc__(self):
        self._free()

    cdef void _free(self) noexcept:
        PyMem_Free(self._delim)
        PyMem_Free(self._size)
        PyMem_Free(self._seen)
        PyMem_Free(self._hit)
        PyMem_Free(self._found)
        self._delim, self._size, self._seen, self._hit, self._found = NULL, NULL, NULL, NULL, NULL

    @property
    def delimiters(self):
        self._require()
        return self._delimiters

    @property
    def keep_delimiter(self):
        self._require()
        return self._keep_delimiter

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
        # Fast paths, for one delimiter and for lines: cut the frames in one tight loop
        # (one delimiter: its matches end the frames, no tie to break; lines: the first
        # b"\n" ends the frame, and a b"\r" just before it is the start of the match).
        # The general _next() then settles the tail (and any fault) as the twin does.
        #
        # The scan positions kept from earlier calls are trusted as the twin trusts them,
        # even where a stale view changed bytes since (README): a match found then is
        # taken by _next() first; no match is looked for before a delimiter's position.
        cdef Py_ssize_t begin, at, stop, i, start, cr_from, stale = -1
        cdef Py_ssize_t size = self._size[0], keep = self._keep_delimiter
        if self._discarding:  # the rest of a skipped frame: _next() drops it
            return _Framer._cut_all(self, data, frames)
        for i in range(self._count):
            if self._hit[i] and self._seen[i] >= self._pos:
                stale = max(stale, self._seen[i])
        while self._pos <= stale:
            if not self._next(data, &start, &stop):  # (a fault: the general loop skips it)
                return _Framer._cut_all(self, data, frames)
            frames.append(pyframe_bytes_from(data + start, stop - start))
        begin = self._pos
        if self._count == 1:
            at = max(self._seen[0], begin)
            while True:
                at = _find(data, at, self._end, self._delim[0], size)
                if at < 0 or at - begin > self._limit:
                    break
                frames.append(pyframe_bytes_from(data + begin, at - begin + keep * size))
                begin = at = at + size
            self._pos = begin
            if at < 0:  # searched to the end: resume at the tail, never rescan
                self._seen[0] = max(begin, self._end - size + 1)
                self._hit[0] = False
        elif self._newline >= 0:
            i = self._newline
            at = max(self._seen[i], begin)
            cr_from = max(self._seen[1 - i], begin)  # no b"\r\n" is looked for before
            while True:
                at = _find(data, at, self._end, b"\n", 1)
                if at < 0:
                    break
                # 13: b"\r"
                stop = at - 1 if at - 1 >= max(begin, cr_from) and data[at - 1] == 13 else at
                if stop - begin > self._limit:
                    break
                frames.append(pyframe_bytes_from(data + begin,
                                                        (at + 1 if keep else stop) - begin))
                begin = at = at + 1
            self._pos = begin
            if at < 0:  # no b"\n" in data[begin:_end], so no b"\r\n" before its last byte
                self._seen[i], self._hit[i] = self._end, False
                self._seen[1 - i], self._hit[1 - i] = max(begin, self._end - 1), False
        elif self._scan:
            self._cut_scanned(data, frames)
        else:
            self._cut_several(data, frames)
        return _Framer._cut_all(self, data, frames)

    @cython.final
    cdef int _cut_scanned(self, const char *data, list frames) except -1:
        """_next()'s loop for several delimiters with few first bytes, in one pass: the next
        byte that may begin a delimiter is found for all of them at once (pyframe_scan),
        and the delimiters that begin with it are compared there. The loop stops where it
        cannot decide (a longer delimiter cut off by the end) or at a fault, and leaves
        every delimiter's scan position there for _next() to settle, as the twin does."""
        cdef Py_ssize_t begin = self._pos, end = self._end, at = begin, i, size, best
        cdef Py_ssize_t *since = self._found  # no match of delimiter i before since[i]
        cdef bint undecided = False
        for i in range(self._count):
            since[i] = self._seen[i]
        while True:
            at = pyframe_scan(data, at, end, &self._firsts)
            if at >= end:
                break
            best = -1
            for i in range(self._count):
                size = self._size[i]
                if self._delim[i][0] != data[at] or at < since[i]:
                    continue
                if size > end - at:  # a longer delimiter may still match here
                    if memcmp(data + at, self._delim[i], end - at) == 0:
                        undecided = True
                elif memcmp(data + at, self._delim[i], size) == 0 and (
                        best < 0 or size > self._size[best]):
                    best = i
            if undecided:
                break
            if best < 0:
                at += 1
                continue
            if at - begin > self._limit:
                at = begin  # _next() finds the match again, and raises
                break
            frames.append(pyframe_bytes_from(
                data + begin, at - begin + (self._size[best] if self._keep_delimiter else 0)))
            begin = self._pos = at = at + self._size[best]
        for i in range(self._count):  # no delimiter begins in data[begin:at]
            self._seen[i], self._hit[i] = at, False
        return 0

    @cython.final
    cdef int _cut_several(self, const char *data, list frames) except -1:
        """_next()'s loop for several delimiters, tight. Each delimiter's next match is
        searched once and kept until a frame passes it. A delimiter with no match left
        is set at the first tail position where it may begin, and only the earliest of
        those takes part after that; the loop stops at the tail (_next() settles it, and
        any fault)."""
        cdef Py_ssize_t begin = self._pos, end = self._end, i, k, best, at, size
        cdef Py_ssize_t found = 0, tail = -1  # _found[:found]: delimiters with a match
        for i in range(self._count):
            size = self._size[i]
            if self._seen[i] < begin:
                self._seen[i], self._hit[i] = begin, False
            if not self._hit[i] and self._seen[i] <= end - size:
                at = _find(data, self._seen[i], end, self._delim[i], size)
                if at >= 0:
                    self._seen[i], self._hit[i] = at, True
                else:
                    self._seen[i] = end - size + 1
            if self._hit[i]:
                self._found[found] = i
                found += 1
            elif tail < 0 or self._seen[i] < self._seen[tail] or (
                    self._seen[i] == self._seen[tail] and size > self._size[tail]):
                tail = i
        while True:
            best = tail
            if tail >= 0 and self._seen[tail] < begin:
                break
            k = 0
            while k < found:
                i = self._found[k]
                size = self._size[i]
                if self._seen[i] < begin:  # passed by the last frame: the next match
                    at = _find(data, begin, end, self._delim[i], size)
                    if at < 0:  # none left: out of the loop
                        self._seen[i], self._hit[i] = max(begin, end - size + 1), False
                        found -= 1
                        self._found[k] = self._found[found]
                        best = -1  # the tail candidate changed: settle it in _next()
                        break
                    self._seen[i] = at
                if best < 0 or self._seen[i] < self._seen[best] or (
                        self._seen[i] == self._seen[best] and size > self._size[best]):
                    best = i
                k += 1
            if best < 0 or not self._hit[best]:
                break
            at = self._seen[best]
            if at - begin > self._limit:
                break
            frames.append(pyframe_bytes_from(
                data + begin, at - begin + (self._size[best] if self._keep_delimiter else 0)))
            begin = self._pos = at + self._size[best]
        return 0

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
        if self._discarding:  # the rest of a skipped frame: up to its delimiter
            if not self._hit[best]:
                self._pos = at  # no delimiter begins before
                return 0
            self._pos, self._discarding = at + self._size[best], False
            return self._next(data, start, stop)
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
        stop[0] = self._pos if self._keep_delimiter else at
        return 1

    cdef bint _skip(self, const char *data) noexcept:
        # The frame _next() refused ends at the earliest delimiter; if that has not come
        # yet, every byte before where one may still begin is dropped, and more as they come.
        cdef Py_ssize_t i, best = 0
        for i in range(1, self._count):
            if self._seen[i] < self._seen[best] or (
                    self._seen[i] == self._seen[best] and self._size[i] > self._size[best]):
                best = i
        if self._hit[best]:
            self._pos = self._seen[best] + self._size[best]
        else:
            self._pos, self._discarding = self._seen[best], True
        return True

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        # Up to the first delimiter in data, and room to settle a tie with a longer one.
        cdef Py_ssize_t i, at, first = size
        for i in range(self._count):
            at = _find(data, 0, min(size, first + self._size[i]), self._delim[i],
                       self._size[i])
            if at >= 0:
                first = min(first, at)
        return first + self._longest

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        """Refuse a payload over the limit, or one that would not decode back: it holds a
        delimiter, or its end and the delimiter sent after it could make one (a longer
        delimiter may even begin there). Checked here in C when that is simple to tell
        (the usual cases); otherwise, and to explain a refusal, the shared check decides."""
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        if not self._clean(data, size):  # the bytes held: not a new request of payload's
            if type(payload) is not bytes:
                payload = PyMemoryView_FromMemory(<char *>data, size, PyBUF_READ)
            try:
                _rules.check_delimited(payload, self._delimiters)
            finally:
                if type(payload) is memoryview:
                    payload.release()
        return 0

    @cython.final
    cdef bint _clean(self, const char *data, Py_ssize_t size) noexcept:
        """Whether ``data`` followed by the first delimiter surely decodes back to itself:
        no delimiter within it, and (lines) no b"\r" at its end before a b"\n"."""
        cdef Py_ssize_t i
        if self._newline >= 0:
            if memchr(data, 10, size) != NULL:  # 10: b"\n"
                return False
            return self._size[0] == 2 or size == 0 or data[size - 1] != 13  # 13: b"\r"
        if self._count != 1 or self._size[0] != 1:
            return False  # the shared check
        return memchr(data, self._delim[0][0], size) == NULL

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        pass


cdef class LineFramer(DelimiterFramer):
    """LineFramer(*, line_ending=b'\\n', max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    Lines ended by ``\\n`` or ``\\r\\n`` (both stripped); encode() appends ``line_ending``."""

    @cython.embedsignature(False)
    def __init__(self, *, line_ending=b"\n", max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        self._initialising()
        ending = _rules.line_ending(line_ending)
        other = b"\r\n" if ending == b"\n" else b"\n"
        super().__init__((ending, other), max_frame_size=max_frame_size, on_error=on_error)


# MarkerFramer: what a scan inside a frame stops at, and what _discarding drops.
cdef enum:
    _TAIL, _END, _START, _BAD  # undecided yet; end marker; start marker; bad escape
cdef enum:
    _GARBAGE = 1  # a garbage run, dropped up to a start marker
    _BROKEN = 2  # the rest of a broken frame, dropped up to either marker


cdef class MarkerFramer(_Framer):
    """MarkerFramer(start=b'\\x02', end=b'\\x03', *, escape=None,
    max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE, on_error='fail')
--

    Frames between a start and an end marker (STX/ETX, ``{``/``}``, ``<msg>``/``</msg>``):
    the frame is what lies between them. Bytes outside a frame are garbage, and an
    (unescaped) start marker inside a frame that has not ended breaks it, the new frame
    beginning at that marker: faults reported as ``on_error`` says ("raise" and "skip"
    drop the garbage or the broken frame and go on; ``garbage`` counts the bytes dropped
    outside frames). With ``escape`` (one byte, DLE style), the encoder puts it before
    every payload byte that is the escape byte or the first byte of a marker, so payloads
    may hold anything; without it, the encoder refuses a payload that would not decode
    back: one that holds a marker, or whose last bytes and the end marker make one.

    The scan of a frame keeps how far it went, so no byte is scanned twice.
    """

    cdef bytes _start_marker, _end_marker
    cdef object _escape  # None or the escape byte as bytes
    cdef bytes _specials  # the bytes an escape may precede: the escape byte, the markers' first
    cdef const char *_sm  # the markers' bytes (kept alive by the bytes objects) and sizes
    cdef const char *_em
    cdef Py_ssize_t _slen, _elen
    cdef int _esc  # the escape byte, or -1
    # The bytes a scan stops at (the markers' first bytes, the escape byte): one byte for
    # memchr, else a set for pyframe_scan (AVX2) or a table.
    cdef int _only  # the one such byte, or -1
    cdef pyframe_set _set
    cdef unsigned char _table[256]
    # Scan state of the frame whose start marker is at _pos (when _opened): no marker
    # begins in data[_pos + len(start):_seen], which decodes to _decoded bytes.
    cdef bint _opened
    cdef Py_ssize_t _seen, _decoded

    @cython.embedsignature(False)
    def __init__(self, start=b"\x02", end=b"\x03", *, escape=None,
                 max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE, on_error="fail"):
        cdef int count = 0
        cdef unsigned char byte
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        head, tail, esc = _rules.markers(start, end, escape)
        specials = b"" if esc is None else bytes(dict.fromkeys(esc + head[:1] + tail[:1]))
        self._settle()
        try:
            self._start_marker, self._end_marker, self._escape = head, tail, esc
            self._specials = specials
            self._sm, self._slen = PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head)
            self._em, self._elen = PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail)
            self._esc = -1 if esc is None else <unsigned char>PyBytes_AS_STRING(esc)[0]
            memset(&self._set, 0, sizeof(pyframe_set))
            memset(self._table, 0, sizeof(self._table))
            for byte in (head[:1] + tail[:1] + (b"" if esc is None else esc)):
                count = pyframe_set_add(&self._set, count, byte)
                self._table[byte] = 1
            self._only = <unsigned char>self._sm[0] if count == 1 else -1
            self._head_size = self._slen
            self._trailer = tail
            self._verbatim = esc is None
            self._open(limit, recover)
        finally:
            self._leave()

    @property
    def start(self):
        self._require()
        return self._start_marker

    @property
    def end(self):
        self._require()
        return self._end_marker

    @property
    def escape(self):
        self._require()
        return self._escape

    @property
    def garbage(self):
        """Bytes dropped outside frames so far in this stream (with on_error "raise" or
        "skip"; "fail" drops nothing)."""
        self._require()
        return self._garbage

    cdef void _restart(self) noexcept:
        self._opened, self._seen, self._decoded = False, 0, 0

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        self._seen -= shift

    @cython.final
    cdef inline Py_ssize_t _stop(self, const char *data, Py_ssize_t at,
                                 Py_ssize_t end) noexcept:
        """The offset of the first byte in ``data[at:end]`` that a scan stops at, or end."""
        cdef const char *hit
        if at >= end:
            return end
        if self._only >= 0:
            hit = <const char *>memchr(data + at, self._only, end - at)
            return end if hit == NULL else hit - data
        if CAN_SCAN:
            return pyframe_scan(data, at, end, &self._set)
        while at < end and not self._table[<unsigned char>data[at]]:
            at += 1
        return at

    @cython.final
    cdef inline bint _may_begin(self, const char *data, Py_ssize_t at) noexcept:
        """Whether a marker may begin at ``data[at]``, cut off by the end of the bytes."""
        cdef Py_ssize_t rest = self._end - at
        if self._final:
            return False
        return ((rest < self._elen and memcmp(data + at, self._em, rest) == 0)
                or (rest < self._slen and memcmp(data + at, self._sm, rest) == 0))

    @cython.final
    cdef int _scan(self, const char *data, Py_ssize_t at, bint check, Py_ssize_t *found,
                   Py_ssize_t *decoded) noexcept:
        """Scan the inside of a frame from ``data[at]``: return what it stops at, the first
        marker (_END, _START), bad escape (_BAD; only if ``check``) or the place where more
        bytes must decide (_TAIL: a marker may begin there, or an escape is the last byte,
        or the end); set ``found`` to its offset and ``decoded`` to the size the bytes
        ``data[at:found]`` decode to."""
        cdef Py_ssize_t end = self._end, p, n = 0
        cdef int byte
        while True:
            p = self._stop(data, at, end)
            n += p - at
            found[0], decoded[0] = p, n
            if p >= end:
                return _TAIL
            byte = <unsigned char>data[p]
            if byte == self._esc:
                if p + 1 == end:
                    return _TAIL
                if check and not self._table[<unsigned char>data[p + 1]]:
                    return _BAD
                n += 1
                at = p + 2
                continue
            if end - p >= self._elen and memcmp(data + p, self._em, self._elen) == 0:
                return _END
            if end - p >= self._slen and memcmp(data + p, self._sm, self._slen) == 0:
                return _START
            if self._may_begin(data, p):
                return _TAIL
            n += 1
            at = p + 1

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef Py_ssize_t end = self._end, pos, at, decoded
        cdef int kind
        while True:
            pos = self._pos
            if self._discarding == _GARBAGE:  # dropped up to a start marker
                at = _find(data, pos, end, self._sm, self._slen)
                if at < 0:
                    at = max(pos, end - self._slen + 1)
                    while at < end and (self._final
                                        or memcmp(data + at, self._sm, end - at) != 0):
                        at += 1
                self._garbage += at - pos
                self._pos = at
                if end - at < self._slen or memcmp(data + at, self._sm, self._slen) != 0:
                    return 0
                self._discarding = 0
                continue
            if self._discarding == _BROKEN:  # the rest of a broken frame: to either marker
                kind = self._scan(data, pos, False, &at, &decoded)
                if kind == _TAIL:
                    self._pos = end if self._final else at
                    return 0
                self._pos = at + self._elen if kind == _END else at
                self._discarding = 0
                continue
            if not self._opened or self._seen < pos + self._slen:
                # Outside a frame: a start marker must begin here.
                if end - pos < self._slen or memcmp(data + pos, self._sm, self._slen) != 0:
                    if pos == end or (not self._final and end - pos < self._slen
                                      and memcmp(data + pos, self._sm, end - pos) == 0):
                        return 0  # (may begin a start marker)
                    self._error = _errors.marker_garbage(
                        pyframe_bytes_from(data + pos, min(end - pos, self._slen)),
                        self._start_marker)
                    return 0
                self._opened, self._seen, self._decoded = True, pos + self._slen, 0
            kind = self._scan(data, self._seen, True, &at, &decoded)
            self._seen = at
            self._decoded += decoded
            if self._decoded > self._limit:
                self._error = (
                    _errors.too_large(self._decoded, self._limit)
                    if kind == _END
                    else _errors.no_end_marker(self._decoded, self._limit)
                )
                return 0
            if kind == _END:
                self._pos, self._opened = at + self._elen, False
                start[0], stop[0] = pos + self._slen, at
                return 1
            if kind == _START:
                self._error = _errors.marker_inside(self._start_marker, at - pos - self._slen)
            elif kind == _BAD:
                self._error = _errors.bad_escape(self._escape, <unsigned char>data[at + 1],
                                                 self._specials)
            return 0

    cdef bint _skip(self, const char *data) noexcept:
        # Garbage: dropped up to the next start marker. A broken frame: dropped up to
        # where the scan stopped, then up to the next end marker (dropped too) or start
        # marker (which begins the next frame).
        if self._opened:
            self._pos, self._opened, self._discarding = self._seen, False, _BROKEN
        else:
            self._discarding = _GARBAGE
        return True

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # The plain frames first, in one tight loop; then the general _next() settles the
        # rest as the twin does (the tail, a fault, a frame with escapes): without an
        # escape a frame is its wire bytes (the base's loop), with one _frame() decodes it.
        cdef bytes frame
        if self._esc < 0:
            if self._error is None and not self._discarding and not self._opened:
                self._cut_plain(data, frames)
            return _Framer._cut_all(self, data, frames)
        while True:
            if self._error is None and not self._discarding and not self._opened:
                self._cut_plain(data, frames)  # (again after each frame with escapes)
            frame = self._one(data)
            if frame is None:
                return 0
            frames.append(frame)

    @cython.final
    cdef int _cut_plain(self, const char *data, list frames) except -1:
        """Cut the frames at ``data[_pos:]`` that are a start marker, bytes holding no
        escape byte and no start marker, and the end marker, within the limit: what
        _next() would cut there, found with memchr (the end marker first, then a start
        marker or an escape before it). Stops at anything else, for _next()."""
        cdef Py_ssize_t begin = self._pos, end = self._end, body, stop
        while end - begin >= self._slen and memcmp(data + begin, self._sm, self._slen) == 0:
            body = begin + self._slen
            stop = _find(data, body, end, self._em, self._elen)
            if stop < 0 or stop - body > self._limit:
                break
            # (a start marker that begins before the end marker may run over it)
            if _find(data, body, min(end, stop + self._slen - 1), self._sm, self._slen) >= 0:
                break
            if self._esc >= 0 and memchr(data + body, self._esc, stop - body) != NULL:
                break
            frames.append(pyframe_bytes_from(data + body, stop - body))
            begin = stop + self._elen
        self._pos = begin
        return 0

    cdef bytes _frame(self, const char *data, Py_ssize_t start, Py_ssize_t stop):
        # The escapes in data[start:stop] were checked by _next(), which counted the
        # bytes they decode to: copy the runs between them, never more than counted. (A
        # stale view may have changed bytes scanned in an earlier call, as the twin
        # tells: an escape as the last byte is dropped, the rest is zeros.)
        cdef Py_ssize_t left = self._decoded, run
        cdef bytes frame
        cdef char *out
        cdef const char *hit
        if self._esc < 0:
            return pyframe_bytes_from(data + start, stop - start)
        frame = _fresh(left)
        out = PyBytes_AS_STRING(frame)
        while left > 0 and start < stop:
            run = stop - start
            hit = <const char *>memchr(data + start, self._esc, run)
            if hit != NULL:
                run = hit - (data + start)
            run = min(run, left)
            _copy(out, data + start, run)
            out += run
            left -= run
            start += run
            if hit == NULL or left == 0:
                break
            if start + 1 < stop:  # the escaped byte
                out[0] = data[start + 1]
                out += 1
                left -= 1
            start += 2
        memset(out, 0, left)  # (nothing left unless a stale view changed the bytes)
        return frame

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        # Up to the first end marker in data (one that is escaped only makes this short).
        cdef Py_ssize_t at = _find(data, 0, size, self._em, self._elen)
        return size if at < 0 else at + self._elen

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        """Refuse a payload over the limit or (no escape) one that would not decode back.
        A payload with no byte a marker begins with is surely clean; otherwise, and to
        explain a refusal, the shared check decides."""
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        if self._esc >= 0 or size == 0:
            return 0
        if memchr(data, self._sm[0], size) == NULL and memchr(data, self._em[0], size) == NULL:
            return 0
        if type(payload) is not bytes:  # the bytes held: not a new request of payload's
            payload = PyMemoryView_FromMemory(<char *>data, size, PyBUF_READ)
        try:
            _rules.check_markers(payload, self._start_marker, self._end_marker)
        finally:
            if type(payload) is memoryview:
                payload.release()
        return 0

    cdef Py_ssize_t _bound(self, Py_ssize_t size) except -1:
        if size > PY_SSIZE_T_MAX // 2:
            raise MemoryError()
        return 2 * size  # every byte escaped, at most

    cdef char *_transform(self, char *out, const char *payload, Py_ssize_t size) noexcept:
        cdef Py_ssize_t at = 0, p
        while at < size:
            p = self._stop(payload, at, size)
            _copy(out, payload + at, p - at)
            out += p - at
            if p >= size:
                break
            out[0] = <char>self._esc
            out[1] = payload[p]
            out += 2
            at = p + 1
        return out

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        memcpy(out, self._sm, self._slen)


# -- COBS and SLIP: the payload's bytes are transformed on the wire ----------------------

cdef inline Py_ssize_t _find_byte(const char *data, Py_ssize_t at, Py_ssize_t end,
                                  int byte) noexcept:
    """Offset of the first ``byte`` in ``data[at:end]``, or -1."""
    cdef const char *found
    if at >= end:
        return -1
    found = <const char *>memchr(data + at, byte, end - at)
    return found - data if found != NULL else -1


cdef class _StuffedFramer(_Framer):
    """A framing that stuffs bytes (COBS, SLIP): a payload goes on the wire transformed,
    and each frame ends at the one byte (``_end_byte``) never found inside one. A frame
    is decoded where _next() finds it whole: a stale view that changed its bytes since
    they were scanned makes a fault there, never a wrong frame."""

    cdef unsigned char _end_byte
    cdef bytes _out  # the frame _next() decoded, for _frame()

    @cython.final
    cdef bint _discarded(self, const char *data) noexcept:
        """Past the rest of a skipped frame (up to its end byte): whether it is all here."""
        cdef Py_ssize_t stop
        if self._discarding:
            stop = _find_byte(data, self._pos, self._end, self._end_byte)
            if stop < 0:
                self._pos = self._end
                return False
            self._pos, self._discarding = stop + 1, False
        return True

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # The base's tight loop returns the wire bytes: here each frame is decoded (by
        # _one(), as in the twin: _next() is not called again after a fault).
        cdef bytes frame = self._one(data)
        while frame is not None:
            frames.append(frame)
            frame = self._one(data)
        return 0

    cdef bytes _frame(self, const char *data, Py_ssize_t start, Py_ssize_t stop):
        cdef bytes out = self._out
        self._out = None
        return out

    cdef Py_ssize_t _wanted(self, const char *data, Py_ssize_t size) noexcept:
        cdef Py_ssize_t stop = _find_byte(data, 0, size, self._end_byte)  # up to the first
        return stop + 1 if stop >= 0 else size  # end byte

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        return 0


cdef class COBSFramer(_StuffedFramer):
    """COBSFramer(*, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE, on_error='fail')
--

    Consistent Overhead Byte Stuffing (Cheshire and Baker): each frame is its payload
    with every 0x00 taken out, then a 0x00 (overhead: 1 byte, and 1 per 254). A code byte
    ``c`` (1 to 255) is followed by ``c - 1`` data bytes, then by a zero unless ``c`` is
    255 or the frame ends there. A code byte that points past the frame's 0x00 is
    malformed; empty frames (0x00 after 0x00, sent to flush line noise) are skipped.
    ``max_frame_size`` limits the decoded payload, refused as soon as a code byte makes it
    too large (before more is read); recovery skips to the next 0x00."""

    # The frame at _pos is scanned as its bytes come, each byte once: no 0x00 is in
    # data[_pos:_seen]; _code is where the next code byte is, _last where the last one
    # read is, _size how many payload bytes the codes read so far give; _short: the last
    # one was under 255, so a zero follows its group if another group does.
    cdef Py_ssize_t _seen, _code, _last, _size
    cdef bint _short

    @cython.embedsignature(False)
    def __init__(self, *, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE, on_error="fail"):
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        try:
            self._trailer = b"\x00"
            self._end_byte = 0
            self._verbatim = False
            self._open(limit, recover)
        finally:
            self._leave()

    cdef void _restart(self) noexcept:
        self._seen = self._code = self._last = self._size = 0
        self._short = False
        self._out = None

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        self._seen -= shift
        self._code -= shift
        self._last -= shift

    cdef int _cut_all(self, const char *data, list frames) except -1:
        # Fast path: whole, well-formed frames one after the other, each found, checked
        # and decoded in one tight loop (no scan state kept: a frame not whole yet, an
        # empty one or a fault is left to _next(), which tells the fault as the twin
        # does). The rest as in the twin: by _one(), since the base's tight loop returns
        # the wire bytes and _next() is not called again after a fault.
        cdef const unsigned char *buf = <const unsigned char *>data
        cdef Py_ssize_t pos = self._pos, end = self._end, seen, zero, code, size
        cdef int short
        cdef bytes frame
        if not self._discarding and self._code <= pos:  # no code byte read at _pos yet
            seen = max(self._seen, pos)  # (no 0x00 before it)
            while True:
                zero = _find_byte(data, seen, end, 0)
                if zero <= pos:  # none, or an empty frame
                    break
                code, size, short = pos, 0, 0
                while code < zero and buf[code] != 0:  # (0x00: changed, _next() tells)
                    size += buf[code] - 1 + short
                    short = buf[code] < 255
                    code += buf[code]
                if code != zero or size > self._limit:
                    break
                if not self._decode(data, pos, zero, size):  # (changed since the scan, by
                    self._error = None  # another thread: _next() finds it, _one() recovers)
                    break
                frames.append(self._frame(data, pos, zero))
                self._pos = pos = seen = zero + 1
        return _StuffedFramer._cut_all(self, data, frames)

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef const unsigned char *buf = <const unsigned char *>data
        cdef Py_ssize_t end = self._end, begin, zero, code, size, last
        cdef bint short
        if not self._discarded(data):
            return 0
        while True:
            begin = self._pos
            if self._code < begin:  # a new frame
                self._seen = self._code = self._last = begin
                self._size, self._short = 0, False
            zero = _find_byte(data, self._seen, end, 0)
            self._seen = end if zero < 0 else zero
            # Read the code bytes before the 0x00 (or the end): each adds its group.
            code, size, short, last = self._code, self._size, self._short, self._last
            while code < self._seen:
                if buf[code] == 0:  # a 0x00 written through a stale view since the find
                    self._last = begin  # (by another thread): a group of -1 bytes
                    self._error = _errors.changed_under_scan()
                    return 0
                last = code
                size += buf[code] - 1 + short
                short = buf[code] < 255
                if size > self._limit:
                    self._last = last
                    self._error = _errors.decoded_too_large(size, self._limit)
                    return 0
                code += buf[code]
            self._code, self._size, self._short, self._last = code, size, short, last
            if size > self._limit:  # (a limit lowered since the code bytes were read)
                self._error = _errors.decoded_too_large(size, self._limit)
                return 0
            if zero < 0:
                return 0
            if code > zero:  # the last code's group runs past the 0x00
                self._error = _errors.cobs_code(buf[last], last - begin, zero - last - 1)
                return 0
            if zero == begin:  # an empty frame: skipped
                self._pos = zero + 1
                continue
            if not self._decode(data, begin, zero, size):
                return 0
            self._pos = zero + 1
            start[0], stop[0] = begin, zero
            return 1

    @cython.final
    cdef int _decode(self, const char *data, Py_ssize_t start, Py_ssize_t stop,
                     Py_ssize_t size) except -1:
        """Decode the frame at ``data[start:stop]`` into ``_out``, checked to be ``size``
        bytes again (a stale view may have changed its bytes since they were scanned:
        decoding here, in _next(), makes that a fault like any other, never a wrong
        frame): one allocation, one copy of each run."""
        cdef bytes out = _fresh(size)
        cdef char *to = PyBytes_AS_STRING(out)
        cdef Py_ssize_t filled = 0, code
        while start < stop:
            code = <unsigned char>data[start]
            if code == 0 or code > stop - start or code - 1 > size - filled:
                break
            _copy(to + filled, data + start + 1, code - 1)
            filled += code - 1
            start += code
            if code < 255 and start < stop:  # the implied zero
                if filled == size:
                    break
                to[filled] = 0
                filled += 1
        if start < stop or filled != size:  # (every break above leaves start < stop)
            self._last = self._pos
            self._error = _errors.changed_under_scan()
            return 0
        self._out = out
        return 1

    cdef bint _skip(self, const char *data) noexcept:
        # The bad frame ends at the next 0x00, at or after the code byte found wrong
        # (the scan starts again after it).
        self._pos = self._code = self._last
        self._discarding = True
        return True

    cdef Py_ssize_t _bound(self, Py_ssize_t size) except -1:
        if size > PY_SSIZE_T_MAX - 1 - size // 254:
            raise MemoryError()
        return size + size // 254 + 1

    cdef char *_transform(self, char *out, const char *payload, Py_ssize_t size) noexcept:
        """Each run of non-zero bytes (at most 254) after its code byte: its size + 1."""
        cdef Py_ssize_t at = 0, piece, zero, stop
        while True:
            zero = _find_byte(payload, at, size, 0)
            stop = zero if zero >= 0 else size
            piece = at
            while stop - at >= 254:  # a full group: code 255, no zero after it
                out[0] = <char>255
                _copy(out + 1, payload + at, 254)
                out += 255
                at += 254
            # The last group of a piece: before a zero always, at the payload's end only
            # if it holds bytes (or the payload is empty).
            if zero >= 0 or at < stop or piece == stop:
                out[0] = <char>(stop - at + 1)
                _copy(out + 1, payload + at, stop - at)
                out += stop - at + 1
            if zero < 0:
                return out
            at = zero + 1


cdef pyframe_set _SLIP_SPECIAL  # END and ESC, for pyframe_scan
memset(&_SLIP_SPECIAL, 0, sizeof(pyframe_set))
pyframe_set_add(&_SLIP_SPECIAL, pyframe_set_add(&_SLIP_SPECIAL, 0, 0xC0), 0xDB)


cdef inline Py_ssize_t _slip_special(const char *data, Py_ssize_t at,
                                     Py_ssize_t end) noexcept:
    """Offset of the first END or ESC in ``data[at:end]``, or ``end``."""
    cdef const unsigned char *buf = <const unsigned char *>data
    if CAN_SCAN:
        return pyframe_scan(data, at, end, &_SLIP_SPECIAL)
    while at < end and buf[at] != 0xC0 and buf[at] != 0xDB:
        at += 1
    return at


cdef class SLIPFramer(_StuffedFramer):
    """SLIPFramer(*, leading_end=False, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
    on_error='fail')
--

    SLIP (RFC 1055): each frame ends with END (0xC0); END and ESC (0xDB) in the payload
    are sent as ESC ESC_END (0xDB 0xDC) and ESC ESC_ESC (0xDB 0xDD). With ``leading_end``,
    encode() also sends END before each frame (RFC 1055's advice: it ends any line noise
    received before as a frame of its own). Empty frames are skipped (so encode() refuses
    an empty payload); an ESC followed by any other byte (END included) is malformed.
    ``max_frame_size`` limits the decoded payload, counted as the bytes come; recovery
    skips to the next END."""

    cdef bint _leading_end
    # The frame at _pos is scanned as its bytes come, each byte once: data[_pos:_seen]
    # holds no END and decodes to _size bytes (an ESC at _seen waits for its next byte).
    cdef Py_ssize_t _seen, _size

    @cython.embedsignature(False)
    def __init__(self, *, leading_end=False, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE,
                 on_error="fail"):
        cdef bint leading
        self._initialising()
        leading = _rules.flag("leading_end", leading_end)
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        try:
            self._leading_end = leading
            self._head_size = 1 if leading else 0
            self._trailer = b"\xc0"
            self._end_byte = 0xC0
            self._verbatim = False
            self._open(limit, recover)
        finally:
            self._leave()

    @property
    def leading_end(self):
        self._require()
        return self._leading_end

    cdef void _restart(self) noexcept:
        self._seen = self._size = 0
        self._out = None

    cdef void _rebase(self, Py_ssize_t shift) noexcept:
        self._seen -= shift

    cdef int _next(self, const char *data, Py_ssize_t *start, Py_ssize_t *stop) except -1:
        cdef const unsigned char *buf = <const unsigned char *>data
        cdef Py_ssize_t end = self._end, begin, at, size, special
        if not self._discarded(data):
            return 0
        while True:
            begin = self._pos
            if self._seen < begin:  # a new frame
                self._seen, self._size = begin, 0
            at, size = self._seen, self._size
            while True:  # count the bytes up to the next END or ESC; an ESC and its next
                special = _slip_special(data, at, end)
                size += special - at
                if size > self._limit:
                    return self._too_large(at)
                if special == end or buf[special] == 0xC0:
                    at = special
                    break
                if special + 1 == end:  # an ESC whose next byte has not come yet
                    at = special
                    break
                if buf[special + 1] != 0xDC and buf[special + 1] != 0xDD:
                    self._seen = special
                    self._error = _errors.slip_escape(buf[special + 1], special - begin)
                    return 0
                size += 1
                if size > self._limit:
                    return self._too_large(special)
                at = special + 2
            self._seen, self._size = at, size
            if at == end or buf[at] != 0xC0:
                return 0
            if at == begin:  # an empty frame: skipped
                self._pos = at + 1
                continue
            if not self._decode(data, begin, at, size):
                return 0
            self._pos = at + 1
            start[0], stop[0] = begin, at
            return 1

    @cython.final
    cdef int _too_large(self, Py_ssize_t at) except -1:
        """The decoded bytes went over the limit at ``data[at]``."""
        self._seen = at
        self._error = _errors.decoded_too_large(self._limit + 1, self._limit)
        return 0

    @cython.final
    cdef int _decode(self, const char *data, Py_ssize_t start, Py_ssize_t stop,
                     Py_ssize_t size) except -1:
        """Decode the frame at ``data[start:stop]`` into ``_out``, checked to be ``size``
        bytes with only valid escapes again (a stale view may have changed its bytes
        since): one allocation, one copy of each run between escapes."""
        cdef bytes out = _fresh(size)
        cdef char *to = PyBytes_AS_STRING(out)
        cdef Py_ssize_t filled = 0, run, esc
        cdef unsigned char after
        while start < stop:
            esc = _find_byte(data, start, stop, 0xDB)
            run = (esc if esc >= 0 else stop) - start
            if run > size - filled:
                break
            _copy(to + filled, data + start, run)
            filled += run
            start += run
            if esc < 0 or start + 1 == stop or filled == size:
                break
            after = <unsigned char>data[start + 1]
            if after != 0xDC and after != 0xDD:
                break
            to[filled] = <char>(0xC0 if after == 0xDC else 0xDB)
            filled += 1
            start += 2
        if start < stop or filled != size:
            self._seen = self._pos
            self._error = _errors.changed_under_scan()
            return 0
        self._out = out
        return 1

    cdef bint _skip(self, const char *data) noexcept:
        # The bad frame ends at the next END, at or after the byte found wrong.
        self._pos, self._discarding = self._seen, True
        return True

    cdef int _refuse(self, object payload, const char *data, Py_ssize_t size) except -1:
        _StuffedFramer._refuse(self, payload, data, size)
        if size == 0:  # it would never arrive
            raise _errors.empty_slip_payload()
        return 0

    cdef void _write_head(self, char *out, Py_ssize_t size) noexcept:
        if self._leading_end:
            out[0] = <char>0xC0

    cdef Py_ssize_t _bound(self, Py_ssize_t size) except -1:
        if size > PY_SSIZE_T_MAX // 2:
            raise MemoryError()
        return 2 * size

    cdef char *_transform(self, char *out, const char *payload, Py_ssize_t size) noexcept:
        """ESC as ESC ESC_ESC, END as ESC ESC_END."""
        cdef Py_ssize_t at = 0, special
        while True:
            special = _slip_special(payload, at, size)
            _copy(out, payload + at, special - at)
            out += special - at
            if special == size:
                return out
            out[0] = <char>0xDB
            out[1] = <char>(0xDC if <unsigned char>payload[special] == 0xC0 else 0xDD)
            out += 2
            at = special + 1


# -- the socket layer's send without a wait ------------------------------------------------

cdef extern from *:
    """
    /* One send() that never waits (MSG_DONTWAIT), so it can be made without releasing the
       GIL: -1 with errno EAGAIN when the kernel takes nothing now. Where MSG_DONTWAIT does
       not exist (Windows), PYFRAME_NOWAIT is 0 and this is never called. */
    #if !defined(_WIN32)
    #include <errno.h>
    #include <sys/types.h>
    #include <sys/socket.h>
    #endif
    #if !defined(_WIN32) && defined(MSG_DONTWAIT)
    #define PYFRAME_NOWAIT 1
    #ifndef MSG_NOSIGNAL
    #define MSG_NOSIGNAL 0  /* (Python ignores SIGPIPE: EPIPE comes back either way) */
    #endif
    static Py_ssize_t pyframe_send_nowait(int fd, const char *data, Py_ssize_t size) {
        return (Py_ssize_t)send(fd, data, (size_t)size, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    #else
    #define PYFRAME_NOWAIT 0
    static Py_ssize_t pyframe_send_nowait(int fd, const char *data, Py_ssize_t size) {
        (void)fd; (void)data; (void)size;
        errno = EAGAIN;
        return -1;
    }
    #endif
    /* The usual way (which waits, and raises as socket.send() does) is to go on: the
       kernel had no room now, a signal came, or (macOS, AF_UNIX) it lacks buffers for a
       send that may not wait. */
    static int pyframe_would_wait(void) {
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
    #ifdef ENOBUFS
            || errno == ENOBUFS
    #endif
            ;
    }
    """
    const bint PYFRAME_NOWAIT
    Py_ssize_t pyframe_send_nowait(int fd, const char *data, Py_ssize_t size) nogil
    bint pyframe_would_wait() nogil


@cython.binding(False)
def _send_nowait_impl(sock, bytes data not None, list log not None):
    """For pyframe.sockets: send what the kernel takes of ``data`` at once, without
    releasing the GIL (the call cannot wait, and handing the GIL to another thread and
    back costs more than the call). Appends the count sent, if any, to ``log`` (here in C:
    no signal handler runs between the send and the record). True when all of ``data``
    went out; False when the caller must send the rest its usual way (the kernel's buffer
    is full, a signal came, or the socket is closed). Raises OSError as socket.send() would.
    Only for a plain ``socket.socket``: it writes to the descriptor, under any TLS layer."""
    cdef object fileno = sock.fileno()
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data), sent
    if type(fileno) is not int or not 0 <= fileno <= 0x7FFFFFFF:
        return False  # closed (-1): the usual way raises as socket.send() does
    sent = pyframe_send_nowait(<int>fileno, PyBytes_AS_STRING(data), size)
    if sent < 0:
        if pyframe_would_wait():
            return False
        PyErr_SetFromErrno(OSError)
    if sent:
        log.append(sent)
    return sent == size


#: None where a send cannot be told not to wait (Windows): FramedSocket then sends its usual way.
_send_nowait = _send_nowait_impl if PYFRAME_NOWAIT else None
