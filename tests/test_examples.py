"""The scripts in examples/ run as documented (subprocesses on 127.0.0.1, port 0), on both
framer twins (selected through the environment)."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TIMEOUT = 30

SERVERS = {"blocking": ["echo_server.py"], "asyncio": ["aio_echo.py", "server"]}
CLIENTS = {"blocking": ["echo_client.py"], "asyncio": ["aio_echo.py", "client"]}


@pytest.mark.parametrize("server_kind", sorted(SERVERS))
@pytest.mark.parametrize("client_kind", sorted(CLIENTS))
def test_echo_examples(impl_env, server_kind, client_kind):
    script, *role = SERVERS[server_kind]
    server = subprocess.Popen(
        [sys.executable, os.path.join(EXAMPLES, script), *role, "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=impl_env,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), server.stderr.read()
        address = line.split()[-1]
        for _ in range(2):  # two clients in a row: the server keeps serving
            script, *role = CLIENTS[client_kind]
            client = subprocess.run(
                [
                    sys.executable,
                    os.path.join(EXAMPLES, script),
                    *role,
                    address,
                    "hello",
                    "framed",
                    "world",
                ],
                capture_output=True,
                text=True,
                env=impl_env,
                timeout=TIMEOUT,
            )
            assert client.returncode == 0, client.stderr
            assert client.stdout.split() == ["hello", "framed", "world"]
    finally:
        server.terminate()
        server.wait(TIMEOUT)


@pytest.mark.parametrize(
    "args",
    [["echo_client.py"], ["aio_echo.py"], ["aio_echo.py", "client"], ["echo_server.py", "-h"]],
)
def test_examples_without_arguments_print_their_usage(impl_env, args):
    script, *rest = args
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *rest],
        capture_output=True,
        text=True,
        env=impl_env,
        timeout=TIMEOUT,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("usage:") and "Traceback" not in proc.stderr, proc.stderr
