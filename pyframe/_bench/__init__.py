"""Benchmarks of pyframe against its pure-Python twin and the idioms people use today.

``workloads`` defines every workload once (used by ``python -m pyframe bench`` and by the
pytest-benchmark suite in ``bench/``); ``runner`` times them; ``report`` prints and writes
the results; ``cli`` is the command line.
"""
