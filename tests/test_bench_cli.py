"""Smoke test of ``python -m pyframe bench``: one small workload, JSON written, both twins
measured with positive figures. Without the compiled module the bench must refuse to run
(it never benchmarks the twin twice) with a clear error."""

import json

from pyframe._bench import cli

ARGS = ["--quick", "--rounds", "2", "--no-progress", "--filter", "decode/length-prefix/16B/64k"]


def test_quick_json_holds_both_twins(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(ARGS + ["--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["contender"]: r for r in data["results"] if r["workload"] == ARGS[-1]}
    for name in ("pyframe-c", "pyframe-py"):
        row = rows[name]
        assert row["status"] == "ok"
        assert row["median"] > 0 and row["frames_per_s"] > 0 and row["mb_per_s"] > 0
        assert len(row["rounds"]) == 2 and row["frames"] > 0
    assert "compiled module" in data["meta"]
    assert any(s["versus"] == "pyframe-py" and s["ratio"] > 0 for s in data["speedups"])
    assert "pyframe-c" in capsys.readouterr().out


def test_refuses_when_compiled_module_hidden(monkeypatch, tmp_path, capsys):
    """The refusal path, on every setup: hide the compiled module from the import system."""
    import sys

    import pyframe

    monkeypatch.setitem(sys.modules, "pyframe._cframers", None)
    monkeypatch.delattr(pyframe, "_cframers", raising=False)
    out = tmp_path / "bench.json"
    assert cli.main(ARGS + ["--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pyframe._cframers cannot be imported" in err
    assert pyframe.__file__ in err and "pip install ." in err
    assert not out.exists()


def test_missing_optional_packages_are_absent_not_failures(monkeypatch, tmp_path, capsys):
    import sys

    for name in ("twisted", "twisted.protocols", "msgpack", "matplotlib"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "bench.json"
    args = [
        "--smoke",
        "--no-progress",
        "--filter",
        "decode/length-prefix/16B/64k",
        "--json",
        str(out),
        "--plot",
        str(tmp_path / "plots"),
    ]
    assert cli.main(args) == 0
    rows = {r["contender"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["twisted"]["status"] == "absent" and rows["msgpack"]["status"] == "absent"
    assert rows["pyframe-c"]["status"] == "ok" and rows["struct"]["status"] == "ok"
    assert "needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "plots").exists()
