"""Statistics of a run: measurements, their spread, per-round ratios, growth exponents and
the rule that turns a measured spread into a verdict.

Rounds are interleaved (round 1 of every contender of a workload, then round 2, ...), so
round r of two contenders ran moments apart under the same load. A comparison is therefore
made round by round: the ratio of round r's times, for every r; its median is the figure
reported and its quartiles are the spread. Load that comes and goes shifts both sides of a
pair alike and mostly cancels.

Verdicts (:func:`verdict`): a target is PASS when the lower quartile of the per-round
values clears it (three rounds out of four or more did), FAIL when the upper quartile misses
it (three out of four or more did), and "within noise" when the goal lies inside the
interquartile range. A build whose true value sits on the line therefore reads "within
noise" run after run instead of flipping between PASS and FAIL, and a clear PASS or FAIL
does not move unless the spread of a run grows past the distance to the line.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

WIDE = 0.10  # IQR / median above this is reported as a wide spread

PASS, NOISE, FAIL, NA = "PASS", "within noise", "FAIL", "n/a"


@dataclass
class Measurement:
    workload: str
    kind: str
    family: str
    frame_size: int
    pattern: str
    contender: str
    label: str
    role: str
    status: str  # "ok", "absent", "failed", "stopped" (trap: not run at this length)
    stream_length: int | None = None  # trap: the length of the one frame's stream
    frames: int = 0
    stream_bytes: int = 0
    loops: int = 0
    rounds: list[float] = field(default_factory=list)  # seconds per run, one figure per round
    faults: list[float] = field(default_factory=list)  # minor page faults per run, per round
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    min: float | None = None
    max: float | None = None
    spread: float | None = None  # (q3 - q1) / median
    wide: bool = False
    note: str = ""
    unit: str = "frame"

    @property
    def frames_per_s(self) -> float | None:
        return self.frames / self.median if self.median else None

    @property
    def mb_per_s(self) -> float | None:
        return self.stream_bytes / self.median / 1e6 if self.median else None

    @property
    def per_item(self) -> float | None:
        """Seconds per frame (or per pair, per header...)."""
        return self.median / self.frames if self.median and self.frames else None

    @property
    def faults_per_run(self) -> float | None:
        return statistics.median(self.faults) if self.faults else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frames_per_s"] = self.frames_per_s
        d["mb_per_s"] = self.mb_per_s
        d["faults_per_run"] = self.faults_per_run
        return d


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(lower quartile, median, upper quartile) of ``values``."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q = statistics.quantiles(ordered, n=4, method="inclusive")
    return q[0], statistics.median(ordered), q[2]


def summarise(m: Measurement) -> None:
    times = sorted(m.rounds)
    m.q1, m.median, m.q3 = quartiles(times)
    m.min, m.max = times[0], times[-1]
    m.spread = (m.q3 - m.q1) / m.median if m.median else 0.0
    m.wide = m.spread > WIDE


def per_round(
    a: Measurement, b: Measurement, combine: Callable[[float, float], float]
) -> list[float]:
    """``combine(a's time, b's time)`` for each round both ran (interleaved rounds)."""
    if len(a.rounds) != len(b.rounds):
        raise ValueError(f"{a.contender} and {b.contender} ran different numbers of rounds")
    return [combine(x, y) for x, y in zip(a.rounds, b.rounds) if x > 0 and y > 0]


def times_faster(subject: Measurement, other: Measurement) -> list[float]:
    """Per round: how many times faster ``subject`` ran than ``other``."""
    return per_round(subject, other, lambda s, o: o / s)


@dataclass
class Spread:
    """A figure measured round by round: its median and interquartile range."""

    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Optional[Spread]:
        if not values:
            return None
        low, median, high = quartiles(values)
        return cls(median, low, high, list(values))


def ratio_stats(subject: Measurement, m: Measurement) -> dict[str, float]:
    """How many times faster ``subject`` is than ``m``: median and quartiles of the
    per-round ratios, and the ratio of the medians."""
    s = Spread.of(times_faster(subject, m))
    assert s is not None and subject.median and m.median
    return {
        "ratio": s.median,
        "ratio_low": s.low,
        "ratio_high": s.high,
        "ratio_of_medians": m.median / subject.median,
    }


def growth_exponent(points: Sequence[tuple[float, Optional[float]]]) -> Optional[float]:
    """Least-squares slope of log(time) vs log(length) over ``points`` [(length, t)]."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


def verdict(spread: Optional[Spread], goal: float, higher_is_better: bool = True) -> str:
    """PASS, "within noise" or FAIL for ``spread`` against ``goal`` (see the module
    docstring); "n/a" when nothing was measured."""
    if spread is None:
        return NA
    if higher_is_better:
        if spread.low >= goal:
            return PASS
        return FAIL if spread.high < goal else NOISE
    if spread.high <= goal:
        return PASS
    return FAIL if spread.low > goal else NOISE
