"""The benchmark functions time what they say: a contender slowed down by a known delay
shows it in its own column, and in the ratio's direction, on tiny sizes."""

from __future__ import annotations

import time

import pytest
import torch

import rnnlab.benchmarks.batching as batching
from rnnlab.benchmarks.batching import resident_vs_dataloader
from rnnlab.benchmarks.cells import modern_vs_gru, padded_vs_fixed, scan_vs_gru, scratch_vs_torch
from rnnlab.benchmarks.chars import chars_per_second
from rnnlab.data.batching import IndexBatches
from rnnlab.nn.minimal import MinLSTM
from rnnlab.nn.s6 import S6
from rnnlab.nn.scan import DEFAULT_CHUNK
from rnnlab.nn.scratch import SCRATCH

DELAY = 0.05  # seconds: far above what the tiny contenders take


def slowed(method):
    def wrapper(*args, **kwargs):
        time.sleep(DELAY)
        return method(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_scratch_vs_torch_times_each_side(monkeypatch, cell):
    monkeypatch.setattr(SCRATCH[cell], "forward", slowed(SCRATCH[cell].forward))
    r = scratch_vs_torch(cell, batch=2, steps=3, hidden=4, input_size=3, repeats=3, warmup=1,
                         num_threads=1)  # fmt: skip
    assert r["scratch_s"] >= DELAY > r["torch_s"]
    assert r["ratio"] > 1  # scratch_s over torch_s: above 1 when scratch is the slower
    assert (r["cell"], r["steps"], r["hidden"], r["threads"]) == (cell, 3, 4, 1)


def test_modern_vs_gru_times_each_cell(monkeypatch):
    monkeypatch.setattr(S6, "forward", slowed(S6.forward))
    r = modern_vs_gru(seq_len=16, batch=2, hidden=4, input_size=3, num_heads=2, repeats=2,
                      num_threads=1)  # fmt: skip
    assert r["s6_s"] >= DELAY > max(r["gru_s"], r["lru_s"], r["slstm_s"], r["mlstm_s"])
    assert r["speedup_s6"] < min(r["speedup_lru"], r["speedup_slstm"], r["speedup_mlstm"])
    assert (r["seq_len"], r["threads"], r["hidden"]) == (16, 1, 4)


def test_scan_vs_gru_times_each_contender(monkeypatch):
    monkeypatch.setattr(MinLSTM, "forward", slowed(MinLSTM.forward))
    r = scan_vs_gru(seq_len=16, batch=2, hidden=4, input_size=3, repeats=2, num_threads=1)
    assert r["minlstm_s"] >= DELAY
    assert max(r["gru_s"], r["mingru_s"], r["mingru_log_s"]) < DELAY
    # each speedup is gru_s over that contender: below 1 for the slowed one only
    assert r["speedup_minlstm"] < 1
    assert r["speedup_minlstm"] < min(r["speedup"], r["speedup_log"])
    assert (r["seq_len"], r["threads"], r["chunk"]) == (16, 1, DEFAULT_CHUNK)


def test_padded_vs_fixed_times_each_path(monkeypatch):
    import rnnlab.nn.stacking as stacking

    monkeypatch.setattr(stacking, "pack_padded_sequence", slowed(stacking.pack_padded_sequence))
    r = padded_vs_fixed(batch=4, steps=6, hidden=4, input_size=3, repeats=3, warmup=1,
                        num_threads=1)  # fmt: skip
    assert r["torch_padded_s"] >= DELAY
    assert max(r["torch_fixed_s"], r["scratch_fixed_s"], r["scratch_padded_s"]) < DELAY
    assert r["torch_ratio"] > max(1, r["scratch_ratio"])  # padded over fixed
    assert (r["steps"], r["threads"], r["real_steps"]) == (6, 1, 0.75)  # lengths 3, 4, 5, 6


def test_resident_vs_dataloader_times_each_path(monkeypatch):
    class SlowIndexBatches(IndexBatches):
        def __iter__(self):
            for batch in super().__iter__():
                time.sleep(DELAY)
                yield batch

    monkeypatch.setattr(batching, "IndexBatches", SlowIndexBatches)
    r = resident_vs_dataloader(num_examples=300, batch_size=64, hidden_size=8, model_batches=2)
    assert (r["batches"], r["step_batches"], r["threads"]) == (5, 2, 1)  # ceil(300 / 64)
    assert r["resident_s"] >= 5 * DELAY > r["dataloader_s"]
    assert r["ratio"] > 1  # resident over DataLoader: above 1 when resident is the slower
    assert r["resident_step_s"] >= 2 * DELAY and r["step_ratio"] > 1


def test_chars_per_second_counts_characters_of_the_timed_steps(monkeypatch):
    monkeypatch.setattr(torch.optim.Adam, "step", slowed(torch.optim.Adam.step))
    r = chars_per_second(hidden=8, layers=1, batch=4, bptt=5, steps=2, warmup=1, vocab_size=10,
                         embedding_dim=4)  # fmt: skip
    assert r["step_ms"] >= 1000 * DELAY
    assert r["chars_per_second"] <= 4 * 5 / DELAY  # 20 characters per step at most
    assert r["chars_per_second"] * r["step_ms"] / 1000 == pytest.approx(4 * 5)
    # embedding + one LSTM layer + head, counted by hand
    lstm = 4 * (4 * 8 + 8 * 8 + 2 * 8)
    assert r["params"] == 10 * 4 + lstm + 8 * 10 + 10
