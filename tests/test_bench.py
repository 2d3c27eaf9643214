"""rnnlab-bench: registry, missing benchmarks, extra columns, BENCHMARKS.md updates."""

from __future__ import annotations

import pytest

import rnnlab.bench as bench_mod
from rnnlab.bench import BENCHMARKS, Benchmark, bench, run_one
from rnnlab.benchmarks.report import format_table, parse_sections, parse_table, update_docs
from rnnlab.errors import ConfigError

from conftest import make_config


def fake(device: str, quick: bool, size: int = 1) -> dict:
    return {"name": "fake", "seconds": 0.5, "ratio": 1.25, "extra_key": size}


def test_registry_names_are_unique_and_lazy():
    names = [b.name for b in BENCHMARKS]
    assert len(names) == len(set(names)) and "loop" in names
    assert {"cells_rnn", "cells_lstm", "cells_gru", "scan_512", "scan_4096"} <= set(names)


def test_missing_module_is_not_available():
    row = run_one(Benchmark("nope", "rnnlab.benchmarks.absent:f", {}, {}), "quick", "cpu")
    assert row == {"name": "nope", "status": "not available"}


def test_failing_benchmark_is_a_row_not_a_crash():
    row = run_one(
        Benchmark("bad", "test_bench:fake", {"quick": True, "wrong": 1}, {}), "quick", "cpu"
    )
    assert row["status"].startswith("failed: TypeError")


def test_unknown_keys_become_columns():
    row = run_one(
        Benchmark("fake", "test_bench:fake", {"quick": True, "size": 7}, {}), "quick", "cpu"
    )
    table = format_table([row, {"name": "other", "status": "not available"}])
    assert "extra_key" in table.splitlines()[0] and "| 7 |" in table


def test_docs_update_replaces_same_key_and_keeps_other_sections(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n\n## other\n\nhand-written text\n")
    row = {"name": "fake", "ratio": 1.5}
    update_docs(path, [row], device="cpu X", mode="quick", date="2026-01-01")
    update_docs(path, [{**row, "ratio": 2.0}], device="cpu X", mode="quick", date="2026-01-01")
    update_docs(path, [row], device="gpu Y", mode="full", date="2026-01-02")
    preamble, sections = parse_sections(path.read_text())
    assert "intro" in preamble and "hand-written text" in sections["other"]
    rows = parse_table(sections["fake"])
    assert [(r["device"], r["ratio"]) for r in rows] == [("cpu X", "2"), ("gpu Y", "1.5")]
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]


def test_bench_job_writes_docs_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(
        bench_mod, "BENCHMARKS", [Benchmark("fake", "test_bench:fake", {"quick": True}, {})]
    )
    docs = tmp_path / "B.md"
    cfg = make_config(tmp_path, ["device=cpu", f"docs_path={docs}"], name="bench")
    out = bench(cfg, tmp_path)
    assert out["results"][0]["ratio"] == 1.25 and (tmp_path / "metrics.json").is_file()
    assert "## fake" in docs.read_text()
    with pytest.raises(ConfigError, match="only='nope'"):
        bench(make_config(tmp_path, ["only=[nope]"], name="bench"), tmp_path)
    with pytest.raises(ConfigError, match="mode='slow'"):
        bench(make_config(tmp_path, ["mode=slow"], name="bench"), tmp_path)


@pytest.mark.slow
def test_loop_benchmark_reports_ratio():
    from rnnlab.benchmarks.loop import lightning_vs_plain

    row = lightning_vs_plain(device="cpu", quick=True, epochs=1, hidden_size=16)
    assert row["ratio"] > 0 and row["plain_s_per_epoch"] > 0
