"""The batching benchmark runs on a tiny input and reports both paths."""

from __future__ import annotations

from rnnlab.benchmarks.batching import resident_vs_dataloader


def test_resident_vs_dataloader_reports_both_paths():
    r = resident_vs_dataloader(num_examples=300, batch_size=64, hidden_size=8, model_batches=2)
    assert (r["batches"], r["step_batches"], r["threads"]) == (5, 2, 1)
    assert r["resident_s"] > 0 and r["dataloader_s"] > 0
    assert r["ratio"] == r["resident_s"] / r["dataloader_s"]
    assert r["step_ratio"] == r["resident_step_s"] / r["dataloader_step_s"]
