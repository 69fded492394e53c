"""Command line: ``python -m pyframe bench|send|recv ...`` (also installed as ``pyframe``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Callable, Optional

USAGE = """usage: pyframe COMMAND [ARGS]   (pyframe --version: the version and implementation)

commands:
  bench   compare the compiled framers with the pure-Python twin and the usual idioms
  send    send a file over a framed TCP connection
  recv    receive files sent with 'pyframe send'

'pyframe COMMAND --help' tells more."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else None
    run: Callable[[Sequence[str]], int]
    if command in ("-V", "--version"):
        import pyframe

        print(f"pyframe-codec {pyframe.__version__} ({pyframe.IMPLEMENTATION} framers)")
        return 0
    if command == "bench":
        from ._bench.cli import main as run
    elif command in ("send", "recv"):
        from .transfer import main as run

        return run(argv)
    else:
        print(USAGE, file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
        return 0 if command in ("-h", "--help") else 2
    return run(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
