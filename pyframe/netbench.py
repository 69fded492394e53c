"""Loopback TCP receive benchmarks for the socket layer (measurement functions only; the
report lives in ``pyframe._bench``).

Every function takes ``frame_size`` (payload bytes of each frame; the 4-byte big-endian
length header comes on top) and ``count`` (frames), connects a sender thread to a receiver
over 127.0.0.1, and returns the seconds the receiver needed from its first receive call to
the last frame. The sender pushes one pre-built buffer with ``sendall``, so every receiver
sees the same bytes and pays nothing for producing them.

- ``framed_recv(size, count, "cython")``: ``FramedSocket.recv()`` per frame, compiled framer;
- ``framed_recv(size, count, "python")``: the same with the pure-Python twin;
- ``framed_recv(..., method="iter")`` / ``"recv_many"``: iteration / batches instead;
- ``python_struct_loop``: the best plain-Python idiom: ``recv`` 64 KiB into a bytearray,
  ``struct.unpack_from`` and slicing per frame, one ``del buf[:pos]`` per chunk;
- ``python_naive_loop``: the textbook loop: ``recv`` exactly 4 header bytes, ``struct.unpack``,
  then ``recv`` exactly the payload;
- ``raw_recv_into``: ``recv_into`` a fixed buffer until the same byte volume arrived (no
  framing at all: the ceiling).

``python -m pyframe.netbench [COUNT]`` prints a table for 16 B and 256 B frames.
"""

import socket
import struct
import sys
import threading
import time

__all__ = ["framed_recv", "python_struct_loop", "python_naive_loop", "raw_recv_into",
           "run_all"]

READ = 65536


def _wire(frame_size, count):
    one = struct.pack(">I", frame_size) + bytes(range(256)) * (frame_size // 256) + bytes(
        range(frame_size % 256))
    return one * count


def _run(frame_size, count, receive):
    """Connect a sender thread over loopback and time ``receive(sock)``."""
    wire = _wire(frame_size, count)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender_sock = socket.create_connection(listener.getsockname())
        receiver_sock, _ = listener.accept()
    errors = []

    def send():
        try:
            sender_sock.sendall(wire)
        except OSError as exc:  # reported by the receiver's count check
            errors.append(exc)
        finally:
            sender_sock.close()

    with receiver_sock:
        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        start = time.perf_counter()
        result = receive(receiver_sock)
        elapsed = time.perf_counter() - start
        thread.join()
    if errors:
        raise errors[0]
    return elapsed, result


def framed_recv(frame_size, count, impl="cython", method="recv"):
    """Seconds for a FramedSocket (with the ``impl`` twin: "cython" or "python") to receive
    ``count`` frames, by ``recv()`` per frame, by iteration ("iter") or by "recv_many"."""
    from .sockets import FramedSocket

    if impl == "cython":
        from . import _cframers as module
    else:
        from . import _pyframers as module

    def receive(sock):
        conn = FramedSocket(sock, module.LengthPrefixFramer())
        n = 0
        if method == "recv":
            recv = conn.recv
            for _ in range(count):
                last = recv()
            n = count
        elif method == "iter":
            for last in conn:
                n += 1
        elif method == "recv_many":
            while n < count:
                frames = conn.recv_many()
                if not frames:
                    break
                n += len(frames)
                last = frames[-1]
        else:
            raise ValueError(f"method must be 'recv', 'iter' or 'recv_many', not {method!r}")
        return n, len(last)

    elapsed, (n, size) = _run(frame_size, count, receive)
    if n != count or size != frame_size:
        raise RuntimeError(f"received {n} frames (last {size} B), expected {count}")
    return elapsed


def python_struct_loop(frame_size, count):
    """Seconds for the best plain-Python loop (buffered recv + struct.unpack_from)."""

    def receive(sock):
        unpack_from = struct.unpack_from
        buf = bytearray()
        frames = 0
        last = b""
        while frames < count:
            chunk = sock.recv(READ)
            if not chunk:
                break
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 4:
                (n,) = unpack_from(">I", buf, pos)
                if end - pos - 4 < n:
                    break
                last = bytes(buf[pos + 4 : pos + 4 + n])
                pos += 4 + n
                frames += 1
            del buf[:pos]
        return frames, len(last)

    elapsed, (n, size) = _run(frame_size, count, receive)
    if n != count or size != frame_size:
        raise RuntimeError(f"received {n} frames (last {size} B), expected {count}")
    return elapsed


def python_naive_loop(frame_size, count):
    """Seconds for the textbook loop: recv exactly the header, then exactly the payload."""

    def receive(sock):
        def recv_exact(n):
            data = b""
            while len(data) < n:
                more = sock.recv(n - len(data))
                if not more:
                    raise EOFError
                data += more
            return data

        unpack = struct.unpack
        last = b""
        for _ in range(count):
            (n,) = unpack(">I", recv_exact(4))
            last = recv_exact(n)
        return count, len(last)

    elapsed, (n, size) = _run(frame_size, count, receive)
    if n != count or size != frame_size:
        raise RuntimeError(f"received {n} frames (last {size} B), expected {count}")
    return elapsed


def raw_recv_into(frame_size, count):
    """Seconds to receive the same byte volume with ``recv_into`` and no framing."""
    total = (4 + frame_size) * count

    def receive(sock):
        buf = bytearray(READ)
        view = memoryview(buf)
        got = 0
        recv_into = sock.recv_into
        while got < total:
            n = recv_into(view)
            if not n:
                break
            got += n
        return got

    elapsed, got = _run(frame_size, count, receive)
    if got != total:
        raise RuntimeError(f"received {got} bytes, expected {total}")
    return elapsed


def run_all(frame_sizes=(16, 256), count=None, repeat=3):
    """Best-of-``repeat`` seconds for every function, as {frame_size: {name: seconds}}."""
    results = {}
    for size in frame_sizes:
        n = count or max(20000, (64 << 20) // (size + 4))
        cases = {
            "framed recv (cython)": lambda: framed_recv(size, n, "cython"),
            "framed iter (cython)": lambda: framed_recv(size, n, "cython", "iter"),
            "framed recv (python)": lambda: framed_recv(size, n, "python"),
            "python struct loop": lambda: python_struct_loop(size, n),
            "python naive loop": lambda: python_naive_loop(size, min(n, 200000)) * n
            / min(n, 200000),
            "raw recv_into": lambda: raw_recv_into(size, n),
        }
        results[size] = {"count": n}
        for name, case in cases.items():
            results[size][name] = min(case() for _ in range(repeat))
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    count = int(argv[0]) if argv else None
    for size, row in run_all(count=count).items():
        n = row.pop("count")
        raw = row["raw recv_into"]
        print(f"{size} B frames, {n} frames over loopback TCP:")
        for name, seconds in row.items():
            print(f"  {name:24s} {n / seconds / 1e6:7.2f} M frames/s  "
                  f"{(size + 4) * n / seconds / 1e9:6.2f} GB/s  "
                  f"{raw / seconds * 100:6.1f}% of raw  "
                  f"{row['python struct loop'] / seconds:6.1f}x struct loop  "
                  f"{row['python naive loop'] / seconds:6.1f}x naive loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
