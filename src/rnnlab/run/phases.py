"""The Lightning side of a run's lifecycle (``rnnlab.run.lifecycle``): which phase the
trainer is in, numbers that must stay finite, and what a numerical fault was caused by.

``PhaseTracker`` is added to every training run by the job (not a config option):

- it tells ``lifecycle.current`` the phase (sanity_check, train, validate) and the step;
- it stops the run at a non-finite gradient (before the optimizer uses it) or validation
  metric, naming the step and the quantity (``NonFiniteError``, exit 3);
- when a numerical fault ends the run it names the likely cause from what it saw: inputs
  that are constant or not finite, a loss that grew each step before, a learning rate
  beyond float32's range.

On a CPU reading numbers back is free, so gradients and losses are checked every step;
on an accelerator only on the steps Lightning logs (the loss check of
``rnnlab.tasks.base`` and the finite-weights guard of every checkpoint cover the rest).
Under mixed precision non-finite gradients are the loss scaler's business and not checked.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning.pytorch as pl
import torch

from rnnlab.compat.lightning import logs_this_step
from rnnlab.run import lifecycle
from rnnlab.run.lifecycle import NonFiniteError
from rnnlab.run.metrics import floats
from rnnlab.tasks.base import run_length

log = logging.getLogger("rnnlab.run.job")
GROWING_STEPS = 3  # a loss that grew this many steps in a row before a fault: diverging


class PhaseTracker(pl.Callback):
    def __init__(self) -> None:
        self._batch: Any = None
        self._losses: list[float] = []

    def _cheap(self, trainer: pl.Trainer) -> bool:
        return trainer.strategy.root_device.type == "cpu" or logs_this_step(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        replan_schedule(trainer, pl_module)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        lifecycle.current.enter("sanity_check", trainer.global_step)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any,
                             batch_idx: int) -> None:  # fmt: skip
        self._batch = batch  # a reference only: examined when a fault ends the run
        lifecycle.current.enter("train", trainer.global_step)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any,
                           batch: Any, batch_idx: int) -> None:  # fmt: skip
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if torch.is_tensor(loss) and self._cheap(trainer):
            self._losses = [*self._losses[-GROWING_STEPS:], float(loss)]
        lifecycle.current.step = trainer.global_step

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: Any,
                                 optimizer: Any) -> None:  # fmt: skip
        if "16" in str(trainer.precision) or not self._cheap(trainer):
            return
        named = [(n, p.grad) for n, p in pl_module.named_parameters() if p.grad is not None]
        if not named:
            return
        norms = torch._foreach_norm([g for _, g in named])
        if bool(torch.isfinite(torch.stack(norms)).all()):
            return
        bad = [n for (n, _), v in zip(named, norms, strict=True) if not math.isfinite(float(v))]
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise NonFiniteError(
            f"the gradient of {bad[0]}{more} is not finite at global step "
            f"{trainer.global_step} (epoch {trainer.current_epoch})"
        )

    def on_validation_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            lifecycle.current.enter("validate", trainer.global_step)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        values = floats(trainer.callback_metrics)
        lifecycle.current.metrics.update(values)
        lifecycle.check_finite(values, "val/", trainer.global_step, trainer.current_epoch)
        lifecycle.current.enter("train", trainer.global_step)

    def on_exception(self, trainer: pl.Trainer, pl_module: Any, exception: BaseException) -> None:
        if lifecycle.numerical_fault(exception):
            lr = _learning_rate(trainer)
            std = getattr(trainer.datamodule, "std", None)  # what a datamodule standardised by
            lifecycle.current.cause = likely_cause(self._batch, self._losses, lr, std)


def _learning_rate(trainer: pl.Trainer) -> float | None:
    try:
        return float(trainer.optimizers[0].param_groups[0]["lr"])
    except (IndexError, KeyError, AttributeError, TypeError):
        return None


def replan_schedule(trainer: pl.Trainer, pl_module: Any) -> None:
    """A run extended by ``trainer.max_epochs`` re-plans a cosine schedule sized by the run
    (``T_max: auto``) over its new length, in epochs or, stepped every batch, in optimizer
    steps: the learning rate becomes the one a run planned for the new length from the start
    has at this point. (A schedule restored from a
    checkpoint keeps its old ``T_max``, and one that had decayed to ``eta_min`` would
    never rise again.) A one-cycle schedule is refused before the run starts
    (``rnnlab.run.resume.check_extension``)."""
    scheduler_cfg = getattr(pl_module.hparams, "scheduler", None) or {}
    if scheduler_cfg.get("T_max") != "auto" or trainer.max_epochs in (None, -1):
        return
    for config in trainer.lr_scheduler_configs:
        sched = config.scheduler
        by_step = config.interval == "step"
        planned = run_length(trainer, by_step)
        if (
            not isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
            or sched.T_max == planned
        ):
            continue
        epoch, low = sched.last_epoch, sched.eta_min
        lrs = [low + (base - low) * (1 + math.cos(math.pi * epoch / planned)) / 2
               for base in sched.base_lrs]  # fmt: skip
        for group, lr in zip(sched.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        unit = "steps" if by_step else "epochs"
        log.info("cosine schedule re-planned over %d %s (was %d)", planned, unit, sched.T_max)
        sched.T_max, sched._last_lr = planned, lrs


FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def likely_cause(batch: Any, losses: list[float], lr: float | None, std: Any = None) -> str:
    """What a numerical fault most likely came from, from the batch it happened on, the
    losses of the steps before it, the learning rate and the standard deviation the data
    was standardised by."""
    if isinstance(std, (int, float)) and std == 0:
        return (
            "likely cause: the training data is constant (zero variance), so standardising "
            "it divides by 0: check the data's settings (amplitudes, noise)"
        )
    inputs = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if torch.is_tensor(inputs) and inputs.numel():
        x = inputs.detach().float()
        if not bool(torch.isfinite(x).all()):
            return "likely cause: the input batch holds NaN or inf (check the data)"
        if x.numel() > 1 and float(x.max() - x.min()) == 0.0:
            return (
                f"likely cause: the inputs are constant (every value {float(x.flatten()[0]):g}, "
                "zero variance): check the data's settings (amplitudes, noise, the corpus)"
            )
    if lr is not None and lr > FLOAT32_MAX:
        return f"likely cause: optimizer.lr={lr:g} is beyond float32's range ({FLOAT32_MAX:.3g})"
    finite = [v for v in losses if math.isfinite(v)]
    rising = finite[-GROWING_STEPS:]
    if len(rising) == GROWING_STEPS and all(
        b > a for a, b in zip(rising, rising[1:], strict=False)
    ):
        return (
            f"likely cause: the loss grew each step before ({rising[0]:.4g} -> {rising[-1]:.4g}), "
            f"a diverging run: try a lower optimizer.lr (now {lr:g}) or gradient clipping "
            "(trainer.gradient_clip_val)"
            if lr is not None
            else "likely cause: the loss grew each step before: a diverging run"
        )
    if lr is not None:
        return f"the inputs are finite and varied; the learning rate (optimizer.lr={lr:g}) may be too high"
    return "the inputs are finite and varied"
