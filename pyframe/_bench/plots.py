"""Charts of a run (matplotlib, optional: the ``bench`` extra).

- ``speedup.png``: how many times faster pyframe compiled is than each contender, per
  workload (a heatmap; references and pyframe's own variants are left out: they are not
  contenders).
- ``throughput_vs_frame_size.png``: decode MB/s against frame size, with the floor.
- ``time_vs_stream_length.png``: the quadratic trap, log-log, with a slope-1 line: a linear
  decoder runs parallel to it, a quadratic one climbs away from it.

Every line has its own colour, marker and dash, drawn in a fixed order with pyframe on top,
so no line hides another; labels live in the legend, outside the plotting area, so that
they never overprint the data or each other.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Sequence
from typing import Any

from .core import FLOOR, FRAMINGS, MEMORY, SUBJECT, size_label
from .render import speedups, trap_curves
from .stats import Measurement

STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h"]


def _style(i: int, name: str) -> dict[str, Any]:
    if name == SUBJECT:  # thick and underneath: a row that runs at its speed stays visible
        return {"color": "black", "linewidth": 4, "alpha": 0.55, "marker": "o", "zorder": 2}
    if name == FLOOR:
        return {"color": "0.35", "linestyle": "--", "linewidth": 1.8, "marker": None, "zorder": 4}
    if name == MEMORY:
        return {"color": "0.6", "linestyle": "-.", "linewidth": 1.6, "marker": None, "zorder": 4}
    return {
        "linestyle": STYLES[i % len(STYLES)],
        "marker": MARKERS[i % len(MARKERS)],
        "markersize": 4.5,
        "linewidth": 1.2,
        "alpha": 0.9,
        "zorder": 3 + i % 2,
    }


def write_plots(directory: str, results: Sequence[Measurement], info: dict[str, Any]) -> list[str]:
    """PNG charts in ``directory``; returns the paths written. ImportError if no matplotlib."""
    matplotlib = importlib.import_module("matplotlib")  # optional (the bench extra): Any
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    os.makedirs(directory, exist_ok=True)
    written: list[str] = []
    machine = f"{info.get('cpu', '')} · {str(info.get('python', '')).split(' (')[0]}"
    roles = {(m.workload, m.contender): m.role for m in results}

    def save(fig: Any, name: str) -> None:
        path = os.path.join(directory, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    # 1. speedup against each contender: an annotated heatmap
    table = [
        r
        for r in speedups(results)
        if r["stream_length"] is None and roles.get((r["workload"], r["versus"])) == "alternative"
    ]
    workloads = list(dict.fromkeys(r["workload"] for r in table))
    versus = list(dict.fromkeys(r["versus"] for r in table))
    if table:
        LogNorm = importlib.import_module("matplotlib.colors").LogNorm
        lookup = {(r["workload"], r["versus"]): r["ratio"] for r in table}
        grid = [[lookup.get((w, v), math.nan) for v in versus] for w in workloads]
        finite = [x for row in grid for x in row if x == x]
        bound = max(max(finite), 1 / min(finite), 2.0)
        fig, ax = plt.subplots(figsize=(0.9 * len(versus) + 4.5, 0.3 * len(workloads) + 2))
        image = ax.imshow(grid, cmap="RdYlGn", norm=LogNorm(1 / bound, bound), aspect="auto")
        size = 7 if len(versus) <= 12 else 5.5
        for i, row in enumerate(grid):
            for j, x in enumerate(row):
                if x == x:
                    ax.text(j, i, f"{x:.2g}", ha="center", va="center", fontsize=size)
        ax.set_xticks(range(len(versus)))
        ax.set_xticklabels(versus, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(workloads)))
        ax.set_yticklabels(workloads, fontsize=7)
        fig.colorbar(image, ax=ax, label="pyframe-c is N times faster (log; red: slower)")
        ax.set_title(f"pyframe compiled against each contender\n{machine}", fontsize=9)
        save(fig, "speedup.png")

    # 2. decode throughput vs frame size (64 KiB chunks), one panel per framing
    decode = [m for m in results if m.kind == "decode" and m.pattern == "64k" and m.status == "ok"]
    families = list(dict.fromkeys(m.family for m in decode))
    if families:
        fig, axes = plt.subplots(
            1, len(families), figsize=(5.2 * len(families), 4.4), squeeze=False
        )
        for ax, family in zip(axes[0], families):
            by: dict[str, list[tuple[int, float]]] = {}
            for m in decode:
                if m.family == family and m.mb_per_s:
                    by.setdefault(m.contender, []).append((m.frame_size, m.mb_per_s))
            order = sorted(by, key=lambda n: (n != SUBJECT, n == FLOOR))
            for i, name in enumerate(order):
                pts = sorted(by[name])
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, **_style(i, name))
            ax.set_xscale("log", base=2)
            sizes = sorted({size for pts in by.values() for size, _ in pts})
            ax.set_xticks(sizes)
            ax.set_xticklabels([size_label(n) for n in sizes], rotation=45, fontsize=7)
            ax.minorticks_off()
            ax.set_yscale("log")
            ax.set_xlabel("frame size")
            ax.set_ylabel("MB/s (wire bytes)")
            ax.set_title(FRAMINGS[family].title, fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.suptitle(f"Decode throughput vs frame size, 64 KiB chunks\n{machine}", fontsize=9)
        fig.tight_layout()
        save(fig, "throughput_vs_frame_size.png")

    # 3. time vs stream length (the huge-frame trap), log-log, with a slope-1 reference
    curves = trap_curves(results)
    stopped = {
        (m.workload, m.contender)
        for m in results
        if m.kind == "trap" and m.status in ("stopped", "failed")
    }
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.6), squeeze=False)
        for ax, (workload, by) in zip(axes[0], curves.items()):
            order = sorted(
                (n for n in by if by[n]), key=lambda n: (n != SUBJECT, n in (FLOOR, MEMORY))
            )
            for i, name in enumerate(order):
                pts = by[name]
                label = name + (" (stopped: over budget)" if (workload, name) in stopped else "")
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, **_style(i, name))
            base = by.get(MEMORY) or by.get(SUBJECT)
            if base:
                (x0, y0), x1 = base[0], base[-1][0]
                ax.plot(
                    [x0, x1],
                    [y0 / 2, y0 / 2 * x1 / x0],
                    color="0.7",
                    linestyle=":",
                    linewidth=1.2,
                    label="slope 1 (linear)",
                    zorder=1,
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            lengths = sorted({n for pts in by.values() for n, _ in pts})
            ax.set_xticks(lengths)
            ax.set_xticklabels([size_label(n) for n in lengths], rotation=45, fontsize=7)
            ax.minorticks_off()
            ax.set_xlabel("stream length: one frame")
            ax.set_ylabel("seconds per stream")
            ax.set_title(workload, fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.suptitle(
            "Time vs stream length, one frame in 4 KiB pieces "
            f"(parallel to slope 1 = linear)\n{machine}",
            fontsize=9,
        )
        fig.tight_layout()
        save(fig, "time_vs_stream_length.png")
    return written
