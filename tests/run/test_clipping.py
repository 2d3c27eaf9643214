"""Gradient clipping by norm 1.0 is on by default (``conf/trainer/default.yaml``)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

import rnnlab.run.build as build
from rnnlab.run.job import train

from helpers import FAST, make_config

# Un-normalised waves of amplitude 20-30: the MSE gradient is far above norm 1.
LOUD = [*FAST, "data.normalize=false", "data.amplitude_range=[20,30]", "trainer.max_epochs=1",
        "trainer.limit_train_batches=4", "trainer.limit_val_batches=1", "test=false",
        "callbacks.test_figures=null"]  # fmt: skip


def grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm())


class GradNorms(pl.Callback):
    """The gradient norm before Lightning clips it and as the optimizer used it."""

    def __init__(self) -> None:
        self.raw: list[float] = []
        self.used: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.raw.append(grad_norm(pl_module))  # Lightning clips right after this hook

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.used.append(grad_norm(pl_module))  # the gradients the step was taken with


def run_with_norms(tmp_path, monkeypatch, overrides: list[str]) -> GradNorms:
    norms = GradNorms()
    original = build.build_callbacks
    monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), norms])
    train(make_config(tmp_path, overrides), tmp_path)
    assert len(norms.raw) == len(norms.used) == 4
    return norms


def test_default_config_clips_gradients_by_norm_one(tmp_path, monkeypatch):
    cfg = make_config(tmp_path, [])
    assert cfg.trainer.gradient_clip_val == 1.0 and cfg.trainer.gradient_clip_algorithm == "norm"
    norms = run_with_norms(tmp_path, monkeypatch, LOUD)
    assert min(norms.raw) > 5  # the test needs gradients that clipping changes
    assert norms.used == pytest.approx([1.0] * 4, rel=1e-4)


def test_clipping_can_be_turned_off(tmp_path, monkeypatch):
    norms = run_with_norms(tmp_path, monkeypatch, [*LOUD, "trainer.gradient_clip_val=null"])
    assert norms.used == pytest.approx(norms.raw, rel=1e-6)
    assert min(norms.used) > 5


def test_a_fused_optimizer_under_bfloat16_autocast_is_clipped(tmp_path, monkeypatch):
    """Lightning refuses clipping before a fused step under any mixed precision; bfloat16
    has no gradient scaler, so rnnlab clips there as in float32."""
    fused = ["optimizer=adamw", "+optimizer.fused=true", "trainer.precision=bf16-mixed"]
    norms = run_with_norms(tmp_path, monkeypatch, [*LOUD, *fused])
    assert min(norms.raw) > 5
    assert norms.used == pytest.approx([1.0] * 4, rel=1e-4)
