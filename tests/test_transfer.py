"""``python -m pyframe send|recv`` end to end (subprocesses on 127.0.0.1, port 0), on both
framer twins: the subprocesses select the twin under test through the environment.

Hostile senders are played by raw FramedSockets in the test; every socket has a timeout,
every loop is bounded, and every receiver started is killed at the end of its test.
"""

import contextlib
import hashlib
import io
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

import pytest

from pyframe import transfer
from pyframe.sockets import FramedServer, FramedSocket

TIMEOUT = 8  # seconds: a hung step fails instead of hanging the run
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

# run `python -m pyframe` after some set-up code (a umask, a resource limit)
RUN_PYFRAME = "\nimport runpy; runpy.run_module('pyframe', run_name='__main__', alter_sys=True)"


STARTED = []  # the receivers' processes, killed after each test


class Receiver:
    """A ``pyframe recv`` subprocess listening on 127.0.0.1 (port 0), ``--once`` unless
    ``once=False``; ``prelude``: Python code run before it (in the same process)."""

    def __init__(self, env, out, *extra, once=True, prelude=None):
        run = ["-c", prelude + RUN_PYFRAME] if prelude else ["-m", "pyframe"]
        command = [
            sys.executable,
            *run,
            "recv",
            "--listen",
            "127.0.0.1:0",
            "--out",
            str(out),
            "--timeout",
            "10",
        ]
        command += [*extra, *(["--once"] if once else [])]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=out,
        )
        STARTED.append(self.proc)
        assert select.select([self.proc.stdout], [], [], TIMEOUT)[0], "the receiver is silent"
        line = self.proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, self.proc.stderr.read())
        self.port = int(line.rsplit(":", 1)[1])
        self.address = ("127.0.0.1", self.port)

    def finish(self):
        out, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, out, err

    def stop(self, sig=signal.SIGTERM):
        """Signal the receiver; ``(status, stdout, stderr)`` once it has exited."""
        self.proc.send_signal(sig)
        return self.finish()


@pytest.fixture(autouse=True)
def _reap_receivers():
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def send(env, path, port, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pyframe",
            "send",
            str(path),
            f"127.0.0.1:{port}",
            "--timeout",
            "8",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=3 * TIMEOUT,
        cwd=os.path.dirname(path),
    )


def header_for(name, data):
    return {"version": transfer.PROTOCOL, "name": name, "size": len(data)}


def connect_raw(impl, address):
    sock = socket.create_connection(address, timeout=TIMEOUT)
    return FramedSocket(sock, impl.LengthPrefixFramer(max_frame_size=1 << 20))


def raw_sender(impl, address, header):
    """A sender played by the test: ``(conn, the receiver's reply to header)``."""
    conn = connect_raw(impl, address)
    conn.send(header if isinstance(header, bytes) else json.dumps(header).encode())
    reply = conn.recv()
    assert reply is not None, "the receiver closed the connection without a reply"
    return conn, json.loads(reply)


def raw_transfer(impl, address, name, data, digest=None):
    """The whole protocol, by hand: ``(reply to the header, final reply or None)``."""
    conn, reply = raw_sender(impl, address, header_for(name, data))
    with conn:
        if not reply["ok"]:
            return reply, None
        conn.send(data)
        conn.send(json.dumps({"sha256": digest or hashlib.sha256(data).hexdigest()}).encode())
        return reply, json.loads(conn.recv())


def wait_for(predicate, what):
    end = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def parts(out):
    return [n for n in os.listdir(out) if n.endswith(".pyframe-part")]


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


# -- transfers that succeed -------------------------------------------------------------


def test_send_and_receive(impl_env, tmp_path, out):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    for name, size in (("data.bin", 3 * 1024 * 1024 + 17), ("empty", 0)):
        src = src_dir / name
        src.write_bytes(os.urandom(size))
        receiver = Receiver(impl_env, out)
        sent = send(impl_env, src, receiver.port)
        code, stdout, stderr = receiver.finish()
        assert sent.returncode == 0, sent.stderr
        assert code == 0, stderr
        assert (out / name).read_bytes() == src.read_bytes()
        assert f"received {out / name}" in stdout
        assert hashlib.sha256(src.read_bytes()).hexdigest() in sent.stdout
        # not a terminal: plain progress lines, no bar
        assert f"send {name}: {size} bytes" in sent.stderr and "done" in sent.stderr
        assert "\r" not in sent.stderr
    assert sorted(os.listdir(out)) == ["data.bin", "empty"]  # no temporary file left


def test_no_overwrite_without_force(impl_env, tmp_path, out):
    src = tmp_path / "f.txt"
    src.write_bytes(b"new content")
    (out / "f.txt").write_bytes(b"old")
    receiver = Receiver(impl_env, out)
    sent = send(impl_env, src, receiver.port)
    code, _, stderr = receiver.finish()
    assert sent.returncode == 1 and "exists" in sent.stderr and "--force" in sent.stderr
    assert code == 1 and "exists" in stderr
    assert (out / "f.txt").read_bytes() == b"old"
    receiver = Receiver(impl_env, out, "--force")
    sent = send(impl_env, src, receiver.port)
    assert receiver.finish()[0] == 0 and sent.returncode == 0
    assert (out / "f.txt").read_bytes() == b"new content"
    assert os.listdir(out) == ["f.txt"]


def test_force_does_not_take_a_directory_for_a_file(impl, impl_env, out):
    """(--force accepted a file named like a directory, and failed once it had all arrived.)"""
    (out / "docs").mkdir()
    receiver = Receiver(impl_env, out, "--force")
    reply, _ = raw_transfer(impl, receiver.address, "docs", b"x")
    assert reply["ok"] is False and "is a directory" in reply["error"], reply
    assert receiver.finish()[0] == 1 and os.listdir(out) == ["docs"]


def test_files_are_created_with_the_umask_mode(impl_env, tmp_path, out):
    """(mkstemp made them 0600 whatever the umask)"""
    src = tmp_path / "m.txt"
    src.write_bytes(b"mode")
    receiver = Receiver(impl_env, out, prelude="import os; os.umask(0o027)")
    sent = send(impl_env, src, receiver.port)
    assert receiver.finish()[0] == 0 and sent.returncode == 0, sent.stderr
    assert oct((out / "m.txt").stat().st_mode & 0o777) == oct(0o640)


def test_the_sender_reads_the_file_once_and_sends_the_digest_last(impl, tmp_path, monkeypatch):
    """Protocol 2: no digest in the header (hashing first read the file twice, and kept the
    receiver waiting); the digest follows the content."""
    data = os.urandom(3 * transfer.CHUNK + 5)
    src = tmp_path / "once.bin"
    src.write_bytes(data)
    read = []

    class CountingReader(io.BufferedReader):
        def read(self, *args):
            chunk = super().read(*args)
            read.append(len(chunk))
            return chunk

        def readinto(self, buf):
            n = super().readinto(buf)
            read.append(n)
            return n

    def counting_open(path, mode="r", *args, **kwargs):
        assert mode == "rb"
        return CountingReader(io.FileIO(path, "rb"))

    monkeypatch.setattr(transfer, "open", counting_open, raising=False)
    seen = {}

    def receiver(listener):
        sock, _ = listener.accept()
        with FramedSocket(sock, impl.LengthPrefixFramer(max_frame_size=1 << 20)) as conn:
            conn.settimeout(TIMEOUT)
            seen["header"] = json.loads(conn.recv())
            conn.send(b'{"ok": true}')
            content = b""
            while len(content) < len(data):
                content += conn.recv()
            seen["content"] = content
            seen["trailer"] = json.loads(conn.recv())
            conn.send(b'{"ok": true}')

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        thread = threading.Thread(target=receiver, args=(listener,))
        thread.start()
        try:
            result = transfer.send_file(src, listener.getsockname(), timeout=TIMEOUT, plain=True)
        finally:
            thread.join(TIMEOUT)
    assert sum(read) == len(data)  # read once, not hashed first
    digest = hashlib.sha256(data).hexdigest()
    assert seen["header"] == {"version": 2, "name": "once.bin", "size": len(data)}
    assert seen["content"] == data and seen["trailer"] == {"sha256": digest}
    assert result == {"name": "once.bin", "size": len(data), "sha256": digest}


# -- hostile or broken senders ---------------------------------------------------------


def test_truncated_transfer_is_reported_and_leaves_nothing(impl, impl_env, out):
    data = os.urandom(100000)
    receiver = Receiver(impl_env, out)
    conn, reply = raw_sender(impl, receiver.address, header_for("t.bin", data))
    assert reply == {"ok": True}
    conn.send(data[:30000])
    conn.socket.sendall(conn.framer.encode(data[30000:60000])[:1000])  # then cut mid-frame
    conn.close()
    code, _, stderr = receiver.finish()
    assert code == 1
    assert "transfer truncated: received 30000 of 100000 bytes of t.bin" in stderr
    assert os.listdir(out) == []


@pytest.mark.parametrize("name", ["m.bin", "truncated-report.txt"])
def test_digest_mismatch_saves_nothing(impl, impl_env, out, name):
    receiver = Receiver(impl_env, out)
    reply, result = raw_transfer(
        impl, receiver.address, name, b"hello", digest=hashlib.sha256(b"other").hexdigest()
    )
    code, _, stderr = receiver.finish()
    assert reply == {"ok": True}
    assert result["ok"] is False and "SHA-256 mismatch" in result["error"]
    assert code == 1 and "SHA-256 mismatch" in stderr
    assert os.listdir(out) == []


def test_an_old_sender_is_told_to_upgrade(impl, impl_env, out):
    receiver = Receiver(impl_env, out)
    conn, reply = raw_sender(impl, receiver.address, {"name": "f", "size": 1, "sha256": "0" * 64})
    conn.close()
    assert reply["ok"] is False and "protocol version" in reply["error"]
    assert receiver.finish()[0] == 1 and os.listdir(out) == []


def test_a_stalled_sender_does_not_delay_another(impl, impl_env, tmp_path, out):
    """(One connection at a time: a silent sender held the receiver for its whole timeout.)"""
    receiver = Receiver(impl_env, out, once=False)  # --timeout 10
    silent = socket.create_connection(receiver.address, timeout=TIMEOUT)
    trickler = connect_raw(impl, receiver.address)
    trickler.socket.sendall(b"\x00\x00")  # half a frame header, then nothing
    src = tmp_path / "honest.txt"
    src.write_bytes(b"honest" * 1000)
    sent = send(impl_env, src, receiver.port)  # the sender's --timeout 8 < the receiver's 10
    assert sent.returncode == 0, sent.stderr
    assert (out / "honest.txt").read_bytes() == src.read_bytes()
    silent.close()
    trickler.close()


def test_a_silent_sender_is_told_it_timed_out(impl, impl_env, out):
    receiver = Receiver(impl_env, out, "--timeout", "0.5", once=False)
    conn = connect_raw(impl, receiver.address)
    reply = json.loads(conn.recv())  # the receiver's idle timeout, not ours
    conn.close()
    assert reply["ok"] is False and "within 0.5 s (--timeout)" in reply["error"]
    conn, reply = raw_sender(impl, receiver.address, header_for("s", b"xy"))
    assert reply == {"ok": True}
    conn.send(b"x")  # then nothing
    reply = json.loads(conn.recv())
    conn.close()
    assert reply["ok"] is False and "sent nothing for 0.5 s (--timeout)" in reply["error"]
    wait_for(lambda: not parts(out), "the partial file to go")
    receiver.stop()
    # a deadline shorter than the idle timeout bounds the header, and the message says so
    receiver = Receiver(impl_env, out, "--timeout", "5", "--deadline", "0.5")
    conn = connect_raw(impl, receiver.address)
    reply = json.loads(conn.recv())
    conn.close()
    assert reply["ok"] is False and "within 0.5 s (--deadline)" in reply["error"], reply


def test_a_trickling_sender_is_stopped_by_the_deadline(impl, impl_env, out):
    """A byte now and then, each within the idle timeout, held the receiver forever."""
    receiver = Receiver(impl_env, out, "--deadline", "1.5", once=False)
    data = os.urandom(1000)
    conn, reply = raw_sender(impl, receiver.address, header_for("slow.bin", data))
    assert reply == {"ok": True}
    wire = conn.framer.encode(data)
    end = time.monotonic() + TIMEOUT
    for i in range(len(wire)):  # a byte every 0.1 s, until the receiver speaks
        if select.select([conn.socket], [], [], 0.1)[0] or time.monotonic() > end:
            break
        conn.socket.sendall(wire[i : i + 1])
    result = json.loads(conn.recv())
    conn.close()
    assert result["ok"] is False and "deadline (1.5 s, --deadline)" in result["error"]
    wait_for(lambda: not parts(out), "the partial file to go")
    _, _, stderr = receiver.stop()
    assert "deadline" in stderr and os.listdir(out) == []


def test_a_header_trickled_byte_by_byte_must_arrive_within_the_timeout(impl, impl_env, out):
    """Slowloris on the header: a byte now and then held a slot until the whole transfer's
    deadline (an hour by default), not the idle timeout."""
    receiver = Receiver(impl_env, out, "--timeout", "1", "--deadline", "60", once=False)
    conn = connect_raw(impl, receiver.address)
    wire = conn.framer.encode(json.dumps(header_for("slow" * 20, b"x")).encode())  # > 8 s
    end = time.monotonic() + TIMEOUT
    for i in range(len(wire)):  # a byte every 0.2 s (< --timeout), until the receiver speaks
        if select.select([conn.socket], [], [], 0.2)[0]:
            break
        assert time.monotonic() < end, "the receiver let the header trickle in"
        conn.socket.sendall(wire[i : i + 1])
    reply = json.loads(conn.recv())
    conn.close()
    assert reply["ok"] is False, reply
    assert "the header did not arrive within 1 s (--timeout)" in reply["error"], reply


def test_a_trickle_after_the_go_ahead_is_cut_by_the_minimum_rate(impl, impl_env, out):
    """A content byte now and then, each within --timeout, held a connection slot until the
    deadline (an hour by default): eight such senders blocked the receiver. A fast start buys
    no more than the slack (2 * --timeout): the rate is not averaged over the whole transfer."""
    receiver = Receiver(
        impl_env, out, "--timeout", "1", "--deadline", "60", "--max-connections", "1", once=False
    )
    data = os.urandom(transfer.CHUNK + 1000)
    conn, reply = raw_sender(impl, receiver.address, header_for("slow.bin", data))
    assert reply == {"ok": True}
    conn.send(data[: transfer.CHUNK])  # 256 KiB at once: 256 s at 1 KiB/s, if it counted
    wire = conn.framer.encode(data[transfer.CHUNK :])
    end = time.monotonic() + 6
    for i in range(len(wire)):  # a byte every 0.25 s (< --timeout), until the receiver speaks
        if select.select([conn.socket], [], [], 0.25)[0]:
            break
        assert time.monotonic() < end, "the receiver let the content trickle in"
        conn.socket.sendall(wire[i : i + 1])
    result = json.loads(conn.recv())
    conn.close()
    assert result["ok"] is False, result
    assert "too slow: " in result["error"] and "under --min-rate 1024" in result["error"]
    wait_for(lambda: not parts(out), "the partial file to go")
    # the slot is free again once the refused sender's connection is over (the receiver
    # lingers to let it read the reply): an honest sender is served
    end = time.monotonic() + TIMEOUT
    while True:
        result = raw_transfer(impl, receiver.address, "fast.bin", b"fast")
        if "busy" not in result[0].get("error", "") or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert result == ({"ok": True},) * 2
    _, _, stderr = receiver.stop()
    assert "too slow" in stderr and os.listdir(out) == ["fast.bin"]


def test_a_slow_start_and_a_stall_are_within_the_minimum_rate(impl, impl_env, out):
    """Honest senders that pause (less than --timeout) are not cut, even at a high rate."""
    receiver = Receiver(impl_env, out, "--timeout", "3", "--min-rate", "1M")
    data = os.urandom(4 << 20)
    conn, reply = raw_sender(impl, receiver.address, header_for("stalls.bin", data))
    with conn:
        assert reply == {"ok": True}
        time.sleep(1)  # a slow start
        half = len(data) // 2
        for i in range(0, half, transfer.CHUNK):
            conn.send(data[i : min(i + transfer.CHUNK, half)])
        time.sleep(1)  # a stall
        for i in range(half, len(data), transfer.CHUNK):
            conn.send(data[i : i + transfer.CHUNK])
        conn.send(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}).encode())
        assert json.loads(conn.recv()) == {"ok": True}
    assert receiver.finish()[0] == 0 and (out / "stalls.bin").read_bytes() == data


def test_a_min_rate_of_zero_accepts_any_rate(impl, tmp_path):
    """(The deadline still applies.)"""
    # with a minimum rate, cut after 2 s (2 * timeout); the deadline comes at 3 s
    receiver = transfer.Receiver(tmp_path, timeout=1, deadline=3, plain=True, min_rate=0)
    errors = []

    def run(conn):
        with conn:
            try:
                receiver.receive(conn)
            except transfer.TransferError as exc:
                errors.append(str(exc))

    a, b = socket.socketpair()
    a.settimeout(TIMEOUT)
    sender = FramedSocket(a, impl.LengthPrefixFramer())
    thread = threading.Thread(target=run, args=(FramedSocket(b, transfer._framer()),))
    thread.start()
    with sender:
        data = b"t" * 100
        sender.send(json.dumps(header_for("t", data)).encode())
        assert json.loads(sender.recv()) == {"ok": True}
        wire = sender.framer.encode(data)
        for i in range(len(wire)):  # 5 bytes/s for the whole deadline: not too slow
            if select.select([a], [], [], 0.2)[0]:
                break
            a.sendall(wire[i : i + 1])
        reply = json.loads(sender.recv())
    thread.join(TIMEOUT)
    assert reply["ok"] is False and "--deadline" in reply["error"], reply
    assert len(errors) == 1 and "deadline" in errors[0] and os.listdir(tmp_path) == []


def test_a_receiver_slowed_by_its_disk_does_not_blame_the_sender(impl, tmp_path, monkeypatch):
    """Only the time spent waiting for the sender counts against its rate."""
    real_write = transfer.Receiver._write

    def slow_write(fd, data, name):
        time.sleep(0.5)  # the content waits in the socket meanwhile
        real_write(fd, data, name)

    monkeypatch.setattr(transfer.Receiver, "_write", staticmethod(slow_write))
    # 1 s of slack (2 * timeout), 1.5 s spent writing
    receiver = transfer.Receiver(tmp_path, timeout=0.5, plain=True, min_rate=1 << 30)
    (sender,), threads = served(impl, receiver, 1)
    with sender:
        data = os.urandom(600_000)  # frames larger than a read: several reads each
        sender.send(json.dumps(header_for("d", data)).encode())
        assert json.loads(sender.recv()) == {"ok": True}
        for i in range(0, len(data), 200_000):
            sender.send(data[i : i + 200_000])
        sender.send(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}).encode())
        assert json.loads(sender.recv()) == {"ok": True}
    threads[0].join(TIMEOUT)
    assert (tmp_path / "d").read_bytes() == data


def test_a_receiver_at_its_connection_limit_says_it_is_busy(impl, impl_env, out):
    receiver = Receiver(impl_env, out, "--max-connections", "1", once=False)
    with socket.create_connection(receiver.address, timeout=TIMEOUT):  # holds the only slot
        conn, reply = raw_sender(impl, receiver.address, header_for("f", b"x"))
        conn.close()
    assert reply["ok"] is False and "busy" in reply["error"]
    assert "--max-connections" in reply["error"]


def test_an_interrupt_before_a_thread_started_is_aborted_cleanly(tmp_path, monkeypatch):
    """Ctrl-C can land between taking a sender and starting its thread: abort() joined a
    thread never started (RuntimeError, a traceback at exit) and left its socket open."""
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    real_start = threading.Thread.start

    def start(thread):
        if getattr(thread, "_target", None) == receiver._serve_one:
            raise KeyboardInterrupt  # the signal, just before the thread started
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with FramedServer(("127.0.0.1", 0), transfer._framer) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sender:
            with pytest.raises(KeyboardInterrupt):
                receiver.serve(server)
            assert receiver.abort(timeout=1) == 1
            assert sender.recv(1) == b""  # closed, not left open


def test_a_sender_that_resets_the_connection_is_no_internal_error(impl, impl_env, out):
    """(The go-ahead, sent to a sender gone, was logged as a bug of the receiver.)"""
    receiver = Receiver(impl_env, out)
    conn = connect_raw(impl, receiver.address)
    conn.send(json.dumps(header_for("gone", b"x" * 10)).encode())
    conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # a reset, not a clean end of stream
    code, _, stderr = receiver.finish()
    assert code == 1 and "internal error" not in stderr, stderr
    assert "connection lost" in stderr and os.listdir(out) == []


def test_a_thread_that_cannot_start_is_a_busy_reply(impl, tmp_path, monkeypatch):
    """No thread to be had (RuntimeError from start()): that sender is told, the next served."""
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    real_start = threading.Thread.start
    failures = [RuntimeError("can't start new thread")]

    def start(thread):
        if failures and getattr(thread, "_target", None) == receiver._serve_one:
            raise failures.pop()
        real_start(thread)

    statuses = []
    with FramedServer(("127.0.0.1", 0), transfer._framer) as server:
        serving = threading.Thread(
            target=lambda: statuses.append(receiver.serve(server, once=True))
        )
        serving.start()
        monkeypatch.setattr(threading.Thread, "start", start)
        conn, reply = raw_sender(impl, server.address, header_for("f", b"x"))
        conn.close()
        assert reply["ok"] is False and "busy: cannot start a thread" in reply["error"]
        reply, result = raw_transfer(impl, server.address, "f", b"x")
        serving.join(TIMEOUT)
    assert result == {"ok": True} and statuses == [0]
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize(
    "extra, size, expected",
    [
        ((), 2**63, "--max-size"),
        ((), 10**30, "--max-size"),
        (("--max-size", "1K"), 1025, "(1024 bytes, --max-size)"),
        (("--max-size", "1000T"), "10x free", "bytes free"),
    ],
)
def test_claims_above_the_limit_or_the_free_space_are_refused(
    impl, impl_env, out, extra, size, expected
):
    if size == "10x free":
        size = 10 * shutil.disk_usage(out).free
    receiver = Receiver(impl_env, out, *extra)
    conn, reply = raw_sender(impl, receiver.address, {"version": 2, "name": "big", "size": size})
    conn.close()
    code, _, stderr = receiver.finish()
    assert reply["ok"] is False and expected in reply["error"], reply
    assert code == 1 and "refused" in stderr
    assert os.listdir(out) == []  # refused before any byte was written


def test_a_file_at_the_size_limit_is_accepted(impl, impl_env, out):
    receiver = Receiver(impl_env, out, "--max-size", "1K")
    reply, result = raw_transfer(impl, receiver.address, "k.bin", b"k" * 1024)
    assert reply == result == {"ok": True}
    assert receiver.finish()[0] == 0 and (out / "k.bin").stat().st_size == 1024


def served(impl, receiver, count):
    """``count`` senders played by the test, each on a socket pair served by
    ``receiver.receive()`` in a thread: ``(senders, threads)``."""
    senders, threads = [], []
    for _ in range(count):
        a, b = socket.socketpair()
        a.settimeout(TIMEOUT)
        senders.append(FramedSocket(a, impl.LengthPrefixFramer()))
        conn = FramedSocket(b, transfer._framer())

        def run(conn=conn):
            with conn, contextlib.suppress(transfer.TransferError):
                receiver.receive(conn)

        threads.append(threading.Thread(target=run))
        threads[-1].start()
    return senders, threads


def test_transfers_in_progress_count_against_the_free_space(impl, tmp_path, monkeypatch):
    """Two senders that each fit, but not together: the second is refused."""
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(transfer.shutil, "disk_usage", lambda path: usage._replace(free=1500))
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    (first, second), threads = served(impl, receiver, 2)
    data = b"a" * 1000
    first.send(json.dumps(header_for("first", data)).encode())
    assert json.loads(first.recv()) == {"ok": True}  # 1000 of the 1500 bytes now reserved
    second.send(json.dumps(header_for("second", data)).encode())
    reply = json.loads(second.recv())
    assert reply["ok"] is False and "500 bytes free" in reply["error"]
    second.close()
    first.send(data)
    first.send(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}).encode())
    assert json.loads(first.recv()) == {"ok": True}
    first.close()
    for thread in threads:
        thread.join(TIMEOUT)
    assert os.listdir(tmp_path) == ["first"]


@POSIX
def test_the_new_name_is_on_disk_before_the_sender_hears_it_is(impl, tmp_path, monkeypatch):
    """The file was synced, not the directory: a crash after the "ok" could lose its name."""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(transfer.os, "fsync", fsync)
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    (sender,), threads = served(impl, receiver, 1)
    with sender:
        sender.send(json.dumps(header_for("durable", b"d")).encode())
        assert json.loads(sender.recv()) == {"ok": True}
        sender.send(b"d")
        sender.send(json.dumps({"sha256": hashlib.sha256(b"d").hexdigest()}).encode())
        assert json.loads(sender.recv()) == {"ok": True}
        assert synced == ["file", "directory"]  # both, before the reply
    threads[0].join(TIMEOUT)


def test_what_a_transfer_wrote_is_not_counted_twice_against_the_free_space(
    impl, tmp_path, monkeypatch
):
    """The free space already lacks what a transfer in progress wrote: only what it may still
    write is reserved (its whole size was, refusing a file that fits)."""
    usage = shutil.disk_usage(tmp_path)

    def disk_usage(path):  # a disk of 1500 bytes
        used = sum(entry.stat().st_size for entry in os.scandir(tmp_path))
        return usage._replace(free=1500 - used)

    monkeypatch.setattr(transfer.shutil, "disk_usage", disk_usage)
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    (first, second), threads = served(impl, receiver, 2)
    data = b"a" * 1000
    first.send(json.dumps(header_for("first", data)).encode())
    assert json.loads(first.recv()) == {"ok": True}
    first.send(data[:900])
    # written, and no longer reserved (the receiver releases a frame's bytes just after
    # writing them: until then the free space counts them twice, refusing on the safe side)
    wait_for(
        lambda: disk_usage(tmp_path).free == 600 and receiver._reserved == 100,
        "900 bytes written",
    )
    # 600 bytes free, of which the first transfer may still write 100: 500 fit
    second.send(json.dumps(header_for("second", data[:500])).encode())
    assert json.loads(second.recv()) == {"ok": True}
    second.send(data[:500])
    second.send(json.dumps({"sha256": hashlib.sha256(data[:500]).hexdigest()}).encode())
    assert json.loads(second.recv()) == {"ok": True}
    first.send(data[900:])
    first.send(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}).encode())
    assert json.loads(first.recv()) == {"ok": True}
    for sender in (first, second):
        sender.close()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(os.listdir(tmp_path)) == ["first", "second"] and receiver._reserved == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def not_more(counts, before):
    return all(n <= b for n, b in zip(counts, before))


def test_failed_transfers_leave_no_thread_descriptor_or_reservation(impl, tmp_path):
    """Every way to fail, 4 times over: afterwards, the receiver holds what it held before."""
    receiver = transfer.Receiver(tmp_path, timeout=0.5, plain=True)
    data = b"abc"
    failures = [
        lambda c: c.send(b"[" * 60000),  # unreadable header
        lambda c: c.send(json.dumps(header_for("../x", data)).encode()),  # refused name
        lambda c: c.send(json.dumps({"version": 2, "name": "big", "size": 2**63}).encode()),
        lambda c: c.send(json.dumps(header_for("t", data)).encode()),  # then cut short
        lambda c: (c.send(json.dumps(header_for("m", data)).encode()), c.send(data + b"!")),
        lambda c: (
            c.send(json.dumps(header_for("d", data)).encode()),
            c.send(data),
            c.send(json.dumps({"sha256": "0" * 64}).encode()),
        ),
        lambda c: None,  # silent: the idle timeout
    ]
    with FramedServer(("127.0.0.1", 0), transfer._framer) as server:
        serving = threading.Thread(target=receiver.serve, args=(server,))
        serving.start()
        before = threading.active_count(), len(os.listdir("/proc/self/fd"))
        for _ in range(4):
            for fail in failures:
                with connect_raw(impl, server.address) as conn:
                    fail(conn)
                    with contextlib.suppress(OSError):
                        conn.recv()  # a reply, or the end of the stream
        wait_for(lambda: not receiver._active, "the transfers to end")

        def held():
            return threading.active_count(), len(os.listdir("/proc/self/fd"))

        # (a worker ends a moment after it leaves _active: wait for it, not for ever)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not_more(held(), before), "the workers to end")
        after = held()
        server.socket.shutdown(socket.SHUT_RDWR)
        server.close()
        serving.join(TIMEOUT)
    assert not_more(after, before), (after, before)
    assert receiver._reserved == 0 and os.listdir(tmp_path) == []


def test_a_deeply_nested_header_does_not_stop_the_receiver(impl, impl_env, out):
    """(json.loads raised RecursionError, which ended the receiver.)"""
    receiver = Receiver(impl_env, out, once=False)
    conn, reply = raw_sender(impl, receiver.address, b"[" * 60000)
    conn.close()
    assert reply["ok"] is False and "unreadable" in reply["error"]
    reply, result = raw_transfer(impl, receiver.address, "after.txt", b"still here")
    assert result == {"ok": True} and (out / "after.txt").read_bytes() == b"still here"
    _, _, stderr = receiver.stop()
    assert "Traceback" not in stderr


@POSIX
def test_a_failed_write_is_reported_to_the_sender(impl_env, tmp_path, out):
    """Disk full, as a file size limit (EFBIG) on the receiver: the sender reads the
    receiver's reason, not "Connection reset by peer"."""
    limit = (
        "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))"
    )
    receiver = Receiver(impl_env, out, prelude=limit)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    sent = send(impl_env, src, receiver.port)
    code, _, stderr = receiver.finish()
    assert sent.returncode == 1
    last = sent.stderr.splitlines()[-1]
    assert last.startswith("pyframe send: error: the receiver reports a failure: cannot write")
    assert "File too large" in last and "nothing was saved" in last
    assert code == 1 and "File too large" in stderr
    assert os.listdir(out) == []


def test_a_temporary_file_that_cannot_be_made_is_refused(impl, tmp_path, monkeypatch):
    # (an unwritable directory, faked: as root, as CI runs, every directory is writable)
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if str(path).endswith(".pyframe-part"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(transfer.os, "open", fake_open)
    a, b = socket.socketpair()
    with (
        FramedSocket(a, impl.LengthPrefixFramer()) as sender,
        FramedSocket(b, transfer._framer()) as conn,
    ):
        sender.settimeout(TIMEOUT)
        sender.send(json.dumps(header_for("f", b"x")).encode())
        with pytest.raises(transfer.TransferError, match="cannot create"):
            transfer.receive_file(conn, tmp_path)
        reply = json.loads(sender.recv())  # the refusal, not a go-ahead
    assert reply["ok"] is False and "Permission denied" in reply["error"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("padding", [transfer.HEADER_LIMIT, transfer.CHUNK + 1])
def test_a_header_larger_than_the_limit_is_refused(impl, impl_env, out, padding):
    receiver = Receiver(impl_env, out)
    header = {**header_for("f", b"x"), "pad": "x" * padding}
    conn, reply = raw_sender(impl, receiver.address, header)
    conn.close()
    assert reply["ok"] is False and "the header is larger than" in reply["error"]
    assert receiver.finish()[0] == 1 and os.listdir(out) == []


# -- names -------------------------------------------------------------------------------

REFUSED_NAMES = {
    # path traversal and the like
    "../evil": "not a plain file name",
    "/etc/passwd": "not a plain file name",
    "a/b": "not a plain file name",
    "..": "not a plain file name",
    ".": "not a plain file name",
    "": "empty",
    "c:x": "not a plain file name",
    "x\\..\\y": "not a plain file name",
    "nul\0byte": "not a plain file name",
    # not text: a lone surrogate would be written as raw bytes (or not at all)
    "\ud800": "not valid Unicode",
    "a\udcff": "not valid Unicode",
    # control characters, separators, bidi controls
    "new\nline": "control characters (U+000A)",
    "\x1b[31mred": "control characters (U+001B)",
    "del\x7f": "control characters (U+007F)",
    "c1\x85": "control characters (U+0085)",
    "line\u2028sep": "control characters (U+2028)",
    "invoice\u202efdp.exe": "control characters (U+202E)",
    "\u2066isolate\u2069": "control characters (U+2066, U+2069)",
    # nothing visible, white space at an end, a trailing dot (dropped by Windows)
    "   ": "no visible character",
    "\u3000\u200b": "no visible character",
    " lead": "white space",
    "trail\t": "control characters",
    "trail ": "white space",
    "dot.": "ends with a dot",
    # hidden unless --dotfiles; never the receiver's own partial files
    ".bashrc": "dot-file",
}


@pytest.mark.parametrize("name, reason", REFUSED_NAMES.items(), ids=ascii)
def test_check_name_refuses(name, reason):
    with pytest.raises(transfer.TransferError, match="refused") as info:
        transfer.check_name(name)
    assert reason in str(info.value)


def test_check_name_accepts():
    for name in ("report.pdf", "résumé 2024.pdf", "日本語.txt", "a b", "x" * 232, "😀.png"):
        assert transfer.check_name(name) == name
    assert transfer.check_name("e\u0301.txt") == "\u00e9.txt"  # stored in NFC
    assert transfer.check_name(".hidden", dotfiles=True) == ".hidden"
    for bad in (None, 5, "a" * 233, "é" * 117, ".x.abcdefgh.pyframe-part"):
        with pytest.raises(transfer.TransferError):
            transfer.check_name(bad, dotfiles=True)


def test_names_windows_reserves_are_refused_on_windows(monkeypatch):
    """Windows opens a device for "CON" or "nul.txt", and writes "ab:c" into a stream of "ab"."""
    devices = ["CON", "nul.txt", "Com1", "lpt9.tar.gz", "AUX .c", "com\u00b9"]
    forbidden = ["ab:c", "what?", "x*y", "a<b", "a>b", 'say "hi"', "a|b"]
    for name in devices + forbidden + ["console", "aux-file", "com10", "lpt", "notes.txt"]:
        assert transfer.check_name(name) == name  # elsewhere these are plain names
    monkeypatch.setattr(transfer, "_WINDOWS", True)
    for name in devices + forbidden:
        with pytest.raises(transfer.TransferError, match="not a valid file name on Windows"):
            transfer.check_name(name)
    for name in ("console", "aux-file", "com10", "lpt", "notes.txt"):
        assert transfer.check_name(name) == name


def test_refused_names_get_a_reply_and_write_nothing(impl, impl_env, tmp_path, out):
    """Every refused name, to one receiver (which serves them all), then names it accepts."""
    receiver = Receiver(impl_env, out, once=False)
    for name, reason in REFUSED_NAMES.items():
        reply, _ = raw_transfer(impl, receiver.address, name, b"x")
        assert reply["ok"] is False and reason in reply["error"], (name, reply)
    assert os.listdir(out) == [] and os.listdir(tmp_path) == ["out"]
    for name in ("e\u0301.txt", "日本語.txt"):
        reply, result = raw_transfer(impl, receiver.address, name, b"ok")
        assert result == {"ok": True}
    assert sorted(os.listdir(out)) == sorted(["\u00e9.txt", "日本語.txt"])
    _, _, stderr = receiver.stop()
    assert "Traceback" not in stderr


def test_replies_stay_short_whatever_the_sender_sent(impl, impl_env, out):
    """A header is up to 64 KiB: the errors that quote it must not (nor the log lines)."""
    receiver = Receiver(impl_env, out, once=False)
    for header in (
        header_for("\x01" + "".join(map(chr, range(0x80, 0xA0))) * 300, b"x"),  # < 64 KiB escaped
        header_for("x" * 60000, b"x"),
        {"version": 2, "name": "big", "size": 10**4000},
    ):
        conn, reply = raw_sender(impl, receiver.address, header)
        conn.close()
        assert reply["ok"] is False and "refused" in reply["error"]
        assert len(reply["error"]) < 300, reply
    reply, result = raw_transfer(impl, receiver.address, "d.bin", b"x", digest="f" * 60000)
    assert reply == {"ok": True}
    assert result == {"ok": False, "error": "the digest is not 64 hex digits; nothing was saved"}
    assert os.listdir(out) == []
    _, _, stderr = receiver.stop()
    assert max(map(len, stderr.splitlines())) < 400


def test_dotfiles_are_accepted_with_the_option(impl, impl_env, out):
    receiver = Receiver(impl_env, out, "--dotfiles")
    _, result = raw_transfer(impl, receiver.address, ".hidden", b"h")
    assert result == {"ok": True} and (out / ".hidden").read_bytes() == b"h"


def test_a_name_too_long_for_the_temporary_file_is_refused(impl, impl_env, out):
    receiver = Receiver(impl_env, out)
    name = "n" * 250  # a valid file name, but not with the temporary file's prefix and suffix
    reply, _ = raw_transfer(impl, receiver.address, name, b"x")
    assert reply["ok"] is False and "longer than" in reply["error"]
    assert receiver.finish()[0] == 1 and os.listdir(out) == []


# -- signals, partial files, the command line ------------------------------------------------


def start_transfer(impl, receiver, out, name="p.bin"):
    """A transfer left half done: its partial file exists. Returns the sender's conn."""
    data = os.urandom(100000)
    conn, reply = raw_sender(impl, receiver.address, header_for(name, data))
    assert reply == {"ok": True}
    conn.send(data[:1000])
    wait_for(lambda: parts(out), "the partial file")
    return conn


@POSIX
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_transfer_stops_cleanly(impl, impl_env, out, sig):
    receiver = Receiver(impl_env, out, once=False)
    conn = start_transfer(impl, receiver, out)
    code, _, stderr = receiver.stop(sig)
    reply = json.loads(conn.recv())
    conn.close()
    assert code == 128 + sig
    assert "Traceback" not in stderr
    name = signal.Signals(sig).name
    assert stderr.splitlines()[-1] == (
        f"pyframe recv: stopped by {name}; 1 transfer(s) in progress abandoned, "
        "nothing of them saved"
    )
    assert reply["ok"] is False and "shutting down" in reply["error"]
    assert os.listdir(out) == []


@POSIX
def test_ctrl_c_on_an_idle_receiver(impl_env, out):
    receiver = Receiver(impl_env, out, once=False)
    code, _, stderr = receiver.stop(signal.SIGINT)
    assert code == 130
    assert (
        stderr == "pyframe recv: stopped by SIGINT; 0 transfer(s) in progress abandoned, "
        "nothing of them saved\n"
    )


@POSIX
def test_stale_partial_files_are_swept_at_start(impl, impl_env, out):
    killed = Receiver(impl_env, out, once=False)
    conn = start_transfer(impl, killed, out)
    killed.stop(signal.SIGKILL)
    conn.close()
    assert len(parts(out)) == 1  # SIGKILL cannot be handled: the partial file stays
    # the user's own files, even named like the receiver's partial files once were, stay
    mine = [".notes.txt", ".notes.abcdefgh.part", ".thesis.tex.20241101.part"]
    for name in mine:
        (out / name).write_text("a dot-file of the user's, not a partial file")
    live = Receiver(impl_env, out, once=False)
    assert sorted(os.listdir(out)) == sorted(mine)
    for name in mine:
        (out / name).unlink()
    # the partial file of a receiver still running is locked: another receiver keeps it
    conn = start_transfer(impl, live, out, "live.bin")
    other = Receiver(impl_env, out, once=False)
    assert len(parts(out)) == 1
    conn.close()
    assert "removed 1 stale partial file(s)" in live.stop()[2]
    assert "removed" not in other.stop()[2]


@POSIX
def test_a_partial_file_swept_before_it_was_locked_is_made_anew(impl, tmp_path, monkeypatch):
    """A receiver starting in another process can sweep a partial file between its creation
    and its lock: the transfer wrote into a file with no name, and failed at the end."""
    real_lock = transfer._lock
    swept = []

    def lock(fd):
        monkeypatch.setattr(transfer, "_lock", real_lock)  # once
        swept.append(transfer.sweep_parts(tmp_path))  # the other receiver's, just before
        return real_lock(fd)

    monkeypatch.setattr(transfer, "_lock", lock)
    receiver = transfer.Receiver(tmp_path, timeout=TIMEOUT, plain=True)
    (sender,), threads = served(impl, receiver, 1)
    with sender:
        sender.send(json.dumps(header_for("raced", b"r")).encode())
        assert json.loads(sender.recv()) == {"ok": True}
        sender.send(b"r")
        sender.send(json.dumps({"sha256": hashlib.sha256(b"r").hexdigest()}).encode())
        assert json.loads(sender.recv()) == {"ok": True}
    threads[0].join(TIMEOUT)
    assert swept == [1] and os.listdir(tmp_path) == ["raced"]


@POSIX
def test_the_sweep_never_blocks_on_a_fifo(tmp_path, monkeypatch):
    """A FIFO swapped in for a stale partial file between the scan and the open: opening it
    blocked the receiver's start, for good."""
    fifo = tmp_path / ".f.abcdefgh.pyframe-part"
    os.mkfifo(fifo)
    real_scandir = os.scandir

    class Entry:  # what the scan saw before the swap: a regular file
        def __init__(self, entry):
            self.name, self.path = entry.name, entry.path

        def is_file(self, follow_symlinks=True):
            return True

    @contextlib.contextmanager
    def scandir(path):
        with real_scandir(path) as entries:
            yield [Entry(entry) for entry in entries]

    monkeypatch.setattr(transfer.os, "scandir", scandir)
    swept = []
    thread = threading.Thread(target=lambda: swept.append(transfer.sweep_parts(tmp_path)))
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():  # blocked in open(): a writer lets it go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(TIMEOUT)
    assert swept == [0] and os.listdir(tmp_path) == [fifo.name]  # not blocked, not removed


@POSIX
def test_ctrl_c_on_the_sender(impl_env, tmp_path):
    """A receiver (played by the test) that stops reading; Ctrl-C on the sender."""
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        f.truncate(256 << 20)  # sparse: more than the socket buffers hold
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        sender = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyframe",
                "send",
                str(src),
                f"127.0.0.1:{listener.getsockname()[1]}",
                "--plain",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=impl_env,
            cwd=tmp_path,
        )
        try:
            sock, _ = listener.accept()
            with FramedSocket(sock, transfer._framer()) as conn:
                conn.settimeout(TIMEOUT)
                conn.recv()  # the header
                conn.send(b'{"ok": true}')
                assert sender.stderr.readline().startswith("send big.bin: ")  # sending now
                time.sleep(0.2)
                sender.send_signal(signal.SIGINT)
                _, stderr = sender.communicate(timeout=TIMEOUT)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.communicate()
    assert sender.returncode == 130
    assert stderr == "pyframe send: stopped by SIGINT; the receiver keeps nothing\n"


def test_bad_listen_addresses_are_one_line_errors(impl_env, out):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        for address, expected in (
            (f"127.0.0.1:{busy.getsockname()[1]}", "Address already in use"),
            ("127.0.0.1:70000", "port 70000 is out of range"),
            ("192.0.2.1:8765", "cannot listen on 192.0.2.1:8765"),  # not an address of ours
            ("nowhere", "expected HOST:PORT"),
        ):
            proc = subprocess.run(
                [sys.executable, "-m", "pyframe", "recv", "--listen", address, "--out", str(out)],
                capture_output=True,
                text=True,
                env=impl_env,
                timeout=TIMEOUT,
                cwd=out,
            )
            assert proc.returncode in (1, 2), proc.stderr
            assert proc.stderr.count("\n") == 1, proc.stderr
            assert proc.stderr.startswith("pyframe recv: error: ") and expected in proc.stderr


@POSIX
def test_the_sender_refuses_what_is_not_a_regular_file(impl_env, out):
    """A pipe (``cat f | pyframe send /dev/stdin``) has no size: it was sent as an empty
    file, and the sender said "sent"."""
    receiver = Receiver(impl_env, out)
    sent = subprocess.run(
        [sys.executable, "-m", "pyframe", "send", "/dev/stdin", f"127.0.0.1:{receiver.port}"],
        input="content in a pipe",
        capture_output=True,
        text=True,
        env=impl_env,
        timeout=TIMEOUT,
        cwd=out,
    )
    assert sent.returncode == 1, sent.stdout
    assert sent.stderr == "pyframe send: error: /dev/stdin is not a regular file\n"
    receiver.proc.kill()
    assert os.listdir(out) == []


def test_sender_reports_a_missing_receiver(impl_env, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sent = send(impl_env, src, port)
    assert sent.returncode == 1 and "pyframe send: error:" in sent.stderr


def test_parse_size():
    assert transfer.parse_size("1000") == 1000
    assert transfer.parse_size("512K") == 512 << 10
    assert transfer.parse_size("4g") == 4 << 30
    assert transfer.parse_size("1TiB") == 1 << 40
    for bad in ("", "-1", "1.5G", "4X"):
        with pytest.raises(Exception, match="expected a size"):
            transfer.parse_size(bad)


def test_progress_bar_on_a_terminal_and_plain_otherwise():
    pytest.importorskip("tqdm")  # the optional 'progress' extra

    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    tty = FakeTTY()
    p = transfer.Progress(1000, "send x", stream=tty)
    assert p.bar is not None
    p.update(500)
    p.update(500)
    p.close()
    assert "100%" in tty.getvalue() and "send x" in tty.getvalue()
    plain = io.StringIO()
    p = transfer.Progress(1000, "send x", stream=plain)
    assert p.bar is None
    p.update(1000)
    p.close()
    assert plain.getvalue().startswith("send x: 1000 bytes\nsend x: done, 1000 bytes")


def test_usage_errors(capsys):
    assert transfer.main(["bogus"]) == 2
    assert capsys.readouterr().err.startswith("usage: pyframe send FILE HOST:PORT")
    for argv in (
        ["send", "file-only"],
        ["send", "f", "no-port"],
        ["recv", "--max-size", "x"],
        # (socket timeouts beyond time_t: a traceback at the first connection)
        ["send", "f", "127.0.0.1:1", "--timeout", "inf"],
        ["recv", "--out", "/nonexistent", "--timeout", "1e300"],
        ["recv", "--out", "/nonexistent", "--deadline", "inf"],
        ["recv", "--min-rate", "-1"],
        ["recv", "--min-rate", "fast"],
    ):
        with pytest.raises(SystemExit):
            transfer.main(argv)
        assert capsys.readouterr().err.count("\n") == 1  # one line, not the whole usage
