"""Lightning's training loop against a hand-written PyTorch loop on the same work.

Both sides train the same ``RegressionTask`` (same initial weights) on the same sine
batches (``IndexBatches``, same permutation per epoch) with the same Adam optimiser.
Per step both do forward, loss, the task's torchmetrics update, backward and step;
Lightning adds its loop, hooks and ``self.log``. No logger, checkpointing, progress
bar, validation or gradient clipping on either side. The first epoch warms up and is
not timed; the reported time is the median over the timed epochs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import lightning.pytorch as pl
import torch

from rnnlab.data.batching import IndexBatches
from rnnlab.data.sine import SineDataModule
from rnnlab.tasks.regress import RegressionTask


class _EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self._start)


def _make(
    hidden_size: int, data: dict[str, Any], seed: int
) -> tuple[SineDataModule, RegressionTask]:
    torch.manual_seed(seed)
    dm = SineDataModule(seed=seed, **data)
    model = {"cell": "lstm", "hidden_size": hidden_size, "num_layers": 1, "impl": "torch"}
    optimizer = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
    task = RegressionTask(model=model, input_size=1, num_outputs=1, optimizer=optimizer)
    return dm, task


def _plain_epochs(
    dm: SineDataModule, task: RegressionTask, epochs: int, device: torch.device
) -> list[float]:
    """The same training steps written out by hand; seconds per epoch."""
    dm.setup("fit")
    size, make_batch = dm._windows("train", dm.stride)
    task.to(device).train()
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    metrics = task.metrics["train_"]
    seconds = []
    for epoch in range(epochs):
        batches = IndexBatches(size, make_batch, dm.batch_size, device=device, shuffle=True,
                               seed=dm.seed, epoch=lambda e=epoch: e)  # fmt: skip
        start = time.perf_counter()
        for window, targets in batches:
            pred = task(window)
            loss = task.loss_fn(pred, targets[:, 0])
            metrics.update(pred, targets[:, 0])  # as the task's step does
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        metrics.compute()
        metrics.reset()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def lightning_vs_plain(
    device: str = "cpu",
    quick: bool = True,
    epochs: int | None = None,
    hidden_size: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per training epoch under Lightning and under a plain loop, and their ratio."""
    epochs = epochs or (3 if quick else 10)
    hidden_size = hidden_size or (64 if quick else 256)
    data = {"num_series": 96, "length": 128, "window": 24, "horizon": 12, "stride": 2,
            "batch_size": 256, "noise": 0.01}  # fmt: skip
    if not quick:
        data.update(num_series=2048, length=256, window=64)
    dev = torch.device(device)
    runs = epochs + 1  # one warm-up epoch, not timed

    dm, task = _make(hidden_size, data, seed)
    initial = {k: v.clone() for k, v in task.state_dict().items()}
    timer = _EpochTimer()
    trainer = pl.Trainer(
        accelerator="gpu" if dev.type == "cuda" else "cpu", devices=1, max_epochs=runs,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[timer],
    )  # fmt: skip
    trainer.fit(task, datamodule=dm)
    lightning_s = statistics.median(timer.seconds[1:])

    dm2, task2 = _make(hidden_size, data, seed)
    task2.load_state_dict(initial)
    plain_s = statistics.median(_plain_epochs(dm2, task2, runs, dev)[1:])
    return {
        "name": "lightning_vs_plain",
        "lightning_s_per_epoch": lightning_s,
        "plain_s_per_epoch": plain_s,
        "ratio": lightning_s / plain_s,
        "overhead_s_per_epoch": lightning_s - plain_s,
        "steps_per_epoch": trainer.num_training_batches,
        "hidden_size": hidden_size,
        "epochs_timed": epochs,
    }
