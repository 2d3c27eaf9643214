"""The char-LM step benchmarks: allocator setting, bfloat16 autocast, CPU time per step."""

from __future__ import annotations

import sys

import pytest

from rnnlab.benchmarks.allocator import kept_vs_returned
from rnnlab.benchmarks.chars import chars_per_second


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_each_side_runs_with_its_own_setting(monkeypatch):
    import rnnlab.benchmarks.cli as cli

    seen = []
    original = cli.run_one

    def spy(name, spec, timeout=3600):
        row = original(name, spec, timeout)
        seen.append((name, row["freed_memory_kept"]))
        return row

    monkeypatch.setattr(cli, "run_one", spy)
    row = kept_vs_returned(repeats=1, hidden=8, batch=2, bptt=4, steps=2, warmup=1)
    assert seen == [("kept", True), ("returned", False)]
    assert row["kept_active"] is True


def test_chars_reports_cpu_time_per_step():
    row = chars_per_second(hidden=8, layers=1, batch=2, bptt=4, steps=2, warmup=1,
                           keep_freed_memory=False)  # fmt: skip
    assert row["freed_memory_kept"] is False
    assert row["cpu_ms_per_step"] > 0


def test_bf16_runs_the_step_under_autocast():
    from rnnlab.benchmarks.chars import bf16_vs_fp32

    args = {"hidden": 8, "layers": 1, "batch": 2, "bptt": 4, "steps": 1, "warmup": 0}
    fp32, bf16 = chars_per_second(**args), chars_per_second(bf16=True, **args)
    assert fp32["precision"] == "32" and bf16["precision"] == "bf16-mixed"
    assert bf16["last_loss"] != fp32["last_loss"]  # same seed: only the rounding differs
    assert abs(bf16["last_loss"] - fp32["last_loss"]) < 0.05
    row = bf16_vs_fp32(repeats=1, **args)
    assert row["fp32_chars_per_second"] > 0 and row["bf16_chars_per_second"] > 0
