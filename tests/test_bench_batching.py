"""The batching benchmark runs on a tiny input and reports both paths."""

from __future__ import annotations

from rnnlab.benchmarks.batching import resident_vs_dataloader


def test_resident_vs_dataloader_reports_both_paths():
    result = resident_vs_dataloader(num_examples=300, batch_size=64, with_model=True, hidden_size=8)
    assert result["batches"] == 5
    assert result["resident_s"] > 0 and result["dataloader_s"] > 0
    assert result["speedup"] == result["dataloader_s"] / result["resident_s"]
    assert result["threads"] >= 1
