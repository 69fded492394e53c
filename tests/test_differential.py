"""Differential tests: random settings, payloads and splits. Both twins must return the same
frames, the same errors (type and message) and the same pending count, and agree with a
decode-by-definition reference written here over the whole byte string."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyframe import (
    FrameError,
    FrameTooLargeError,
    IncompleteFrameError,
    MalformedFrameError,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

UNLIMITED = 2**63 - 1  # max_frame_size=None: the largest size supported (a C ssize_t)

# -- the reference: each wire format read straight from its definition --------------------


def reference(kind, kw, data, final=False, skips=None):
    """Decode the whole of ``data``. Returns ``(frames, outcome)``: outcome is the number
    of bytes left pending, or the FrameError subclass that stops the stream. ``final``:
    the stream ends after ``data`` (a delimiter cut off by the end cannot match). With
    ``on_error`` "raise" or "skip" in ``kw``, a frame too large is skipped where the
    framing tells where it ends (its size fits 63 bits), and listed in ``skips``."""
    limit = kw.get("max_frame_size", 8 << 20)
    limit = UNLIMITED if limit is None else limit
    recover = kw.get("on_error", "fail") != "fail"
    skips = [] if skips is None else skips
    frames = []
    pos = 0

    def skip(total):
        """Skip ``total`` bytes from pos (the rest of the data, if they run past it);
        False if the size does not fit 63 bits."""
        nonlocal pos
        if not recover or total > UNLIMITED:
            return False
        skips.append(pos)
        pos = min(len(data), pos + total)
        return True

    if kind == "length":
        size = kw.get("length_size", 4)
        order = kw.get("byteorder", "big")
        offset = kw.get("offset", 0)
        header = offset + size
        while len(data) - pos >= header:
            value = int.from_bytes(data[pos + offset : pos + header], order)
            length = value + kw.get("adjustment", 0)  # the bytes after the field
            if length < 0:
                return frames, MalformedFrameError
            if length > limit:
                if skip(header + length):
                    continue
                return frames, FrameTooLargeError
            if pos + header + length > len(data):
                break
            first = pos if kw.get("include_header") else pos + header
            frames.append(data[first : pos + header + length])
            pos += header + length
        return frames, len(data) - pos
    if kind == "decimal":
        digits = kw.get("digits", 4)
        while len(data) - pos >= digits:
            text = data[pos : pos + digits]
            if any(c not in b"0123456789" for c in text):
                return frames, MalformedFrameError
            length = int(text.decode("ascii"))
            if length > limit:
                if skip(digits + length):
                    continue
                return frames, FrameTooLargeError
            if pos + digits + length > len(data):
                break
            frames.append(data[pos + digits : pos + digits + length])
            pos += digits + length
        return frames, len(data) - pos
    if kind == "netstring":  # digits (no leading zero but in 0), ":", the bytes, ","
        while pos < len(data):
            colon = data.find(b":", pos)
            digits = data[pos : colon if colon >= 0 else len(data)]
            for i in range(len(digits)):  # the first wrong byte decides
                if digits[i] not in b"0123456789" or (i and digits[0] == ord("0")):
                    return frames, MalformedFrameError
                if int(digits[: i + 1]) > limit:
                    return frames, FrameTooLargeError
            if colon < 0:
                break
            if not digits:
                return frames, MalformedFrameError
            body, length = colon + 1, int(digits)
            if len(data) - body <= length:
                break
            if data[body + length] != ord(","):
                return frames, MalformedFrameError
            frames.append(data[body : body + length])
            pos = body + length + 1
        return frames, len(data) - pos
    if kind == "varint":  # LEB128: 7 bits a byte, low first, high bit = more follow
        while pos < len(data):
            value, size = 0, 0
            while size < 10 and pos + size < len(data):
                value |= (data[pos + size] & 0x7F) << (7 * size)
                size += 1
                if data[pos + size - 1] < 0x80:
                    break
            else:
                if size == 10:  # ten bytes, and still more to follow
                    return frames, MalformedFrameError
                break  # the varint is not whole yet
            if value >= 2**64:
                return frames, MalformedFrameError
            if value > limit:
                if skip(size + value):
                    continue
                return frames, FrameTooLargeError
            if pos + size + value > len(data):
                break
            frames.append(data[pos + size : pos + size + value])
            pos += size + value
        return frames, len(data) - pos
    if kind in ("cobs", "slip"):
        return _reference_stuffed(kind, limit, recover, data, pos, frames, skips)
    if kind == "fixed":
        size = kw["size"]
        while len(data) - pos >= size:
            frames.append(data[pos : pos + size])
            pos += size
        return frames, len(data) - pos
    if kind == "marker":
        return reference_marker(kw, data, final, limit, recover, skips)
    # Delimiters: the frame ends at the first position where a delimiter matches; of the
    # delimiters matching there, the longest. A delimiter cut off by the end of the data
    # (its beginning matches what is there) may still match, at that position, so the
    # frame is undecided. The end of the data itself is such a position. At the end of
    # the stream (``final``) nothing more comes: only the end itself stays undecided.
    if kind == "line":
        delims = [b"\n", b"\r\n"]
        keep = False
    else:
        d = kw.get("delimiter", b"\n")
        delims = [bytes(x) for x in (d if isinstance(d, tuple) else (d,))]
        keep = kw.get("keep_delimiter", False)
    discarding = False  # a frame too long is dropped up to its delimiter
    while True:
        q = pos
        while True:
            rest = data[q:]
            maybe = [d for d in delims if len(rest) < len(d) and d.startswith(rest)]
            if final and rest:
                maybe = []
            full = [d for d in delims if rest.startswith(d)]
            if maybe:  # undecided: wait for more bytes (unless already too long)
                if discarding:
                    return frames, len(data) - q  # dropped up to where one may begin
                if q - pos > limit:
                    if recover:
                        skips.append(pos)
                        pos, discarding = q, True
                        continue
                    return frames, FrameTooLargeError
                return frames, len(data) - pos
            if full:
                d = max(full, key=len)
                if discarding or q - pos > limit:
                    if not (discarding or recover):
                        return frames, FrameTooLargeError
                    if not discarding:
                        skips.append(pos)
                    pos, discarding = q + len(d), False
                    break
                frames.append(data[pos : q + len(d)] if keep else data[pos:q])
                pos = q + len(d)
                break
            q += 1


def cobs_decode(wire):
    """COBS by definition: code c, c - 1 data bytes, then a zero unless c is 255 or the
    frame ends there."""
    out, i = bytearray(), 0
    while i < len(wire):
        code = wire[i]
        out += wire[i + 1 : i + code]
        i += code
        if code < 255 and i < len(wire):
            out.append(0)
    return bytes(out)


def _reference_stuffed(kind, limit, recover, data, pos, frames, skips):
    """COBS and SLIP: frames end at a delimiter (0x00, END); empty ones are skipped. The
    payload is decoded byte by byte from the frame's start; the first fault in that order
    decides (a COBS code byte whose group makes the payload too large, then the last code
    byte's group running past the 0x00; a SLIP byte that makes it too large, or an ESC
    followed by another byte than ESC_END or ESC_ESC, END included). A bad frame is
    skipped up to its delimiter."""
    delimiter = b"\x00" if kind == "cobs" else b"\xc0"
    while True:
        stop = data.find(delimiter, pos)
        end = len(data) if stop < 0 else stop
        fault = None
        if kind == "cobs":
            q, size, short = pos, 0, False
            while q < end and fault is None:
                size += data[q] - 1 + short
                short = data[q] < 255
                if size > limit:
                    fault = FrameTooLargeError
                q += data[q]
            if fault is None and stop >= 0 and q > stop:
                fault = MalformedFrameError
        else:
            q, size = pos, 0
            while q < end:
                if data[q] == 0xDB:
                    if q + 1 == len(data):
                        break  # its next byte has not come yet
                    if data[q + 1] not in (0xDC, 0xDD):
                        fault = MalformedFrameError
                        break
                    q += 1
                q += 1
                size += 1
                if size > limit:
                    fault = FrameTooLargeError
                    break
        if fault is not None:
            if not recover:
                return frames, fault
            skips.append(pos)
            if stop < 0:
                return frames, 0  # dropped as they come
            pos = stop + 1
            continue
        if stop < 0:
            return frames, len(data) - pos
        if stop > pos:
            wire = data[pos:stop]
            if kind == "cobs":
                frames.append(cobs_decode(wire))
            else:
                frames.append(wire.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))
        pos = stop + 1


def reference_marker(kw, data, final, limit, recover, skips):
    """Start and end markers, read byte by byte. Outside a frame a start marker must begin
    at each byte; any other byte is garbage (a fault, then dropped up to a start marker).
    Inside, at each byte: an escape and the byte it escapes (the escape byte or a marker's
    first byte; any other is a bad escape), else the end marker (the frame ends), else the
    start marker (the frame is broken: the new one begins there), else a payload byte. A
    marker cut off by the end of the data (unless ``final``) leaves the frame undecided,
    as does an escape as the last byte. A frame whose payload bytes so far pass the limit
    is too large, whatever comes next. A broken frame (bad escape, too large) is dropped
    up to the next end marker (dropped with it) or start marker."""
    start = bytes(kw.get("start", b"\x02"))
    end = bytes(kw.get("end", b"\x03"))
    esc = kw.get("escape")
    esc = None if esc is None else bytes(esc)[0]
    specials = (start[0], end[0], esc)
    n = len(data)
    frames = []
    pos = 0
    state = "out"  # out, garbage (dropping a garbage run), broken (dropping a frame)

    def may_begin(q):
        rest = data[q:]
        return not final and any(len(rest) < len(m) and m.startswith(rest) for m in (start, end))

    while True:
        if state in ("out", "garbage"):
            if data.startswith(start, pos):
                state, q, payload = "in", pos + len(start), bytearray()
            elif pos == n or (
                not final and len(data) - pos < len(start) and start.startswith(data[pos:])
            ):
                return frames, n - pos
            else:
                if state == "out":
                    if not recover:
                        return frames, MalformedFrameError
                    skips.append(pos)
                    state = "garbage"
                pos += 1
            continue
        if state == "broken":
            while True:
                if pos == n or (esc is not None and data[pos] == esc and pos + 1 == n):
                    return frames, 0 if final else n - pos
                if esc is not None and data[pos] == esc:
                    pos += 2
                elif data.startswith(end, pos):
                    pos += len(end)
                    break
                elif data.startswith(start, pos):
                    break
                elif may_begin(pos):
                    return frames, n - pos
                else:
                    pos += 1
            state = "out"
            continue
        # Inside a frame: find what the scan stops at.
        while True:
            if esc is not None and q < n and data[q] == esc:
                if q + 1 == n:
                    event = "tail"
                elif data[q + 1] in specials:
                    payload.append(data[q + 1])
                    q += 2
                    continue
                else:
                    event = "bad"
            elif data.startswith(end, q):
                event = "end"
            elif data.startswith(start, q):
                event = "start"
            elif q == n or may_begin(q):
                event = "tail"
            else:
                payload.append(data[q])
                q += 1
                continue
            break
        if len(payload) > limit:
            event = "large"
        if event == "end":
            frames.append(bytes(payload))
            pos, state = q + len(end), "out"
        elif event == "tail":
            return frames, n - pos
        elif not recover:
            return frames, FrameTooLargeError if event == "large" else MalformedFrameError
        else:
            skips.append(pos)
            pos, state = q, ("out" if event == "start" else "broken")


def reference_eof(kind, kw, data):
    """What eof() must do after ``data``: (frames, outcome) with IncompleteFrameError when
    bytes are left over."""
    frames, outcome = reference(kind, kw, data, final=True)
    if outcome == 0:
        return frames, 0
    if isinstance(outcome, int):
        return frames, IncompleteFrameError
    return frames, outcome


# -- driving the twins -------------------------------------------------------------------


def make(module, kind, kw):
    cls = {
        "length": module.LengthPrefixFramer,
        "decimal": module.DecimalLengthFramer,
        "netstring": module.NetstringFramer,
        "varint": module.VarintFramer,
        "fixed": module.FixedLengthFramer,
        "delimiter": module.DelimiterFramer,
        "line": module.LineFramer,
        "cobs": module.COBSFramer,
        "slip": module.SLIPFramer,
        "marker": module.MarkerFramer,
    }[kind]
    return cls(**kw)


def drive(framer, chunks, eof=False):
    """Feed ``chunks``; then pop_frames() (and eof() then pop_frames() once more, if asked:
    eof() returns the frames it cut first, and a fault behind them comes with the next
    call). Returns (frames, error
    type, error message, error partial, pending)."""
    frames = []
    try:
        for chunk in chunks:
            frames += framer.feed(chunk)
        frames += framer.pop_frames()
        if eof:
            frames += framer.eof()
            frames += framer.pop_frames()  # a fault deferred behind the last frames
    except FrameError as exc:
        return frames, type(exc), str(exc), getattr(exc, "partial", None), framer.pending
    return frames, None, None, None, framer.pending


def cut(data, points):
    bounds = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def check_stream(impls, kind, kw, data, points):
    """Both twins and the reference agree on ``data``, whole, cut at ``points``, one byte
    at a time, with and without eof()."""
    ref_frames, ref_outcome = reference(kind, kw, data)
    eof_frames, eof_outcome = reference_eof(kind, kw, data)
    splits = {
        "whole": [data],
        "split": cut(data, points),
        "bytewise": [data[i : i + 1] for i in range(len(data))],
    }
    for how, chunks in splits.items():
        for eof in (False, True):
            results = {name: drive(make(m, kind, kw), chunks, eof) for name, m in impls.items()}
            # Identical twins: frames, error type, message, .partial, pending.
            assert len({repr(r) for r in results.values()}) == 1, (how, eof, results)
            frames, error, _, partial, pending = next(iter(results.values()))
            want_frames, want = (eof_frames, eof_outcome) if eof else (ref_frames, ref_outcome)
            assert frames == want_frames, (how, eof)
            if isinstance(want, int):
                assert error is None, (how, eof, results)
                assert pending == want
            else:
                assert error is want, (how, eof, results)
                if want is IncompleteFrameError:  # the bytes the final decode left over
                    left = reference(kind, kw, data, final=True)[1]
                    assert partial == data[len(data) - left :]
    return ref_frames, ref_outcome


# -- strategies --------------------------------------------------------------------------

limits = st.sampled_from([None, 8 << 20, 0, 1, 2, 3, 4, 5, 6, 8, 12, 20, 40])

length_kw = st.fixed_dictionaries(
    {"max_frame_size": limits},
    optional={
        "length_size": st.integers(1, 8),
        "byteorder": st.sampled_from(["big", "little"]),
        "offset": st.integers(0, 3),
        "adjustment": st.one_of(st.integers(-10, 10), st.sampled_from([-(2**62), 2**62])),
        "include_header": st.booleans(),
    },
)
decimal_kw = st.fixed_dictionaries(
    {"max_frame_size": limits}, optional={"digits": st.integers(1, 5)}
)
delim_bytes = st.binary(min_size=1, max_size=3).map(lambda b: bytes(b"ab\n\r"[c % 4] for c in b))
wide_delim = st.binary(min_size=1, max_size=2).map(
    lambda b: bytes(b"ab\n\r0\xffcdefgh"[c % 12] for c in b)
)


def pick(*strategies):
    """One of ``strategies``, chosen evenly (st.one_of leans to the first)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


delimiter_kw = st.fixed_dictionaries(
    {
        "delimiter": pick(
            delim_bytes,
            st.lists(delim_bytes, min_size=1, max_size=3).map(tuple),
            # One delimiter the beginning of another: ties and "may still begin" cases.
            st.tuples(delim_bytes, delim_bytes, st.booleans()).map(
                lambda t: (t[0], t[0] + t[1]) if t[2] else (t[0] + t[1], t[0])
            ),
            # One delimiter inside another ("YZ" and "XYZW").
            st.tuples(delim_bytes, delim_bytes, delim_bytes).map(
                lambda t: (t[1], t[0] + t[1] + t[2])
            ),
            # More than 8 different first bytes (the compiled module's one-pass search of
            # first bytes holds 8: past that it searches each delimiter on its own).
            st.lists(wide_delim, min_size=9, max_size=12, unique=True).map(tuple),
        ),
        "max_frame_size": limits,
    },
    optional={"keep_delimiter": st.booleans()},
)
limit_kw = st.fixed_dictionaries({"max_frame_size": limits})
fixed_kw = st.fixed_dictionaries(
    {"size": st.integers(1, 6), "max_frame_size": st.sampled_from([None, 6, 8 << 20])}
)
line_kw = st.fixed_dictionaries(
    {"max_frame_size": limits}, optional={"line_ending": st.sampled_from([b"\n", b"\r\n"])}
)
slip_kw = st.fixed_dictionaries({"max_frame_size": limits}, optional={"leading_end": st.booleans()})

# Markers over the same small alphabet as the payloads (and sharing first bytes, or
# beginning with the other's last byte), with or without an escape byte.
marker_bytes = st.binary(min_size=1, max_size=3).map(lambda b: bytes(b"ab\n\r0"[c % 5] for c in b))


def _markers_ok(kw):
    start, end = kw["start"], kw["end"]
    return (
        start != end
        and start not in end
        and end not in start
        and (kw.get("escape") is None or (kw["escape"] not in start and kw["escape"] not in end))
    )


marker_kw = st.fixed_dictionaries(
    {
        "start": marker_bytes,
        "end": marker_bytes,
        "max_frame_size": limits,
    },
    optional={"escape": st.sampled_from([b"\xff", b"0", b"x"])},
).filter(_markers_ok)

framers = pick(
    st.tuples(st.just("marker"), marker_kw),
    st.tuples(st.just("length"), length_kw),
    st.tuples(st.just("decimal"), decimal_kw),
    st.tuples(st.just("netstring"), limit_kw),
    st.tuples(st.just("varint"), limit_kw),
    st.tuples(st.just("fixed"), fixed_kw),
    st.tuples(st.just("delimiter"), delimiter_kw),
    st.tuples(st.just("line"), line_kw),
    st.tuples(st.just("cobs"), limit_kw),
    st.tuples(st.just("slip"), slip_kw),
)
# Payloads over a small alphabet, so delimiters, digits, zeros and SLIP's END and ESC
# turn up often; sometimes a long run (COBS groups end at 254 bytes).
payload = pick(
    st.binary(max_size=24).map(lambda b: bytes(b"ab\n\r0\xff\x00\xc0\xdb\xdd"[c % 10] for c in b)),
    st.tuples(st.integers(250, 520), st.sampled_from(b"a\x00\xff\xc0")).map(
        lambda t: bytes([t[1]]) * t[0] + b"\x00b"
    ),
)
points = st.lists(st.integers(0, 10_000), max_size=8)


def encode_both(impls, kind, kw, item):
    """Encode with every twin: the same bytes or the same error, from each."""
    outcomes = {}
    for name, module in impls.items():
        try:
            outcomes[name] = make(module, kind, kw).encode(item)
        except (ValueError, FrameError) as exc:
            outcomes[name] = (type(exc), str(exc))
    assert len({repr(o) for o in outcomes.values()}) == 1, outcomes
    return outcomes["python"]


@SETTINGS
@given(
    framer=framers,
    payloads=st.lists(payload, max_size=8),
    tail=st.binary(max_size=6),
    points=points,
)
def test_encoded_streams(impls, framer, payloads, tail, points):
    kind, kw = framer
    wires, sent = [], []
    for item in payloads:
        wire = encode_both(impls, kind, kw, item)
        if isinstance(wire, bytes):
            wires.append(wire)
            sent.append(item)
        else:
            error, message = wire
            # A refusal is a too-large payload or one that would not decode back.
            limit = kw.get("max_frame_size", 8 << 20)
            if issubclass(error, FrameTooLargeError):
                assert (limit is not None and len(item) > limit) or kind in ("length", "decimal")
            else:
                assert kind in ("delimiter", "line", "length", "fixed", "marker", "slip"), message
                assert kind != "marker" or kw.get("escape") is None, message
    many = {name: make(m, kind, kw).encode_many(sent) for name, m in impls.items()}
    assert set(many.values()) == {b"".join(wires)}
    stream = b"".join(wires)
    frames, outcome = check_stream(impls, kind, kw, stream, points)
    # What was encoded decodes back: the payloads (or the whole messages, when kept).
    kept = kw.get("include_header") or kw.get("keep_delimiter")
    assert frames == (wires if kept else sent)
    assert outcome == 0
    # Any trailing bytes: still the same from the twins and the reference.
    check_stream(impls, kind, kw, stream + tail, points)


alphabet = st.sampled_from(
    [b"\x00", b"\x01", b"\x02", b"\xff", b"0", b"1", b"9", b"a", b"b", b"\n", b"\r", b"x"]
    + [b"\xc0", b"\xdb", b"\xdc", b"\xdd", b"\x05", b"\xfe"]
)
garbage = st.lists(alphabet, max_size=60).map(b"".join)


# (how, bytes): 0 = raw bytes, 1 = an encoded payload, 2 = a delimiter of the framer.
pieces = st.lists(st.tuples(st.integers(0, 2), st.one_of(payload, garbage)), max_size=12)
flips = st.lists(st.tuples(st.integers(0, 10_000), alphabet), max_size=3)


def damaged_stream(kind, kw, pieces, flips, module):
    """Encoded payloads mixed with raw bytes, then a few bytes overwritten: mostly
    well-formed streams with defects in them."""
    framer = make(module, kind, kw)
    out = bytearray()
    for how, item in pieces:
        if how == 2 and isinstance(framer, module.DelimiterFramer):
            item = framer.delimiters[len(item) % len(framer.delimiters)]
        elif how == 2 and kind in ("cobs", "slip"):
            item = b"\x00" if kind == "cobs" else b"\xc0"
        elif how == 2 and isinstance(framer, module.MarkerFramer):
            item = (framer.start, framer.end, framer.escape or b"")[len(item) % 3]
        elif how:
            try:
                item = framer.encode(item)
            except ValueError:
                pass
        out += item
    for at, byte in flips:
        if out:
            out[at % len(out)] = byte[0]
    return bytes(out)


@SETTINGS
@given(framer=framers, data=garbage, points=points)
def test_garbage_streams(impls, framer, data, points):
    kind, kw = framer
    check_stream(impls, kind, kw, data, points)


@settings(SETTINGS, max_examples=250)
@given(framer=framers, pieces=pieces, flips=flips, points=points)
def test_damaged_streams(impls, framer, pieces, flips, points):
    kind, kw = framer
    data = damaged_stream(kind, kw, pieces, flips, impls["python"])
    check_stream(impls, kind, kw, data, points)


@SETTINGS
@given(
    framer=framers,
    pieces=pieces,
    flips=flips,
    points=points,
    hints=st.lists(st.integers(-1, 9), max_size=8),
)
def test_get_buffer_path_matches_feed(impls, framer, pieces, flips, points, hints):
    """The zero-copy path (partial writes into views) gives what feed() gives."""
    kind, kw = framer
    data = damaged_stream(kind, kw, pieces, flips, impls["python"])
    chunks = cut(data, points)
    want = {name: drive(make(m, kind, kw), chunks) for name, m in impls.items()}
    for name, module in impls.items():
        framer_ = make(module, kind, kw)
        frames = []
        error = None
        hint_iter = iter(hints * 50)
        try:
            for chunk in chunks:
                while chunk:
                    view = framer_.get_buffer(next(hint_iter, -1))
                    n = min(len(view), len(chunk), max(1, len(chunk) // 2))
                    view[:n] = chunk[:n]
                    framer_.buffer_updated(n)
                    chunk = chunk[n:]
                    frames += framer_.pop_frames()
            frames += framer_.pop_frames()
        except FrameError as exc:
            error = (type(exc), str(exc))
        expected = want[name]
        assert frames == expected[0]
        assert (error and error[0]) == expected[1]
        if error is None:
            assert framer_.pending == expected[4]


# -- frames that span reads: big ones are filled in place, small ones completed with the
# bytes they need and the rest cut from the caller's chunk --------------------------------

# Sizes around the engine's thresholds (a frame of 4 KiB or more that spans reads is
# filled in place) and small ones between them.
big_payload = st.tuples(
    st.sampled_from([0, 1, 17, 4095, 4096, 4097, 9000, 20000]), st.integers(0, 255)
).map(lambda t: bytes([t[1]]) * t[0])
big_limits = st.sampled_from([None, 8 << 20, 4096, 9000])
span_framers = pick(
    st.tuples(
        st.just("length"),
        st.fixed_dictionaries(
            {"max_frame_size": big_limits},
            optional={
                "length_size": st.sampled_from([2, 3, 4, 8]),
                "byteorder": st.sampled_from(["big", "little"]),
                "offset": st.integers(0, 3),
                "adjustment": st.integers(-4, 4),
                "include_header": st.booleans(),
            },
        ),
    ),
    st.tuples(st.just("decimal"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(st.just("netstring"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(st.just("varint"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(
        st.just("fixed"),
        st.fixed_dictionaries({"size": st.sampled_from([1, 17, 4096, 9000])}),
    ),
    st.tuples(st.just("line"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(st.just("cobs"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(st.just("slip"), st.fixed_dictionaries({"max_frame_size": big_limits})),
    st.tuples(
        st.just("delimiter"),
        st.fixed_dictionaries(
            {"delimiter": st.sampled_from([b"\x00", (b"\x00", b"\x00\x01"), (b"\x01", b"\xfe")])}
        ),
    ),
    st.tuples(
        st.just("marker"),
        st.fixed_dictionaries(
            {"max_frame_size": big_limits},
            optional={
                "start": st.sampled_from([b"\x02", b"<m>"]),
                "end": st.sampled_from([b"\x03", b"</m>"]),
                "escape": st.just(b"\x10"),
            },
        ),
    ),
)


def drive_next_frame(framer, chunks):
    """Bytes written through get_buffer()/buffer_updated(), frames taken by next_frame()."""
    frames = []
    try:
        for chunk in chunks:
            with framer.get_buffer(len(chunk)) as view:
                view[: len(chunk)] = chunk
            framer.buffer_updated(len(chunk))
            while (frame := framer.next_frame()) is not None:
                frames.append(frame)
        frames += framer.eof()
        frames += framer.pop_frames()
    except FrameError as exc:
        return frames, type(exc), str(exc), getattr(exc, "partial", None), framer.pending
    return frames, None, None, None, framer.pending


@settings(SETTINGS, max_examples=60)
@given(
    framer=span_framers,
    payloads=st.lists(big_payload, min_size=1, max_size=4),
    cut_at=st.integers(0, 40),
    points=st.lists(st.integers(0, 100_000), max_size=5),
)
def test_frames_that_span_reads(impls, framer, payloads, cut_at, points):
    kind, kw = framer
    wire = b""
    for item in payloads:
        try:
            wire += make(impls["python"], kind, kw).encode(item)
        except (ValueError, FrameError):
            pass
    stream = wire[: len(wire) - cut_at]  # often ends inside a frame
    check_stream(impls, kind, kw, stream, points)
    chunks = cut(stream, points)
    # Every frame comes out with the chunk that completes it, never later.
    for module in impls.values():
        framer_, got, seen = make(module, kind, kw), [], b""
        for chunk in chunks:
            seen += chunk
            want, outcome = reference(kind, kw, seen)
            try:
                got += framer_.feed(chunk)
            except FrameError:
                break
            assert got == want, module.__name__
            if isinstance(outcome, int):
                assert framer_.pending == outcome
    results = {n: drive_next_frame(make(m, kind, kw), chunks) for n, m in impls.items()}
    assert len({repr(r) for r in results.values()}) == 1, results
    frames, error = reference_eof(kind, kw, stream)
    assert results["python"][0] == frames
    assert results["python"][1] is (None if error == 0 else error)
    if error is IncompleteFrameError:  # every byte of the frame that did not end is there
        left = reference(kind, kw, stream, final=True)[1]
        assert results["python"][3] == stream[len(stream) - left :]


def _with_stream(delimiters):
    """The delimiters, and a stream of them mixed with bytes they begin or end with."""
    piece = st.one_of(st.sampled_from(delimiters), st.sampled_from([b"x", b"a", b"b", b"\r"]))
    return st.tuples(st.just(tuple(delimiters)), st.lists(piece, max_size=40).map(b"".join))


@settings(SETTINGS, max_examples=150)
@given(
    case=pick(
        st.lists(wide_delim, min_size=2, max_size=8, unique=True),  # one pass over first bytes
        # over 8 first bytes: one search each
        st.lists(st.sampled_from(list(b"ab\n\r0\xffcdefgh")), min_size=9, max_size=12, unique=True)
        .flatmap(
            lambda firsts: st.tuples(
                *[st.sampled_from([bytes([f]), bytes([f, 98]), bytes([f, 13])]) for f in firsts]
            )
        )
        .map(list),
    ).flatmap(_with_stream),
    keep=st.booleans(),
    limit=st.sampled_from([None, 3, 8, 40]),
    points=points,
)
def test_several_delimiters(impls, case, keep, limit, points):
    delimiters, data = case
    kw = {"delimiter": delimiters, "keep_delimiter": keep, "max_frame_size": limit}
    check_stream(impls, "delimiter", kw, data, points)


# -- max_frame_size changed between frames -------------------------------------------------


@settings(SETTINGS, max_examples=80)
@given(
    framer=span_framers,
    payloads=st.lists(big_payload, min_size=1, max_size=4),
    switch_at=st.integers(0, 100_000),
    new_limit=st.sampled_from([None, 0, 17, 4096, 5000, 9000, 1 << 20]),
    points=st.lists(st.integers(0, 100_000), max_size=5),
)
def test_limit_changed_between_frames(impls, framer, payloads, switch_at, new_limit, points):
    """The new limit applies to every frame not returned yet: the bytes before the change
    decode under the old limit, and what they leave (a frame begun, even one filled in
    place) decodes with the rest under the new one, however the stream was cut."""
    kind, kw = framer
    if kind == "fixed" and new_limit is not None and new_limit < kw["size"]:
        for module in impls.values():  # a limit below the size is refused, as at __init__
            framer_ = make(module, kind, kw)
            with pytest.raises(ValueError, match="exceeds max_frame_size"):
                framer_.max_frame_size = new_limit
            assert framer_.max_frame_size == 8 << 20
        return
    wire = b""
    for item in payloads:
        try:
            wire += make(impls["python"], kind, kw).encode(item)
        except (ValueError, FrameError):
            pass
    at = switch_at % (len(wire) + 1)
    before, outcome = reference(kind, kw, wire[:at])
    if isinstance(outcome, int):
        after, outcome = reference(kind, {**kw, "max_frame_size": new_limit}, wire[at - outcome :])
        want = before + after
    else:
        want = before
    for module in impls.values():
        framer_, got, error = make(module, kind, kw), [], None
        try:
            for chunk in cut(wire[:at], points):
                got += framer_.feed(chunk)
            framer_.max_frame_size = new_limit
            for chunk in cut(wire[at:], points):
                got += framer_.feed(chunk)
            got += framer_.pop_frames()
        except FrameError as exc:
            error = type(exc)
        assert got == want, module.__name__
        assert error is (None if isinstance(outcome, int) else outcome), module.__name__


# -- recovery: a bad frame skipped, its fault raised once or only counted -----------------

recovering = pick(
    st.tuples(
        st.just("length"),
        st.fixed_dictionaries(
            {"max_frame_size": limits},
            optional={
                "length_size": st.integers(1, 8),
                "adjustment": st.integers(-3, 3),
                "include_header": st.booleans(),
            },
        ),
    ),
    st.tuples(st.just("decimal"), st.fixed_dictionaries({"max_frame_size": limits})),
    st.tuples(st.just("varint"), limit_kw),
    st.tuples(st.just("netstring"), limit_kw),
    delimiter_kw.map(lambda kw: ("delimiter", kw)),
    st.tuples(st.just("line"), line_kw),
    st.tuples(st.just("cobs"), limit_kw),
    st.tuples(st.just("slip"), slip_kw),
    marker_kw.map(lambda kw: ("marker", kw)),
)


def drive_recovering(framer, chunks, eof):
    """Feed ``chunks`` (and eof()), catching every fault and going on: the frames and
    faults in order, and then the framer's skipped count and pending bytes. A feed()
    that raises has taken its bytes: on to the next chunk; after the chunks (and after
    eof()), pop_frames() and eof() are called again until they return nothing and raise
    nothing. A fault raised twice in a row with nothing skipped between is the end (the
    stream failed)."""
    events, last = [], None

    def until_dry(call, feeding=False):
        nonlocal last
        while True:
            try:
                got = call()
            except FrameError as exc:
                key = (type(exc).__name__, str(exc), framer.skipped)
                if key == last:  # raised again: the stream failed for good
                    return False
                events.append(key[:2])
                last = key
                if feeding:
                    return True
                continue
            events.extend(got)
            if feeding or not got:
                return True

    for chunk in chunks:
        if not until_dry(lambda chunk=chunk: framer.feed(chunk), feeding=True):
            return events, framer.skipped, framer.pending
    if until_dry(framer.pop_frames) and eof:
        until_dry(framer.eof) and until_dry(framer.pop_frames)
    return events, framer.skipped, framer.pending


@settings(SETTINGS, max_examples=200)
@given(
    framer=recovering,
    how=st.sampled_from(["raise", "skip"]),
    pieces=pieces,
    flips=flips,
    points=points,
    eof=st.booleans(),
    bytewise=st.booleans(),
)
def test_recovery(impls, framer, how, pieces, flips, points, eof, bytewise):
    kind, kw = framer
    kw = {**kw, "on_error": how}
    data = damaged_stream(
        kind, {k: v for k, v in kw.items() if k != "on_error"}, pieces, flips, impls["python"]
    )
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else cut(data, points)
    results = {n: drive_recovering(make(m, kind, kw), chunks, eof) for n, m in impls.items()}
    assert len({repr(r) for r in results.values()}) == 1, results
    events, skipped, pending = results["python"]
    skips = []
    frames, outcome = reference(kind, kw, data, final=eof, skips=skips)
    assert [e for e in events if type(e) is bytes] == frames
    assert skipped == len(skips)
    faults = [e for e in events if type(e) is not bytes]
    if how == "raise":  # each skipped frame's fault raised once, then the stream's own
        assert len(faults) == len(skips) + (not isinstance(outcome, int) or (eof and outcome > 0))
    else:
        assert len(faults) == (not isinstance(outcome, int) or (eof and outcome > 0))
    if isinstance(outcome, int) and not eof:
        assert pending == outcome
