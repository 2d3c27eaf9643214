"""Sine waves: the drawn ranges, the split by series, train-only normalisation, sampling."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.data.sine import SineDataModule

SMALL = {"num_series": 40, "length": 64, "window": 8, "horizon": 3, "batch_size": 16, "seed": 5}


def sine(**kwargs) -> SineDataModule:
    dm = SineDataModule(**{**SMALL, **kwargs})
    dm.setup()
    return dm


def windows(dm: SineDataModule, split: str = "train") -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}
    return [(x[i, :, 0], y[i, :, 0]) for x, y in loader[split]() for i in range(len(x))]


def locate(dm: SineDataModule, split: str, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(series, start) of the window ``x`` followed by ``y`` in ``split``; exactly one."""
    n = len(x) + len(y)
    all_windows = dm.series[split].unfold(1, n, 1)  # [series, start, n]
    match = (all_windows == torch.cat([x, y])).all(dim=-1).nonzero().tolist()
    found = [tuple(m) for m in match]
    assert len(found) == 1, found
    return found[0]


def test_values_follow_the_drawn_frequency_phase_and_amplitude():
    dm = sine(noise=0.0, normalize=False, phase_range=(0.0, 0.0), length=200)
    every = torch.cat([dm.series[s] for s in ("train", "val", "test")])
    assert every.shape == (40, 200)
    assert torch.all(every[:, 0].abs() < 1e-6)  # phase 0: every wave starts at 0
    peaks = every.abs().amax(dim=1)
    # >= 10 samples per cycle (f <= 0.1): the largest sample is within cos(pi/10) of a
    assert torch.all(peaks <= 1.5 + 1e-5) and torch.all(peaks >= 0.5 * math.cos(math.pi / 10))
    spectrum = torch.fft.rfft(every.double(), n=4000).abs()
    freq = spectrum.argmax(dim=1).double() / 4000  # cycles per step
    assert torch.all(freq >= 0.02 - 1 / 200) and torch.all(freq <= 0.1 + 1 / 200)
    assert freq.std() > 0.01  # drawn per series, not one frequency for all


def test_noise_has_the_configured_standard_deviation():
    kw = {"normalize": False, "freq_range": (0.05, 0.05), "phase_range": (1.0, 1.0),
          "amplitude_range": (1.0, 1.0), "num_series": 50, "length": 400}  # fmt: skip
    clean = torch.cat(list(sine(noise=0.0, **kw).series.values()))
    noisy = torch.cat(list(sine(noise=0.2, **kw).series.values()))
    expected = torch.sin(2 * math.pi * 0.05 * torch.arange(400) + 1.0)
    assert torch.allclose(clean, expected.expand_as(clean), atol=1e-5)
    assert (noisy - clean).std().item() == pytest.approx(0.2, rel=0.03)


def test_series_are_split_whole_with_none_shared():
    dm = sine(normalize=False, val_fraction=0.2, test_fraction=0.1)
    sizes = {k: len(v) for k, v in dm.series.items()}
    assert sizes == {"train": 28, "val": 8, "test": 4} and dm.split_sizes == (28, 8, 4)
    rows = [tuple(r.tolist()) for s in ("train", "val", "test") for r in dm.series[s]]
    assert len(set(rows)) == 40  # every series in exactly one split
    for split in ("val", "test"):  # every window of val/test comes from its own split only
        for x, y in windows(dm, split):
            row, _ = locate(dm, split, x, y)
            assert row < sizes[split]


def test_normalised_with_training_statistics_only():
    raw, norm = sine(normalize=False), sine(normalize=True)
    train = raw.series["train"]
    assert norm.mean == pytest.approx(train.mean().item(), abs=1e-6)
    assert norm.std == pytest.approx(train.std().item(), rel=1e-6)
    everything = torch.cat(list(raw.series.values()))
    assert abs(norm.std - everything.std().item()) > 1e-4  # the test can tell them apart
    for split in ("train", "val", "test"):  # one transform for every split
        back = norm.series[split] * norm.std + norm.mean
        assert torch.allclose(back, raw.series[split], atol=1e-5), split
    assert norm.series["train"].mean().abs() < 1e-5
    assert norm.series["train"].std().item() == pytest.approx(1.0, rel=1e-5)
    assert norm.state_dict() == {"mean": norm.mean, "std": norm.std}


@pytest.mark.parametrize("stride", [1, 3])
def test_sequential_epoch_visits_every_window_once_with_the_stride(stride):
    dm = sine(stride=stride)
    per_series = (64 - 8 - 3) // stride + 1
    assert dm.windows_per_series == per_series
    seen = [locate(dm, "train", x, y) for x, y in windows(dm)]
    expected = {(row, k * stride) for row in range(dm.split_sizes[0]) for k in range(per_series)}
    assert sorted(seen) == sorted(expected)  # each window once: no repeats, none missing
    assert len(dm.train_dataloader()) == math.ceil(len(expected) / 16)
    val = [locate(dm, "val", x, y) for x, y in windows(dm, "val")]
    assert sorted(val) == sorted((r, k * stride) for r in range(4) for k in range(per_series))


def test_targets_are_the_steps_after_the_window():
    dm = sine()
    (x, y), *_ = next(iter(dm.train_dataloader())), None
    assert x.shape == (16, 8, 1) and y.shape == (16, 3, 1)
    for i in range(16):
        row, start = locate(dm, "train", x[i, :, 0], y[i, :, 0])
        assert torch.equal(dm.series["train"][row, start + 8 : start + 11], y[i, :, 0])


def test_random_sampling_draws_windows_per_epoch_at_any_offset():
    dm = sine(sampling="random", windows_per_epoch=200, stride=4)
    drawn = [locate(dm, "train", x, y) for x, y in windows(dm)]
    assert len(drawn) == 200 and len(dm.train_dataloader()) == math.ceil(200 / 16)
    starts = {start for _, start in drawn}
    assert any(s % 4 for s in starts)  # offsets are not restricted to the stride
    assert len({row for row, _ in drawn}) == dm.split_sizes[0]  # every series can be drawn
    assert len(set(drawn)) < 200  # drawn with replacement
    again = [locate(dm, "train", x, y) for x, y in windows(dm)]
    assert again == drawn  # the same seed and epoch draw the same windows
    default = sine(sampling="random")
    assert sum(len(x) for x, _ in default.train_dataloader()) == 32 * default.windows_per_series


def test_same_seed_same_series_other_seed_other_series():
    a, b, c = sine(seed=1), sine(seed=1), sine(seed=2)
    assert all(torch.equal(a.series[k], b.series[k]) for k in a.series)
    assert not torch.equal(a.series["train"], c.series["train"])
