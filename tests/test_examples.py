"""The scripts in examples/ run as documented (subprocesses on 127.0.0.1, port 0), on both
framer twins (selected through the environment)."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TIMEOUT = 30


def env_for(impl):
    env = dict(os.environ)
    env.pop("PYFRAME_NO_EXTENSIONS", None)
    env.pop("PYFRAME_REQUIRE_EXTENSION", None)
    if impl.__name__.endswith("_pyframers"):
        env["PYFRAME_NO_EXTENSIONS"] = "1"
    else:
        env["PYFRAME_REQUIRE_EXTENSION"] = "1"
    return env


SERVERS = {"blocking": ["echo_server.py"], "asyncio": ["aio_echo.py", "server"]}
CLIENTS = {"blocking": ["echo_client.py"], "asyncio": ["aio_echo.py", "client"]}


@pytest.mark.parametrize("server_kind", sorted(SERVERS))
@pytest.mark.parametrize("client_kind", sorted(CLIENTS))
def test_echo_examples(impl, server_kind, client_kind):
    script, *role = SERVERS[server_kind]
    server = subprocess.Popen(
        [sys.executable, os.path.join(EXAMPLES, script), *role, "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(impl))
    try:
        line = server.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), server.stderr.read()
        address = line.split()[-1]
        for _ in range(2):  # two clients in a row: the server keeps serving
            script, *role = CLIENTS[client_kind]
            client = subprocess.run(
                [sys.executable, os.path.join(EXAMPLES, script), *role, address, "hello",
                 "framed", "world"],
                capture_output=True, text=True, env=env_for(impl), timeout=TIMEOUT)
            assert client.returncode == 0, client.stderr
            assert client.stdout.split() == ["hello", "framed", "world"]
    finally:
        server.terminate()
        server.wait(TIMEOUT)
