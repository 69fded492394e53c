"""pytest-benchmark suite over the catalogue of ``pyframe._bench`` (what ``pyframe bench`` runs).

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
        from pyframe._bench import core

        try:
            compiled = core.load_module("c")
            lines.append(f"pyframe._cframers: {compiled.__file__}")
            lines.append(f"pyframe._bench._floor: {core.load_floor().__file__}")
        except core.CompiledMissing as exc:
            lines.append(f"NOT importable (pyframe-c and floor benchmarks fail): {exc}")
        for name in ("twisted", "msgpack", "uvloop", "anyio"):
            mod = core.optional(name)
            lines.append(f"{name}: {'installed' if mod else 'absent'}")
    except Exception as exc:  # the tests will fail loudly
        lines.append(f"pyframe: import failed: {exc!r}")
    return lines
