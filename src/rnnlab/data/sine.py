"""Sine-wave forecasting, generated in memory from a seed.

Each series is ``a * sin(2π f t + φ) + noise`` with ``f``, ``φ`` and ``a`` drawn per
series. Series, not windows, are split between train, val and test, so no part of a
test series was ever seen in training. A window of ``window`` steps is followed by
``horizon`` target steps; training and the one-step metrics use the first target,
the free-running rollout uses all of them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.options import SineOptions


class SineDataModule(TensorDataModule):
    """Noisy sine waves for next-step forecasting.

    Args:
        num_series: series generated in all, split by ``val_fraction``/``test_fraction``.
        length: steps per series.
        window: input steps per example.
        horizon: target steps after each window (1 for pure one-step forecasting).
        stride: step between consecutive windows of a series (sequential sampling).
        sampling: ``sequential`` (every sliding window once per epoch, shuffled) or
            ``random`` (``windows_per_epoch`` windows at random series and offsets).
        windows_per_epoch: windows per epoch for random sampling (default: as many
            as sequential sampling would give).
        freq_range, phase_range, amplitude_range: uniform ranges per series; frequency
            in cycles per step.
        noise: standard deviation of additive Gaussian noise.
        normalize: standardise with the training split's mean and std.
    """

    batch_format = "forecast"
    input_size = 1
    num_outputs = 1

    Options = SineOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.split_sizes = self.options.split_counts()
        self.series: dict[str, Tensor] = {}
        self.mean, self.std = 0.0, 1.0

    def generate(self) -> dict[str, Tensor]:
        """All series, split by series, on the CPU (deterministic in ``seed``)."""
        g = torch.Generator().manual_seed(self.seed)
        n = self.num_series

        def uniform(low_high: tuple[float, float]) -> Tensor:
            low, high = low_high
            return low + (high - low) * torch.rand(n, 1, generator=g, dtype=torch.float64)

        freq, phase, amp = (
            uniform(self.freq_range),
            uniform(self.phase_range),
            uniform(self.amplitude_range),
        )
        t = torch.arange(self.length, dtype=torch.float64)
        series = amp * torch.sin(2 * math.pi * freq * t + phase)
        series += self.noise * torch.randn(n, self.length, generator=g, dtype=torch.float64)
        order = torch.randperm(n, generator=g)
        parts = torch.split(order, self.split_sizes)
        return {
            name: series[idx].float()
            for name, idx in zip(("train", "val", "test"), parts, strict=True)
        }

    def setup(self, stage: str | None = None) -> None:
        if self.series:
            return
        series = self.generate()
        if self.normalize:
            self.mean, self.std = series["train"].mean().item(), series["train"].std().item()
        self.series = {k: ((v - self.mean) / self.std).to(self.device) for k, v in series.items()}

    @property
    def windows_per_series(self) -> int:
        return (self.length - self.window - self.horizon) // self.stride + 1

    def _windows(self, split: str, stride: int):
        series = self.series[split]
        per_series = (self.length - self.window - self.horizon) // stride + 1
        offsets = torch.arange(self.window + self.horizon, device=series.device)

        def make_batch(idx: Tensor) -> tuple[Tensor, Tensor]:
            rows, starts = idx // per_series, (idx % per_series) * stride
            w = series[rows[:, None], starts[:, None] + offsets].unsqueeze(-1)
            return w[:, : self.window], w[:, self.window :]

        return len(series) * per_series, make_batch

    def split_batches(self, split: str) -> IndexBatches:
        if split == "train" and self.sampling == "random":
            size, make_batch = self._windows("train", stride=1)
            per_epoch = self.windows_per_epoch or self.split_sizes[0] * self.windows_per_series
            return self.batches(
                size, make_batch, train=True, num_samples=per_epoch, replacement=True
            )
        return self.batches(*self._windows(split, self.stride), train=split == "train")

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}
