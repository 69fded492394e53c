"""``pyframe bench``: pyframe compiled vs its pure twin, the usual idioms and the floor."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from . import goals, render, runner
from .catalogue import build_workloads
from .core import PROFILES, CompiledMissing, load_compiled, optional, select

EPILOG = """\
profiles: --quick (about a minute; what CI runs) measures smaller streams over fewer rounds
and prints the goals as indicative: its exit status says only whether every contender
produced the right frames. --full measures every size over more rounds and judges the goals.

exit status: 0 every contender verified (and, when judged, every goal PASS); 1 a contender
failed or a judged goal FAIL; 2 the bench could not run (usage, compiled modules missing);
3 no judged goal failed but one is within noise (its interquartile range straddles the
line: run again, or with more --rounds)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyframe bench",
        description="Compare pyframe's compiled framers with the pure-Python twin, the "
        "idioms people use today (struct loops, buf.find, the split idiom, io.BytesIO, "
        "makefile, asyncio, uvloop, anyio, Twisted, msgpack) and the floor of decoding, "
        "side by side in one process.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    for name, text in (
        ("quick", "smaller streams and fewer rounds, goals indicative: about a minute"),
        ("full", "the full run (default): every size, more rounds, goals judged"),
        ("smoke", "tiny sizes, to check that every contender works (seconds)"),
    ):
        mode.add_argument(f"--{name}", action="store_const", dest="profile", const=name, help=text)
    judge = p.add_mutually_exclusive_group()
    judge.add_argument(
        "--judge", action="store_true", default=None, help="let the goals decide the exit status"
    )
    judge.add_argument(
        "--no-judge", dest="judge", action="store_false", help="show the goals as indicative"
    )
    p.add_argument(
        "--filter",
        "-k",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only workloads whose name contains TEXT (or matches it as a glob); "
        "repeatable; see --list (e.g. -k network/ for the receive section)",
    )
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--json", metavar="FILE", help="write every raw figure as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write Markdown tables (for README)")
    p.add_argument("--plot", metavar="DIR", help="write PNG charts (needs matplotlib)")
    p.add_argument("--rounds", type=int, help="timed rounds per contender (default: by profile)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.set_defaults(profile="full")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        load_compiled()
    except CompiledMissing as exc:
        print(f"pyframe bench: error: {exc}", file=sys.stderr)
        return 2
    profile = PROFILES[args.profile]
    if args.rounds:
        profile = replace(profile, rounds=max(1, args.rounds), trap_rounds=max(1, args.rounds))
    if args.judge is not None:
        profile = replace(profile, judge=args.judge)
    selected = select(build_workloads(profile), args.filter)
    if args.list:
        for w in selected:
            names = ", ".join(c.name + ("" if c.available() else " (absent)") for c in w.contenders)
            print(f"{w.name:<40} {w.description}\n{'':<40} rows: {names}")
        return 0
    if not selected:
        print(f"pyframe bench: no workload matches {args.filter}; see --list", file=sys.stderr)
        return 2
    if args.plot and optional("matplotlib") is None:
        print(
            "pyframe bench: --plot needs matplotlib, which is not installed "
            "(pip install matplotlib, or the 'bench' extra); no charts will be written.",
            file=sys.stderr,
        )
    info = render.machine_info(profile)
    start = time.perf_counter()
    results = runner.run_all(selected, profile, progress_enabled=not args.no_progress)
    runtime = time.perf_counter() - start
    verdicts = goals.evaluate(results, profile.judge)
    render.terminal(results, info, runtime, verdicts, profile.judge)
    if args.json:
        render.write_json(args.json, results, info, runtime, profile, verdicts)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        render.write_markdown(args.markdown, results, info, runtime, verdicts, profile.judge)
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot and optional("matplotlib") is not None:
        from .plots import write_plots

        for path in write_plots(args.plot, results, info):
            print(f"wrote {path}", file=sys.stderr)
    failed = [m for m in results if m.status == "failed"]
    for m in failed:
        print(f"pyframe bench: {m.contender} failed on {m.workload}: {m.note}", file=sys.stderr)
    status = goals.exit_status(verdicts, len(failed))
    if status == 1 and not failed:
        print("pyframe bench: a judged goal failed (see Goals)", file=sys.stderr)
    elif status == 3:
        print("pyframe bench: a judged goal is within noise (see Goals)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
