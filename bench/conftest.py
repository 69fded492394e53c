"""pytest-benchmark suite over the workloads of ``pyframe._bench.workloads``.

Run it explicitly (pyproject's testpaths holds only ``tests``)::

    pytest bench/                               # quick profile, every contender timed
    pytest bench/ --benchmark-disable           # smoke check: each contender verified, run once
    pytest bench/ --benchmark-json=out.json     # then: pytest-benchmark compare out.json ...
    PYFRAME_BENCH_PROFILE=full pytest bench/    # the full sizes (long)
    pytest bench/ -k "length-prefix and 16B"    # a selection

``PYFRAME_BENCH_PROFILE`` is ``smoke``, ``quick`` (default) or ``full``.
"""

import os


def pytest_report_header(config):
    lines = [f"pyframe bench profile: {os.environ.get('PYFRAME_BENCH_PROFILE', 'quick')}"]
    try:
        import pyframe

        lines.append(f"pyframe: {pyframe.__file__}")
        from pyframe._bench import workloads

        try:
            compiled = workloads.load_module("c")
            lines.append(f"pyframe._cframers: {compiled.__file__}")
        except workloads.CompiledMissing:
            lines.append("pyframe._cframers: NOT importable (pyframe-c benchmarks fail)")
        for name in ("twisted", "msgpack"):
            mod = workloads.optional(name)
            lines.append(f"{name}: {getattr(mod, '__version__', 'installed') if mod else 'absent'}")
        lines.append(workloads.network_status())
    except Exception as exc:  # the tests will fail loudly
        lines.append(f"pyframe: import failed: {exc!r}")
    return lines
