"""The network benchmark rows: every receiver of ``pyframe.netbench`` over loopback TCP and
AF_UNIX, blocking and asyncio, receives every frame and refuses a stream that is one frame
short; the bench CLI runs every network row of the smoke profile."""

import json
import socket

import pytest

from pyframe import netbench
from pyframe._bench import cli

FAMILIES = [f for f in netbench.FAMILIES if f != "unix" or hasattr(socket, "AF_UNIX")]

RECEIVERS = {
    "framed recv (c)": lambda s, n, f: netbench.framed_recv(s, n, "cython", family=f),
    "framed iter (c)": lambda s, n, f: netbench.framed_recv(s, n, "cython", "iter", f),
    "framed recv_many (py)": lambda s, n, f: netbench.framed_recv(s, n, "python", "recv_many", f),
    "struct": lambda s, n, f: netbench.python_struct_loop(s, n, f),
    "naive": lambda s, n, f: netbench.python_naive_loop(s, n, f),
    "raw": lambda s, n, f: netbench.raw_recv_into(s, n, f),
    "aio read (c)": lambda s, n, f: netbench.aio_read(s, n, "cython", f),
    "aio read (py)": lambda s, n, f: netbench.aio_read(s, n, "python", f),
    "aio protocol (c)": lambda s, n, f: netbench.aio_protocol(s, n, "cython", f),
    "readexactly": lambda s, n, f: netbench.asyncio_readexactly(s, n, f),
    "asyncio raw": lambda s, n, f: netbench.asyncio_raw(s, n, f),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", list(RECEIVERS))
def test_receiver_gets_every_frame_and_refuses_a_short_stream(name, family, monkeypatch):
    receive = RECEIVERS[name]
    assert receive(300, 500, family) > 0
    whole = netbench._wire
    monkeypatch.setattr(netbench, "_wire", lambda size, count: whole(size, count - 1))
    # RuntimeError from the count check; EOFError (asyncio.IncompleteReadError is one) from
    # the recv-exactly idioms, which cannot return a short count
    with pytest.raises((RuntimeError, EOFError)):
        receive(300, 500, family)


def test_bench_smoke_runs_every_network_row(tmp_path):
    out = tmp_path / "net.json"
    assert cli.main(["--smoke", "--no-progress", "--filter", "network/", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    patterns = {r["pattern"] for r in results}
    assert patterns == set(FAMILIES) | {f + "-asyncio" for f in FAMILIES}
    for pattern in patterns:
        rows = {(r["frame_size"], r["contender"]): r for r in results if r["pattern"] == pattern}
        names = {"pyframe-c", "pyframe-py", "raw"} | (
            {"asyncio", "pyframe-c protocol"}
            if pattern.endswith("asyncio")
            else {"struct", "naive", "pyframe-c iter"}
        )
        assert {size for size, _ in rows} == {16, 256}
        for size in (16, 256):
            for contender in names:
                row = rows[size, contender]
                assert row["status"] == "ok", row
                assert row["frames"] > 0 and row["frames_per_s"] > 0 and row["mb_per_s"] > 0
