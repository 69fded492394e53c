"""Rendering a run: terminal tables, Markdown (for README) and JSON.

Each section is one kind of job on one framing (decode a length-prefixed stream from
64 KiB chunks, receive lines over TCP under uvloop, ...). Within a frame size, pyframe's
rows come first (the compiled framer, its variants, the pure twin), then the contenders,
then the references: the floor (decode) and ``raw`` (network), which are not ways of
framing but the bounds a framer's speed is measured against.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any, Optional, TextIO

from . import goals as goals_mod
from .core import (
    FLOOR,
    FRAMINGS,
    MEMORY,
    PATTERN_TITLES,
    RAW,
    ROLES,
    SUBJECT,
    CompiledMissing,
    Profile,
    load_module,
    optional,
    size_label,
)
from .stats import WIDE, Measurement, growth_exponent, ratio_stats

LEGEND = [
    "How to read the tables:",
    "  who         pyframe: pyframe's own rows (pyframe-c is the compiled framer, pyframe-py "
    "its pure-Python twin);",
    "              contender: what users write instead; reference: a bound, not a framer.",
    "  frames/s    frames decoded, received or sent per second (MB/s: wire bytes); from "
    "the median round.",
    "  time/run    median seconds for one run of the whole workload; IQR: the interquartile "
    "range of",
    f"              the rounds as a share of the median ('wide' when over {WIDE:.0%}: a "
    "busy machine).",
    "  % of floor  (decode) the row's speed as a share of the floor's: a compiled loop that "
    "only makes",
    "              each frame's bytes object and the list per chunk, frame boundaries known "
    "beforehand.",
    "              100% is a decoder doing no work beyond what cannot be avoided.",
    "  % of raw    (network) the row's speed as a share of receiving the same bytes "
    "without framing",
    "              them (raw): the ceiling.",
    "  pyframe-c is  how many times faster pyframe-c is than that row (median of the "
    "per-round ratios);",
    "              below 1x the row is faster than pyframe-c.",
    "  exponent    (trap) the slope of log(time) against log(stream length): 1 is linear, 2 "
    "quadratic;",
    f"              'vs {MEMORY}' is the slope of the time divided by the time of buffering "
    "the bytes alone,",
    "              which cancels cache and page-fault effects: about 0 for a linear decoder, "
    "about 1 for one",
    "              that copies or rescans the pending bytes on every piece.",
    "  goals       PASS: the lower quartile of the per-round figures clears the goal; FAIL: "
    "the upper",
    "              quartile misses it; within noise: the goal lies inside the interquartile range.",
]


def machine_info(profile: Profile) -> dict[str, Any]:
    import pyframe

    info: dict[str, Any] = {}
    info["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    info["machine"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = f"{cpu or 'unknown CPU'}, {os.cpu_count()} logical cores"
    try:
        info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        pass
    info["python"] = (
        f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    )
    info["pyframe"] = f"{pyframe.__version__} from {os.path.dirname(pyframe.__file__)}"
    try:
        info["compiled module"] = load_module("c").__file__
    except CompiledMissing:
        info["compiled module"] = "absent"
    for name in ("twisted", "msgpack", "uvloop", "anyio"):
        mod = optional(name)
        version = getattr(mod, "__version__", None)
        if mod is not None and version is None:
            try:
                from importlib.metadata import version as dist_version

                version = dist_version(name)
            except Exception:
                version = "installed"
        info[name] = version if mod is not None else "absent (its rows are skipped)"
    info["profile"] = profile.name
    info["goals"] = "judged" if profile.judge else "indicative, not judged"
    return info


# -- formatting --------------------------------------------------------------------------------


def fmt_rate(x: Optional[float]) -> str:
    if x is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def fmt_mb(x: Optional[float]) -> str:
    return "-" if not x else (f"{x:,.0f}" if x >= 100 else f"{x:.3g}")


def fmt_time(t: Optional[float]) -> str:
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def fmt_ratio(x: Optional[float]) -> str:
    return "-" if x is None else (f"{x:#.3g}x" if x < 100 else f"{x:,.0f}x")


def _who(role: str) -> str:
    return {"subject": "pyframe", "variant": "pyframe", "twin": "pyframe"}.get(
        role, "contender" if role == "alternative" else "reference"
    )


# -- sections ----------------------------------------------------------------------------------


def section_title(m: Measurement) -> Optional[str]:
    title = FRAMINGS[m.family].title if m.family in FRAMINGS else m.family
    where = PATTERN_TITLES.get(m.pattern, m.pattern)
    if m.kind == "decode":
        return f"decode: {title}, {where}"
    if m.kind == "network":
        return f"receive: {title}, {where} (a thread sends, the receiver is timed)"
    if m.kind == "send":
        batch = " in batches" if "/batch/" in m.workload else ", one frame per call"
        drain = (
            ""
            if m.pattern.endswith("-process")
            else ", the sender is timed until a thread drained it"
        )
        return f"send: {title}{batch}, {where}{drain}"
    if m.kind == "encode":
        if m.workload.endswith("/header"):
            return "encode: a header for a payload sent as it is (the payload is not copied)"
        if "/batch/" in m.workload:
            return f"encode: batches of payloads into one buffer, {title}"
        return f"encode: one payload at a time, {title}"
    if m.kind == "micro":
        return "receive in place: one get_buffer() + buffer_updated() pair"
    return None


def sections(results: Iterable[Measurement]) -> dict[str, list[Measurement]]:
    out: dict[str, list[Measurement]] = {}
    for m in results:
        title = section_title(m)
        if title is not None:
            out.setdefault(title, []).append(m)
    return out


def _bound_name(ms: Sequence[Measurement]) -> Optional[str]:
    names = {m.contender for m in ms}
    return FLOOR if FLOOR in names else RAW if RAW in names else None


def head(ms: Sequence[Measurement]) -> list[str]:
    bound = _bound_name(ms)
    item = "frames/s"
    units = {m.unit for m in ms}
    if units == {"pair"}:
        item = "pairs/s"
    elif units == {"header"}:
        item = "headers/s"
    return [
        "frame",
        "who",
        "row",
        item,
        "MB/s",
        "time/run",
        "IQR",
        f"% of {bound}" if bound else "",
        "pyframe-c is",
        "note",
    ]


def rows(ms: Sequence[Measurement]) -> list[list[str]]:
    """One section's rows: per frame size, pyframe's rows, contenders, references."""
    groups: dict[int, list[Measurement]] = {}
    for m in ms:
        groups.setdefault(m.frame_size, []).append(m)
    bound_name = _bound_name(ms)
    out: list[list[str]] = []
    for size, group in groups.items():
        group.sort(key=lambda m: ROLES.index(m.role))
        by = {m.contender: m for m in group}
        subject = by.get(SUBJECT)
        bound = by.get(bound_name) if bound_name else None
        first = True
        for m in group:
            label = size_label(size) if first and m.kind != "micro" else ""
            first = False
            if m.status != "ok":
                out.append(
                    [label, _who(m.role), m.contender, m.status, "", "", "", "", "", m.note[:70]]
                )
                continue
            share = ""
            if bound is not None and bound.status == "ok":
                share = f"{100 * bound.median / m.median:.0f}%"  # type: ignore[operator]
            versus = ""
            if (
                m.role != "reference"
                and m.contender != SUBJECT
                and subject
                and subject.status == "ok"
            ):
                versus = fmt_ratio(ratio_stats(subject, m)["ratio"])
            note = m.note
            if m.unit != "frame" and m.per_item:
                note = f"{m.per_item * 1e9:.0f} ns per {m.unit}" + (f"; {note}" if note else "")
            faults = m.faults_per_run
            if faults is not None and m.frame_size >= 1 << 20 and m.kind == "decode":
                note = f"{faults:,.0f} page faults/run" + (f"; {note}" if note else "")
            spread = f"{100 * (m.spread or 0):.0f}%" + (" wide" if m.wide else "")
            out.append(
                [
                    label,
                    _who(m.role),
                    m.contender,
                    fmt_rate(m.frames_per_s),
                    fmt_mb(m.mb_per_s),
                    fmt_time(m.median),
                    spread,
                    share,
                    versus,
                    note,
                ]
            )
    return out


RIGHT = {3, 4, 5, 6, 7, 8}


def text_table(head_: list[str], body: list[list[str]], right: set[int] = RIGHT) -> list[str]:
    widths = [max(len(r[i]) for r in body + [head_]) for i in range(len(head_))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)
        ).rstrip()

    return [line(head_), line(["-" * w for w in widths])] + [line(r) for r in body]


def md_table(head_: list[str], body: list[list[str]], right: set[int] = RIGHT) -> list[str]:
    def cell(c: str) -> str:
        return c.replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in head_) + " |"]
    out.append("|" + "|".join("---:" if i in right else "---" for i in range(len(head_))) + "|")
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in body]
    return out


# -- the trap ----------------------------------------------------------------------------------


def trap_curves(results: Iterable[Measurement]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{workload: {contender: [(length, median)]}} of the trap workloads."""
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for m in results:
        if m.kind == "trap" and m.status == "ok" and m.stream_length and m.median:
            curves.setdefault(m.workload, {}).setdefault(m.contender, []).append(
                (m.stream_length, m.median)
            )
        elif m.kind == "trap":
            curves.setdefault(m.workload, {}).setdefault(m.contender, [])
    return curves


def exponents(
    results: Sequence[Measurement], normalised: bool = False
) -> dict[tuple[str, str], Optional[float]]:
    """Growth exponent per trap workload and contender over every length it reached;
    ``normalised``: of its time divided by the bytearray reference's at the same length."""
    out: dict[tuple[str, str], Optional[float]] = {}
    for workload, by in trap_curves(results).items():
        ref = dict(by.get(MEMORY, []))
        for name, pts in by.items():
            if normalised:
                if name == MEMORY:
                    continue
                pts = [(n, t / ref[n]) for n, t in pts if n in ref]
            out[(workload, name)] = growth_exponent(pts)
    return out


def trap_table(results: Sequence[Measurement], workload: str) -> tuple[list[str], list[list[str]]]:
    ms = [m for m in results if m.workload == workload]
    lengths = sorted({m.stream_length for m in ms if m.stream_length})
    cell = {(m.contender, m.stream_length): m for m in ms}
    raw, norm = exponents(results), exponents(results, normalised=True)
    names = list(dict.fromkeys(m.contender for m in sorted(ms, key=lambda m: ROLES.index(m.role))))
    body = []
    for name in names:
        role = next(m.role for m in ms if m.contender == name)
        row = [_who(role), name]
        for n in lengths:
            m = cell.get((name, n))
            row.append("" if m is None else fmt_time(m.median) if m.status == "ok" else m.status)
        for table in (raw, norm):
            e = table.get((workload, name))
            row.append("-" if e is None else f"{e:.2f}")
        body.append(row)
    head_ = ["who", "row"] + [size_label(n) for n in lengths] + ["exponent", f"vs {MEMORY}"]
    return head_, body


def trap_notes(results: Sequence[Measurement], workload: str) -> list[str]:
    out = []
    for m in results:
        if m.workload == workload and m.status in ("stopped", "failed", "absent") and m.note:
            line = f"{m.contender}: {m.note}"
            if line not in out:
                out.append(line)
    ix = goals_mod.index([m for m in results if m.workload == workload])
    last: dict[str, tuple[int, float]] = {}
    for (_, length), by in sorted(ix.items(), key=lambda kv: kv[0][1] or 0):
        subject = by.get(SUBJECT)
        if subject is None or subject.status != "ok" or length is None:
            continue
        for name, m in by.items():
            if name != SUBJECT and m.status == "ok" and m.role != "reference":
                last[name] = (length, ratio_stats(subject, m)["ratio"])
    for name, (length, ratio) in last.items():
        verb = (
            f"pyframe-c is {fmt_ratio(ratio)} faster than {name}"
            if ratio >= 1
            else f"{name} is {fmt_ratio(1 / ratio)} faster than pyframe-c"
        )
        out.append(f"at {size_label(length)} (the longest {name} ran): {verb}")
    return out


# -- goals -------------------------------------------------------------------------------------


def goal_rows(goals: Sequence[dict[str, Any]]) -> list[list[str]]:
    body = []
    last = None
    for g in goals:
        row = "" if g["goal"] == last else g["goal"]
        last = g["goal"]
        status = g["status"] if g["judged"] or g["status"] == "n/a" else f"({g['status']})"
        item = g["item"] + (f" ({g['detail']})" if g["detail"] else "")
        body.append([row, item, g["need"], g["measured"], g["spread"], status])
    return body


GOAL_HEAD = ["goal", "measured on", "need", "median", "IQR of rounds", "verdict"]


def _goal_text(goals: Sequence[dict[str, Any]]) -> list[str]:
    """Goals for a terminal: each goal on a line of its own, its items indented under it."""
    body: list[list[str]] = []
    titles: dict[int, str] = {}
    for r in goal_rows(goals):
        if r[0]:
            titles[len(body)] = r[0]
        body.append(["  " + r[1], r[2], r[3], r[4], r[5]])
    lines = text_table(
        ["  measured on", "need", "median", "IQR of rounds", "verdict"], body, {2, 3}
    )
    out = lines[:2]
    for i, line in enumerate(lines[2:]):
        if i in titles:
            out.append(titles[i])
        out.append(line)
    return out


def goal_lines(goals: Sequence[dict[str, Any]], judged: bool, markdown: bool) -> list[str]:
    current = [g for g in goals if not g["earlier"]]
    earlier = [g for g in goals if g["earlier"]]

    def table(head_: list[str], body: list[list[str]], right: set[int]) -> list[str]:
        return md_table(head_, body, right)

    intro = (
        "Goals (judged: the exit status says whether every one held). "
        if judged
        else "Goals (indicative: this profile measures smaller streams over fewer rounds; "
        "verdicts in parentheses do not count; `--full` judges them). "
    )
    out = [intro + "Summary: " + goals_mod.summary(goals) + ".", ""]
    if markdown:
        out += table(GOAL_HEAD, goal_rows(current), {3, 4})
        out += ["", "Goals of earlier rounds, kept so that they stay met:", ""]
        out += table(GOAL_HEAD, goal_rows(earlier), {3, 4})
    else:
        out += _goal_text(current)
        out += ["", "Goals of earlier rounds, kept so that they stay met:", ""]
        out += _goal_text(earlier)
    return out


# -- outputs -----------------------------------------------------------------------------------


def report_lines(
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    goals: Sequence[dict[str, Any]],
    judged: bool,
    markdown: bool,
) -> list[str]:
    table = md_table if markdown else text_table
    h = "### " if markdown else "== "
    end = "" if markdown else " =="
    out: list[str] = []
    if markdown:
        out += [
            "Generated by `pyframe bench --markdown FILE` "
            f"(profile `{info.get('profile')}`, {runtime:.0f} s).",
            "",
            "Machine: "
            + "; ".join(
                f"{k}: {info[k]}"
                for k in ("cpu", "machine", "python", "pyframe", "load average")
                if k in info
            ),
            "",
            f"{h}Goals",
            "",
        ]
    else:
        out += [
            "pyframe bench: pyframe compiled vs its pure twin, the usual idioms and the floor",
            "",
        ]
        out += [f"  {k:<16} {v}" for k, v in info.items()]
        out += [f"  {'runtime':<16} {runtime:.1f} s", ""]
    out += goal_lines(goals, judged, markdown) + [""]
    if markdown:
        out += [f"{h}How to read the tables", "", "```", *LEGEND[1:], "```", ""]
    else:
        out += LEGEND + [""]
    for title, ms in sections(results).items():
        out += [f"{h}{title}{end}", ""] if markdown else [f"{h}{title}{end}"]
        out += table(head(ms), rows(ms)) + [""]
    for workload in dict.fromkeys(m.workload for m in results if m.kind == "trap"):
        family = next(m.family for m in results if m.workload == workload)
        out += [
            f"{h}trap: one {FRAMINGS[family].title} frame in 4 KiB pieces, median time "
            f"per stream length{end}"
        ]
        if markdown:
            out.append("")
        head_, body = trap_table(results, workload)
        out += table(head_, body, set(range(2, len(head_))))
        notes = trap_notes(results, workload)
        out += ([""] if markdown else []) + [("- " if markdown else "  ") + n for n in notes] + [""]
    wide = sum(1 for m in results if m.status == "ok" and m.wide)
    if wide and not markdown:
        out.append(
            f"note: {wide} figures have a wide spread (IQR over {WIDE:.0%} of the median): the "
            "machine was busy; the ratios come from the same interleaved rounds and hold "
            "better than the absolute figures."
        )
    return out


def terminal(
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    goals: Sequence[dict[str, Any]],
    judged: bool,
    stream: Optional[TextIO] = None,
) -> None:
    lines = report_lines(results, info, runtime, goals, judged, markdown=False)
    print("\n".join(lines), file=stream or sys.stdout)


def write_markdown(
    path: str,
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    goals: Sequence[dict[str, Any]],
    judged: bool,
) -> None:
    lines = ["## Benchmark results", ""] + report_lines(results, info, runtime, goals, judged, True)
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def speedups(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """pyframe-c against every other row, per workload (and trap length)."""
    out = []
    for (workload, length), by in goals_mod.index(results).items():
        subject = by.get(SUBJECT)
        if subject is None or subject.status != "ok":
            continue
        for name, m in by.items():
            if name != SUBJECT and m.status == "ok":
                out.append(
                    dict(
                        ratio_stats(subject, m),
                        workload=workload,
                        stream_length=length,
                        versus=name,
                    )
                )
    return out


def write_json(
    path: str,
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    profile: Profile,
    goals: Sequence[dict[str, Any]],
) -> None:
    norm = exponents(results, normalised=True)
    data = {
        "meta": dict(info, runtime_s=runtime),
        "profile": asdict(profile),
        "results": [m.as_dict() for m in results],
        "speedups": speedups(results),
        "goals": list(goals),
        "exponents": [
            {
                "workload": w,
                "contender": c,
                "exponent": e,
                "exponent_vs_bytearray": norm.get((w, c)),
            }
            for (w, c), e in exponents(results).items()
        ],
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
