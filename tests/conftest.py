"""Shared fixtures: every test runs on both twins.

``impl`` is the framer module under test: ``pyframe._pyframers`` (the pure-Python twin) or
``pyframe._cframers`` (the compiled module). The cython parameter FAILS when the compiled
module cannot be imported -- a suite that silently tests only the twin proves nothing --
unless ``PYFRAME_NO_EXTENSIONS=1`` is set, in which case only the python parameter exists.
"""

import hashlib
import importlib
import os
import subprocess
import sys
import textwrap
import types

import pytest

import pyframe
from pyframe._switches import switch

NO_EXTENSIONS = switch("PYFRAME_NO_EXTENSIONS")

IMPLEMENTATIONS = ["python"] if NO_EXTENSIONS else ["python", "cython"]

MODULES = {"python": "pyframe._pyframers", "cython": "pyframe._cframers"}


def load_impl(name):
    """The framer module for ``name`` ("python" / "cython"); pytest.fail if it won't import."""
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        pytest.fail(
            f"{MODULES[name]} cannot be imported ({exc}); build it "
            "(python setup.py build_ext --inplace) or set PYFRAME_NO_EXTENSIONS=1",
            pytrace=False,
        )


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """The framer module under test (``pyframe._pyframers`` or ``pyframe._cframers``)."""
    return load_impl(request.param)


@pytest.fixture
def impls():
    """Every framer module available to this run, as a dict name -> module (for tests that
    compare the twins against each other)."""
    return {name: load_impl(name) for name in IMPLEMENTATIONS}


def pytest_report_header(config):
    try:
        import pyframe
    except Exception as exc:  # report it; the tests themselves will fail loudly
        return [f"pyframe: import failed: {exc!r}"]
    lines = [
        f"pyframe: {pyframe.__file__}",
        f"pyframe.IMPLEMENTATION: {pyframe.IMPLEMENTATION}",
        f"framer twins under test: {', '.join(IMPLEMENTATIONS)}",
    ]
    try:
        from pyframe import _cframers

        lines.append(f"pyframe._cframers: {_cframers.__file__}")
    except ImportError as exc:
        lines.append(f"pyframe._cframers: NOT importable ({exc})")
    return lines


# -- driving a decoder through each feeding path ----------------------------------------

#: How a stream reaches the decoder: in one feed(), split at random points, one byte at a
#: time, appended with get_buffer()/buffer_updated() and read with next_frame(), or through
#: get_buffer()/buffer_updated() with partial writes (fewer bytes than the view offers).
MODES = ("whole", "split", "bytewise", "next_frame", "buffer")


def _chunks(data, rng, most=8):
    """``data`` cut at up to ``most`` random points (chunks may be empty)."""
    if not data:
        return [data]
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(1, most)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def _append(framer, chunk, rng, keep):
    """Write ``chunk`` into the decoder through get_buffer()/buffer_updated(), writing
    fewer bytes than each view offers; ``keep`` collects views kept alive (exported)."""
    chunk = memoryview(chunk)
    while True:
        hint = rng.choice((-1, 0, 1, 7, len(chunk), len(chunk) + 3))
        view = framer.get_buffer(hint)
        assert isinstance(view, memoryview) and not view.readonly
        assert len(view) >= max(hint, 1)
        # Mostly partial writes (fewer bytes than the view offers); sometimes 0 bytes.
        n = min(len(chunk), len(view), rng.choice((0, 1, 2, 5, len(chunk), len(view))))
        if n == 0 and len(chunk) and rng.random() < 0.5:
            n = 1
        view[:n] = chunk[:n]
        if rng.random() < 0.3:
            keep.append(view)  # the caller keeps the view alive past buffer_updated()
        else:
            view.release()
        framer.buffer_updated(n)
        chunk = chunk[n:]
        if not len(chunk):
            return


def run_stream(framer, data, mode, seed=0):
    """Feed ``data`` to ``framer`` in ``mode``; then call pop_frames() once more (so a
    fault deferred after good frames surfaces). Returns ``(frames, error)``: every frame
    returned, and the FrameError that stopped the stream (None if none)."""
    import random

    from pyframe import FrameError

    rng = random.Random(f"{mode}/{seed}/{len(data)}")
    frames = []
    keep = []
    try:
        if mode == "whole":
            frames += framer.feed(data)
        elif mode == "split":
            for i, chunk in enumerate(_chunks(data, rng)):
                kind = (bytes, bytearray, memoryview)[i % 3]
                got = framer.feed(kind(chunk))
                assert type(got) is list
                frames += got
        elif mode == "bytewise":
            for i in range(len(data)):
                frames += framer.feed(data[i : i + 1])
        elif mode == "next_frame":
            for chunk in _chunks(data, rng):
                _append(framer, chunk, rng, keep)
                while True:
                    frame = framer.next_frame()
                    if frame is None:
                        break
                    assert type(frame) is bytes
                    frames.append(frame)
        elif mode == "buffer":
            for chunk in _chunks(data, rng):
                _append(framer, chunk, rng, keep)
                frames += framer.pop_frames()
        else:
            raise AssertionError(mode)
        frames += framer.pop_frames()
    except FrameError as exc:
        for frame in frames:
            assert type(frame) is bytes
        return frames, exc
    for frame in frames:
        assert type(frame) is bytes
    return frames, None


@pytest.fixture(params=MODES)
def mode(request):
    """A way to feed a stream (see ``MODES``)."""
    return request.param


@pytest.fixture
def run():
    """``run(framer, data, mode, seed=0) -> (frames, error)``: see ``run_stream``."""
    return run_stream


def check_case(make, wire, frames, after, mode, seeds=3):
    """Run ``wire`` through fresh decoders from ``make()`` in ``mode`` (several random
    splits) and check the outcome: the ``frames`` returned, then ``after`` -- the number
    of bytes left pending (an int), or the FrameError subclass that must stop the stream
    (raised again by every later call: the decoder stays failed)."""
    for seed in range(seeds if mode in ("split", "next_frame", "buffer") else 1):
        framer = make()
        got, err = run_stream(framer, wire, mode, seed)
        assert got == frames, f"seed {seed}"
        if isinstance(after, int):
            assert err is None, f"seed {seed}: unexpected {err!r}"
            assert framer.pending == after, f"seed {seed}"
        else:
            assert type(err) is after, f"seed {seed}: expected {after.__name__}, got {err!r}"
            with pytest.raises(after):
                framer.pop_frames()
            with pytest.raises(after):
                framer.feed(b"")


@pytest.fixture
def check():
    """``check(make, wire, frames, after, mode)``: see ``check_case``."""
    return check_case


# -- subprocesses: the CLI, the examples, a Twisted peer ---------------------------------

# Subprocesses import the pyframe under test (the installed package), never the checkout:
# `python -m` from the repository root would import the unbuilt source tree.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pyframe.__file__)))


@pytest.fixture
def impl_env(impl):
    """The environment for a subprocess that must use the same twin as ``impl``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env.pop("PYFRAME_NO_EXTENSIONS", None)
    env.pop("PYFRAME_REQUIRE_EXTENSION", None)
    if impl.__name__.endswith("_pyframers"):
        env["PYFRAME_NO_EXTENSIONS"] = "1"
    else:
        env["PYFRAME_REQUIRE_EXTENSION"] = "1"
    return env


@pytest.fixture
def python_run(impl_env, tmp_path):
    """``python_run(*args)``: ``python *args`` in a fresh interpreter on the twin under test,
    in an empty directory (the checkout's unbuilt pyframe/ must not shadow the package)."""

    def run(*args, timeout=60):
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=impl_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


TWISTED_ECHO = textwrap.dedent(
    """
    import sys
    from twisted.internet import protocol, reactor
    from twisted.protocols.basic import Int32StringReceiver, LineReceiver

    class Int32Echo(Int32StringReceiver):
        MAX_LENGTH = 1 << 21
        def stringReceived(self, data):
            self.sendString(data[::-1])

    class LineEcho(LineReceiver):
        delimiter = b"\\n"
        MAX_LENGTH = 1 << 21
        def lineReceived(self, line):
            self.sendLine(line[::-1])

    factory = protocol.Factory.forProtocol(Int32Echo if sys.argv[1] == "length" else LineEcho)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()
    """
)


@pytest.fixture
def twisted_echo():
    """``start(mode) -> port``: a Twisted server in a subprocess echoing every frame
    reversed, with Int32StringReceiver ("length") or LineReceiver ("line")."""
    pytest.importorskip("twisted")  # an optional test dependency
    procs = []

    def start(mode):
        proc = subprocess.Popen(
            [sys.executable, "-c", TWISTED_ECHO, mode], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        return int(proc.stdout.readline())

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


# -- payloads for the connection tests ---------------------------------------------------


def checked_payload(rng, size):
    """``size`` bytes whose last 8 bytes check the rest (for sizes >= 8)."""
    if size < 8:
        return rng.randbytes(size)
    body = rng.randbytes(size - 8)
    return body + hashlib.blake2b(body, digest_size=8).digest()


def payload_intact(payload):
    """Whether a payload from ``checked_payload`` arrived unchanged (sizes >= 8)."""
    return hashlib.blake2b(payload[:-8], digest_size=8).digest() == payload[-8:]


def random_size(rng, big=1 << 20):
    """Mostly small frames, some medium, a few up to 1 MiB (0 and the limit included)."""
    r = rng.random()
    if r < 0.02:
        return rng.choice((0, big))
    if r < 0.70:
        return rng.randrange(0, 300)
    if r < 0.97:
        return rng.randrange(300, 70000)
    return rng.randrange(70000, big + 1)


@pytest.fixture
def self_checking():
    """``payload(rng, size)``, ``intact(payload)``, ``size(rng)``: random self-checking
    payloads for the tests that push frames through real connections."""
    return types.SimpleNamespace(payload=checked_payload, intact=payload_intact, size=random_size)
