"""examples/http11.py against HTTP peers nobody here wrote: the example server (a
subprocess on 127.0.0.1, port 0, on both framer twins) driven by the standard library's
http.client and urllib.request, and the example client against http.server."""

import http.client
import http.server
import io
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "http11.py"
)
TIMEOUT = 10

# The example's limits (examples/http11.py: MAX_LINE, MAX_HEAD, MAX_BODY, LINGER).
MAX_LINE = 8192
MAX_HEAD = 65536
MAX_BODY = 1 << 20


@pytest.fixture
def server(impl_env):
    """The example server in a subprocess: its port."""
    proc = subprocess.Popen(
        [sys.executable, EXAMPLE, "serve", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=impl_env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), proc.stderr.read()
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(30)


def connection(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)


class Reused(io.BytesIO):
    """A stream of several responses: http.client closes its file after each one."""

    def close(self):
        pass

    def makefile(self, mode):
        return self


def responses(data, count):
    """``count`` responses parsed by http.client from the bytes ``data``: (status,
    headers, body) each; the bytes must end right after the last one."""
    stream = Reused(data)
    parsed = []
    for _ in range(count):
        response = http.client.HTTPResponse(stream)
        response.begin()
        parsed.append((response.status, response.headers, response.read()))
    assert stream.read() == b""
    return parsed


def exchange(port, data, count=1):
    """Send raw bytes, read until the server closes; the ``count`` responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        received = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received.append(chunk)
    return responses(b"".join(received), count)


# -- the example server, driven by http.client and urllib ---------------------------------


def test_get_post_and_404_on_one_keep_alive_connection(server):
    rng = random.Random(1)
    conn = connection(server)
    try:
        conn.request("GET", "/hello")
        sock = conn.sock
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"hello from pyframe\n")
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert not response.will_close
        for size in (0, 1, 1000, 300_000, MAX_BODY):
            body = rng.randbytes(size)
            conn.request("POST", "/echo?x=1", body=body)
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, body)
            assert response.getheader("Content-Length") == str(size)
        conn.request("GET", "/nowhere")
        response = conn.getresponse()
        assert (response.status, response.read()) == (404, b"not found: /nowhere\n")
        conn.request("POST", "/hello", body=b"x")
        response = conn.getresponse()
        assert (response.status, response.getheader("Allow")) == (405, "GET")
        response.read()
        assert conn.sock is sock  # every request went over the first connection
    finally:
        conn.close()


def test_a_body_split_across_many_sends(server):
    rng = random.Random(2)
    body = rng.randbytes(200_000)
    conn = connection(server)
    try:
        for _ in range(2):  # the second request: the framer took the head again
            conn.putrequest("POST", "/echo")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            at = 0
            while at < len(body):
                step = rng.choice((1, 7, 100, 1500, 20000))
                conn.send(body[at : at + step])
                at += step
                if rng.random() < 0.05:
                    time.sleep(0.001)  # let some pieces arrive on their own
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, body)
    finally:
        conn.close()


def test_pipelined_requests_keep_the_bytes_after_a_body(server):
    # Three requests in one send: the bytes after each body are the next head.
    data = (
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"
        b"GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    got = exchange(server, data, count=3)
    assert [(status, body) for status, _, body in got] == [
        (200, b"hello"),
        (200, b"abc"),
        (200, b"hello from pyframe\n"),
    ]
    assert got[2][1]["Connection"] == "close"


def read_head(sock):
    """Bytes up to the end of one head (the server sends nothing more before it)."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, data
        data += chunk
    return data


@pytest.mark.parametrize("length, first", [(5, b"HTTP/1.1 100 "), (MAX_BODY + 1, b"HTTP/1.1 413 ")])
def test_expect_100_continue(server, length, first):
    # A client that sends "Expect: 100-continue" (curl, for big bodies) waits for the
    # interim answer before its body; a refused body gets the final answer instead.
    with socket.create_connection(("127.0.0.1", server), timeout=TIMEOUT) as sock:
        sock.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % length)
        assert read_head(sock).startswith(first)
        if length == 5:
            sock.sendall(b"hello")
            assert read_head(sock).startswith(b"HTTP/1.1 200 ")
            assert sock.recv(5) == b"hello"


def test_connection_close_and_http10_end_the_connection(server):
    conn = connection(server)
    try:
        conn.request("GET", "/hello", headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.status == 200 and response.will_close
        assert response.getheader("Connection") == "close"
        assert response.read() == b"hello from pyframe\n"
    finally:
        conn.close()
    ((status, headers, body),) = exchange(server, b"GET /hello HTTP/1.0\r\n\r\n")
    assert (status, body) == (200, b"hello from pyframe\n")
    assert headers["Connection"] == "close"  # (HTTP/1.0 keep-alive is not done here)


def test_urllib_get_and_post(server):
    url = f"http://127.0.0.1:{server}"
    with urllib.request.urlopen(f"{url}/hello", timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "19"
        assert response.read() == b"hello from pyframe\n"
    with urllib.request.urlopen(f"{url}/echo", data=b"posted", timeout=TIMEOUT) as response:
        assert (response.status, response.read()) == (200, b"posted")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/missing", timeout=TIMEOUT)
    assert info.value.code == 404
    info.value.close()


def refused(conn, status):
    """The response to a request the server refuses; it closes the connection after."""
    response = conn.getresponse()
    assert response.status == status, response.read()
    assert response.getheader("Connection") == "close"
    response.read()
    assert conn.sock is None  # http.client saw the connection end


def test_a_header_line_over_the_limit_is_431(server):
    conn = connection(server)
    try:
        conn.putrequest("GET", "/hello")
        conn.putheader("X-Big", "a" * MAX_LINE)  # "X-Big: " makes the line too long
        conn.endheaders()
        refused(conn, 431)
    finally:
        conn.close()


def test_a_head_over_the_limit_is_431(server):
    conn = connection(server)
    try:
        conn.putrequest("GET", "/hello")
        for i in range(MAX_HEAD // 1000 + 1):  # short lines, too many bytes in all
            conn.putheader(f"X-Header-{i}", "b" * 990)
        conn.endheaders()
        refused(conn, 431)
    finally:
        conn.close()


def test_a_request_line_over_the_limit_is_414(server):
    conn = connection(server)
    try:
        conn.request("GET", "/" + "c" * MAX_LINE)
        refused(conn, 414)
    finally:
        conn.close()


@pytest.mark.parametrize("length", [str(MAX_BODY + 1), "9" * 40])
def test_a_content_length_over_the_limit_is_413_before_the_body(server, length):
    conn = connection(server)
    try:
        conn.putrequest("POST", "/echo")
        conn.putheader("Content-Length", length)
        conn.endheaders()  # no body sent: the answer comes from the head alone
        refused(conn, 413)
    finally:
        conn.close()


def test_a_body_over_the_limit_sent_anyway_still_gets_its_413(server):
    # The server answers from the head and reads the body only to drop it: a close with
    # unread bytes would reset the connection and could lose the answer.
    conn = connection(server)
    try:
        # (more than the kernel buffers: the send is still going on when the server answers)
        conn.request("POST", "/echo", body=b"d" * (4 * MAX_BODY))
        refused(conn, 413)
    finally:
        conn.close()


HEAD = b"POST /echo HTTP/1.1\r\nHost: h\r\n"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET  /hello HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /hello HTTP/2.0\r\nHost: h\r\n\r\n", 400),
        (b"GET /hello HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (HEAD + b"no colon here\r\n\r\n", 400),
        (HEAD + b"Bad Name: x\r\n\r\n", 400),
        (HEAD + b"X-A: 1\r\n folded\r\n\r\n", 400),
        (HEAD + b"Content-Length: abc\r\n\r\n", 400),
        (HEAD + b"Content-Length: -5\r\n\r\n", 400),
        (HEAD + b"Content-Length: +5\r\n\r\n", 400),
        (HEAD + b"Content-Length: \xb2\r\n\r\n", 400),  # superscript two: isdigit() says yes
        (HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        (HEAD + b"Content-Length: 5, 6\r\n\r\nhello!", 400),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        (HEAD + b"Content-Length: 10\r\n", 400),  # the connection ends inside the head
    ],
)
def test_malformed_requests_are_refused(server, request_bytes, status):
    with socket.create_connection(("127.0.0.1", server), timeout=TIMEOUT) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)  # (the last case needs the end of the stream)
        received = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received.append(chunk)
    ((got, headers, _),) = responses(b"".join(received), 1)
    assert got == status
    assert headers["Connection"] == "close"


def test_repeated_equal_content_lengths_are_accepted(server):
    data = HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    ((status, _, body),) = exchange(server, data)
    assert (status, body) == (200, b"hello")


# -- the example client against http.server -----------------------------------------------


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects by default

    def do_GET(self):
        if self.path == "/missing":
            self.send_error(404)
        elif self.path == "/until-close":  # no Content-Length: the body ends the connection
            self.send_response(200)
            self.send_header("X-Peer-Port", str(self.client_address[1]))
            self.end_headers()
            self.wfile.write(b"all of it\n")
            self.close_connection = True
        else:
            self.reply(f"GET {self.path} host={self.headers['Host']}\n".encode())

    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Peer-Port", str(self.client_address[1]))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # quiet tests


@pytest.fixture
def stdlib_server():
    """http.server in a thread: its base URL."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(TIMEOUT)


def client(impl_env, *args):
    return subprocess.run(
        [sys.executable, EXAMPLE, *args],
        capture_output=True,
        env=impl_env,
        timeout=30,
    )


def heads(stderr):
    """The client's printed heads: [(status line, {header: value})]."""
    parsed = []
    for line in stderr.decode().splitlines():
        if line.startswith("HTTP/"):
            parsed.append((line, {}))
        else:
            name, _, value = line.partition(": ")
            parsed[-1][1][name] = value
    return parsed


def test_client_gets_twice_over_one_connection(impl_env, stdlib_server):
    host = stdlib_server.split("//")[1]
    proc = client(impl_env, "get", f"{stdlib_server}/a?q=1", f"{stdlib_server}/b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"GET /a?q=1 host={host}\nGET /b host={host}\n".encode()
    (first, one), (second, two) = heads(proc.stderr)
    assert first == second == "HTTP/1.1 200 OK"
    assert one["content-type"] == "application/octet-stream"
    assert one["x-peer-port"] == two["x-peer-port"]  # kept alive: the same connection


def test_client_posts(impl_env, stdlib_server):
    proc = client(impl_env, "post", f"{stdlib_server}/echo", "posted data")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"posted data"
    ((status, headers),) = heads(proc.stderr)
    assert status == "HTTP/1.1 200 OK" and headers["content-length"] == "11"


def test_client_reads_a_body_ended_by_the_connection_then_reconnects(impl_env, stdlib_server):
    proc = client(impl_env, "get", f"{stdlib_server}/until-close", f"{stdlib_server}/b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"all of it\nGET /b host=")
    (_, one), (_, two) = heads(proc.stderr)
    assert "content-length" not in one
    assert one["x-peer-port"] != two["x-peer-port"]  # a new connection for the second


def test_client_reports_an_error_status(impl_env, stdlib_server):
    proc = client(impl_env, "get", f"{stdlib_server}/missing")
    assert proc.returncode == 1
    ((status, headers),) = heads(proc.stderr)
    assert status == "HTTP/1.1 404 Not Found"
    assert int(headers["content-length"]) == len(proc.stdout) > 0


def test_client_against_the_example_server(impl_env, server):
    url = f"http://127.0.0.1:{server}"
    proc = client(impl_env, "get", f"{url}/hello", f"{url}/hello")
    assert (proc.returncode, proc.stdout) == (0, b"hello from pyframe\n" * 2), proc.stderr


def test_without_arguments_it_prints_its_usage(impl_env):
    proc = client(impl_env)
    assert proc.returncode != 0
    assert proc.stderr.startswith(b"usage:") and b"Traceback" not in proc.stderr
