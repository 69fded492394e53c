"""``pyframe bench`` (``pyframe._bench``): runs, writes JSON, Markdown and charts; every
contender of the in-memory workloads verifies; the floor cuts exactly the frames; verdicts
follow their rule and decide the exit status. Without the compiled modules the bench
refuses to run (it never benchmarks the twin twice) with a clear error."""

import json
import random
import sys

import pytest

from pyframe._bench import cli, core, floor, goals, stats

ARGS = ["--quick", "--rounds", "2", "--no-progress", "--filter", "decode/length-prefix/16B/64k"]


def test_quick_json_holds_both_twins_and_the_floor(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(ARGS + ["--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["contender"]: r for r in data["results"] if r["workload"] == ARGS[-1]}
    for name in ("pyframe-c", "pyframe-py", "floor"):
        row = rows[name]
        assert row["status"] == "ok"
        assert row["median"] > 0 and row["frames_per_s"] > 0 and row["mb_per_s"] > 0
        assert len(row["rounds"]) == 2 and row["frames"] > 0
    assert "compiled module" in data["meta"]
    assert any(s["versus"] == "pyframe-py" and s["ratio"] > 0 for s in data["speedups"])
    goal = next(
        g for g in data["goals"] if g["goal"].endswith("% of floor") and g["item"] == "16 B"
    )
    assert goal["median"] > 0 and goal["judged"] is False  # quick: indicative
    text = capsys.readouterr().out
    assert "% of floor" in text and "indicative" in text


@pytest.mark.parametrize("module", ["pyframe._cframers", "pyframe._bench._floor"])
def test_refuses_when_a_compiled_module_is_hidden(module, monkeypatch, tmp_path, capsys):
    """The refusal path, on every setup: hide a compiled module from the import system."""
    import pyframe
    import pyframe._bench

    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delattr(pyframe, "_cframers", raising=False)
    monkeypatch.delattr(pyframe._bench, "_floor", raising=False)
    out = tmp_path / "bench.json"
    assert cli.main(ARGS + ["--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{module} cannot be imported" in err
    assert pyframe.__file__ in err and "pip install ." in err
    assert not out.exists()


def test_missing_optional_packages_are_absent_not_failures(monkeypatch, tmp_path, capsys):
    for name in ("twisted", "twisted.protocols", "msgpack", "matplotlib"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "bench.json"
    args = ["--smoke", "--no-progress", "-k", "decode/length-prefix/16B/64k", "--json", str(out)]
    assert cli.main(args + ["--plot", str(tmp_path / "plots")]) == 0
    rows = {r["contender"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["twisted"]["status"] == "absent" and rows["msgpack"]["status"] == "absent"
    assert rows["pyframe-c"]["status"] == "ok" and rows["struct"]["status"] == "ok"
    assert "needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "plots").exists()


def test_smoke_verifies_every_in_memory_row_and_writes_reports(tmp_path):
    """Every decode, encode, trap and micro row produces the right frames (the bench checks
    count and checksum before timing: a wrong row is 'failed', and the exit status 1)."""
    out, md = tmp_path / "bench.json", tmp_path / "results.md"
    args = ["--smoke", "--no-progress", "-k", "decode/", "-k", "encode/", "-k", "trap/"]
    args += ["-k", "micro/", "--json", str(out), "--markdown", str(md)]
    assert cli.main(args) == 0
    results = json.loads(out.read_text())["results"]
    assert {r["status"] for r in results} <= {"ok", "absent", "stopped"}
    names = {r["contender"] for r in results}
    for name in ("BytesIO.readlines", "BytesIO iter", "iter_unpack", "floor", "join"):
        assert name in names
    assert {"pyframe-c LineFramer", "pyframe-c 8 delimiters", "struct.pack"} <= names
    text = md.read_text()
    assert "### Goals" in text and "| goal |" in text and "How to read the tables" in text


def test_charts(tmp_path):
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    args = ["--smoke", "--no-progress", "-k", "decode/newline/", "-k", "trap/newline"]
    assert cli.main(args + ["--plot", str(plots)]) == 0
    assert {p.name for p in plots.iterdir()} == {
        "speedup.png",
        "throughput_vs_frame_size.png",
        "time_vs_stream_length.png",
    }


@pytest.mark.parametrize("pattern", ["64k", "4k", "random", "trickle"])
@pytest.mark.parametrize("family", ["length-prefix", "newline", "decimal"])
def test_the_floor_cuts_exactly_the_frames(family, pattern):
    from pyframe._bench import _floor

    rng = random.Random(f"{family}{pattern}")
    items = [rng.randbytes(rng.choice([0, 1, 5, 300, 70000])) for _ in range(40)]
    if core.FRAMINGS[family].text:
        items = [p.translate(core._TEXT) for p in items]
    wire, spans = core.stream(family, 70000, items)
    if pattern == "trickle":
        wire, spans = core.stream(family, 70000, items[:6])
        items = items[:6]
    chunks = core.cut(wire, pattern)
    out = []
    assert _floor.decode(chunks, floor.plan(chunks, spans), out) == len(items)
    assert out == items


def test_the_floor_refuses_a_wrong_plan():
    from array import array

    from pyframe._bench import _floor

    wrong = (
        [0, 0, 1, 0, 5, -1, 0],  # a frame past the chunk's end
        [0, 0, 1, 2, 2, -1, 0],  # likewise
        [2, 1, 0, -1, 0],  # continues no frame
        [0, 0, 2, 0, 1, -1, 0],  # the plan ends inside the chunk's frames
        [0, 0, 0, 1, 1],  # a frame of 1 byte cannot start 2 bytes before the end
        [0, 0],  # the plan ends before the chunks
    )
    for plan in wrong:
        with pytest.raises(ValueError):
            _floor.decode([b"abc"], array("q", plan))
    # a frame started, then a piece longer than what it lacks, or closed too early
    for size, head in ((3, 2), (4, 1)):
        with pytest.raises(ValueError):
            _floor.decode([b"abc", b"de"], array("q", [0, 0, 0, 1, size, head, 1, 0, -1, 0]))
    with pytest.raises(TypeError):
        _floor.decode([b"abc"], array("l", [0, 0, 0, -1, 0]))
    out: list = []
    assert _floor.decode([b"abc", b"de"], array("q", [0, 0, 0, 1, 3, 1, 1, 0, -1, 0]), out) == 1
    assert out == [b"bcd"]


@pytest.mark.parametrize(
    "values, goal, higher, expected",
    [
        ([1.3, 1.4, 1.5, 1.6], 1.2, True, stats.PASS),
        ([1.1, 1.15, 1.25, 1.3], 1.2, True, stats.NOISE),
        ([1.1, 1.15, 1.18, 1.3], 1.2, True, stats.NOISE),  # median under, upper quartile over
        ([0.9, 1.0, 1.05, 1.1], 1.2, True, stats.FAIL),
        ([50, 55, 60, 65], 70, False, stats.PASS),
        ([60, 68, 72, 80], 70, False, stats.NOISE),
        ([75, 80, 85, 90], 70, False, stats.FAIL),
    ],
)
def test_verdict_rule(values, goal, higher, expected):
    assert stats.verdict(stats.Spread.of(values), goal, higher) == expected
    assert stats.verdict(None, goal, higher) == stats.NA


def test_exit_status():
    def g(status, judged=True):
        return {"status": status, "judged": judged}

    assert goals.exit_status([g(stats.PASS), g(stats.NA, False)], 0) == 0
    assert goals.exit_status([g(stats.PASS), g(stats.FAIL, False)], 0) == 0  # indicative
    assert goals.exit_status([g(stats.PASS), g(stats.NOISE)], 0) == 3
    assert goals.exit_status([g(stats.NOISE), g(stats.FAIL)], 0) == 1
    assert goals.exit_status([g(stats.PASS)], 1) == 1  # a contender failed


def test_every_goal_names_rows_the_catalogue_has():
    """Each goal is measured on workloads and rows that exist in the full profile."""
    from pyframe._bench import catalogue

    names = {(w.name, c.name) for w in catalogue.build_workloads("full") for c in w.contenders}
    fake = [
        stats.Measurement(
            w,
            "decode",
            "length-prefix",
            16,
            "64k",
            c,
            c,
            "subject",
            "ok",
            frames=10,
            rounds=[1.0, 1.0, 1.0],
            median=1.0,
        )
        for w, c in names
    ]  # (the trap's goals need curves over lengths: left out here)
    evaluated = goals.evaluate(fake, judged=True)
    missing = [(e["goal"], e["item"]) for e in evaluated if e["status"] == stats.NA]
    assert all("huge frame" in goal for goal, _ in missing), missing


def test_the_floor_is_built_with_the_compiled_framers():
    """setup.py builds both extensions or neither: an install (a wheel) that carries the
    compiled framers carries the floor too."""
    import importlib.util

    compiled = importlib.util.find_spec("pyframe._cframers") is not None
    floor_found = importlib.util.find_spec("pyframe._bench._floor") is not None
    assert compiled == floor_found


@pytest.mark.parametrize("family", ["cobs", "slip"])
def test_transformed_framings_wire_and_floor(impl, family):
    """COBS and SLIP rows: the bench's hand encoder writes what the framer writes (and
    reads back), and the floor cuts the payloads from the plain stream its spans are for."""
    from pyframe._bench import _floor

    rng = random.Random(family)
    items = [rng.randbytes(rng.choice([1, 5, 300, 70000])) + b"\x00\xc0\xdb" for _ in range(40)]
    wire, spans = core.stream(family, 70000, items)
    framer = core.FRAMINGS[family].make(impl, 70000)
    assert framer.encode_many(items) == wire
    assert framer.feed(wire) == items
    chunks = core.cut(b"".join(items), "4k")
    out = []
    assert _floor.decode(chunks, floor.plan(chunks, spans), out) == len(items)
    assert out == items


@pytest.mark.parametrize("extension", [True, False])
def test_the_cobs_row_is_absent_without_the_cobs_c_extension(monkeypatch, tmp_path, extension):
    """The goal is against the cobs package's C extension: when only its pure-Python
    fallback imports (no wheel for the platform), the row is absent, not 100x slower."""
    pytest.importorskip("cobs")
    if not extension:
        for name in [n for n in sys.modules if n == "cobs" or n.startswith("cobs.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "cobs.cobs._cobs_ext", None)  # the fallback is taken
    out = tmp_path / "bench.json"
    args = ["--smoke", "--no-progress", "-k", "decode/cobs/16B/64k", "--json", str(out)]
    assert cli.main(args) == 0
    rows = {r["contender"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["cobs"]["status"] == ("ok" if extension else "absent")
    assert rows["pyframe-c"]["status"] == "ok"
