"""The benchmark report (``pyframe bench``): pyframe against its pure-Python twin, the
idioms people use today and the floor of decoding. Private: not part of pyframe's API.

Modules, by job (each imports only modules listed before it, so there is no cycle):

- ``core``: the vocabulary: profiles, framings, inputs, contenders, workloads, verification.
- ``stats``: measurements, spreads, per-round ratios, growth exponents, the verdict rule.
- ``_floor`` (compiled from ``src/_floor.pyx``) and ``floor``: the measuring stick.
- ``netdrive``: socket pairs, the thread on the far side, the clock, event loops.
- ``decode``, ``encode``: contenders by family: decoding in memory; encoding, the
  ``get_buffer`` pair and sending.
- ``netblocking``, ``netasync``: receivers over sockets, blocking and under
  asyncio / uvloop / anyio.
- ``catalogue``: every workload of a profile with its contenders (also what the
  pytest-benchmark suite in ``bench/`` runs).
- ``runner``: verification, calibration and interleaved timing.
- ``goals``: the goals and their verdicts; the exit status.
- ``render`` (terminal, Markdown, JSON) and ``plots`` (matplotlib).
- ``cli``: the command line (``pyframe bench``).
"""
