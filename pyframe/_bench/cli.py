"""``python -m pyframe bench``: pyframe compiled vs its pure twin and the usual idioms."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import report, runner
from . import workloads as wl


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyframe bench",
        description="Compare pyframe's compiled framers with the pure-Python twin and the "
        "idioms people use today (struct loops, buf.find, the split idiom, asyncio streams, "
        "Twisted, msgpack), side by side in one process.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_const",
        dest="profile",
        const="quick",
        help="smaller streams and fewer rounds: under a minute",
    )
    mode.add_argument(
        "--full",
        action="store_const",
        dest="profile",
        const="full",
        help="the full run (default): every size, more rounds, 64 MiB trap",
    )
    mode.add_argument(
        "--smoke",
        action="store_const",
        dest="profile",
        const="smoke",
        help="tiny sizes, to check every contender works (seconds)",
    )
    p.add_argument(
        "--filter",
        "-k",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only workloads whose name contains TEXT (or matches it as a "
        "glob); repeatable; see --list",
    )
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--json", metavar="FILE", help="write every raw figure as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write Markdown tables (for README)")
    p.add_argument("--plot", metavar="DIR", help="write PNG charts (needs matplotlib)")
    p.add_argument("--rounds", type=int, help="timed rounds per contender (default: by mode)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.set_defaults(profile="full")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        wl.load_twins()
    except wl.CompiledMissing as exc:
        print(f"pyframe bench: error: {exc}", file=sys.stderr)
        return 2
    profile = wl.PROFILES[args.profile]
    if args.rounds:
        from dataclasses import replace

        profile = replace(profile, rounds=max(1, args.rounds), trap_rounds=max(1, args.rounds))
    selected = wl.select(wl.build_workloads(profile), args.filter)
    if args.list:
        for w in selected:
            names = ", ".join(c.name + ("" if c.available() else " (absent)") for c in w.contenders)
            print(f"{w.name:<36} {w.description}\n{'':<36} contenders: {names}")
        return 0
    if not selected:
        print(f"pyframe bench: no workload matches {args.filter}; see --list", file=sys.stderr)
        return 2
    if args.plot and wl.optional("matplotlib") is None:
        print(
            "pyframe bench: --plot needs matplotlib, which is not installed "
            "(pip install matplotlib, or the 'bench' extra); no charts will be written.",
            file=sys.stderr,
        )
    info = report.machine_info(profile.name)
    start = time.perf_counter()
    results = runner.run_all(selected, profile, progress_enabled=not args.no_progress)
    runtime = time.perf_counter() - start
    report.terminal(results, info, runtime)
    if args.json:
        report.write_json(args.json, results, info, runtime, profile)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        report.write_markdown(args.markdown, results, info, runtime)
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot and wl.optional("matplotlib") is not None:
        for path in report.write_plots(args.plot, results, info):
            print(f"wrote {path}", file=sys.stderr)
    failed = [m for m in results if m.status == "failed"]
    if failed:
        for m in failed:
            print(f"pyframe bench: {m.contender} failed on {m.workload}: {m.note}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
