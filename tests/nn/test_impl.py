"""The two implementations of a stack are one network: same seed, same weights, same run."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.nn.recurrent import TORCH_CELLS, RecurrentStack
from rnnlab.nn.scratch import SCRATCH
from rnnlab.run.build import build_datamodule, build_task
from rnnlab.run.job import train

from helpers import FAST, make_config


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_same_seed_builds_the_same_stack_in_both_impls(cell):
    stacks = {}
    for impl in ("torch", "scratch"):
        torch.manual_seed(3)
        stacks[impl] = RecurrentStack(
            4, cell=cell, hidden_size=8, num_layers=2, bidirectional=True, impl=impl
        )
    a, b = (s.state_dict() for s in stacks.values())
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(3, 5, 4)
    assert torch.allclose(stacks["torch"].encode(x), stacks["scratch"].encode(x), atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_training_run_matches_across_impls(tmp_path, cell):
    metrics = {}
    for impl in ("torch", "scratch"):
        out = tmp_path / impl
        cfg = make_config(out, [*FAST, f"model={cell}", f"model.impl={impl}", "seed=5"])
        metrics[impl] = train(cfg, out)
        layers = build_task(cfg, build_datamodule(cfg)).rnn.layers  # what the run trained
        assert type(layers) is (SCRATCH if impl == "scratch" else TORCH_CELLS)[cell]
    for key in ("train/loss", "val/loss", "test/mse", "test/rollout_mse"):
        assert metrics["scratch"][key] == pytest.approx(
            metrics["torch"][key], rel=1e-4, abs=1e-6
        ), key


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_rnns_train(tmp_path, cell):
    metrics = train(make_config(tmp_path, [*FAST, f"model={cell}", "model.num_layers=2"]), tmp_path)
    assert math.isfinite(metrics["test/mse"])
    assert metrics["model/params"] > 0
