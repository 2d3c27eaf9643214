"""Lightning's loop against a hand-written PyTorch loop doing the same work.

Both train the default experiment (the LSTM on sine waves, ``conf/train.yaml``) from the
same initial weights on the same batches, with the same features on:

- Lightning: rnnlab's run as ``rnnlab-train`` builds it (task, metrics, per-epoch
  validation, cosine schedule, gradient clipping, the finite-loss check, the CSV logger,
  the best and last checkpoints), without the progress bar and model summary, which a
  benchmark has no screen for.
- Plain: forward, loss, the task's metric updates, backward, clipping, Adam, the cosine
  step, a NaN check of the loss, validation every epoch, a CSV row per epoch, the best
  checkpoint when validation improves and the last at the end.

Their final ``val/loss`` must agree (to 6 significant digits), so the two did the same
work. A third contender shows Lightning's own floor: a bare LightningModule that only
computes the loss (no metrics, callbacks or logger) on the same batches. The three are run
in turn, ``repeats`` times each, and the median CPU time of each is used; ``ratio`` is
rnnlab's time over the plain loop's, ``bare_ratio`` the bare module's.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

FAST_SETTINGS = ["trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
                 "callbacks.model_summary=null", "callbacks.test_figures=null",
                 "trainer.accelerator=cpu", "test=false"]  # fmt: skip


def _config(out: Path, epochs: int, hidden: int | None) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from rnnlab.conf import conf_dir, register_resolvers

    register_resolvers()
    overrides = [*FAST_SETTINGS, f"trainer.max_epochs={epochs}", "trainer.deterministic=true"]
    if hidden:
        overrides.append(f"model.hidden_size={hidden}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.data_dir = str(out / "data")
    return cfg


def _lightning(cfg: Any, out: Path) -> tuple[float, float]:
    """Seconds of ``trainer.fit`` of the run rnnlab builds; the final val/loss."""
    import lightning.pytorch as pl

    from rnnlab.run import build, loggers

    pl.seed_everything(cfg.seed, verbose=False)
    dm = build.build_datamodule(cfg)
    task = build.build_task(cfg, dm)
    callbacks = build.build_callbacks(cfg.callbacks, task)
    trainer = build.build_trainer(cfg, callbacks, loggers.build_loggers(cfg.logger))
    started = time.process_time()
    trainer.fit(task, datamodule=dm)
    return time.process_time() - started, float(trainer.callback_metrics["val/loss"])


def _bare(cfg: Any, out: Path) -> tuple[float, float]:
    """Lightning's own cost: the loss alone, no metrics, callbacks or logger."""
    import lightning.pytorch as pl
    from omegaconf import open_dict

    from rnnlab.run import build

    pl.seed_everything(cfg.seed, verbose=False)
    with open_dict(cfg):
        cfg.task._target_ = f"{__name__}.BareTask"
    dm = build.build_datamodule(cfg)
    task = build.build_task(cfg, dm)
    trainer = build.build_trainer(cfg, [], [])
    started = time.process_time()
    trainer.fit(task, datamodule=dm)
    return time.process_time() - started, float("nan")


def _bare_task_class() -> type:
    from rnnlab.tasks.regress import RegressionTask

    class BareTask(RegressionTask):
        """The loss and nothing else (Lightning's floor)."""

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.loss_fn(self(batch[0]), batch[1][:, 0])

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.loss_fn(self(batch[0]), batch[1][:, 0])

        def on_train_epoch_end(self) -> None:
            pass

        def on_validation_epoch_end(self) -> None:
            pass

    return BareTask


def __getattr__(name: str) -> Any:  # BareTask is built on first use: it imports Lightning
    if name == "BareTask":
        return _bare_task_class()
    raise AttributeError(name)


def _plain(cfg: Any, out: Path) -> tuple[float, float]:
    """The same training written out by hand; seconds and the final val/loss."""
    import lightning.pytorch as pl

    from rnnlab.run import build

    pl.seed_everything(cfg.seed, verbose=False)
    dm = build.build_datamodule(cfg)
    task = build.build_task(cfg, dm)
    dm.setup("fit")
    optimizer = torch.optim.Adam(task.parameters(), lr=cfg.optimizer.lr)
    epochs = cfg.trainer.max_epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    clip = cfg.trainer.gradient_clip_val
    best, val_loss = float("inf"), float("nan")
    out.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    with open(out / "plain.csv", "w", newline="") as f:
        rows = csv.writer(f)
        for epoch in range(epochs):
            task.train()
            train_metrics, losses = task.metrics["train_"], task.losses["train_"]
            for window, targets in _batches(dm, "train", epoch):
                pred = task(window)
                loss = task.loss_fn(pred, targets[:, 0])
                if not torch.isfinite(loss):
                    raise FloatingPointError("non-finite loss")
                train_metrics.update(pred, targets[:, 0])
                losses.update(loss.detach(), len(window))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(task.parameters(), clip)
                optimizer.step()
            scheduler.step()
            train = {k: float(v) for k, v in train_metrics.compute().items()}
            train_loss = float(losses.compute())
            train_metrics.reset()
            losses.reset()
            val_loss = _validate(task, dm, epoch)
            rows.writerow([epoch, train_loss, *train.values(), val_loss])
            if val_loss < best:
                best = val_loss
                torch.save({"state_dict": task.state_dict()}, out / "plain-best.ckpt")
        torch.save({"state_dict": task.state_dict(), "optimizer": optimizer.state_dict()},
                   out / "plain-last.ckpt")  # fmt: skip
    return time.process_time() - started, val_loss


def _batches(dm: Any, split: str, epoch: int) -> Any:
    dm._epoch = lambda: epoch  # the same permutation Lightning's epoch counter gives
    return dm.train_dataloader() if split == "train" else dm.val_dataloader()


@torch.no_grad()
def _validate(task: Any, dm: Any, epoch: int) -> float:
    task.eval()
    metrics, losses = task.metrics["val_"], task.losses["val_"]
    for window, targets in _batches(dm, "val", epoch):
        pred = task(window)
        metrics.update(pred, targets[:, 0])
        losses.update(task.loss_fn(pred, targets[:, 0]), len(window))
    metrics.compute()
    value = float(losses.compute())
    metrics.reset()
    losses.reset()
    return value


def lightning_vs_plain(
    device: str = "cpu", quick: bool = True, epochs: int | None = None, repeats: int | None = None,
    hidden_size: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """CPU seconds per epoch of each loop on the default experiment, and their ratio."""
    if device != "cpu":
        return {"status": "skipped: measured on the CPU (the default experiment's device)"}
    epochs = epochs or (5 if quick else 40)
    repeats = repeats or (3 if quick else 5)
    samples: dict[str, list[float]] = {"lightning": [], "plain": [], "bare": []}
    val: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for name, run in (("lightning", _lightning), ("plain", _plain), ("bare", _bare)):
                out = Path(tmp) / f"{name}{i}"
                seconds, val[name] = run(_config(out, epochs, hidden_size), out)
                samples[name].append(seconds / epochs)
    same = f"{val['lightning']:.6g}" == f"{val['plain']:.6g}"
    lightning_s, plain_s, bare_s = (
        statistics.median(samples[k]) for k in ("lightning", "plain", "bare")
    )
    return {
        "lightning_s_per_epoch": round(lightning_s, 4),
        "plain_s_per_epoch": round(plain_s, 4),
        "bare_lightning_s_per_epoch": round(bare_s, 4),
        "ratio": round(lightning_s / plain_s, 3),
        "bare_ratio": round(bare_s / plain_s, 3),
        "val_loss_lightning": val["lightning"],
        "val_loss_plain": val["plain"],
        "same_val_loss": same,
        "epochs": epochs,
        "repeats": repeats,
    }
