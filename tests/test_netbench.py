"""The network rows of the bench (``pyframe._bench``: receivers over loopback TCP and
AF_UNIX, blocking and under asyncio, uvloop and anyio; senders): every row receives every
frame right (count and checksum, as the bench verifies before timing) and notices a stream
that is one frame short; the bench CLI runs every network and send row of the smoke
profile. (``pyframe bench -k network/`` is the command line of this section.)"""

import json
import os
import socket

import pytest

from pyframe._bench import catalogue, cli, core, netdrive

SMOKE = core.PROFILES["smoke"]
NETWORK = [w for w in catalogue.network_workloads(SMOKE) if w.frame_size == 16]
CASES = [
    pytest.param(w, c, id=f"{w.name}-{c.name}")
    for w in NETWORK
    for c in w.contenders
    if w.pattern.split("-")[0] != "unix" or hasattr(socket, "AF_UNIX")
]


@pytest.mark.parametrize("workload, contender", CASES)
def test_receiver_gets_every_frame_and_notices_a_short_stream(workload, contender):
    if not contender.available():
        pytest.skip(f"{contender.requires} not installed")
    inp = workload.build()
    core.verify(workload, contender, inp)  # count and checksum of the frames collected
    wire = inp.chunks[0]
    fam = core.FRAMINGS[workload.family]
    one = fam.head(workload.frame_size) + workload.frame_size + fam.trailer
    short = core.Input(
        chunks=[wire[:-one]],
        n_frames=inp.n_frames,
        checksum=inp.checksum,
        stream_bytes=inp.stream_bytes,
    )
    run = contender.factory(workload, short, None)
    try:
        count, _ = run()
    except (EOFError, RuntimeError, OSError) as exc:  # the recv-exactly idioms, raw's check
        assert str(exc) or type(exc).__name__
    except Exception as exc:  # anyio's IncompleteRead is its own class
        assert type(exc).__name__ == "IncompleteRead", exc
    else:
        assert count < inp.n_frames


def test_bench_smoke_runs_every_network_and_send_row(tmp_path):
    out = tmp_path / "net.json"
    args = ["--smoke", "--no-progress", "-k", "network/", "-k", "send/", "--json", str(out)]
    assert cli.main(args) == 0
    results = json.loads(out.read_text())["results"]
    patterns = {r["pattern"] for r in results if r["kind"] == "network"}
    expected = {"tcp", "tcp-asyncio", "tcp-uvloop", "tcp-anyio-asyncio", "tcp-anyio-trio"} | (
        {"unix"} if hasattr(socket, "AF_UNIX") else set()
    )
    assert patterns == expected
    for r in results:
        assert r["status"] in ("ok", "absent"), r
        if r["status"] == "ok":
            assert r["frames"] > 0 and r["frames_per_s"] > 0 and len(r["rounds"]) == 3
    sends = {(r["workload"], r["contender"]) for r in results if r["kind"] == "send"}
    assert ("send/length-prefix/16B/tcp", "sendall(encode)") in sends
    assert ("send/length-prefix/batch/1K/tcp", "pyframe-c") in sends


@pytest.mark.skipif(os.name != "posix", reason="the process drain is for POSIX (pass_fds)")
def test_a_send_run_drained_by_another_process_counts_every_byte():
    def send(sock):
        sock.sendall(b"x" * 5000)

    assert netdrive.send_run("tcp-process", send, 5000, None) > 0
    with pytest.raises(RuntimeError, match="got 5000 bytes, not 5001"):
        netdrive.send_run("tcp-process", send, 5001, None)

    def fails(sock):
        sock.sendall(b"x")
        raise ValueError("the sender failed")

    with pytest.raises(ValueError, match="the sender failed"):  # the drain still ends
        netdrive.send_run("tcp-process", fails, 1, None)
