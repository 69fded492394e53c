"""Network drivers: connected socket pairs, a thread on the far side, a clock, event loops.

A receive run connects a sender thread to the receiver under test over ``transport``
("tcp": a connection over 127.0.0.1; "unix": an AF_UNIX stream ``socketpair``). The sender
pushes one pre-built buffer with ``sendall`` on a plain blocking socket, so every receiver
sees the same bytes and pays nothing for producing them. The receiver starts the clock once
its connection (and event loop) is set up, which also starts the sender, and stops it at
the last frame.

A send run is the mirror: a drain thread receives everything into a fixed buffer (or
collects it, to verify), and the clock runs from the first send to the moment the drain
thread has every byte. With "tcp-process" the drain is another process instead, whose
interpreter the sender shares no GIL with.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, Callable, Optional, cast

from .core import optional

READ = 65536
TRANSPORTS = ("tcp", "unix")
JOIN_TIMEOUT = 30.0  # seconds to wait for the far side's thread after a failure


def pair(transport: str) -> tuple[socket.socket, socket.socket]:
    """(near, far): connected stream sockets over ``transport`` ("tcp" or "unix")."""
    if transport == "tcp":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            near = socket.create_connection(listener.getsockname())
            far, _ = listener.accept()
        for s in (near, far):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return near, far
    if transport == "unix":
        if not hasattr(socket, "AF_UNIX"):
            raise OSError("AF_UNIX sockets are not available on this platform")
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")


class Clock:
    """Starts the far side's thread and the clock together; stopped at the last frame."""

    def __init__(self, thread: threading.Thread) -> None:
        self._thread = thread
        self.started: Optional[float] = None
        self.stopped: Optional[float] = None

    def start(self) -> None:
        self._thread.start()
        self.started = time.perf_counter()

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    def seconds(self) -> float:
        if self.started is None or self.stopped is None:
            raise RuntimeError("the receiver returned without starting and stopping the clock")
        return self.stopped - self.started


#: A receiver: ``receive(sock, clock, count, out) -> frames received``. It sets up what it
#: needs, calls ``clock.start()``, receives ``count`` frames (appending them to ``out``
#: when that is a list), calls ``clock.stop()`` and cleans up.
Receiver = Callable[[socket.socket, Clock, int, Optional[list[Any]]], int]


def receive_run(
    wire: bytes, transport: str, receive: Receiver, count: int, out: Optional[list[Any]]
) -> tuple[int, float]:
    """(frames received, seconds) for ``receive`` on ``wire`` sent by a thread."""
    near, far = pair(transport)
    errors: list[OSError] = []

    def send() -> None:
        try:
            far.sendall(wire)
        except OSError as exc:  # reported by the receiver's count check
            errors.append(exc)
        finally:
            far.close()

    thread = threading.Thread(target=send, daemon=True)
    clock = Clock(thread)
    try:
        n = receive(near, clock, count, out)
    except BaseException:
        near.close()  # a sender blocked in sendall fails and ends
        raise
    finally:
        if clock.started is None:
            far.close()
        else:
            thread.join(JOIN_TIMEOUT)
        near.close()
    if errors:
        raise errors[0]
    return n, clock.seconds()


#: The far side of a send run drained by another process: it says it is ready, receives
#: into a fixed buffer until the end of the stream, then prints how many bytes it got.
_DRAIN = """\
import socket, sys
far = socket.socket(fileno=int(sys.argv[1]))
print("ready", flush=True)
view, n = memoryview(bytearray(1 << 18)), 0
while True:
    k = far.recv_into(view)
    if not k:
        break
    n += k
print(n, flush=True)
"""


def send_run(
    pattern: str,
    send: Callable[[socket.socket], None],
    total: int,
    out: Optional[list[Any]],
) -> float:
    """Seconds for ``send(sock)`` to send ``total`` bytes and a drain thread to get them;
    with a list ``out``, the drain thread collects the bytes into it. ``pattern`` is the
    transport, or "tcp-process": the drain is another process (timed runs only; a run
    that collects the bytes keeps the thread), so that no thread of the sender's process
    waits for its GIL."""
    transport, _, drain_in = pattern.partition("-")
    if drain_in == "process" and out is None:
        return _send_to_process(transport, send, total)
    near, far = pair(transport)
    got: list[int] = []

    def drain() -> None:
        n = 0
        try:
            if out is not None:
                while True:
                    data = far.recv(1 << 20)
                    if not data:
                        break
                    out.append(data)
                    n += len(data)
            else:
                view = memoryview(bytearray(1 << 18))
                recv_into = far.recv_into
                while True:
                    k = recv_into(view)
                    if not k:
                        break
                    n += k
        finally:
            got.append(n)
            far.close()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        start = time.perf_counter()
        send(near)
        near.shutdown(socket.SHUT_WR)
        thread.join(JOIN_TIMEOUT)
        seconds = time.perf_counter() - start
    finally:
        near.close()
        thread.join(JOIN_TIMEOUT)
    if not got or got[0] != total:
        raise RuntimeError(f"the drain thread got {got[0] if got else 0} bytes, not {total}")
    return seconds


def _send_to_process(transport: str, send: Callable[[socket.socket], None], total: int) -> float:
    near, far = pair(transport)
    try:
        drain = subprocess.Popen(
            [sys.executable, "-c", _DRAIN, str(far.fileno())],
            pass_fds=(far.fileno(),),
            stdout=subprocess.PIPE,
            text=True,
        )
    except BaseException:
        near.close()
        far.close()
        raise
    far.close()  # the drain process holds its own copy
    try:
        assert drain.stdout is not None
        if drain.stdout.readline().strip() != "ready":
            raise RuntimeError("the drain process did not start")
        start = time.perf_counter()
        send(near)
        near.shutdown(socket.SHUT_WR)
        got = drain.stdout.readline().strip()
        seconds = time.perf_counter() - start
    finally:
        near.close()
        try:
            drain.wait(JOIN_TIMEOUT)
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()  # (reaped: no zombie left behind)
            if drain.stdout is not None:
                drain.stdout.close()
    if got != str(total):
        raise RuntimeError(f"the drain process got {got or 0} bytes, not {total}")
    return seconds


# -- event loops -------------------------------------------------------------------------------


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new event loop of ``kind``: "asyncio" (the default loop) or "uvloop"."""
    if kind == "uvloop":
        uvloop = optional("uvloop")
        if uvloop is None:
            raise RuntimeError("uvloop is not installed")
        return cast(Callable[[], asyncio.AbstractEventLoop], uvloop.new_event_loop)
    return asyncio.new_event_loop


def run_in_loop(kind: str, coro: Coroutine[Any, Any, int]) -> int:
    """Run ``coro`` to its end in a new event loop of ``kind``, as asyncio.run would."""
    loop = loop_factory(kind)()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


AsyncReceiver = Callable[[socket.socket, Clock, int, Optional[list[Any]]], Coroutine[Any, Any, int]]


def in_loop(kind: str, receive: AsyncReceiver) -> Receiver:
    """A blocking receiver running the coroutine receiver in a loop of ``kind``."""

    def run(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
        return run_in_loop(kind, receive(sock, clock, count, out))

    return run


def in_anyio(kind: str, receive: AsyncReceiver) -> Receiver:
    """A blocking receiver running the coroutine receiver with ``anyio.run`` on the asyncio
    backend (with uvloop when ``kind`` says so)."""

    def run(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
        anyio: Any = optional("anyio")
        if anyio is None:
            raise RuntimeError("anyio is not installed")
        n: int = anyio.run(
            receive,
            sock,
            clock,
            count,
            out,
            backend="asyncio",
            backend_options={"use_uvloop": kind == "uvloop"},
        )
        return n

    return run
