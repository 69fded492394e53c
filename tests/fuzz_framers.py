"""Lockstep fuzz target: the compiled framers against the pure-Python twin.

The fuzz input is read as a small program of API calls. Each call is made on a
``pyframe._pyframers`` framer and on a ``pyframe._cframers`` framer built with the same
settings; both must return the same values, or raise the same exception type with the same
message (and the same ``size``/``limit``/``partial`` on a FrameError). Construction errors
must match too. Covered: every framer class and setting (also refused ones), ``feed`` of
bytes-like objects of several kinds (the framer's own views included), ``get_buffer`` /
writes / ``buffer_updated`` (partial writes, commits larger than what was written, views
kept alive, writes into stale views, released views), ``next_frame``, ``pop_frames``,
``eof``, ``reset``, ``pending``, ``encode`` / ``encode_parts`` / ``encode_many``, the
read-only settings, and calls on a shell made by ``cls.__new__(cls)`` (``__init__`` never
run: only a crash counts there, the twins may differ in what they raise). Also a finding:
an error the interpreter prints instead of raising during a call (``sys.excepthook`` or
``sys.unraisablehook`` called, e.g. from a deallocator).

Views must have the same length in both twins (their buffer engines make room step for
step alike). Bytes committed with ``buffer_updated(n)`` but never written must be the same
in both twins (zeros, or bytes of the stream).

Run it (atheris: ``pip install atheris``), against the *installed* pyframe::

    python tests/fuzz_framers.py -atheris_runs=100000
    python tests/fuzz_framers.py -max_total_time=120 [corpus_dir]

``bash .ci/sanitizers`` runs it on a build with AddressSanitizer and UBSan.

A mismatch raises ``Mismatch`` (an AssertionError) whose message is the call sequence as
Python lines, runnable on either twin; libFuzzer saves the input as ``crash-*``, replayed
with ``python tests/fuzz_framers.py crash-...`` or ``one_input(open(path, "rb").read())``.

``one_input(data)`` is a plain function and does not need atheris, so a regression test
can replay saved inputs. This file's name does not start with ``test_``: pytest does not
collect it.

Environment: ``PYFRAME_FUZZ_SKIP``, a comma-separated list of call families to leave out
(to look past a known finding): ``overcommit`` (buffer_updated(n) with n larger than
what was written: checks that the unwritten bytes are the same in both twins), ``stale``
(writes into an older view), ``ownview`` (feed() of the framer's own view), ``shell``
(calls on an object whose ``__init__`` never ran), ``extreme`` (huge or negative ints
and non-int arguments). The input is read the same way whatever is skipped, so a saved
input replays the same calls (less the skipped ones).
"""

import os
import re
import sys

try:
    import atheris
except ImportError:  # importable without atheris: one_input() still works
    atheris = None


class _NoInstrumentation:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


with atheris.instrument_imports() if atheris is not None else _NoInstrumentation():
    import pyframe._cframers as CY
    import pyframe._pyframers as PY
    from pyframe import FrameError

TWINS = (("python", PY), ("cython", CY))
CLASSES = (
    "LengthPrefixFramer",
    "DecimalLengthFramer",
    "NetstringFramer",
    "VarintFramer",
    "FixedLengthFramer",
    "DelimiterFramer",
    "LineFramer",
    "COBSFramer",
    "SLIPFramer",
    "MarkerFramer",
)
SETTINGS = {
    "LengthPrefixFramer": (
        "length_size",
        "byteorder",
        "offset",
        "adjustment",
        "include_header",
        "max_frame_size",
    ),
    "DecimalLengthFramer": ("digits", "max_frame_size"),
    "NetstringFramer": ("max_frame_size",),
    "VarintFramer": ("max_frame_size",),
    "FixedLengthFramer": ("size", "max_frame_size"),
    "DelimiterFramer": ("delimiters", "keep_delimiter", "max_frame_size"),
    "LineFramer": ("delimiters", "keep_delimiter", "max_frame_size"),
    "COBSFramer": ("max_frame_size", "verbatim"),
    "SLIPFramer": ("leading_end", "max_frame_size", "verbatim"),
    "MarkerFramer": ("start", "end", "escape", "verbatim", "garbage", "max_frame_size"),
}

# and what every framer has: its recovery setting, and what it skipped
SETTINGS = {name: (*names, "on_error", "skipped") for name, names in SETTINGS.items()}

SKIP = frozenset(filter(None, os.environ.get("PYFRAME_FUZZ_SKIP", "").split(",")))

MAX_OPS = 40  # calls per input
MAX_VIEWS = 4  # views kept alive per twin
MAX_RAW = 48  # bytes taken from the input for one chunk or payload
MAX_REPEAT = 6000  # a chunk may be a short pattern repeated up to this size

#: Huge, negative or odd ints for sizes and limits (none of them allocates gigabytes:
#: each is refused, or fails to allocate at once).
EXTREME_INTS = (
    -1,
    -2,
    2**45,
    2**62,
    2**63 - 2,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    -(2**63) - 1,
    -(2**62),
)
ODD_ARGS = (1.0, 1.5, "1", None, True, False, b"1")


_UNKNOWN = object()  # whether a view is still lent is not known (see _Session.fed)
_PRINTED = []  # errors printed rather than raised during a call (see one_input)


class Mismatch(AssertionError):
    """The twins disagreed: the message holds the calls that show it."""


class _Input:
    """Reads choices from the fuzz input; past its end every read gives zeros."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def below(self, n):
        """An int in range(n)."""
        if n <= 256:
            return self.byte() % n
        return (self.byte() << 8 | self.byte()) % n

    def chance(self, per256):
        return self.byte() < per256

    def pick(self, items):
        return items[self.below(len(items))]

    def raw(self, most):
        n = self.below(most + 1)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


# -- comparing outcomes -------------------------------------------------------------------


def _call(fn):
    try:
        return True, fn()
    except Exception as exc:
        return False, exc


def _canon(value):
    """What must be equal in a returned value (types included)."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_canon(v) for v in value])
    if value is None or isinstance(value, (bytes, bytearray, str, int, float)):
        return (type(value).__name__, value)
    return (type(value).__name__,)  # a framer, a view: checked apart where it matters


def _exc_key(exc, lent=None):
    message = str(exc)
    if lent is not None:  # buffer_updated() names the size of the view it lent
        message = re.sub(rf"\b{lent}\b", "<len(view)>", message)
    key = [type(exc).__module__, type(exc).__qualname__, message]
    if isinstance(exc, FrameError):
        key += [repr(getattr(exc, name, None)) for name in ("size", "limit", "partial")]
    return key


def _lit(raw):
    """``raw`` as a short Python expression (a long run is written as a repeated pattern)."""
    raw = bytes(raw)
    if len(raw) <= 64:
        return repr(raw)
    for period in range(1, 65):
        if raw == (raw[:period] * (len(raw) // period + 1))[: len(raw)]:
            return f"({raw[:period]!r} * {len(raw) // period + 1})[:{len(raw)}]"
    return repr(raw)


def _src(value):
    """Python source for a constructor argument."""
    if isinstance(value, bytes):
        return _lit(value)
    if isinstance(value, bytearray):
        return f"bytearray({_lit(value)})"
    if isinstance(value, memoryview):
        return f"memoryview({_lit(value)})"
    if isinstance(value, list):
        return "[" + ", ".join(map(_src, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_src, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _short(value):
    """A repr cut to a readable length (for messages, not for reproducers)."""
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:240]}...({len(text)} chars)"


class _Session:
    """One fuzz input: the same calls on a framer of each twin."""

    def __init__(self, inp):
        self.inp = inp
        self.lines = []  # the calls so far, as Python source run on twin module `m`
        self.framers = None  # {twin: framer}
        self.kind = None
        self.alphabet = b"\x00\x01\x02\xff0123456789ab\n\r"
        self.views = []  # [(name, {twin: view}, {twin: len at get_buffer})]
        self.lent = None  # the entry of self.views last lent (None: none out)
        self.written = 0  # bytes written at the start of the lent view
        self.view_count = 0

    # -- running one call on both twins --------------------------------------------------

    def fail(self, what):
        body = "\n".join("    " + line for line in self.lines)
        raise Mismatch(
            f"{what}\nreproducer (run with m = pyframe._pyframers and pyframe._cframers):\n"
            "import pyframe._pyframers, pyframe._cframers\n"
            "def show(fn):\n"
            "    try:\n        result = fn()\n"
            "    except Exception as exc:\n        print(type(exc).__name__, exc)\n"
            "    else:\n        print(repr(result))\n        return result\n"
            f"def run(m):\n{body}\n"
            "for m in (pyframe._pyframers, pyframe._cframers):\n    run(m)"
        )

    def both(self, line, fn, lent=None, compare=True, name=None):
        """Run ``fn(twin_name)`` for each twin; ``line`` is the call as source (its result
        kept as ``name`` in the reproducer, if given)."""
        self.lines.append(f"{name + ' = ' if name else ''}show(lambda: {line})")
        out = {name: _call(lambda name=name: fn(name)) for name, _ in TWINS}
        if _PRINTED:  # C code reported an error it could not raise (PyErr_Print, ...)
            self.fail(f"{line}: the interpreter printed {_PRINTED[:2]}")
        if compare:
            self.same(line, out, lent)
        return out

    def same(self, line, out, lent=None):
        (ok_p, val_p), (ok_c, val_c) = out["python"], out["cython"]
        if ok_p and ok_c:
            if _canon(val_p) != _canon(val_c):
                self.fail(
                    f"{line}: python returned {_short(val_p)}, cython returned {_short(val_c)}"
                )
            return
        if not ok_p and not ok_c:
            key_p = _exc_key(val_p, lent and lent["python"])
            key_c = _exc_key(val_c, lent and lent["cython"])
            if key_p != key_c:
                self.fail(f"{line}: python raised {key_p}, cython raised {key_c}")
            return
        self.fail(
            f"{line}: python {'returned' if ok_p else 'raised'} {_short(val_p)}, "
            f"cython {'returned' if ok_c else 'raised'} {_short(val_c)}"
        )

    # -- settings drawn from the input ---------------------------------------------------

    def small_int(self, low, high):
        if self.inp.chance(6):
            odd = self.inp.pick(EXTREME_INTS + ODD_ARGS)
            return low if "extreme" in SKIP else odd
        return low + self.inp.below(high - low + 1)

    def limit(self):
        r = self.inp.below(16)
        if r < 5:
            return None
        if r < 7:
            return 8 * 1024 * 1024  # the default, given explicitly
        if r == 7:
            odd = self.inp.pick(EXTREME_INTS + ODD_ARGS)
            return None if "extreme" in SKIP else odd
        return self.inp.pick((0, 1, 2, 3, 5, 8, 16, 64, 255, 256, 300, 5000))

    def delimiter(self):
        size = 1 + self.inp.below(3)
        return bytes(self.inp.pick(b"\n\r\x00abx;") for _ in range(size))

    def construct(self):
        inp = self.inp
        cls = inp.pick(CLASSES)
        args, kw = [], {}
        if cls == "LengthPrefixFramer":
            size = (
                inp.pick((1, 1, 2, 2, 3, 4, 5, 8, 6, 7))
                if not inp.chance(8)
                else inp.pick((0, 9, -1, 2.0, "4", None, True))
            )
            args = [size]
            if inp.chance(200):
                args.append(
                    inp.pick(("big", "little"))
                    if not inp.chance(8)
                    else inp.pick(("native", "BIG", b"big", None, ""))
                )
            if inp.chance(100):
                kw["offset"] = (
                    inp.pick((0, 1, 2, 3))
                    if not inp.chance(16)
                    else inp.pick((-1, 1 << 20, (1 << 20) + 1, 1.0, True))
                )
            if inp.chance(140):
                kw["adjustment"] = self.small_int(-6, 6)
                if kw["adjustment"] in (-(2**63), -(2**63) - 1, 2**63, 2**64, 2**45):
                    kw["adjustment"] = inp.pick(
                        (2**62, 2**62 + 1, -(2**62), -(2**62) - 1, kw["adjustment"])
                    )
            if inp.chance(100):
                kw["include_header"] = inp.pick((True, False, 1, 0, "", "x", None))
        elif cls == "DecimalLengthFramer":
            args = [
                inp.pick((1, 2, 2, 3, 4, 18))
                if not inp.chance(10)
                else inp.pick((0, 19, -1, 2.0, "3", None, True))
            ]
        elif cls == "FixedLengthFramer":
            args = [
                inp.pick((1, 2, 3, 5, 4096, 5000))
                if not inp.chance(10)
                else inp.pick((0, -1, 2**63, 2.0, "3", None, True))
            ]
        elif cls == "DelimiterFramer":
            count = 1 + inp.below(3)
            delims = [self.delimiter() for _ in range(count)]
            r = inp.below(16)
            if r == 0:
                delims = [inp.pick((b"", "\n", 10, None))]
            elif r == 1:
                delims = [bytearray(d) for d in delims]
            elif r == 2:
                delims = [memoryview(d) for d in delims]
            elif r == 3:
                delims.append(delims[0])  # a duplicate
            if count == 1 and inp.chance(128):
                args = [delims[0]]
            elif inp.chance(4):
                args = [()]
            elif inp.chance(4):
                args = [list(delims)]  # a list is not a tuple of delimiters
            else:
                args = [tuple(delims)]
            if inp.chance(100):
                kw["keep_delimiter"] = inp.pick((True, False, 1, None))
        elif cls == "MarkerFramer":
            # Markers over a small alphabet (sharing bytes, or refused: equal, one inside
            # the other, empty, not bytes), with or without an escape byte.
            r = inp.below(16)
            if r == 0:
                args = [inp.pick((b"", "{", 2, None, b"<" * 65)), self.delimiter()]
            elif r < 4:
                args = [inp.pick((b"\x02", b"{", b"<m>")), inp.pick((b"\x03", b"}", b"</m>"))]
            elif r < 12:
                args = [self.delimiter(), self.delimiter()]
                if r == 5:
                    args = [bytearray(args[0]), memoryview(args[1])]
            if inp.chance(120):
                kw["escape"] = (
                    inp.pick((b"\x10", b"\\", b"x", b";"))
                    if not inp.chance(16)
                    else inp.pick((b"", b"\x10\x10", 16, "x", bytearray(b"\x10"), None))
                )
        elif cls == "LineFramer":
            if inp.chance(100):
                kw["line_ending"] = inp.pick(
                    (b"\n", b"\r\n", b"\n", b"\r\n", b"\r", "\n", None, bytearray(b"\n"))
                )
        elif cls == "SLIPFramer":
            if inp.chance(100):
                kw["leading_end"] = inp.pick((True, False, True, False, 1, None, "no"))
        if inp.chance(190):
            kw["max_frame_size"] = self.limit()
        if inp.chance(90):
            kw["on_error"] = inp.pick(("raise", "skip", "raise", "skip", "fail", "x", None))

        text = ", ".join([_src(a) for a in args] + [f"{k}={_src(v)}" for k, v in kw.items()])
        line = f"m.{cls}({text})"
        self.lines.append(f"f = show(lambda: {line})")
        # memoryview/bytearray arguments are shared: each twin gets its own copy
        out = {
            name: _call(lambda m=m: getattr(m, cls)(*_copy(args), **_copy(kw))) for name, m in TWINS
        }
        self.same(line, out)
        if out["python"][0]:
            self.views.clear()
            self.lent = None
            self.framers = {name: out[name][1] for name, _ in TWINS}
            self.kind = cls
            extra = b""
            if cls == "DelimiterFramer":
                extra = b"".join(bytes(d) for d in self.framers["python"].delimiters)
            elif cls in ("COBSFramer", "SLIPFramer"):  # zeros and codes; END and escapes
                extra = b"\x03\x04\xfe\xc0\xdb\xdc\xdd"
            elif cls == "MarkerFramer":
                marker = self.framers["python"]
                extra = marker.start + marker.end + (marker.escape or b"")
            self.alphabet = bytes(sorted(set(extra + b"0123456789\x00\x01\x02\xffab\n\r:,\x80")))
            for name in SETTINGS[cls]:
                self.both(f"f.{name}", lambda t, name=name: getattr(self.framers[t], name))
            return True
        self.lines[-1] = f"show(lambda: {line})"  # refused: f stays what it was
        return False

    # -- bytes drawn from the input ------------------------------------------------------

    def data(self):
        inp = self.inp
        r = inp.below(8)
        raw = inp.raw(MAX_RAW)
        if r < 4:  # over the framer's alphabet: delimiters, digits, small lengths
            raw = bytes(self.alphabet[b % len(self.alphabet)] for b in raw)
        if r == 7 and raw:  # a pattern repeated: large chunks from a short input
            raw = (raw * (1 + inp.below(MAX_REPEAT) // len(raw)))[:MAX_REPEAT]
        return raw

    def wrap(self, raw):
        """A bytes-like object (or not) holding ``raw``: ``(source text, factory)``."""
        r = self.inp.below(32)
        if r < 16:
            return _lit(raw), lambda: raw
        if r < 21:
            return f"bytearray({_lit(raw)})", lambda: bytearray(raw)
        if r < 25:
            return f"memoryview({_lit(raw)})", lambda: memoryview(raw)
        if r < 27 and len(raw) % 2 == 0:  # a multi-byte format: len() != nbytes
            return (f"memoryview({_lit(raw)}).cast('H')", lambda: memoryview(raw).cast("H"))
        if r < 28 and len(raw) % 4 == 0 and raw:
            return (
                f"memoryview({_lit(raw)}).cast('B', (2, {len(raw) // 2}))",
                lambda: memoryview(raw).cast("B", (2, len(raw) // 2)),
            )
        if r < 29:
            return f"memoryview({_lit(raw)})[::2]", lambda: memoryview(raw)[::2]
        if r < 30:
            return f"memoryview({_lit(raw)})[1:-1]", lambda: memoryview(raw)[1:-1]
        if r < 31:
            text = raw.decode("latin-1")
            return f"{_lit(raw)}.decode('latin-1')", lambda: text
        return "None", lambda: None

    # -- the calls ---------------------------------------------------------------------

    def op_feed(self):
        src, make = self.wrap(self.data())
        out = self.both(f"f.feed({src})", lambda t: self.framers[t].feed(make()))
        self.fed(out)

    def fed(self, out):
        """feed() takes back the room lent by get_buffer() -- unless it was refused,
        when it may or may not have (then only buffer_updated(0) is safe)."""
        if self.lent is not None:
            self.lent = None if out["python"][0] else _UNKNOWN

    def op_feed_own_view(self):
        """feed() a slice of a view this framer lent (so of its own buffer, unless it has
        moved to a new one), after writing the slice: what it holds is then defined."""
        if not self.views:
            return
        inp = self.inp
        entry = self.pick_view(96)
        a = inp.below(4097)
        length = inp.below(64)
        fill = inp.raw(8) or b"\n"
        if "ownview" in SKIP:
            return
        if "stale" in SKIP:
            if self.lent is None or self.lent is _UNKNOWN:
                return
            entry = self.lent
        name, views, lens = entry
        size = min(lens.values())
        a = a % (min(size, 4096) + 1)
        b = min(size, a + length)
        fill = (fill * (b - a))[: b - a]
        self.both(
            f"{name}.__setitem__(slice({a}, {b}), {_lit(fill)})",
            lambda t: views[t].__setitem__(slice(a, b), fill),
        )
        if entry is self.lent and a <= self.written:
            self.written = max(self.written, b)
        out = self.both(f"f.feed({name}[{a}:{b}])", lambda t: self.framers[t].feed(views[t][a:b]))
        self.fed(out)

    def op_get_buffer(self):
        inp = self.inp
        r = inp.below(16)
        if r < 4:
            hint = -1 if r < 2 else 0
        elif r < 12:
            hint = inp.below(17)
        elif r < 15:
            hint = inp.pick((100, 4095, 4096, 4097, 5000, 8192, 65535, 65536, 65537, 100000))
        else:
            hint = inp.pick(EXTREME_INTS + ODD_ARGS)
            hint = 7 if "extreme" in SKIP else hint
        name = f"v{self.view_count}"
        out = self.both(
            f"f.get_buffer({hint!r})", lambda t: self.framers[t].get_buffer(hint), name=name
        )
        if not out["python"][0]:
            return
        self.view_count += 1
        views = {t: out[t][1] for t, _ in TWINS}
        want = max(hint if isinstance(hint, int) else 0, 1)
        for t, view in views.items():
            if type(view) is not memoryview:
                self.fail(f"get_buffer({hint!r}) on {t} returned {_short(view)}")
            if not (
                not view.readonly
                and view.ndim == 1
                and view.format == "B"
                and view.c_contiguous
                and len(view) >= want
            ):
                self.fail(
                    f"get_buffer({hint!r}) on {t}: a bad view (len {len(view)}, "
                    f"readonly {view.readonly}, format {view.format!r}, "
                    f"ndim {view.ndim})"
                )
        lens = {t: len(v) for t, v in views.items()}
        if len(set(lens.values())) > 1:  # the twins' engines make room the same way
            self.fail(f"get_buffer({hint!r}): views of {lens} bytes")
        entry = (name, views, lens)
        self.views.append(entry)
        if len(self.views) > MAX_VIEWS:
            del self.views[0]
        self.lent = entry
        self.written = 0

    def pick_view(self, per256):
        """A view lent before: with chance ``per256``/256 any one kept, else the last."""
        return self.inp.pick(self.views) if self.inp.chance(per256) else self.views[-1]

    def op_write(self):
        """Write into the view lent last or, sometimes, a stale one: an older view, or
        one whose room feed(), buffer_updated() or reset() took back."""
        if not self.views:
            return
        inp = self.inp
        entry = self.pick_view(40)
        anywhere = inp.chance(30)
        at = inp.below(65)
        raw = self.data()
        if "stale" in SKIP:
            if self.lent is None or self.lent is _UNKNOWN:
                return
            entry = self.lent
        name, views, lens = entry
        size = min(lens.values())
        at = at % (min(size, 64) + 1) if anywhere or entry is not self.lent else 0
        raw = raw[: max(0, size - at)]
        stop = at + len(raw)
        out = self.both(
            f"{name}.__setitem__(slice({at}, {stop}), {_lit(raw)})",
            lambda t: views[t].__setitem__(slice(at, stop), raw),
        )
        if entry is self.lent and at <= self.written and out["python"][0]:
            self.written = max(self.written, stop)

    def op_commit(self):
        inp = self.inp
        entry = self.lent
        r = inp.below(16)
        extra = inp.below(16)
        odd = inp.pick(EXTREME_INTS + ODD_ARGS) if r == 15 else None
        if entry is None:
            n = extra % 3  # nothing lent: refused whatever the size
        elif entry is _UNKNOWN:
            n, entry = 0, None
        elif r < 9:
            n = self.written
        elif r < 12:
            n = max(0, self.written - extra % 4)
        elif r < 15:
            # more than was written: the view's unwritten bytes are committed too
            # (the twins' views may differ in length: a size between the two is left out)
            size = min(entry[2].values())
            if r < 14:
                n = min(self.written + 1 + extra, size)
            else:  # the whole view, or more than either twin lent
                n = size if extra % 3 == 0 else max(entry[2].values()) + extra % 3
            if "overcommit" in SKIP:
                n = self.written
            elif n > self.written:
                self.check_unwritten(entry, self.written, min(n, size))
        else:
            n = self.written if "extreme" in SKIP else odd
        out = self.both(
            f"f.buffer_updated({n!r})",
            lambda t: self.framers[t].buffer_updated(n),
            lent=entry and entry[2],
        )
        if out["python"][0]:
            self.lent = None
            self.written = 0

    def check_unwritten(self, entry, a, b):
        """Bytes about to be committed that the caller never wrote must be the same
        in both twins (zeros, or bytes the framer put there) -- never stale heap data."""
        name, views, _ = entry
        got = {}
        for t, view in views.items():
            try:
                got[t] = bytes(view[a:b])
            except ValueError:  # released
                return
        if got["python"] != got["cython"]:
            self.lines.append(f"show(lambda: bytes({name}[{a}:{b}]))")
            first = next(i for i, (x, y) in enumerate(zip(*got.values())) if x != y)
            self.fail(
                f"bytes({name}[{a}:{b}]) (lent, never written) differ from offset "
                f"{a + first}: python has {_short(got['python'][first:])}, "
                f"cython has {_short(got['cython'][first:])}"
            )

    def op_release(self):
        if not self.views:
            return
        i = self.inp.below(len(self.views))
        name, views, _ = self.views[i]
        self.both(f"{name}.release()", lambda t: views[t].release())
        if self.inp.chance(128):
            del self.views[i]  # dropped: only the framer may still refer to it

    def op_next_frame(self):
        self.both("f.next_frame()", lambda t: self.framers[t].next_frame())

    def op_pop_frames(self):
        self.both("f.pop_frames()", lambda t: self.framers[t].pop_frames())

    def op_eof(self):
        if self.inp.chance(64):
            self.both("f.eof(last_frame=True)", lambda t: self.framers[t].eof(last_frame=True))
        else:
            self.both("f.eof()", lambda t: self.framers[t].eof())

    def op_detach(self):
        self.both("f.detach()", lambda t: self.framers[t].detach())
        self.lent = None

    def op_set_limit(self):
        limit = self.limit()

        def set_limit(t):
            self.framers[t].max_frame_size = limit

        self.both(f"setattr(f, 'max_frame_size', {_src(limit)})", set_limit)

    def op_reset(self):
        self.both("f.reset()", lambda t: self.framers[t].reset())
        self.lent = None

    def op_pending(self):
        self.both("f.pending", lambda t: self.framers[t].pending)
        self.both("f.skipped", lambda t: self.framers[t].skipped)
        if self.kind == "MarkerFramer":
            self.both("f.garbage", lambda t: self.framers[t].garbage)

    def payload(self):
        inp = self.inp
        r = inp.below(8)
        if r == 0:  # a size near a limit or a header's range
            n = inp.pick(
                (
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    8,
                    9,
                    15,
                    16,
                    17,
                    63,
                    64,
                    65,
                    99,
                    100,
                    255,
                    256,
                    257,
                    299,
                    300,
                    301,
                    1000,
                    5000,
                    5001,
                )
            )
            return self.wrap(b"y" * n)
        if r == 1 and self.kind in ("DelimiterFramer", "LineFramer", "MarkerFramer"):
            framer = self.framers["python"]
            if self.kind == "MarkerFramer":
                delims = (framer.start, framer.end, framer.escape or framer.end)
            else:
                delims = framer.delimiters
            d = inp.pick(delims)
            raw = self.data()
            cut = inp.below(len(raw) + 1)
            return self.wrap(raw[:cut] + d[: 1 + inp.below(len(d))] + raw[cut:])
        return self.wrap(self.data())

    def op_encode(self):
        src, make = self.payload()
        self.both(f"f.encode({src})", lambda t: self.framers[t].encode(make()))

    def op_encode_parts(self):
        src, make = self.payload()
        self.both(f"f.encode_parts({src})", lambda t: self.framers[t].encode_parts(make()))

    def op_encode_many(self):
        items = [self.payload() for _ in range(self.inp.below(4))]
        how = self.inp.below(4)
        srcs = ", ".join(src for src, _ in items)
        if how == 0:
            src, mk = f"[{srcs}]", lambda: [make() for _, make in items]
        elif how == 1:
            src, mk = (
                f"({srcs}{',' if len(items) == 1 else ''})",
                lambda: tuple(make() for _, make in items),
            )
        elif how == 2:
            src, mk = f"iter([{srcs}])", lambda: iter([make() for _, make in items])
        else:
            src, mk = "None", lambda: None
        self.both(f"f.encode_many({src})", lambda t: self.framers[t].encode_many(mk()))

    def op_settings(self):
        for name in SETTINGS[self.kind]:
            self.both(f"f.{name}", lambda t, name=name: getattr(self.framers[t], name))

    def op_shell(self):
        """Calls on an object whose __init__ never ran: they must work or raise, never
        crash. The twins may disagree here (the twin raises AttributeError), so only a
        crash (or a sanitizer report) is a finding."""
        inp = self.inp
        cls = inp.pick(CLASSES)
        calls = [(inp.below(12), self.data()) for _ in range(1 + inp.below(6))]
        if "shell" in SKIP:
            return
        self.lines.append(f"s = show(lambda: m.{cls}.__new__(m.{cls}))")
        shells = {}
        for t, m in TWINS:
            ok, value = _call(lambda m=m: getattr(m, cls).__new__(getattr(m, cls)))
            shells[t] = value if ok else None
        for r, raw in calls:
            text, fn = (
                ("s.feed({})", lambda s: s.feed(raw)),
                ("s.pop_frames()", lambda s: s.pop_frames()),
                ("s.next_frame()", lambda s: s.next_frame()),
                ("s.get_buffer(16)", lambda s: s.get_buffer(16)),
                ("s.buffer_updated(0)", lambda s: s.buffer_updated(0)),
                ("s.eof()", lambda s: s.eof()),
                ("s.pending", lambda s: s.pending),
                ("s.encode({})", lambda s: s.encode(raw)),
                ("s.encode_parts({})", lambda s: s.encode_parts(raw)),
                ("s.encode_many([{}])", lambda s: s.encode_many([raw])),
                ("s.max_frame_size", lambda s: s.max_frame_size),
                ("s.reset()", lambda s: s.reset()),
            )[r]
            self.both(text.format(_lit(raw)), lambda t: fn(shells[t]), compare=False)

    def run(self):
        for _ in range(3):
            if self.construct():
                break
            if not self.inp.left():
                return
        else:
            self.lines.append("f = m.LineFramer()")
            self.framers = {t: m.LineFramer() for t, m in TWINS}
            self.kind = "LineFramer"
        for _ in range(MAX_OPS):
            if not self.inp.left():
                break
            op = _OPS[self.inp.below(len(_OPS))]
            if op is _Session.construct:
                self.construct() or self._keep_framer()
            else:
                op(self)
        # Drain both at the end: frames and pending must agree (results were compared
        # call by call; this only adds the final state to compare).
        self.op_pending()

    def _keep_framer(self):
        # construction refused: the calls go on with the framer built before
        if self.framers is None:
            self.lines.append("f = m.LineFramer()")
            self.framers = {t: m.LineFramer() for t, m in TWINS}
            self.kind = "LineFramer"


def _copy(value):
    """Fresh copies of mutable buffer arguments, so the twins never share one object."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, bytearray):
        return bytearray(value)
    if isinstance(value, memoryview):
        return memoryview(bytes(value)) if value.c_contiguous else value
    return value


_WEIGHTS = (
    (_Session.op_feed, 10),
    (_Session.op_get_buffer, 7),
    (_Session.op_write, 7),
    (_Session.op_commit, 7),
    (_Session.op_next_frame, 5),
    (_Session.op_pop_frames, 4),
    (_Session.op_eof, 2),
    (_Session.op_reset, 1),
    (_Session.op_pending, 2),
    (_Session.op_release, 2),
    (_Session.op_encode, 3),
    (_Session.op_encode_parts, 2),
    (_Session.op_encode_many, 2),
    (_Session.op_settings, 1),
    (_Session.construct, 1),
    (_Session.op_feed_own_view, 2),
    (_Session.op_shell, 1),
    (_Session.op_detach, 1),
    (_Session.op_set_limit, 2),
)
_OPS = tuple(op for op, weight in _WEIGHTS for _ in range(weight))


def one_input(data: bytes) -> None:
    """Run the calls encoded by ``data`` on both twins; raise Mismatch on a difference
    (or when a call makes the interpreter print an error it could not raise)."""
    hooks = sys.excepthook, sys.unraisablehook
    sys.excepthook = lambda kind, exc, tb: _PRINTED.append(f"{kind.__name__}: {exc}")
    sys.unraisablehook = lambda u: _PRINTED.append(
        f"unraisable {type(u.exc_value).__name__}: {u.exc_value} ({u.err_msg}, {u.object!r})"
    )
    _PRINTED.clear()
    try:
        _Session(_Input(bytes(data))).run()
    finally:
        sys.excepthook, sys.unraisablehook = hooks


def main(argv=None):
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    atheris.Setup(sys.argv if argv is None else argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
