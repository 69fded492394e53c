"""``python -m pyframe send|recv`` end to end (subprocesses on 127.0.0.1, port 0), on both
framer twins: the subprocesses select the twin under test through the environment."""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys

import pytest

from pyframe import transfer
from pyframe.sockets import FramedSocket

TIMEOUT = 30


class Receiver:
    def __init__(self, env, out, *extra):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyframe",
                "recv",
                "--listen",
                "127.0.0.1:0",
                "--out",
                str(out),
                "--once",
                "--timeout",
                "10",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=out,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, self.proc.stderr.read())
        self.port = int(line.rsplit(":", 1)[1])
        self.address = ("127.0.0.1", self.port)

    def finish(self):
        out, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, out, err


def send(env, path, port):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pyframe",
            "send",
            str(path),
            f"127.0.0.1:{port}",
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        cwd=os.path.dirname(path),
    )


def test_send_and_receive(impl_env, tmp_path):
    src_dir, out = tmp_path / "src", tmp_path / "out"
    src_dir.mkdir()
    out.mkdir()
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


def test_no_overwrite_without_force(impl, impl_env, tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"new content")
    out = tmp_path / "out"
    out.mkdir()
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


def raw_sender(impl, receiver, header):
    conn = FramedSocket(
        socket.create_connection(receiver.address, timeout=TIMEOUT), impl.LengthPrefixFramer()
    )
    conn.send(json.dumps(header).encode())
    return conn, json.loads(conn.recv())


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/passwd", "a/b", "..", ".", "", "c:x", "x\\..\\y", "nul\0byte", "new\nline"],
)
def test_path_traversal_is_refused(impl, impl_env, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    receiver = Receiver(impl_env, out)
    conn, reply = raw_sender(impl, receiver, {"name": name, "size": 1, "sha256": "0" * 64})
    conn.close()
    code, _, stderr = receiver.finish()
    assert reply["ok"] is False and "refused" in reply["error"]
    assert code == 1 and "refused" in stderr
    assert os.listdir(out) == [] and not (tmp_path / "evil").exists()


def test_truncated_transfer_is_reported_and_leaves_nothing(impl, impl_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    data = os.urandom(100000)
    receiver = Receiver(impl_env, out)
    header = {"name": "t.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    conn, reply = raw_sender(impl, receiver, header)
    assert reply == {"ok": True}
    conn.send(data[:30000])
    conn.socket.sendall(conn.framer.encode(data[30000:60000])[:1000])  # then cut mid-frame
    conn.close()
    code, _, stderr = receiver.finish()
    assert code == 1
    assert "transfer truncated: received 30000 of 100000 bytes of t.bin" in stderr
    assert os.listdir(out) == []


@pytest.mark.parametrize("name", ["m.bin", "truncated-report.txt"])
def test_digest_mismatch_saves_nothing(impl, impl_env, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    receiver = Receiver(impl_env, out)
    header = {"name": name, "size": 5, "sha256": hashlib.sha256(b"other").hexdigest()}
    conn, reply = raw_sender(impl, receiver, header)
    assert reply == {"ok": True}
    conn.send(b"hello")
    result = json.loads(conn.recv())
    conn.close()
    code, _, stderr = receiver.finish()
    assert result["ok"] is False and "SHA-256 mismatch" in result["error"]
    assert code == 1 and "SHA-256 mismatch" in stderr
    assert os.listdir(out) == []


def refused(impl, impl_env, out, header):
    """Send ``header`` to a receiver; its reply (after which it must exit with status 1
    leaving ``out`` empty) and its stderr."""
    receiver = Receiver(impl_env, out)
    conn, reply = raw_sender(impl, receiver, header)
    conn.close()
    code, _, stderr = receiver.finish()
    assert reply["ok"] is False, reply
    assert code == 1 and "refused" in stderr
    assert os.listdir(out) == []
    return reply["error"], stderr


def test_a_name_too_long_for_the_temporary_file_is_refused(impl, impl_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    name = "n" * 250  # a valid file name, but not with the temporary file's prefix and suffix
    error, _ = refused(impl, impl_env, out, {"name": name, "size": 1, "sha256": "0" * 64})
    assert "longer than" in error


def test_a_temporary_file_that_cannot_be_made_is_refused(impl, tmp_path, monkeypatch):
    # (an unwritable directory, faked: as root, as CI runs, every directory is writable)
    def mkstemp(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(transfer.tempfile, "mkstemp", mkstemp)
    a, b = socket.socketpair()
    with (
        FramedSocket(a, impl.LengthPrefixFramer()) as sender,
        FramedSocket(b, transfer._framer()) as conn,
    ):
        sender.settimeout(TIMEOUT)
        conn.settimeout(TIMEOUT)
        sender.send(json.dumps({"name": "f", "size": 1, "sha256": "0" * 64}).encode())
        with pytest.raises(transfer.TransferError, match="cannot create"):
            transfer.receive_file(conn, str(tmp_path))
        reply = json.loads(sender.recv())  # the refusal, not a go-ahead
    assert reply["ok"] is False and "Permission denied" in reply["error"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("padding", [transfer.HEADER_LIMIT, transfer.CHUNK + 1])
def test_a_header_larger_than_the_limit_is_refused(impl, impl_env, tmp_path, padding):
    out = tmp_path / "out"
    out.mkdir()
    header = {"name": "f", "size": 1, "sha256": "0" * 64, "pad": "x" * padding}
    error, _ = refused(impl, impl_env, out, header)
    assert f"larger than {transfer.HEADER_LIMIT} bytes" in error


def test_sender_reports_a_missing_receiver(impl_env, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sent = send(impl_env, src, port)
    assert sent.returncode == 1 and "pyframe send: error:" in sent.stderr


def test_check_name():
    assert transfer.check_name("report.pdf") == "report.pdf"
    assert transfer.check_name(".hidden") == ".hidden"
    for bad in ("../x", "x/..", "/abs", "..", "", None, 5, "a" * 300, "a" * 241):
        with pytest.raises(transfer.TransferError):
            transfer.check_name(bad)
    assert transfer.check_name("a" * 240) == "a" * 240  # ".{name}.XXXXXXXX.part": 255 bytes


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


def test_usage_errors():
    assert transfer.main(["bogus"]) == 2
    with pytest.raises(SystemExit):
        transfer.main(["send", "file-only"])
    with pytest.raises(SystemExit):
        transfer.main(["send", "f", "no-port"])
