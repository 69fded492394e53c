"""The pure-Python framers: the readable reference twin of the compiled ``_cframers``.

Every decoder keeps one ``bytearray``. Live bytes are ``_buf[_pos:_end]``; the slack after
``_end`` is room for the next read, handed out by ``get_buffer()``. Rules of the buffer
engine (the compiled module keeps the same ones):

* Bytes never move within an array that a view from ``get_buffer()`` may still write to,
  and ``feed()`` never writes into such an array: while a view is alive, room is made in a
  new array. So a stale view can change only bytes that came in through views of that same
  room, never bytes given to feed() or moved by the framer, never the framer's state.
* Room is allocated before any byte moves: a failed allocation leaves the framer as it was.
  A call that fails while cutting frames consumes nothing.
* Memory handed out is zeros or bytes of the stream; a big array whose live bytes became
  few is given back.
* One call at a time: a second, concurrent call is refused (``RuntimeError``).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable
from operator import index as _index
from typing import Literal, NoReturn, Optional, SupportsIndex, Union

from . import _errors, _rules
from ._types import Buffer

OnError = Literal["fail", "raise", "skip"]

__all__ = [
    "COBSFramer",
    "DecimalLengthFramer",
    "DelimiterFramer",
    "FixedLengthFramer",
    "LengthPrefixFramer",
    "LineFramer",
    "MarkerFramer",
    "NetstringFramer",
    "SLIPFramer",
    "VarintFramer",
]

READ_SIZE = 65536  # room get_buffer() offers when given no size hint
MIN_CAPACITY = 4096  # smallest array allocated once data arrives
SHRINK_ABOVE = 4 * 1024 * 1024  # an array above this size is given back when live bytes
SHRINK_RATIO = 8  # ... fill at most 1/SHRINK_RATIO of it (hysteresis against thrashing)
PART_MIN = 4096  # a frame this big that spans reads is filled in place,
PART_EAGER = 1024 * 1024  # at once up to this size, and a bigger one once
PART_SHARE = 16  # 1/PART_SHARE of it has arrived
MAX_SIZE = sys.maxsize  # sizes are C ssize_t in the compiled twin


_NOT_PICKLED = "cannot pickle a {}: it holds a stream's state; make a new one instead"

# What a delimiter may be given as (exactly these types; the framer keeps bytes).
_Delimiter = Union[bytes, bytearray, memoryview]


def _setting(name: str) -> property:
    """A read-only view of a setting, as in the compiled classes (changing one would
    leave the derived state behind)."""
    return property(lambda self: getattr(self, name))


def _viewed(buf: bytearray) -> bool:
    """Whether a view of ``buf`` is alive: a bytearray with exports cannot change size
    (pop() then append() stays within the array's allocation)."""
    try:
        if buf:
            buf.append(buf.pop())
        else:
            buf.append(0)
            buf.pop()
    except BufferError:
        return True
    return False


def _moved(buf: bytearray, start: int, live: int, capacity: int) -> bytearray:
    """A new array of ``capacity`` bytes: ``buf[start:start + live]``, then zeros."""
    try:
        new = bytearray(capacity)
    except OverflowError:  # beyond a bytearray's size: as the compiled twin's allocation
        raise MemoryError() from None
    with memoryview(buf) as src, memoryview(new) as dst:  # no temporary copy
        dst[:live] = src[start : start + live]
    return new


class _Framer:
    """Buffer handling shared by every decoder; subclasses define ``_next()``."""

    # The state, set by _open() and _clear() (a framer whose __init__ did not run has none).
    _buf: bytearray
    _pos: int
    _end: int
    _lent: int
    _final: bool
    _limit: int
    _error: Optional[_errors.FrameError]
    _lock: threading.Lock
    _ready: bool
    # A big frame that spans reads is filled in place: _part holds it (the compiled twin
    # fills the bytes object it returns), _filled says how much of it has arrived, _head
    # holds the header bytes before it that it does not include.
    _part: Optional[bytearray]
    _filled: int
    _head: bytes
    # Recovery (on_error "raise" or "skip"): a bad frame is skipped. _discard bytes of it
    # are still to come and be dropped (length framings), or with _discarding every byte
    # up to the next delimiter is (a framing may tell several kinds of dropping apart by
    # its value); _skipped counts the frames skipped; _once says the fault in _error is
    # raised once, then decoding goes on. _garbage counts the bytes dropped between frames
    # (framings that tell frames from what lies between them: markers).
    _on_error: int
    _discard: int
    _discarding: int
    _skipped: int
    _once: bool
    _garbage: int

    _trailer: bytes = b""  # encoding: what follows each payload (see _refuse, _make_head)
    # encoding: whether the payload goes out unchanged between header and trailer (if
    # not, _transform() encodes it and encode_parts() refuses)
    _verbatim = True

    # __init__ in three steps: _initialising(); check and convert every argument into
    # locals (the caller's code may run there: __bool__, __index__, __eq__ ...); then
    # _settle(), set the state with no call out in between, and _open().

    def _initialising(self) -> None:
        """Refuse a second __init__: settings are fixed, and changing them under a stream
        (or under another thread's call) would break it."""
        if self.__dict__.get("_ready"):
            raise _errors.already_initialised(self)

    def _settle(self) -> None:
        """Every argument checked: refuse once more a framer initialised meanwhile (by the
        caller's code run in the checks). (The compiled twin also holds its busy flag
        until _open(), against threads without the GIL.)"""
        self._initialising()

    def _open(self, limit: int, on_error: int) -> None:
        """End of __init__: the framer is ready for a stream."""
        self._limit = limit
        self._on_error = on_error
        self._lock = threading.Lock()  # held by the call under way
        self._clear()
        self._ready = True

    def __getattr__(self, name: str) -> NoReturn:
        # Only reached for an attribute that was never set: on a framer whose __init__
        # did not run, every call refuses (the compiled twin checks a flag instead).
        if name[:1] == "_" and name[:2] != "__" and not self.__dict__.get("_ready"):
            raise _errors.not_initialised(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _require(self) -> bool:
        """Refuse a framer whose __init__ did not run (on one, this lookup raises)."""
        return self._ready

    def _enter(self) -> None:
        if not self._lock.acquire(False):
            raise _errors.busy(self)

    def _leave(self) -> None:
        self._lock.release()

    @property
    def max_frame_size(self) -> Optional[int]:
        """The limit of a frame's size; it may be changed between frames (it applies to
        every frame not returned yet)."""
        return _rules.public_limit(self._limit)

    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None:
        limit = _rules.limit(value)
        self._enter()
        try:
            self._limit_ok(limit)
            if self._part is not None and limit < len(self._part):  # it may be over it
                self._unpart()
            self._limit = limit
        finally:
            self._leave()

    def _unpart(self) -> None:
        """Buffer again the frame in filling, before the rest: a frame let in under a
        higher limit is cut (or refused) under the new one, as one never filled in place
        would be. The bytes move to a new array: that ends a view lent by get_buffer()."""
        held = self._held()  # first: may fail
        self._buf = bytearray(held)
        self._pos, self._end, self._lent = 0, len(held), -1
        self._part, self._filled, self._head = None, 0, b""
        self._restart()

    def _held(self) -> bytes:
        """A copy of every byte buffered that is not yet returned as a frame."""
        if self._part is None:
            return bytes(self._buf[self._pos : self._end])
        return self._head + self._part[: self._filled] + self._buf[self._pos : self._end]

    def detach(self) -> bytes:
        """Take out every byte buffered that was not returned as a frame (a partial frame's
        included): the framer starts a new stream, its fault forgotten. For handing the
        rest of a stream to another framer or to raw reads (an HTTP body after its head),
        once the frames wanted are taken with next_frame() (feed() and pop_frames() cut
        every frame buffered)."""
        self._enter()
        try:
            held = self._held()
            self._clear()
            return held
        finally:
            self._leave()

    @property
    def on_error(self) -> Literal["fail", "raise", "skip"]:
        return _rules.ON_ERROR[self._on_error]

    @property
    def verbatim(self) -> bool:
        """Whether encode() puts the payload unchanged between a header and a trailer,
        which encode_parts() gives (so that a large payload is sent without a copy);
        False when the framing changes the payload's bytes (COBS, SLIP, escaped
        markers): encode() then writes them, and encode_parts() refuses."""
        self._require()  # (the class's default is no answer for a framer never set up)
        return self._verbatim

    @property
    def failed(self) -> bool:
        """Whether a fault the framer cannot go past has been met: every call that cuts
        frames raises it until reset() (a skipped frame's fault, raised once with on_error
        "raise", does not fail the framer)."""
        return self._error is not None and not self._once

    @property
    def skipped(self) -> int:
        """Bad frames skipped so far in this stream (with on_error "raise" or "skip")."""
        return self._skipped

    @property
    def pending(self) -> int:
        """Bytes buffered that have not been returned as frames yet."""
        return self._end - self._pos + self._filled + len(self._head)

    def reset(self) -> None:
        """Forget all buffered bytes and any error: ready for a new stream."""
        self._enter()
        try:
            self._clear()
        finally:
            self._leave()

    def _clear(self) -> None:
        self._buf = bytearray()
        self._pos = self._end = 0
        self._lent = -1  # size of the view lent by get_buffer(); -1 when none is out
        self._final = False  # set by eof() while it cuts the last frames: no more bytes
        self._error = None
        self._part, self._filled, self._head = None, 0, b""
        self._discard, self._discarding, self._skipped, self._once = 0, False, 0, False
        self._garbage = 0
        self._restart()

    def __reduce__(self) -> NoReturn:
        raise TypeError(_NOT_PICKLED.format(type(self).__name__))

    def _check(self) -> None:
        error = self._error
        if error is not None:
            if self._once:  # a skipped frame's fault: raised once, then decoding goes on
                self._error, self._once = None, False
            raise error.with_traceback(None)

    def _check_failed(self) -> None:
        """Refuse a failed framer (a skipped frame's fault is raised by the calls that cut
        frames, not by get_buffer() and buffer_updated(): an event loop ends a connection
        whose protocol raises there)."""
        if self._error is not None and not self._once:
            raise self._error.with_traceback(None)

    # -- filling the buffer -------------------------------------------------------------

    def feed(self, data: Buffer) -> list[bytes]:
        """Append ``data`` (any bytes-like object); return every complete frame now buffered."""
        self._enter()
        try:
            frames: list[bytes] = []
            with _rules.byte_view(data) as chunk:
                if self._once:  # a skipped frame's fault to raise: keep data for later
                    drop = min(self._discard, len(chunk))  # (but not the skipped frame's)
                    self._reserve(len(chunk) - drop, writing=True)
                    self._buf[self._end : self._end + len(chunk) - drop] = chunk[drop:]
                    self._end += len(chunk) - drop
                    self._discard -= drop
                    self._lent = -1
                self._check()
                self._lent = -1  # feed() ends the view lent by get_buffer()
                self._append(chunk, frames)
            self._consumed()
            if not frames:
                self._check()
            return frames
        finally:
            self._leave()

    def _append(self, data: memoryview, frames: list[bytes]) -> None:
        """feed()'s work: on an exception nothing is consumed and nothing appended."""
        size, take, skip = len(data), 0, 0
        if self._pos != self._end:  # room for all of data, as the slow path needs
            self._reserve(size, writing=True)
        pos, end, buf = self._pos, self._end, self._buf
        mark = self._mark()
        try:
            if pos != end:
                # A frame is pending in the buffer: append only the bytes it needs (as the
                # framing tells), until the bytes buffered before are all cut; the rest is
                # cut straight from data below. A fault or a frame still short: the rest
                # is buffered (and cut) as it comes.
                while True:
                    n = min(size - take, max(1, self._discard or self._wanted(data[take:])))
                    buf[self._end : self._end + n] = data[take : take + n]
                    self._end += n
                    take += n
                    frames += self._cut_all()
                    if self._error is not None or take == size:
                        buf[self._end : self._end + size - take] = data[take:]  # as it came
                        self._end += size - take
                        return
                    if self._pos >= end:
                        break
                # What is left buffered came from data: take it back, go on from there.
                skip = self._pos - end
            # Nothing buffered (the usual case): cut the frames straight from the caller's
            # bytes and buffer only the tail, as the compiled twin does (saving a copy
            # there; here it keeps what the array holds the same in both).
            self._rebase(end)  # offsets in data from here on
            self._pos, self._end, self._buf = skip, size, bytes(data)  # type: ignore[assignment]
            frames += self._cut_all()
            cut = self._pos
            self._rebase(cut)
            self._buf = buf
            self._pos = self._end = 0
            self._reserve(size - cut, writing=True)
        except BaseException:
            del frames[:]
            self._buf = buf
            self._pos, self._end = pos, end
            self._undo(mark)
            raise
        self._buf[: size - cut] = data[cut:]
        self._end = size - cut

    def get_buffer(self, sizehint: SupportsIndex = -1) -> memoryview:
        """A writable view of at least ``sizehint`` bytes (64 KiB if <= 0) at the buffer's
        end, for one receive: valid until buffer_updated(), feed(), reset(), detach(), the
        next get_buffer() (asyncio's contract; see the module docstring for a stale view),
        or a lower max_frame_size while a big frame is filled in place."""
        self._enter()
        try:
            self._check_failed()
            sizehint = _index(sizehint)
            if not -MAX_SIZE - 1 <= sizehint <= MAX_SIZE:
                raise OverflowError("Python int too large to convert to C ssize_t")
            self._reserve(sizehint if sizehint > 0 else READ_SIZE, writing=False)
            self._lent = len(self._buf) - self._end
            return memoryview(self._buf)[self._end :]
        finally:
            self._leave()

    def buffer_updated(self, nbytes: SupportsIndex) -> None:
        """Commit ``nbytes`` written into the view from ``get_buffer()``."""
        self._enter()
        try:
            self._check_failed()
            nbytes = _index(nbytes)
            if self._lent < 0:
                raise RuntimeError("buffer_updated() called without a buffer from get_buffer()")
            if not 0 <= nbytes <= self._lent:
                raise ValueError(f"nbytes must be between 0 and {self._lent}, got {nbytes}")
            self._lent = -1
            self._end += nbytes
        finally:
            self._leave()

    def _reserve(self, size: int, writing: bool) -> None:
        """Make ``size`` bytes of room after ``_end``; with ``writing``, in an array no view
        can write to (the caller writes there next). Allocates before moving any byte."""
        buf = self._buf
        capacity, live = len(buf), self._end - self._pos
        fits = capacity - self._end >= size
        if fits and not writing:  # the usual get_buffer(): no need to look for views
            return
        viewed = _viewed(buf)
        if fits and not viewed:
            return
        if size > MAX_SIZE - 1 - live:
            raise _errors.no_room(size, live)
        need = live + size
        if not viewed and need <= capacity // 2:
            buf[:live] = buf[self._pos : self._end]  # compact: same size, nothing to fail
        else:
            if need > capacity:
                capacity = max(min(2 * capacity, MAX_SIZE - 1), need, MIN_CAPACITY)
            if viewed:  # a view still alive keeps the old array, which nobody reads
                self._buf = _moved(buf, self._pos, live, capacity)
            else:  # grow (the compiled twin reallocs in place; the same bytes here)
                buf = self._buf = _moved(buf, 0, len(buf), capacity)
                with memoryview(buf) as room:  # overlapping move, no temporary copy
                    room[:live] = room[self._pos : self._end]
        self._rebase(self._pos)
        self._pos, self._end = 0, live

    def _consumed(self) -> None:
        """Called after frames were cut: an empty buffer starts again at offset 0, and a big
        array whose live bytes became few is given back (not while a view from get_buffer()
        awaits buffer_updated(): it points past _end)."""
        if self._lent >= 0:
            return
        live = self._end - self._pos
        if len(self._buf) > SHRINK_ABOVE and live <= len(self._buf) // SHRINK_RATIO:
            try:
                self._buf = _moved(
                    self._buf, self._pos, live, max(2 * live, MIN_CAPACITY) if live else 0
                )
            except MemoryError:
                return  # keeping the big array is always correct
        elif live or not self._pos:
            return
        self._rebase(self._pos)
        self._pos, self._end = 0, live

    # -- taking frames out --------------------------------------------------------------

    def next_frame(self) -> Optional[bytes]:
        """The next complete frame, or None if none is buffered."""
        self._enter()
        try:
            self._check()
            mark = self._mark()
            try:
                frame = self._one()
            except MemoryError:
                self._undo(mark)
                raise
            self._consumed()
            if frame is None:
                self._check()
            return frame
        finally:
            self._leave()

    def pop_frames(self) -> list[bytes]:
        """Every complete frame buffered, as a list (frames cut before a fault are
        returned; the fault is raised by the next call)."""
        self._enter()
        try:
            return self._pop()
        finally:
            self._leave()

    def _pop(self) -> list[bytes]:
        self._check()
        frames = self._cut()
        self._consumed()
        if not frames:
            self._check()
        return frames

    def _cut(self) -> list[bytes]:
        """Cut every complete frame; if that fails (MemoryError), nothing is consumed."""
        mark = self._mark()
        try:
            return self._cut_all()
        except BaseException:
            self._undo(mark)
            raise

    def _cut_all(self) -> list[bytes]:
        """Every complete frame in ``_buf[_pos:_end]``."""
        frames: list[bytes] = []
        frame = self._one()
        while frame is not None:
            frames.append(frame)
            frame = self._one()
        return frames

    def _one(self) -> Optional[bytes]:
        """Cut the next complete frame in ``_buf[_pos:_end]``, or None (at a fault too).
        With recovery, a bad frame is skipped: "skip" goes on to the next frame, "raise"
        stops there, its fault to be raised once."""
        if self._discard:  # the rest of a skipped frame
            n = min(self._discard, self._end - self._pos)
            self._pos += n
            self._discard -= n
        if self._part is not None:
            return self._fill()
        while True:
            span = self._next()
            if span is not None:
                return self._frame(*span)
            if self._error is None or not self._on_error or not self._skip():
                return None
            self._skipped += 1
            if self._on_error == _rules.RAISE:
                self._once = True
                return None
            self._error = None

    def _mark(self) -> tuple[int, Optional[bytearray], int, bytes, int, int, int, int]:
        """The state a failed call goes back to (see _undo)."""
        return (
            self._pos,
            self._part,
            self._filled,
            self._head,
            self._discard,
            self._discarding,
            self._skipped,
            self._garbage,
        )

    def _undo(self, mark: tuple[int, Optional[bytearray], int, bytes, int, int, int, int]) -> None:
        """Back to the state of ``mark``, with no fault: frames cut since then were not
        delivered (a part only ever grows, so its bytes up to the filled mark are still
        the same)."""
        self._pos, self._part, self._filled, self._head = mark[:4]
        self._discard, self._discarding, self._skipped, self._garbage = mark[4:]
        self._error, self._once = None, False
        self._restart()

    def _skip_bytes(self, total: int) -> bool:
        """Skip the frame at ``_pos``, ``total`` bytes long, now or as its bytes come."""
        if total > MAX_SIZE:
            return False
        n = min(total, self._end - self._pos)
        self._pos += n
        self._discard = total - n
        return True

    def _fill(self) -> Optional[bytes]:
        """Move the bytes of the frame in filling that ``_buf[_pos:_end]`` holds into it;
        return the frame once whole (else None)."""
        part = self._part
        assert part is not None
        n = min(len(part) - self._filled, self._end - self._pos)
        with memoryview(self._buf) as view:
            part[self._filled : self._filled + n] = view[self._pos : self._pos + n]
        self._filled += n
        self._pos += n
        if self._filled < len(part):
            return None
        if self._part_tail:  # the trailer after it, checked before it is returned
            if self._end - self._pos < self._part_tail or not self._tail_ok():
                return None
            self._pos += self._part_tail
        frame = bytes(part)
        self._part, self._filled, self._head = None, 0, b""
        return frame

    def _begin_part(self, head: int, start: int, size: int) -> None:
        """Take the frame ``_buf[start:start + size]``, which has only partly arrived, as
        the frame in filling, with the header bytes ``_buf[head:start]``; consume the
        buffer."""
        have = self._end - start
        part = bytearray(size)  # first: may fail
        with memoryview(self._buf) as view:
            header = bytes(view[head:start])
            part[:have] = view[start : self._end]
        self._part, self._filled, self._head = part, have, header
        self._pos = self._end

    def _parted(self, size: int, have: int) -> bool:
        """Whether a frame of ``size`` bytes of which ``have`` have arrived is better filled
        in place (one copy of each byte, no buffer growing to hold it). Not before a share
        of it is there: a header alone must not make the framer allocate a big frame."""
        return (
            size >= PART_MIN
            and not self._final
            and (size <= PART_EAGER or have >= size // PART_SHARE)
        )

    def eof(self, *, last_frame: bool = False) -> list[bytes]:
        """The stream has ended: return the frames still buffered; raise
        IncompleteFrameError (with ``.partial`` and ``.expected``) if a partial frame is
        left. With ``last_frame``, a delimited stream's unended tail is returned as its last
        frame instead, byte for byte (a b"\\r" that might have begun b"\\r\\n" included); a
        frame whose header announced its size stays incomplete."""
        last_frame = bool(last_frame)
        self._enter()
        try:
            self._check()
            mark = self._mark()
            self._final = True  # bytes that could begin a delimiter will not be followed
            try:
                frames = self._cut()
            finally:
                self._final = False
                self._restart()  # scan positions settled for the end are not for more bytes
            if self._error is None:  # a frame being skipped ends with the stream
                self._discard, self._discarding = 0, False
            if self._error is None and (self._end > self._pos or self._part is not None):
                try:  # (a copy of the partial frame: if that fails, nothing was consumed)
                    if last_frame and self._tail_is_frame:
                        frames.append(self._held())
                        self._pos = self._end
                    else:
                        self._error = _errors.incomplete(self._held(), self._expected())
                except BaseException:
                    self._undo(mark)
                    raise
            self._consumed()
            if not frames:
                self._check()
            return frames
        finally:
            self._leave()

    # -- encoding: each framer defines _refuse() and _make_head(), and sets _trailer. Encoders
    # read only settings: no lock.

    def encode(self, payload: Buffer) -> bytes:
        """``payload`` framed: the header, the payload, the trailer."""
        self._require()
        with _rules.byte_view(payload) as view:  # one request: the bytes checked are sent
            return self._encoded(payload, view)

    def _encoded(self, payload: Buffer, view: memoryview) -> bytes:
        head = self._checked_head(payload, view)
        if not self._verbatim:
            return b"".join((head, self._transform(view), self._trailer))
        return b"".join((head, view, self._trailer))

    def encode_parts(self, payload: Buffer) -> tuple[bytes, bytes]:
        """``(header, trailer)``: the bytes encode() puts before and after ``payload``,
        checked as encode() checks them (for sending the payload without copying it)."""
        self._require()
        if not self._verbatim:
            raise _errors.not_verbatim(self)
        with _rules.byte_view(payload) as view:
            return self._checked_head(payload, view), self._trailer

    def _checked_head(self, payload: Buffer, view: memoryview) -> bytes:
        """The header for ``payload``, whose bytes ``view`` holds, once they are checked
        (in ``view``, unless ``payload`` is bytes: no code of the caller's runs)."""
        size = view.nbytes
        self._refuse(payload if type(payload) is bytes else view, size)
        return self._make_head(size)

    def encode_many(self, payloads: Iterable[Buffer]) -> bytes:
        """Encode several payloads into one buffer (each payload copied once)."""
        return b"".join([self.encode(payload) for payload in payloads])

    def _encode_many_below(self, payloads: Iterable[Buffer], largest: int) -> Optional[bytes]:
        """encode_many(), or None if a payload is over ``largest`` bytes (found in the
        same pass: for FramedSocket.send_many, which sends large payloads uncopied)."""
        self._require()
        wires = []
        for payload in payloads:
            with _rules.byte_view(payload) as view:
                if view.nbytes > largest:
                    return None
                wires.append(self._encoded(payload, view))
        return b"".join(wires)

    def _refuse(self, payload: Buffer, size: int) -> None:
        """Raise if ``payload`` (of ``size`` bytes) would not decode back."""

    def _make_head(self, size: int) -> bytes:
        """The header of a payload of ``size`` bytes."""
        return b""

    def _transform(self, view: memoryview) -> bytes:
        """A transforming framing: the payload's bytes ``view`` as they go on the wire."""
        return bytes(view)

    def _expected(self) -> int:
        """The size of the frame pending (header and trailer included) as its header
        tells it, or -1."""
        if self._part is not None:
            size = len(self._head) + len(self._part) + self._part_tail
        else:
            size = self._announced()
        return size if size <= MAX_SIZE else -1

    # -- hooks of the framing rules -----------------------------------------------------

    _tail_is_frame = False  # eof(last_frame=True) returns an unended tail as a frame
    _part_tail = 0  # trailer bytes after a frame filled in place (see _tail_ok)

    def _tail_ok(self) -> bool:
        """Whether the trailer at ``_pos``, after a frame filled in place, is right;
        if not, set ``_error``."""
        return True

    def _announced(self) -> int:
        """The size of the frame at ``_pos`` (header and trailer included), if its header
        is buffered and tells it; else -1."""
        return -1

    def _limit_ok(self, limit: int) -> None:
        """Refuse a new max_frame_size that the settings rule out."""

    def _skip(self) -> bool:
        """Skip the bad frame at ``_pos`` (the fault _next() set), now or as its bytes
        come; False if the framing cannot tell where it ends."""
        return False

    def _restart(self) -> None:
        """Reset per-stream scan state."""

    def _rebase(self, shift: int) -> None:
        """The live bytes moved ``shift`` bytes towards the front."""

    def _wanted(self, data: memoryview) -> int:
        """How many of the bytes ``data``, about to follow the buffered ones, to append so
        that the frame pending there can be cut (too few or too many is only slower). By
        default all of them."""
        return len(data)

    def _frame(self, start: int, stop: int) -> bytes:
        """The frame whose wire bytes _next() found at ``_buf[start:stop]``: those bytes,
        or (a transforming framing) the payload they encode."""
        with memoryview(self._buf) as view:
            return bytes(view[start:stop])

    def _next(self) -> Optional[tuple[int, int]]:
        """Cut the next frame: advance ``_pos`` past it and return (start, stop) of the bytes
        to return, or None when no whole frame is buffered (setting ``_error`` on a fault)."""
        raise NotImplementedError


class LengthPrefixFramer(_Framer):
    """Frames preceded by an unsigned binary length field of 1 to 8 bytes.

    ``offset`` bytes come before the field; ``adjustment`` is added to the field's value to
    give the number of bytes that follow the field; ``include_header`` keeps the offset bytes
    and the field in returned frames. ``max_frame_size`` limits those following bytes.
    """

    _field_max: int
    _length_size: int
    _byteorder: Literal["big", "little"]
    _offset: int
    _adjustment: int
    _include_header: bool
    _header: int

    length_size = _setting("_length_size")
    byteorder = _setting("_byteorder")
    offset = _setting("_offset")
    adjustment = _setting("_adjustment")
    include_header = _setting("_include_header")

    def __init__(
        self,
        length_size: int = 4,
        byteorder: Literal["big", "little"] = "big",
        *,
        offset: int = 0,
        adjustment: int = 0,
        include_header: bool = False,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        size, off, adjust, field_max = _rules.length_prefix(
            length_size, byteorder, offset, adjustment
        )
        big, keep_header = byteorder == "big", bool(include_header)
        self._settle()
        self._field_max = field_max
        self._length_size = size
        self._byteorder = "big" if big else "little"
        self._offset = off
        self._adjustment = adjust
        self._include_header = keep_header
        self._header = off + size
        self._open(limit, recover)

    def _field(self, at: int) -> int:
        """The value of the length field in the header at ``_buf[at]``."""
        at += self._offset
        return int.from_bytes(self._buf[at : at + self._length_size], self._byteorder)

    def _length(self, at: int) -> int:
        """The number of bytes after the field that the header at ``_buf[at]`` announces,
        or -1 if that is negative or over the limit (a fault: _next() tells which)."""
        length = self._field(at) + self._adjustment
        return length if 0 <= length <= self._limit else -1

    def _next(self) -> Optional[tuple[int, int]]:
        start = self._pos
        if self._end - start < self._header:
            return None
        length = self._length(start)
        if length < 0:
            self._error = _errors.length_error(self._field(start), self._adjustment, self._limit)
            return None
        first = start if self._include_header else start + self._header
        if length > self._end - start - self._header:
            if self._parted(start + self._header + length - first, self._end - first):
                self._begin_part(start, first, start + self._header + length - first)
            return None
        stop = self._pos = start + self._header + length
        return first, stop

    def _wanted(self, data: memoryview) -> int:
        live = self._end - self._pos
        if live < self._header:
            return self._header - live
        length = self._length(self._pos)
        return self._header + length - live if length >= 0 else len(data)

    def _announced(self) -> int:
        if self._end - self._pos < self._header:
            return -1
        length = self._length(self._pos)
        return self._header + length if length >= 0 else -1

    def _skip(self) -> bool:
        length = self._field(self._pos) + self._adjustment
        return length >= 0 and self._skip_bytes(self._header + length)  # too large only

    def _refuse(self, payload: Buffer, size: int) -> None:
        _rules.check_field(size, size - self._adjustment, self._field_max, self._limit)

    def _make_head(self, size: int) -> bytes:
        """Offset bytes (zeros), then the length field."""
        field = size - self._adjustment
        return bytes(self._offset) + field.to_bytes(self._length_size, self._byteorder)


class DecimalLengthFramer(_Framer):
    """Frames preceded by their length as ``digits`` zero-padded ASCII digits: ``0003AAA``."""

    _digits: int

    digits = _setting("_digits")

    def __init__(
        self,
        digits: int = 4,
        *,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        count = _index(_rules.decimal_digits(digits))
        self._settle()
        self._digits = count
        self._open(limit, recover)

    def _next(self) -> Optional[tuple[int, int]]:
        start = self._pos
        body = start + self._digits
        if self._end < body:
            return None
        length = self._length(start)
        if length < 0:
            self._error = _errors.bad_decimal_header(self._buf[start:body])
            return None
        if length > self._limit:
            self._error = _errors.too_large(length, self._limit)
            return None
        stop = body + length
        if stop > self._end:
            if self._parted(length, self._end - body):
                self._begin_part(start, body, length)
            return None
        self._pos = stop
        return body, stop

    def _wanted(self, data: memoryview) -> int:
        live = self._end - self._pos
        if live < self._digits:
            return self._digits - live
        length = self._length(self._pos)
        if length < 0 or length > self._limit:
            return len(data)  # a fault: _next() tells
        return self._digits + length - live

    def _announced(self) -> int:
        if self._end - self._pos < self._digits:
            return -1
        length = self._length(self._pos)
        return self._digits + length if length >= 0 else -1

    def _skip(self) -> bool:
        length = self._length(self._pos)
        return length >= 0 and self._skip_bytes(self._digits + length)  # too large only

    def _length(self, at: int) -> int:
        """The number the header's digits at ``_buf[at]`` make, or -1 if one is not a digit."""
        header = self._buf[at : at + self._digits]
        return int(header) if header.isdigit() else -1  # bytearray.isdigit(): ASCII only

    def _refuse(self, payload: Buffer, size: int) -> None:
        _rules.check_field(size, size, 10**self._digits - 1, self._limit)

    def _make_head(self, size: int) -> bytes:
        """The size in ASCII digits, zero-padded."""
        return b"%0*d" % (self._digits, size)


class NetstringFramer(_Framer):
    """Netstrings (D. J. Bernstein): the length in ASCII decimal, ``:``, the bytes, ``,``,
    as in ``3:abc,`` (``0:,`` is empty). A length with a leading zero, a non-digit or a
    missing comma is malformed; a length over ``max_frame_size`` is refused as soon as its
    digits make it so, before more is read."""

    _trailer = b","
    _part_tail = 1  # the comma after a frame filled in place

    def _tail_ok(self) -> bool:
        if self._buf[self._pos] == 44:  # b","
            return True
        assert self._part is not None
        got = self._buf[self._pos : self._pos + 1]
        self._error = _errors.netstring_comma(len(self._part), got)
        return False

    def __init__(
        self,
        *,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        self._open(limit, recover)

    def _header(self, at: int) -> tuple[int, int]:
        """``(size, length)`` of the header at ``_buf[at]``: its size with the ``:`` and the
        length it gives; ``(0, 0)`` if it is not whole yet; ``(-1, n)`` if its byte ``n``
        is wrong (a non-digit, a leading zero, or a digit that makes it too long)."""
        buf, end = self._buf, self._end
        if at == end:
            return 0, 0
        value = buf[at] - 48  # b"0"
        if not 0 <= value <= 9 or value > self._limit:
            return -1, 0
        for i in range(at + 1, end):
            digit = buf[i] - 48
            if digit == 10:  # b":"
                return i + 1 - at, value
            if not 0 <= digit <= 9 or buf[at] == 48 or value > (self._limit - digit) // 10:
                return -1, i - at
            value = value * 10 + digit
        return 0, 0

    def _next(self) -> Optional[tuple[int, int]]:
        start = self._pos
        size, length = self._header(start)
        if size < 0:
            self._error = _errors.netstring_error(
                self._buf[start : start + length + 1], self._limit
            )
            return None
        body = start + size
        if size == 0:
            return None
        if self._end - body <= length:
            if self._parted(length, self._end - body):
                self._begin_part(start, body, length)
            return None
        if self._buf[body + length] != 44:  # b","
            self._error = _errors.netstring_comma(
                length, self._buf[body + length : body + length + 1]
            )
            return None
        self._pos = body + length + 1
        return body, body + length

    def _wanted(self, data: memoryview) -> int:
        size, length = self._header(self._pos)
        if size > 0:
            if length >= len(data):  # (as the compiled twin, which must not overflow)
                return len(data)
            return size + length + 1 - (self._end - self._pos)
        if size < 0:
            return len(data)  # a fault: _next() tells
        colon = bytes(data[:24]).find(b":")  # a length has at most 19 digits
        return colon + 1 if colon >= 0 else 24

    def _announced(self) -> int:
        size, length = self._header(self._pos)
        return size + length + 1 if size > 0 else -1

    def _refuse(self, payload: Buffer, size: int) -> None:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")

    def _make_head(self, size: int) -> bytes:
        return b"%d:" % size


class VarintFramer(_Framer):
    """Frames preceded by their length as a base-128 varint, as protobuf's delimited
    streams (``writeDelimitedTo``): 7 bits per byte, least significant first, the high bit
    set on every byte but the last. A varint longer than 10 bytes or over 64 bits is
    malformed; a length over ``max_frame_size`` is refused before its bytes are read."""

    def __init__(
        self,
        *,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        self._open(limit, recover)

    def _varint(self, at: int) -> tuple[int, int]:
        """``(size, value)`` of the varint at ``_buf[at]``; ``(0, 0)`` if it is not whole
        yet; ``(-1, 0)`` if it is longer than 10 bytes or over 64 bits."""
        value = 0
        for i in range(min(10, self._end - at)):
            byte = self._buf[at + i]
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return (i + 1, value) if value < 1 << 64 else (-1, 0)
        return (-1, 0) if self._end - at >= 10 else (0, 0)

    def _header(self, at: int) -> tuple[int, int]:
        """``(size, length)`` of the varint at ``_buf[at]``, as _varint(), and ``(-1, 0)``
        for a length over the limit too."""
        size, value = self._varint(at)
        return (-1, 0) if size > 0 and value > self._limit else (size, value)

    def _next(self) -> Optional[tuple[int, int]]:
        start = self._pos
        size, length = self._header(start)
        if size < 0:
            self._error = _errors.varint_error(self._buf[start : start + 10], self._limit)
            return None
        body = start + size
        if size == 0:
            return None
        if length > self._end - body:
            if self._parted(length, self._end - body):
                self._begin_part(start, body, length)
            return None
        self._pos = body + length
        return body, body + length

    def _wanted(self, data: memoryview) -> int:
        size, length = self._header(self._pos)
        if size > 0:
            if length >= len(data):  # (as the compiled twin, which must not overflow)
                return len(data)
            return size + length - (self._end - self._pos)
        return 1 if size == 0 else len(data)  # the varint's next byte; a fault: _next() tells

    def _announced(self) -> int:
        size, length = self._header(self._pos)
        return size + length if size > 0 else -1

    def _skip(self) -> bool:
        size, value = self._varint(self._pos)  # too large: skipped; malformed: not
        return size > 0 and self._skip_bytes(size + value)

    def _refuse(self, payload: Buffer, size: int) -> None:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")

    def _make_head(self, size: int) -> bytes:
        head = bytearray()
        while size >= 0x80:
            head.append(size & 0x7F | 0x80)
            size >>= 7
        head.append(size)
        return bytes(head)


class FixedLengthFramer(_Framer):
    """Frames of exactly ``size`` bytes each, one after the other with nothing between them
    (records of devices and legacy systems)."""

    _size: int

    size = _setting("_size")

    def __init__(
        self,
        size: int,
        *,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        frame = _index(_rules.fixed_size(size, limit))
        self._settle()
        self._size = frame
        self._open(limit, recover)

    def _next(self) -> Optional[tuple[int, int]]:
        start = self._pos
        if self._end - start < self._size:
            if self._end > start and self._parted(self._size, self._end - start):
                self._begin_part(start, start, self._size)
            return None
        self._pos = start + self._size
        return start, self._pos

    def _wanted(self, data: memoryview) -> int:
        return self._size - (self._end - self._pos)

    def _announced(self) -> int:
        return self._size

    def _limit_ok(self, limit: int) -> None:
        _rules.fixed_size(self._size, limit)

    def _refuse(self, payload: Buffer, size: int) -> None:
        _rules.check_fixed(size, self._size)


class DelimiterFramer(_Framer):
    """Frames ended by a delimiter, or by the earliest of several (the longest on a tie).

    Each delimiter keeps how far it has been searched, so no byte is searched twice for it.
    """

    _tail_is_frame = True
    _delimiters: tuple[bytes, ...]
    _keep_delimiter: bool
    _seen: list[int]
    _hit: list[bool]

    delimiters = _setting("_delimiters")
    keep_delimiter = _setting("_keep_delimiter")

    def __init__(
        self,
        delimiter: Union[_Delimiter, tuple[_Delimiter, ...]] = b"\n",
        *,
        keep_delimiter: bool = False,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        delimiters = _rules.delimiters(delimiter)  # a tuple of exact bytes
        keep = bool(keep_delimiter)
        self._settle()
        self._delimiters = delimiters
        self._trailer = delimiters[0]
        self._keep_delimiter = keep
        self._open(limit, recover)

    def _restart(self) -> None:
        # For delimiter i, no match starts before _seen[i]; _hit[i] says whether one
        # starts exactly there (otherwise the delimiter may begin there once more bytes
        # arrive, or _seen[i] == _end).
        self._seen = [0] * len(self._delimiters)
        self._hit = [False] * len(self._delimiters)

    def _rebase(self, shift: int) -> None:
        self._seen = [seen - shift for seen in self._seen]

    def _next(self) -> Optional[tuple[int, int]]:
        start, end, buf = self._pos, self._end, self._buf
        best = -1
        for i, delim in enumerate(self._delimiters):
            if self._seen[i] < start:
                self._seen[i], self._hit[i] = start, False
            if not self._hit[i]:
                at = buf.find(delim, self._seen[i], end)
                if at >= 0:
                    self._seen[i], self._hit[i] = at, True
                else:
                    # The first tail position where the delimiter may still begin.
                    at = max(self._seen[i], end - len(delim) + 1)
                    if self._final:
                        at = end
                    while at < end and not delim.startswith(buf[at:end]):
                        at += 1
                    self._seen[i] = at
            # The earliest position decides; on a tie the longer delimiter.
            if (
                best < 0
                or self._seen[i] < self._seen[best]
                or (self._seen[i] == self._seen[best] and len(delim) > len(self._delimiters[best]))
            ):
                best = i
        at = self._seen[best]
        if self._discarding:  # the rest of a skipped frame: up to its delimiter
            if not self._hit[best]:
                self._pos = at  # no delimiter begins before
                return None
            self._pos, self._discarding = at + len(self._delimiters[best]), False
            return self._next()
        if at - start > self._limit:
            self._error = (
                _errors.too_large(at - start, self._limit)
                if self._hit[best]
                else _errors.no_delimiter(at - start, self._limit)
            )
            return None
        if not self._hit[best]:  # the earliest candidate is not complete yet
            return None
        stop = at + len(self._delimiters[best])
        self._pos = stop
        return start, (stop if self._keep_delimiter else at)

    def _skip(self) -> bool:
        # The frame _next() refused ends at the earliest delimiter; if that has not come
        # yet, every byte before where one may still begin is dropped, and more as they come.
        best = min(range(len(self._seen)), key=lambda i: (self._seen[i], -len(self._delimiters[i])))
        if self._hit[best]:
            self._pos = self._seen[best] + len(self._delimiters[best])
        else:
            self._pos, self._discarding = self._seen[best], True
        return True

    def _wanted(self, data: memoryview) -> int:
        # Up to the first delimiter in data, and room to settle a tie with a longer one.
        raw = bytes(data)
        first = len(raw)
        for delim in self._delimiters:
            at = raw.find(delim, 0, first + len(delim))
            if at >= 0:
                first = at
        return first + max(map(len, self._delimiters))

    def _refuse(self, payload: Buffer, size: int) -> None:
        """Refuse a payload over the limit, or one that would not decode back: it holds a
        delimiter, or its end and the delimiter sent after it could make one (a longer
        delimiter may even begin there)."""
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        _rules.check_delimited(payload, self._delimiters)


class LineFramer(DelimiterFramer):
    """Lines ended by ``\\n`` or ``\\r\\n`` (both stripped); encode() appends ``line_ending``."""

    def __init__(
        self,
        *,
        line_ending: Literal[b"\n", b"\r\n"] = b"\n",
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        ending = _rules.line_ending(line_ending)
        other = b"\r\n" if ending == b"\n" else b"\n"
        super().__init__((ending, other), max_frame_size=max_frame_size, on_error=on_error)


# MarkerFramer: what a scan inside a frame stops at, and what _discarding drops.
_TAIL, _END, _START, _BAD = 0, 1, 2, 3  # undecided yet; end marker; start marker; bad escape
_GARBAGE, _BROKEN = 1, 2  # a garbage run (to a start marker); a broken frame (to either)


class MarkerFramer(_Framer):
    """Frames between a start and an end marker (STX/ETX, ``{``/``}``, ``<msg>``/``</msg>``):
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

    _start_marker: bytes
    _end_marker: bytes
    _escape: Optional[bytes]
    _specials: bytes  # the bytes an escape may precede: the escape byte, the markers' first
    # Scan state of the frame whose start marker is at _pos (when _opened): no marker
    # begins in _buf[_pos + len(start):_seen], which decodes to _decoded bytes.
    _opened: bool
    _seen: int
    _decoded: int

    start = _setting("_start_marker")
    end = _setting("_end_marker")
    escape = _setting("_escape")

    def __init__(
        self,
        start: _Delimiter = b"\x02",
        end: _Delimiter = b"\x03",
        *,
        escape: Optional[_Delimiter] = None,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        head, tail, esc = _rules.markers(start, end, escape)
        self._settle()
        self._start_marker, self._end_marker, self._escape = head, tail, esc
        self._trailer = tail
        self._verbatim = esc is None
        self._specials = b"" if esc is None else bytes(dict.fromkeys(esc + head[:1] + tail[:1]))
        self._open(limit, recover)

    @property
    def garbage(self) -> int:
        """Bytes dropped outside frames so far in this stream (with on_error "raise" or
        "skip"; "fail" drops nothing)."""
        return self._garbage

    def _restart(self) -> None:
        self._opened, self._seen, self._decoded = False, 0, 0

    def _rebase(self, shift: int) -> None:
        self._seen -= shift

    def _may_begin(self, at: int) -> bool:
        """Whether a marker may begin at ``_buf[at]``, cut off by the end of the bytes."""
        if self._final:
            return False
        rest = self._buf[at : self._end]
        return self._end_marker.startswith(rest) or self._start_marker.startswith(rest)

    def _first(self, lo: int, hi: int) -> tuple[int, int]:
        """The earliest marker wholly in ``_buf[lo:hi]``: (offset, _END or _START), or
        (-1, _TAIL). (Neither marker holds the other: they never match at one offset.)"""
        buf = self._buf
        at = buf.find(self._end_marker, lo, hi)
        if at >= 0:  # a start marker that begins before it
            hi = min(hi, at + len(self._start_marker) - 1)
        first = buf.find(self._start_marker, lo, hi)
        if first >= 0 and (at < 0 or first < at):
            return first, _START
        return (at, _END) if at >= 0 else (-1, _TAIL)

    def _scan(self, at: int, check: bool) -> tuple[int, int, int]:
        """Scan the inside of a frame from ``_buf[at]``: ``(offset, kind, decoded)``, the
        first marker (_END, _START), bad escape (_BAD; only if ``check``) or the place
        where more bytes must decide (_TAIL: a marker may begin there, or an escape is the
        last byte, or the end), and the bytes ``_buf[at:offset]`` decode to."""
        buf, end, esc = self._buf, self._end, self._escape
        decoded = 0
        while True:
            escaped = -1 if esc is None else buf.find(esc, at, end)
            # No marker runs over an escape byte: one that begins before it ends before it.
            first, kind = self._first(at, end if escaped < 0 else escaped)
            if first >= 0:
                return first, kind, decoded + first - at
            if escaped < 0:
                tail = max(at, end - max(len(self._start_marker), len(self._end_marker)) + 1)
                while tail < end and not self._may_begin(tail):
                    tail += 1
                return tail, _TAIL, decoded + tail - at
            decoded += escaped - at
            if escaped + 1 == end:
                return escaped, _TAIL, decoded
            if check and buf[escaped + 1] not in self._specials:
                return escaped, _BAD, decoded
            decoded += 1
            at = escaped + 2

    def _next(self) -> Optional[tuple[int, int]]:
        buf, end, start_marker = self._buf, self._end, self._start_marker
        while True:
            pos = self._pos
            if self._discarding == _GARBAGE:  # dropped up to a start marker
                at = buf.find(start_marker, pos, end)
                if at < 0:
                    at = max(pos, end - len(start_marker) + 1)
                    while at < end and (self._final or not start_marker.startswith(buf[at:end])):
                        at += 1
                self._garbage += at - pos
                self._pos = at
                if not buf.startswith(start_marker, at, end):
                    return None
                self._discarding = 0
                continue
            if self._discarding == _BROKEN:  # the rest of a broken frame: to either marker
                at, kind, _ = self._scan(pos, False)
                if kind == _TAIL:
                    self._pos = end if self._final else at
                    return None
                self._pos = at + len(self._end_marker) if kind == _END else at
                self._discarding = 0
                continue
            if not self._opened or self._seen < pos + len(start_marker):
                # Outside a frame: a start marker must begin here.
                if not buf.startswith(start_marker, pos, end):
                    if pos == end or (not self._final and start_marker.startswith(buf[pos:end])):
                        return None  # (may begin a start marker)
                    got = buf[pos : min(end, pos + len(start_marker))]
                    self._error = _errors.marker_garbage(got, start_marker)
                    return None
                self._opened, self._seen, self._decoded = True, pos + len(start_marker), 0
            at, kind, decoded = self._scan(self._seen, True)
            self._seen = at
            self._decoded += decoded
            if self._decoded > self._limit:
                self._error = (
                    _errors.too_large(self._decoded, self._limit)
                    if kind == _END
                    else _errors.no_end_marker(self._decoded, self._limit)
                )
                return None
            if kind == _END:
                self._pos, self._opened = at + len(self._end_marker), False
                return pos + len(start_marker), at
            if kind == _START:
                self._error = _errors.marker_inside(start_marker, at - pos - len(start_marker))
            elif kind == _BAD:
                assert self._escape is not None
                self._error = _errors.bad_escape(self._escape, buf[at + 1], self._specials)
            return None

    def _skip(self) -> bool:
        # Garbage: dropped up to the next start marker. A broken frame: dropped up to
        # where the scan stopped, then up to the next end marker (dropped too) or start
        # marker (which begins the next frame).
        if self._opened:
            self._pos, self._opened, self._discarding = self._seen, False, _BROKEN
        else:
            self._discarding = _GARBAGE
        return True

    def _frame(self, start: int, stop: int) -> bytes:
        with memoryview(self._buf) as view:
            wire = bytes(view[start:stop])
        if self._escape is None:
            return wire
        # _next() checked the escapes and counted the bytes they decode to. (A stale view
        # may have changed bytes scanned in an earlier call: as the compiled twin, an
        # escape as the last byte is dropped, and the frame is cut or padded with zeros
        # to the size counted.)
        frame = re.sub(re.escape(self._escape) + b"(.?)", rb"\1", wire, flags=re.DOTALL)
        return frame[: self._decoded].ljust(self._decoded, b"\0")

    def _wanted(self, data: memoryview) -> int:
        # Up to the first end marker in data (one that is escaped only makes this short).
        found = re.search(re.escape(self._end_marker), data)
        return found.end() if found else len(data)

    def _refuse(self, payload: Buffer, size: int) -> None:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")
        if self._escape is None:
            _rules.check_markers(payload, self._start_marker, self._end_marker)

    def _make_head(self, size: int) -> bytes:
        return self._start_marker

    def _transform(self, view: memoryview) -> bytes:
        assert self._escape is not None
        special = b"[" + b"".join(re.escape(bytes([b])) for b in self._specials) + b"]"
        return re.sub(special, self._escape.replace(b"\\", b"\\\\") + rb"\g<0>", bytes(view))


# -- COBS and SLIP: the payload's bytes are transformed on the wire ----------------------


class _StuffedFramer(_Framer):
    """A framing that stuffs bytes (COBS, SLIP): a payload goes on the wire transformed,
    and each frame ends at the one byte (``_end_byte``) never found inside one. A frame
    is decoded where _next() finds it whole: a stale view that changed its bytes since
    they were scanned makes a fault there, never a wrong frame."""

    _verbatim = False
    _end_byte: int
    _out: bytes  # the frame _next() decoded, for _frame()

    def _discarded(self) -> bool:
        """Past the rest of a skipped frame (up to its end byte): whether it is all here."""
        if self._discarding:
            stop = self._buf.find(self._end_byte, self._pos, self._end)
            if stop < 0:
                self._pos = self._end
                return False
            self._pos, self._discarding = stop + 1, False
        return True

    def _frame(self, start: int, stop: int) -> bytes:
        out, self._out = self._out, b""
        return out

    def _wanted(self, data: memoryview) -> int:
        stop = bytes(data).find(self._end_byte)  # up to the first end byte
        return stop + 1 if stop >= 0 else len(data)

    def _refuse(self, payload: Buffer, size: int) -> None:
        if size > self._limit:
            raise _errors.too_large(size, self._limit, "payload")


class COBSFramer(_StuffedFramer):
    """Consistent Overhead Byte Stuffing (Cheshire and Baker): each frame is its payload
    with every 0x00 taken out, then a 0x00 (overhead: 1 byte, and 1 per 254). A code byte
    ``c`` (1 to 255) is followed by ``c - 1`` data bytes, then by a zero unless ``c`` is
    255 or the frame ends there. A code byte that points past the frame's 0x00 is
    malformed; empty frames (0x00 after 0x00, sent to flush line noise) are skipped.
    ``max_frame_size`` limits the decoded payload, refused as soon as a code byte makes it
    too large (before more is read); recovery skips to the next 0x00."""

    _trailer = b"\x00"
    _end_byte = 0
    # The frame at _pos is scanned as its bytes come, each byte once: no 0x00 is in
    # _buf[_pos:_seen]; _code is where the next code byte is, _last where the last one
    # read is, _size how many payload bytes the codes read so far give; _short: the last
    # one was under 255, so a zero follows its group if another group does.
    _seen: int
    _code: int
    _last: int
    _size: int
    _short: bool

    def __init__(
        self,
        *,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        self._open(limit, recover)

    def _restart(self) -> None:
        self._seen = self._code = self._last = self._size = 0
        self._short = False
        self._out = b""

    def _rebase(self, shift: int) -> None:
        self._seen -= shift
        self._code -= shift
        self._last -= shift

    def _next(self) -> Optional[tuple[int, int]]:
        if not self._discarded():
            return None
        buf, end = self._buf, self._end
        while True:
            start = self._pos
            if self._code < start:  # a new frame
                self._seen = self._code = self._last = start
                self._size, self._short = 0, False
            zero = buf.find(0, self._seen, end)
            self._seen = end if zero < 0 else zero
            # Read the code bytes before the 0x00 (or the end): each adds its group.
            code, size, short = self._code, self._size, self._short
            while code < self._seen:
                if not buf[code]:  # a 0x00 written through a stale view since the find
                    self._last = start  # (by another thread): a group of -1 bytes
                    self._error = _errors.changed_under_scan()
                    return None
                self._last = code
                size += buf[code] - 1 + short
                short = buf[code] < 255
                if size > self._limit:
                    self._error = _errors.decoded_too_large(size, self._limit)
                    return None
                code += buf[code]
            self._code, self._size, self._short = code, size, short
            if size > self._limit:  # (a limit lowered since the code bytes were read)
                self._error = _errors.decoded_too_large(size, self._limit)
                return None
            if zero < 0:
                return None
            if code > zero:  # the last code's group runs past the 0x00
                last = self._last
                self._error = _errors.cobs_code(buf[last], last - start, zero - last - 1)
                return None
            if zero == start:  # an empty frame: skipped
                self._pos = zero + 1
                continue
            self._out = self._decode(start, zero, size)
            if self._error is not None:
                return None
            self._pos = zero + 1
            return start, zero

    def _decode(self, start: int, stop: int, size: int) -> bytes:
        """The payload of the frame at ``_buf[start:stop]``, checked to be ``size`` bytes
        again (a stale view may have changed its bytes since they were scanned: decoding
        here, in _next(), makes that a fault like any other, never a wrong frame)."""
        buf, out = self._buf, bytearray(size)
        filled = 0
        while start < stop:
            code = buf[start]
            if code == 0 or code > stop - start or code - 1 > size - filled:
                break
            out[filled : filled + code - 1] = buf[start + 1 : start + code]
            filled += code - 1
            start += code
            if code < 255 and start < stop:  # the implied zero (out is zeros)
                if filled == size:
                    break
                filled += 1
        if start < stop or filled != size:  # (every break above leaves start < stop)
            self._last = self._pos
            self._error = _errors.changed_under_scan()
            return b""
        return bytes(out)

    def _skip(self) -> bool:
        # The bad frame ends at the next 0x00, at or after the code byte found wrong
        # (the scan starts again after it).
        self._pos = self._code = self._last
        self._discarding = True
        return True

    def _transform(self, view: memoryview) -> bytes:
        """Each run of non-zero bytes (at most 254) after its code byte: its size + 1."""
        out = bytearray()
        pieces = bytes(view).split(b"\x00")
        for i, piece in enumerate(pieces):
            at = 0
            while len(piece) - at >= 254:  # a full group: code 255, no zero after it
                out += b"\xff" + piece[at : at + 254]
                at += 254
            # The last group of a piece: before a zero always, at the payload's end only
            # if it holds bytes (or the payload is empty).
            if i < len(pieces) - 1 or at < len(piece) or not piece:
                out.append(len(piece) - at + 1)
                out += piece[at:]
        return bytes(out)


_SLIP_END, _SLIP_ESC, _SLIP_ESC_END, _SLIP_ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
_SLIP_SPECIAL = re.compile(b"[\xc0\xdb]")  # END or ESC


class SLIPFramer(_StuffedFramer):
    """SLIP (RFC 1055): each frame ends with END (0xC0); END and ESC (0xDB) in the payload
    are sent as ESC ESC_END (0xDB 0xDC) and ESC ESC_ESC (0xDB 0xDD). With ``leading_end``,
    encode() also sends END before each frame (RFC 1055's advice: it ends any line noise
    received before as a frame of its own). Empty frames are skipped (so encode() refuses
    an empty payload); an ESC followed by any other byte (END included) is malformed.
    ``max_frame_size`` limits the decoded payload, counted as the bytes come; recovery
    skips to the next END."""

    _trailer = b"\xc0"
    _end_byte = _SLIP_END
    _leading_end: bool
    # The frame at _pos is scanned as its bytes come, each byte once: _buf[_pos:_seen]
    # holds no END and decodes to _size bytes (an ESC at _seen waits for its next byte).
    _seen: int
    _size: int

    leading_end = _setting("_leading_end")

    def __init__(
        self,
        *,
        leading_end: bool = False,
        max_frame_size: Optional[int] = _rules.DEFAULT_MAX_FRAME_SIZE,
        on_error: OnError = "fail",
    ) -> None:
        self._initialising()
        leading = _rules.flag("leading_end", leading_end)
        limit = _rules.limit(max_frame_size)
        recover = _rules.on_error(on_error)
        self._settle()
        self._leading_end = leading
        self._open(limit, recover)

    def _restart(self) -> None:
        self._seen = self._size = 0
        self._out = b""

    def _rebase(self, shift: int) -> None:
        self._seen -= shift

    def _next(self) -> Optional[tuple[int, int]]:
        if not self._discarded():
            return None
        buf, end = self._buf, self._end
        while True:
            start = self._pos
            if self._seen < start:  # a new frame
                self._seen, self._size = start, 0
            at, size = self._seen, self._size
            while True:  # count the bytes up to the next END or ESC; an ESC and its next
                match = _SLIP_SPECIAL.search(buf, at, end)
                special = end if match is None else match.start()
                size += special - at
                if size > self._limit:
                    self._too_large(at)
                    return None
                if special == end or buf[special] == _SLIP_END:
                    at = special
                    break
                if special + 1 == end:  # an ESC whose next byte has not come yet
                    at = special
                    break
                if buf[special + 1] not in (_SLIP_ESC_END, _SLIP_ESC_ESC):
                    self._seen = special
                    self._error = _errors.slip_escape(buf[special + 1], special - start)
                    return None
                size += 1
                if size > self._limit:
                    self._too_large(special)
                    return None
                at = special + 2
            self._seen, self._size = at, size
            if at == end or buf[at] != _SLIP_END:
                return None
            if at == start:  # an empty frame: skipped
                self._pos = at + 1
                continue
            self._out = self._decode(start, at, size)
            if self._error is not None:
                return None
            self._pos = at + 1
            return start, at

    def _too_large(self, at: int) -> None:
        """The decoded bytes went over the limit at ``_buf[at]``."""
        self._seen = at
        self._error = _errors.decoded_too_large(self._limit + 1, self._limit)

    def _decode(self, start: int, stop: int, size: int) -> bytes:
        """The payload of the frame at ``_buf[start:stop]``, checked to be ``size`` bytes
        with only valid escapes again (a stale view may have changed its bytes since)."""
        wire = bytes(self._buf[start:stop])
        escapes = wire.count(b"\xdb\xdc") + wire.count(b"\xdb\xdd")
        if wire.count(b"\xdb") != escapes or len(wire) - escapes != size:
            self._seen = start
            self._error = _errors.changed_under_scan()
            return b""
        # Left to right, an ESC always begins a pair: neither replace can match across two.
        return wire.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")

    def _skip(self) -> bool:
        # The bad frame ends at the next END, at or after the byte found wrong.
        self._pos, self._discarding = self._seen, True
        return True

    def _refuse(self, payload: Buffer, size: int) -> None:
        super()._refuse(payload, size)
        if size == 0:  # it would never arrive
            raise _errors.empty_slip_payload()

    def _make_head(self, size: int) -> bytes:
        return b"\xc0" if self._leading_end else b""

    def _transform(self, view: memoryview) -> bytes:
        """ESC as ESC ESC_ESC first, then END as ESC ESC_END."""
        return bytes(view).replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
