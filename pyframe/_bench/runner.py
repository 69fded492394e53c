"""Timing: every contender of a workload side by side in this process.

For each workload the input is built once; each contender is verified (right frame count and
checksum), run once more as warm-up and calibration (how many runs make a round last at least
``min_time``), then timed for ``rounds`` rounds with ``time.perf_counter``. Rounds are
interleaved across contenders (round 1 of every contender, then round 2, ...), so load that
comes and goes on a shared machine hits them all alike; the report takes each ratio as the median of
the per-round ratios. Reported:
the median per-run time over the rounds and the spread (quartiles, min, max); a spread
(IQR / median) above ``WIDE`` is flagged, and the minor page faults per run (where the
platform counts them). The garbage collector stays enabled (as in real programs) and is
emptied before each workload.

Frames of 1 MiB and more: each round of each contender starts with one untimed run. Whether
a fresh multi-MiB object must be faulted in depends on the C allocator's state (glibc maps
large blocks afresh or reuses its heap, depending on what was freed before), and without
that run a contender would be timed in the state the previous contender left; with it,
each is timed in the state its own runs leave.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable, TextIO, cast

from .core import Contender, Input, Profile, Workload, size_label, stream_bytes, verify
from .stats import Measurement, summarise

#: Frames (or trap streams) from this size on: each round starts with an untimed run.
WARM_FROM = 1 << 20

try:
    import resource

    def _minor_faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

except ImportError:  # not on this platform

    def _minor_faults() -> int:
        return -1


class Progress:
    """Progress on stderr: one rewritten line on a terminal, else a line per workload."""

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_workload: str | None = None

    def step(self, workload: str, what: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        pct = 100 * self.done / self.total
        if self.tty:
            line = f"[{self.done:>3}/{self.total}] {pct:3.0f}% {elapsed:5.1f}s  {workload}  {what}"
            self.stream.write("\r\x1b[K" + line[:150])
            self.stream.flush()
        elif workload != self._last_workload:
            self.stream.write(f"[{self.done:>3}/{self.total}] {elapsed:5.1f}s {workload}\n")
            self.stream.flush()
        self._last_workload = workload

    def advance(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def units(workload: Workload) -> int:
    """Progress units of a workload (one per contender, per length on a trap)."""
    return len(workload.contenders) * max(1, len(workload.sizes))


def _record(w: Workload, c: Contender, status: str, **kw: Any) -> Measurement:
    return Measurement(
        workload=w.name,
        kind=w.kind,
        family=w.family,
        frame_size=w.frame_size,
        pattern=w.pattern,
        contender=c.name,
        label=c.label,
        role=c.role,
        status=status,
        unit=w.unit,
        **kw,
    )


def _close(fn: object) -> None:
    close = getattr(fn, "close", None)
    if close is not None:
        close()


def _time_once(fn: Callable[[], Any], self_timed: bool = False) -> float:
    if self_timed:
        seconds: float = fn()[1]
        return seconds
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _round(fn: Callable[[], Any], loops: int, self_timed: bool) -> tuple[int, float, float]:
    """(frame count of the last run, seconds per run, page faults per run) over ``loops``
    runs."""
    faults = _minor_faults()
    if self_timed:
        total = 0.0
        for _ in range(loops):
            count, seconds = fn()
            total += seconds
        return count, total / loops, (_minor_faults() - faults) / loops
    t0 = time.perf_counter()
    for _ in range(loops):
        count = fn()
    seconds = (time.perf_counter() - t0) / loops
    return count, seconds, (_minor_faults() - faults) / loops


def _measure(
    w: Workload,
    inp: Input,
    contenders: Sequence[Contender],
    rounds: int,
    min_time: float,
    progress: Progress,
    stream_length: int | None = None,
) -> list[Measurement]:
    """Verify, calibrate and time ``contenders`` on ``inp``, rounds interleaved."""
    results: list[Measurement] = []
    prepared: list[tuple[Measurement, Callable[[], Any], bool]] = []
    for c in contenders:
        progress.step(w.name, c.name + (f" @ {size_label(stream_length)}" if stream_length else ""))
        if not c.available():
            results.append(
                _record(
                    w, c, "absent", stream_length=stream_length, note=f"{c.requires} not installed"
                )
            )
            progress.advance()
            continue
        if c.wire and c.wire not in inp.alt:
            results.append(
                _record(w, c, "absent", stream_length=stream_length, note=f"no {c.wire} input")
            )
            progress.advance()
            continue
        try:
            verify(w, c, inp)
            fn = c.factory(w, inp, None)
            t = _time_once(fn, c.self_timed)  # warm-up and calibration
            if t < min_time / 4:  # the first run may be slow: calibrate on a second one
                t = min(t, _time_once(fn, c.self_timed))
        except Exception as exc:  # a contender that breaks is reported, not fatal
            results.append(
                _record(
                    w, c, "failed", stream_length=stream_length, note=f"{type(exc).__name__}: {exc}"
                )
            )
            progress.advance()
            continue
        loops = max(1, math.ceil(min_time / max(t, 1e-7)))
        m = _record(
            w,
            c,
            "ok",
            stream_length=stream_length,
            frames=inp.n_frames,
            stream_bytes=stream_bytes(c, inp),
            loops=loops,
            note=c.note,
        )
        prepared.append((m, fn, c.self_timed))
        results.append(m)
    warm = w.kind in ("decode", "trap") and max(w.frame_size, stream_length or 0) >= WARM_FROM
    for r in range(rounds):
        for m, fn, self_timed in prepared:
            progress.step(w.name, f"round {r + 1}/{rounds} {m.contender}")
            if warm:
                fn()  # untimed: the allocator as this contender's own runs leave it
            count, seconds, faults = _round(fn, m.loops, self_timed)
            m.rounds.append(seconds)
            if faults >= 0:
                m.faults.append(faults)
            if count != inp.n_frames:
                m.status, m.note = "failed", f"timed run returned {count} frames"
    for m, fn, _ in prepared:
        _close(fn)
        if m.status == "ok":
            summarise(m)
        progress.advance()
    return results


def run_workload(w: Workload, profile: Profile, progress: Progress) -> list[Measurement]:
    """Every Measurement of workload ``w`` under ``profile``."""
    gc.collect()
    if w.kind == "trap":
        return _run_trap(w, profile, progress)
    inp = w.build()
    try:
        return _measure(w, inp, w.contenders, profile.rounds, profile.min_time, progress)
    finally:
        del inp
        gc.collect()


def _run_trap(w: Workload, profile: Profile, progress: Progress) -> list[Measurement]:
    """Time vs stream length: ascending lengths; a contender whose next run is predicted
    (from its own growth so far) to exceed ``profile.trap_budget`` stops there."""
    results: list[Measurement] = []
    active = list(w.contenders)
    history: dict[str, list[tuple[int, float]]] = {c.name: [] for c in active}  # (length, median)
    stopped: dict[str, str] = {}
    absent: set[str] = set()
    for i, length in enumerate(w.sizes):
        inp = w.build(length)
        for c in [c for c in w.contenders if c.name in stopped]:
            status = "absent" if c.name in absent else "stopped"
            results.append(_record(w, c, status, stream_length=length, note=stopped[c.name]))
            progress.advance()
        measured = _measure(
            w,
            inp,
            active,
            profile.trap_rounds,
            profile.min_time / 4,
            progress,
            stream_length=length,
        )
        results.extend(measured)
        del inp
        gc.collect()
        if i + 1 == len(w.sizes):
            break
        nxt = w.sizes[i + 1]
        for m in measured:
            if m.status != "ok":
                active = [c for c in active if c.name != m.contender]
                if m.status == "absent":
                    absent.add(m.contender)
                    stopped[m.contender] = m.note
                else:
                    stopped[m.contender] = f"{m.status} at {size_label(length)}: {m.note}"
                continue
            hist = history[m.contender]
            hist.append((length, cast(float, m.median)))  # summarised: status "ok"
            exponent = 2.0
            if len(hist) >= 2:
                (l0, t0), (l1, t1) = hist[-2], hist[-1]
                exponent = min(2.5, max(1.0, math.log(t1 / t0) / math.log(l1 / l0)))
            predicted = m.median * (nxt / length) ** exponent
            if predicted > profile.trap_budget:
                active = [c for c in active if c.name != m.contender]
                stopped[m.contender] = (
                    f"stopped after {size_label(length)}: one run at "
                    f"{size_label(nxt)} predicted {predicted:.2f} s "
                    f"(growth exponent {exponent:.2f}) > budget {profile.trap_budget:g} s"
                )
    return results


def run_all(
    selected: Sequence[Workload], profile: Profile, progress_enabled: bool = True
) -> list[Measurement]:
    progress = Progress(sum(units(w) for w in selected), enabled=progress_enabled)
    results: list[Measurement] = []
    try:
        for w in selected:
            results.extend(run_workload(w, profile, progress))
    finally:
        progress.close()
    return results
