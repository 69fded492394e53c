"""Reports of a bench run: terminal tables, JSON, Markdown and matplotlib charts."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import sys
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, TextIO, cast

from . import runner
from . import workloads as wl
from .runner import Measurement

# -- targets of issues 2 and 4 (ratios measured in one run) ----------------------------------

_LP_SMALL = ("decode/length-prefix/16B/64k", "decode/length-prefix/64B/64k")
TARGETS = [
    # (key, description, workloads, versus, minimum ratio)
    (
        "lp-vs-twin",
        "compiled length-prefix decode, 16-64 B frames, vs its pure twin",
        _LP_SMALL,
        wl.TWIN,
        12.0,
    ),
    (
        "lp-vs-twisted",
        "compiled length-prefix decode, 16-64 B frames, vs Twisted Int32StringReceiver",
        _LP_SMALL,
        "twisted",
        20.0,
    ),
    (
        "lp-vs-asyncio",
        "compiled length-prefix decode, 16-64 B frames, vs asyncio readexactly",
        _LP_SMALL,
        "asyncio",
        30.0,
    ),
    (
        "nl16-vs-split",
        "compiled delimiter decode, 16 B lines, vs (tail + chunk).split",
        ("decode/newline/16B/64k",),
        "split",
        1.2,
    ),
    (
        "nl256-vs-split",
        "compiled delimiter decode, 256 B lines, vs (tail + chunk).split",
        ("decode/newline/256B/64k",),
        "split",
        3.0,
    ),
]
# Linear on the trap: the growth exponent of time / memory-floor time vs stream length
# (least squares over every length measured) stays at most this. The raw exponent of time
# vs length is reported too, but on a shared 2-core VM it swings with caches and the
# allocator (a plain bytearray append alone measures 0.7-1.6 between 1 and 16 MiB);
# dividing by the memory floor timed in the same rounds cancels most of that. Linear
# framers measure about 0 (+-0.3 of noise), the quadratic idioms about 1. Lengths of 16 MiB
# and more (the full run goes to 64 MiB) make the verdict firmer than --quick's.
LINEAR_MAX = 0.5


def machine_info(profile_name: str) -> OrderedDict[str, Any]:
    import pyframe

    info: OrderedDict[str, Any] = OrderedDict()
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
    info["pyframe.IMPLEMENTATION"] = pyframe.IMPLEMENTATION
    try:
        compiled, _ = wl.load_twins()
        info["compiled module"] = compiled.__file__
    except wl.CompiledMissing:
        info["compiled module"] = "absent"
    for name in ("twisted", "msgpack"):
        mod = wl.optional(name)
        info[name] = getattr(mod, "__version__", "installed") if mod else "absent"
    info["network"] = wl.network_status()
    info["profile"] = profile_name
    return info


# -- derived figures -------------------------------------------------------------------------


#: {workload: {contender: [(stream length, median time)]}}
_Curves = OrderedDict[str, OrderedDict[str, list[tuple[int, float]]]]


def _key(m: Measurement) -> tuple[str, int | None]:
    return (m.workload, m.stream_length)


def index(
    results: Iterable[Measurement],
) -> OrderedDict[tuple[str, int | None], OrderedDict[str, Measurement]]:
    """{(workload, stream_length): {contender: Measurement}} in run order."""
    table: OrderedDict[tuple[str, int | None], OrderedDict[str, Measurement]] = OrderedDict()
    for m in results:
        table.setdefault(_key(m), OrderedDict())[m.contender] = m
    return table


def ratio_stats(subject: Measurement, m: Measurement) -> dict[str, float]:
    """How many times faster ``subject`` is than ``m``. Rounds were interleaved, so round r
    of both ran moments apart: the ratio is the median of the per-round ratios, which
    cancels load that comes and goes; its quartiles give the range. The ratio of the
    medians is kept too."""
    import statistics

    pairs = sorted(o / s for o, s in zip(m.rounds, subject.rounds) if s > 0)
    if len(pairs) >= 2 and len(m.rounds) == len(subject.rounds):
        q = statistics.quantiles(pairs, n=4, method="inclusive")
        ratio, low, high = statistics.median(pairs), q[0], q[2]
    else:
        ratio, low, high = (  # (both summarised, status "ok": no None)
            m.median / subject.median,  # type: ignore[operator]
            m.q1 / subject.q3,  # type: ignore[operator]
            m.q3 / subject.q1,  # type: ignore[operator]
        )
    return {
        "ratio": ratio,
        "ratio_low": low,
        "ratio_high": high,
        "ratio_of_medians": m.median / subject.median,  # type: ignore[operator]
    }


def speedups(results: Iterable[Measurement]) -> list[dict[str, Any]]:
    """Rows: pyframe compiled vs each other contender, per workload (and trap length)."""
    rows = []
    for (workload, length), by in index(results).items():
        subject = by.get(wl.SUBJECT)
        if subject is None or subject.status != "ok":
            continue
        for name, m in by.items():
            if name == wl.SUBJECT or m.status != "ok":
                continue
            rows.append(
                dict(ratio_stats(subject, m), workload=workload, stream_length=length, versus=name)
            )
    return rows


def trap_curves(results: Iterable[Measurement]) -> tuple[_Curves, dict[tuple[str, str], str]]:
    """{workload: {contender: [(length, median)], ...}} and stop notes."""
    curves: _Curves = OrderedDict()
    notes: dict[tuple[str, str], str] = {}
    for m in results:
        if m.kind != "trap":
            continue
        curve = curves.setdefault(m.workload, OrderedDict()).setdefault(m.contender, [])
        if m.status == "ok":
            curve.append((m.stream_length, m.median))  # type: ignore[arg-type]  # (both set)
        elif m.status in ("stopped", "failed"):
            notes.setdefault((m.workload, m.contender), m.note)
    return curves, notes


def exponents(
    results: Iterable[Measurement], normalised: bool = False
) -> OrderedDict[tuple[str, str], float | None]:
    """Growth exponent per trap workload and contender over every length it reached:
    the slope of log(time) vs log(length). ``normalised``: of time / the memory floor's
    time at the same length, which cancels cache and page-fault effects (linear ~ 0,
    quadratic ~ 1)."""
    curves, _ = trap_curves(results)
    out = OrderedDict()
    for workload, by in curves.items():
        floor = dict(by.get(wl.FLOOR, []))
        for name, pts in by.items():
            if normalised:
                if name == wl.FLOOR:
                    continue
                pts = [(n, t / floor[n]) for n, t in pts if n in floor]
            out[(workload, name)] = runner.growth_exponent(pts)
    return out


def evaluate_targets(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """Each target with the measured ratio (worst over its workloads) and pass/fail."""
    ratio = {
        (r["workload"], r["versus"]): r for r in speedups(results) if r["stream_length"] is None
    }
    out = []
    for key, text, workloads, versus, minimum in TARGETS:
        found = [ratio[(w, versus)] for w in workloads if (w, versus) in ratio]
        entry = {
            "target": key,
            "description": text,
            "minimum": minimum,
            "versus": versus,
            "workloads": list(workloads),
        }
        if len(found) < len(workloads):
            entry.update(
                status="n/a",
                measured=None,
                detail="not measured in this run (filtered out or contender absent)",
            )
        else:
            worst = min(found, key=lambda r: r["ratio"])
            entry.update(
                measured=worst["ratio"],
                measured_iqr=[worst["ratio_low"], worst["ratio_high"]],
                per_workload={r["workload"]: r["ratio"] for r in found},
                status="PASS" if worst["ratio"] >= minimum else "FAIL",
            )
        out.append(entry)
    exps = exponents(results, normalised=True)
    raw = exponents(results)
    for family in ("length-prefix", "newline"):
        workload = f"trap/{family}"
        entry = {
            "target": f"linear-{family}",
            "description": f"compiled {family} decode of one huge frame in 4 KiB pieces "
            f"is linear (growth exponent vs the memory floor <= {LINEAR_MAX})",
            "minimum": None,
            "versus": None,
            "workloads": [workload],
        }
        e = exps.get((workload, wl.SUBJECT))
        if e is None:
            entry.update(status="n/a", measured=None, detail="trap not measured in this run")
        else:
            others = {name: x for (w, name), x in exps.items() if w == workload and x is not None}
            entry.update(
                measured=e,
                status="PASS" if e <= LINEAR_MAX else "FAIL",
                exponents=others,
                raw_exponent=raw.get((workload, wl.SUBJECT)),
            )
        out.append(entry)
    return out


# -- formatting ------------------------------------------------------------------------------


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def fmt_mb(x: float | None) -> str:
    return "-" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.3g}")


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else (f"{x:#.3g}x" if x < 100 else f"{x:,.0f}x")


def _sections(results: Iterable[Measurement]) -> OrderedDict[str, list[Measurement]]:
    """Report sections: (title, [measurements]) in run order."""
    sections: OrderedDict[str, list[Measurement]] = OrderedDict()
    for m in results:
        if m.kind in ("decode", "network"):
            title = (
                f"{m.kind}: {wl.FAMILIES[m.family].title if m.family in wl.FAMILIES else m.family}"
                f", {wl.PATTERN_TITLES.get(m.pattern, m.pattern)}"
            )
        elif m.kind == "encode":
            title = f"encode: {wl.FAMILIES[m.family].title}"
        else:
            continue
        sections.setdefault(title, []).append(m)
    return sections


def _rows(ms: Iterable[Measurement]) -> list[list[str]]:
    """Table rows for one section: frame size, contender, figures, speedup."""
    by = index(ms)
    rows: list[list[str]] = []
    for _key, group in by.items():
        subject = group.get(wl.SUBJECT)
        first = True
        for name, m in group.items():
            size = wl.size_label(m.frame_size) if first else ""
            first = False
            if m.status != "ok":
                rows.append([size, name, m.status, "", "", "", "", m.note[:60]])
                continue
            speed = "-"
            if name != wl.SUBJECT and subject is not None and subject.status == "ok":
                speed = fmt_ratio(ratio_stats(subject, m)["ratio"])
            spread = (
                f"{100 * m.spread:.0f}%"  # type: ignore[operator]
                + (" wide" if m.wide else "")
            )
            rows.append(
                [
                    size,
                    name,
                    fmt_rate(m.frames_per_s),
                    fmt_mb(m.mb_per_s),
                    fmt_time(m.median),
                    spread,
                    speed,
                    "",
                ]
            )
    return rows


HEAD = ["frame", "contender", "frames/s", "MB/s", "median", "IQR", "pyframe-c is", ""]


def _table(rows: list[list[str]], head: list[str] = HEAD) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    right = {2, 3, 4, 5, 6}

    def line(r: list[str]) -> str:
        return "  ".join(
            (str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]))
            for i, c in enumerate(r)
        ).rstrip()

    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _trap_rows(
    results: Sequence[Measurement], workload: str, mark_wide: bool
) -> tuple[list[int], list[list[str]]]:
    """(stream lengths, one row of cells per contender) of a trap workload: the median time
    at each length (``~`` after a wide one if ``mark_wide``), then both growth exponents."""
    ms = [m for m in results if m.workload == workload]
    lengths = sorted({cast(int, m.stream_length) for m in ms})  # a trap's: all set
    cell = {(m.contender, m.stream_length): m for m in ms}
    exps = exponents(results)
    norm = exponents(results, normalised=True)
    rows = []
    for name in OrderedDict.fromkeys(m.contender for m in ms):
        row = [name]
        for n in lengths:
            m = cell.get((name, n))
            if m is None:
                row.append("")
            elif m.status == "ok":
                row.append(fmt_time(m.median) + ("~" if m.wide and mark_wide else ""))
            else:
                row.append(m.status)  # stopped, absent, ...
        for table in (exps, norm):
            e = table.get((workload, name))
            row.append("-" if e is None else f"{e:.2f}")
        rows.append(row)
    return lengths, rows


def _trap_table(results: Sequence[Measurement], workload: str) -> list[str]:
    lengths, rows = _trap_rows(results, workload, mark_wide=True)
    head = ["contender"] + [wl.size_label(n) for n in lengths] + ["exponent", "vs floor"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)
        ).rstrip()

    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _trap_notes(results: Sequence[Measurement], workload: str) -> list[str]:
    _, notes = trap_curves(results)
    out = []
    for (w, name), note in notes.items():
        if w == workload:
            out.append(f"{name}: {note}")
    # speedup at the largest length each alternative reached
    by_len = index([m for m in results if m.workload == workload])
    best = {}
    for (_, length), group in by_len.items():
        subject = group.get(wl.SUBJECT)
        if subject is None or subject.status != "ok":
            continue
        for name, m in group.items():
            if name != wl.SUBJECT and m.status == "ok":
                best[name] = (length, ratio_stats(subject, m)["ratio"])
    for name, (length, ratio) in best.items():
        out.append(
            f"at {wl.size_label(cast(int, length))}: pyframe-c is {fmt_ratio(ratio)} vs {name}"
        )
    return out


def _target_lines(targets: Iterable[dict[str, Any]]) -> list[str]:
    lines = []
    for t in targets:
        if t["status"] == "n/a":
            lines.append(f"  [n/a ] {t['description']}: {t['detail']}")
        elif t["minimum"] is None:
            others = ", ".join(
                f"{k} {v:.2f}" for k, v in t.get("exponents", {}).items() if k != wl.SUBJECT
            )
            lines.append(
                f"  [{t['status']}] {t['description']}: {t['measured']:.2f} "
                f"(raw exponent {t['raw_exponent']:.2f}"
                + (f"; others vs floor: {others})" if others else ")")
            )
        else:
            per = ", ".join(
                f"{w.split('/')[2]} {fmt_ratio(r)}" for w, r in t["per_workload"].items()
            )
            lo, hi = t["measured_iqr"]
            lines.append(
                f"  [{t['status']}] {t['description']}: need >= {t['minimum']:g}x, "
                f"measured {per} (worst: per-round ratio quartiles {lo:.3g}-{hi:.3g}x)"
            )
    return lines


def terminal(
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    stream: TextIO | None = None,
) -> None:
    stream = stream or sys.stdout
    out = ["pyframe bench: pyframe compiled (pyframe-c) vs its pure twin and the usual idioms", ""]
    out += [f"  {k:<24} {v}" for k, v in info.items()]
    out += [f"  {'runtime':<24} {runtime:.1f} s", ""]
    for title, ms in _sections(results).items():
        out += [f"== {title} ==", *_table(_rows(ms)), ""]
    for workload in OrderedDict.fromkeys(m.workload for m in results if m.kind == "trap"):
        desc = next(m for m in results if m.workload == workload)
        out += [
            f"== {workload}: {wl.FAMILIES[desc.family].title}, one frame in 4 KiB pieces: "
            "median time per stream length ==",
            *_trap_table(results, workload),
        ]
        out += [f"  {n}" for n in _trap_notes(results, workload)] + [""]
    wide = sum(1 for m in results if m.status == "ok" and m.wide)
    if wide:
        out.append(
            f"note: {wide} figures have a wide spread (IQR > {runner.WIDE:.0%} of the "
            "median, marked 'wide' / '~'): the machine was busy; ratios come from the "
            "same interleaved rounds, absolute figures are less certain."
        )
    targets = evaluate_targets(results)
    out += ["", "Targets (issues 2 and 4), ratios measured in this run:", *_target_lines(targets)]
    print("\n".join(out), file=stream)


def write_json(
    path: str,
    results: Sequence[Measurement],
    info: dict[str, Any],
    runtime: float,
    profile: wl.Profile,
) -> None:
    from dataclasses import asdict

    data = {
        "meta": dict(info, runtime_s=runtime),
        "profile": asdict(profile),
        "results": [m.as_dict() for m in results],
        "speedups": speedups(results),
        "targets": evaluate_targets(results),
        "exponents": [
            {
                "workload": w,
                "contender": c,
                "exponent": e,
                "exponent_vs_floor": exponents(results, normalised=True).get((w, c)),
            }
            for (w, c), e in exponents(results).items()
        ],
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def write_markdown(
    path: str, results: Sequence[Measurement], info: dict[str, Any], runtime: float
) -> None:
    out = [
        "## Benchmark results",
        "",
        "Generated by `python -m pyframe bench --markdown FILE` "
        f"(profile `{info.get('profile')}`, {runtime:.0f} s). Every figure is the median "
        "of interleaved rounds in one process; the ratio column is how many times faster "
        "pyframe's compiled framer (`pyframe-c`) is than each contender (median of the "
        "per-round ratios).",
        "",
        "Machine: "
        + "; ".join(
            f"{k}: {info[k]}"
            for k in ("cpu", "machine", "python", "pyframe", "load average")
            if k in info
        ),
        "",
    ]
    for title, ms in _sections(results).items():
        rows = _rows(ms)
        out += [
            f"### {title}",
            "",
            "| " + " | ".join(h or "note" for h in HEAD) + " |",
            "|" + "|".join(["---"] * 2 + ["---:"] * 5 + ["---"]) + "|",
        ]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        out.append("")
    for workload in OrderedDict.fromkeys(m.workload for m in results if m.kind == "trap"):
        lengths, rows = _trap_rows(results, workload, mark_wide=False)
        head = (
            ["contender"]
            + [wl.size_label(n) for n in lengths]
            + ["growth exponent", "exponent vs floor"]
        )
        out += [
            f"### {workload}: one huge frame in 4 KiB pieces (median time per stream length)",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out += [""] + [f"- {n}" for n in _trap_notes(results, workload)] + [""]
    out += ["### Targets", "", "| target | need | measured | status |", "|---|---:|---|---|"]
    for t in evaluate_targets(results):
        if t["status"] == "n/a":
            measured = "not measured"
        elif t["minimum"] is None:
            measured = f"exponent {t['measured']:.2f}"
        else:
            measured = ", ".join(
                f"{w.split('/')[2]}: {fmt_ratio(r)}" for w, r in t["per_workload"].items()
            )
        need = f">= {t['minimum']:g}x" if t["minimum"] else f"exponent vs floor <= {LINEAR_MAX}"
        out.append(f"| {t['description']} | {need} | {measured} | {t['status']} |")
    out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


# -- charts ----------------------------------------------------------------------------------


def write_plots(directory: str, results: Sequence[Measurement], info: dict[str, Any]) -> list[str]:
    """PNG charts in ``directory``; returns the paths written. ImportError if no matplotlib."""
    matplotlib = importlib.import_module("matplotlib")  # optional (the bench extra): Any
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")

    os.makedirs(directory, exist_ok=True)
    written = []
    machine = f"{info.get('cpu', '')} · {info.get('python', '').split(' (')[0]}"

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = os.path.join(directory, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # 1. speedup of pyframe-c per workload against each contender: an annotated heatmap
    rows = [r for r in speedups(results) if r["stream_length"] is None]
    workloads = list(OrderedDict.fromkeys(r["workload"] for r in rows))
    versus = list(OrderedDict.fromkeys(r["versus"] for r in rows))
    if rows:
        import math

        LogNorm = importlib.import_module("matplotlib.colors").LogNorm

        lookup = {(r["workload"], r["versus"]): r["ratio"] for r in rows}
        grid = [[lookup.get((w, v), math.nan) for v in versus] for w in workloads]
        finite = [x for row in grid for x in row if x == x]
        bound = max(max(finite), 1 / min(finite), 2.0)
        fig, ax = plt.subplots(figsize=(1.0 * len(versus) + 4, 0.28 * len(workloads) + 1.8))
        image = ax.imshow(grid, cmap="RdYlGn", norm=LogNorm(1 / bound, bound), aspect="auto")
        for i, row in enumerate(grid):
            for j, x in enumerate(row):
                if x == x:
                    ax.text(j, i, f"{x:.3g}", ha="center", va="center", fontsize=6.5)
        ax.set_xticks(range(len(versus)))
        ax.set_xticklabels(versus, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(workloads)))
        ax.set_yticklabels(workloads, fontsize=7)
        fig.colorbar(image, ax=ax, label="pyframe-c is N times faster (log)")
        ax.set_title(f"Speedup of pyframe compiled against each contender\n{machine}", fontsize=9)
        save(fig, "speedup.png")

    # 2. throughput vs frame size (64 KiB chunks), one panel per family
    decode = [m for m in results if m.kind == "decode" and m.pattern == "64k" and m.status == "ok"]
    families = list(OrderedDict.fromkeys(m.family for m in decode))
    if families:
        fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 4), squeeze=False)
        for ax, family in zip(axes[0], families):
            by: OrderedDict[str, list[Any]] = OrderedDict()
            for m in decode:
                if m.family == family:
                    by.setdefault(m.contender, []).append((m.frame_size, m.mb_per_s))
            for name, pts in by.items():
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("frame size (bytes)")
            ax.set_ylabel("MB/s (wire bytes)")
            ax.set_title(wl.FAMILIES[family].title, fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(f"Decode throughput vs frame size, 64 KiB chunks\n{machine}", fontsize=9)
        save(fig, "throughput_vs_frame_size.png")

    # 3. time vs stream length (the huge-frame trap), log-log
    curves, notes = trap_curves(results)
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.2), squeeze=False)
        for ax, (workload, by) in zip(axes[0], curves.items()):
            for name, pts in by.items():
                if not pts:
                    continue
                (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
                if (workload, name) in notes:  # stopped: mark where
                    ax.plot([pts[-1][0]], [pts[-1][1]], marker="x", ms=12, color=line.get_color())
                    ax.annotate(
                        "stopped", pts[-1], fontsize=7, xytext=(4, 4), textcoords="offset points"
                    )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("stream length: one frame (bytes)")
            ax.set_ylabel("seconds per stream")
            ax.set_title(workload, fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(
            f"Time vs stream length, one frame in 4 KiB pieces (linear = slope 1)\n{machine}",
            fontsize=9,
        )
        save(fig, "time_vs_stream_length.png")
    return written
