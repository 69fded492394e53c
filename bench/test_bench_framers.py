"""pyframe compiled vs its pure twin and the usual idioms, as pytest-benchmark tests.

Parametrised over the one catalogue of workloads in ``pyframe._bench.catalogue`` (the
same that ``pyframe bench`` runs): one test per workload and contender, grouped by
workload, so ``pytest-benchmark compare`` lines them up. Each contender is verified (frame
count and checksum) before it is timed; optional packages that are missing skip their
contenders. Network and send workloads are timed here as whole calls, connection set-up
included. Trap workloads (one huge frame in 4 KiB pieces)
run at their three smallest stream lengths here; the CLI runs the whole curve.
"""

import math
import os
import time

import pytest

from pyframe._bench import catalogue, core

PROFILE = core.PROFILES[os.environ.get("PYFRAME_BENCH_PROFILE", "quick")]
TRAP_LENGTHS = 3


def _cases():
    for w in catalogue.build_workloads(PROFILE):
        lengths = w.sizes[:TRAP_LENGTHS] if w.kind == "trap" else (None,)
        for length in lengths:
            for c in w.contenders:
                label = w.name + (f"@{core.size_label(length).replace(' ', '')}" if length else "")
                yield pytest.param(w, c, length, id=f"{label}-{c.name}")


_cache = {}


def _input(w, length):
    """Build each workload's input once (kept while its contenders run)."""
    key = (w.name, length)
    if key not in _cache:
        _cache.clear()
        _cache[key] = w.build(length) if length else w.build()
    return _cache[key]


@pytest.mark.parametrize("workload, contender, length", list(_cases()))
def test_framing(benchmark, workload, contender, length):
    if not contender.available():
        pytest.skip(f"{contender.requires} not installed")
    try:
        inp = _input(workload, length)
        core.verify(workload, contender, inp)
        run = contender.factory(workload, inp, None)
    except core.CompiledMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    if contender.self_timed:
        # Network contenders time their receiver themselves (the CLI reports that figure);
        # pytest-benchmark times the whole call, connection set-up and sender included.
        timed = run

        def run():
            return timed()[0]

    benchmark.group = workload.name + (f" @ {core.size_label(length)}" if length else "")
    benchmark.extra_info.update(
        contender=contender.label,
        frames=inp.n_frames,
        stream_bytes=core.stream_bytes(contender, inp),
        profile=PROFILE.name,
    )
    try:
        if benchmark.disabled:
            count = benchmark(run)
        else:
            t0 = time.perf_counter()
            run()
            once = max(time.perf_counter() - t0, 1e-7)
            iterations = max(1, math.ceil(PROFILE.min_time / once))
            count = benchmark.pedantic(
                run, rounds=PROFILE.rounds, iterations=iterations, warmup_rounds=1
            )
    finally:
        close = getattr(run, "close", None)
        if close is not None:
            close()
    assert count == inp.n_frames
