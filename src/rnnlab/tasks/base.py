"""Behaviour every task shares: the recurrent stack, the loss and metric bookkeeping,
the optimiser and scheduler, the finite-loss check, and what a checkpoint needs.

A task adds a head, a loss and its torchmetrics (``stage_metrics``) and implements
``step``. Everything needed to rebuild it (model, optimiser and scheduler configs, what the
datamodule stated) is saved as hyper-parameters, so a checkpoint alone is enough to
evaluate or sample.

Cost per training step is kept to what a hand-written loop pays: metrics are updated on
the device every step and computed once per epoch; ``self.log`` is called per step only
when Lightning sends values to the loggers; the loss is checked for NaN/inf on the device
and read back only on that cadence on an accelerator (every step on a CPU, where reading
is free), with the exact step of the first bad value reported.

The module is one class, the base of every task, and longer than most (about 270 lines):
its parts call each other through ``self``, and splitting them into mixins would make a
reader follow one training step across files.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, MetricCollection

from rnnlab.compat.lightning import logs_this_step
from rnnlab.errors import config_group
from rnnlab.nn.options import stack_options
from rnnlab.nn.recurrent import RecurrentStack, State, count_parameters

# ModuleDict keys of per-stage metrics carry a suffix: "train" would shadow Module.train.
STAGES = ("train", "val", "test")


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def run_length(trainer: pl.Trainer, by_step: bool) -> int:
    """A run's length for a schedule sized by it (``T_max: auto``): its optimizer steps
    (``by_step``) or its epochs; at least 1, and 1 for a run without an end."""
    value = trainer.estimated_stepping_batches if by_step else trainer.max_epochs
    return max(int(value), 1) if math.isfinite(value) else 1


class BaseTask(pl.LightningModule):
    """Base LightningModule: subclasses build ``self.head``, ``stage_metrics`` and ``step``.

    Args:
        model: keyword arguments of ``RecurrentStack`` (cell, hidden_size, ...).
        input_size: features per time step given to the stack.
        num_outputs: outputs of the head, as stated by the datamodule.
        optimizer: Hydra config of a partial optimiser (``_partial_: true``).
        scheduler: Hydra config of a partial LR scheduler, or None; ``monitor`` and
            ``interval`` keys, when present, tell Lightning how to step it.
        run_config: the whole resolved run config, kept for evaluation and loggers.
        task_options: a subclass's own arguments, saved beside these so that
            ``load_from_checkpoint`` passes them back to it.
    """

    # How the batches this task reads are laid out; a datamodule states the same.
    batch_format: ClassVar[str] = ""
    # Parts of a batch before the optional sequence lengths (``(x, y)``: 2).
    batch_fields: ClassVar[int] = 2
    # Metrics a task logs besides the per-stage ones, with which way is better.
    extra_metrics: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        model: dict[str, Any],
        input_size: int,
        num_outputs: int,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        run_config: dict[str, Any] | None = None,
        task_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                **(task_options or {}),
                "model": _plain(model),
                "input_size": input_size,
                "num_outputs": num_outputs,
                "optimizer": _plain(optimizer),
                "scheduler": _plain(scheduler),
                "run_config": _plain(run_config),
            },
            logger=False,  # the run's whole config is logged, flattened, by the run itself
        )
        with config_group("model"):
            self.rnn = RecurrentStack(
                input_size=self.encoder_size(input_size), **self.hparams.model
            )
        # a NaN loss must reach */loss (and the job's finite check), not be dropped: NaN is
        # "replaced" by NaN ("disable" would also drop the batch-size weights)
        self.losses = nn.ModuleDict(
            {f"{s}_": MeanMetric(nan_strategy=float("nan")) for s in STAGES}
        )
        self.register_buffer("_bad_step", torch.tensor(-1), persistent=False)

    def setup_metrics(self) -> None:
        """Build ``self.metrics`` from ``stage_metrics``; training ones travel in checkpoints,
        so the epoch means of an interrupted epoch survive a resume. Subclasses call it
        at the end of their constructor."""
        self.metrics = nn.ModuleDict(
            {f"{s}_": MetricCollection(self.stage_metrics(), prefix=f"{s}/") for s in STAGES}
        )
        for metric in [self.losses["train_"], *self.metrics["train_"].values()]:
            metric.persistent(True)

    def stage_metrics(self) -> dict[str, Metric]:
        """The task's metrics for one stage, by name (``mse``, ``acc``, ...)."""
        return {}

    def encoder_size(self, input_size: int) -> int:
        """Features the stack reads per step; a task with an embedding overrides this."""
        return input_size

    def stack_inputs(self, x: Tensor) -> Tensor:
        """What the recurrent stack reads for inputs ``x`` (an embedding, for ids)."""
        return x

    @property
    def num_parameters(self) -> int:
        return count_parameters(self)

    # -- what the run reads from a task --------------------------------------------------
    def logged_metrics(self) -> list[str]:
        """Every metric name this task logs (what a ``monitor`` may name)."""
        names = [f"{s}/loss" for s in STAGES]
        for s in STAGES:
            names += list(self.metrics[f"{s}_"].keys())
        return names + ["train/lr", *self.extra_metrics]

    def metric_directions(self) -> dict[str, str]:
        """``higher`` or ``lower`` is better, per metric, from the metrics themselves."""
        directions = {f"{s}/loss": "lower" for s in STAGES}
        for s in STAGES:
            for name, metric in self.metrics[f"{s}_"].items():
                if metric.higher_is_better is not None:
                    directions[name] = "higher" if metric.higher_is_better else "lower"
        return {**directions, **self.extra_metrics}

    def better(self, metric: str) -> str:
        """``lower`` or ``higher``: which way ``metric`` is better (``val/loss_best`` as
        ``val/loss``); what every monitor of it takes its ``mode`` from."""
        return self.metric_directions().get(metric.removesuffix("_best"), "lower")

    def run_summary(self) -> str:
        """``lstm, 64 units × 2 layers, bidirectional, init=chrono, seed 42``: what a figure's
        reader needs to know about the run, who did not launch it."""
        model = stack_options(self.hparams.model)  # unset keys at their declared defaults
        layers = model.num_layers
        parts = [model.cell,
                 f"{model.hidden_size} units × {layers} layer{'s' if layers > 1 else ''}"]  # fmt: skip
        if model.bidirectional:
            parts.append("bidirectional")
        if model.nonlinearity != "tanh":
            parts.append(model.nonlinearity)
        if model.init != "default":
            parts.append(f"init={model.init}")
        seed = (self.hparams.get("run_config") or {}).get("seed")
        if seed is not None:
            parts.append(f"seed {seed}")
        return ", ".join(parts)

    def test_figures(self) -> dict[str, Any]:
        """Matplotlib figures of the test set, by name; none by default."""
        return {}

    # -- steps ---------------------------------------------------------------------------
    def step(self, batch: Any, stage: str) -> Tensor:
        """Compute the mean loss of the batch and update ``stage`` metrics; return the loss."""
        raise NotImplementedError

    def lengths_of(self, batch: Any) -> Tensor | None:
        """The sequence lengths ``[B]`` a batch carries after its ``batch_fields`` parts
        (``(x, y, lengths)``), or None for a fixed-length batch, whose sequences are full."""
        return batch[self.batch_fields] if len(batch) > self.batch_fields else None

    @staticmethod
    def batch_size(batch: Any) -> int:
        """Weight of a batch in the epoch mean of ``*/loss``."""
        return len(batch[0])

    def _record(self, stage: str, loss: Tensor, batch: Any) -> None:
        self.losses[f"{stage}_"].update(loss.detach(), self.batch_size(batch))

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.step(batch, "train")
        self._check_finite(loss, batch_idx)
        self._record("train", loss, batch)
        if logs_this_step(self.trainer):
            self.log("train/loss_step", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._record("val", self.step(batch, "val"), batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._record("test", self.step(batch, "test"), batch)

    def _log_epoch(self, stage: str) -> None:
        """Compute the stage's metrics once, log the values, reset for the next epoch (each
        metric object given to ``self.log`` would cost Lightning a walk over its state)."""
        losses, metrics = self.losses[f"{stage}_"], self.metrics[f"{stage}_"]
        values = {f"{stage}/loss": losses.compute(), **metrics.compute()}
        losses.reset()
        metrics.reset()
        for name, value in values.items():
            self.log(name, value, prog_bar=name == "val/loss")

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")
        self.log("train/lr", float(self.optimizers().param_groups[0]["lr"]))

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._log_epoch("val")
        else:  # a sanity pass must not count
            self.losses["val_"].reset()
            self.metrics["val_"].reset()

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        """rnnlab's batches are built on the training device (``IndexBatches``): skip the
        walk over the batch that moving it would cost every step."""
        first = batch[0] if isinstance(batch, (tuple, list)) and batch else None
        if torch.is_tensor(first) and first.device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # -- numerical faults ----------------------------------------------------------------
    def _check_finite(self, loss: Tensor, batch_idx: int) -> None:
        """Stop at a non-finite loss. On a CPU reading the loss is free: check every step.
        Elsewhere record the first bad step on the device and read it back only when
        Lightning logs anyway (and before any checkpoint is saved)."""
        bad = ~torch.isfinite(loss.detach())
        if self.device.type == "cpu" and self.trainer.world_size == 1:
            if bad:
                self._bad_step.fill_(self.global_step)
                self.raise_if_non_finite()
            return
        step = torch.full_like(self._bad_step, self.global_step)  # where() takes no int here
        torch.where(bad & (self._bad_step < 0), step, self._bad_step, out=self._bad_step)
        if logs_this_step(self.trainer):
            self.raise_if_non_finite()

    def raise_if_non_finite(self) -> None:
        """Stop with the step of the first NaN/inf loss; every DDP rank stops together."""
        step = int(self._bad_step)
        if self.trainer.world_size > 1:
            step = int(
                self.trainer.strategy.reduce(
                    torch.tensor(step, device=self.device), reduce_op="max"
                )
            )
        if step >= 0:
            raise NonFiniteLossError(
                f"train/loss is not finite at global step {step} "
                f"(epoch {self.current_epoch})"  # the job adds the likely cause it saw
            )

    def on_train_epoch_start(self) -> None:
        self._bad_step.fill_(-1)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.trainer.training:  # never save the state that follows a NaN loss
            self.raise_if_non_finite()
        # which entries are weights, for the checkpoint writer's finite-weights guard
        checkpoint["parameter_keys"] = [name for name, _ in self.named_parameters()]

    # -- optimisation ----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        with config_group("optimizer"):
            optimizer = instantiate(self.hparams.optimizer)(params=self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        cfg = dict(self.hparams.scheduler)
        monitor, interval = cfg.pop("monitor", "val/loss"), cfg.pop("interval", "epoch")
        if "mode" in cfg and cfg["mode"] is None:  # which way is better: the metric says
            cfg["mode"] = "max" if self.better(monitor) == "higher" else "min"
        cfg = self._fill_total_steps(cfg, interval)
        with config_group("scheduler"):
            scheduler = instantiate(cfg)(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "interval": interval},
        }

    def _fill_total_steps(self, cfg: dict[str, Any], interval: str = "epoch") -> dict[str, Any]:
        """Schedulers that need the run's length get it from the trainer (``T_max: auto``), in
        the units the scheduler steps in: optimizer steps for ``interval: step`` (and for
        ``total_steps``, which counts them), epochs otherwise."""
        for key in ("T_max", "total_steps"):
            if cfg.get(key) == "auto":
                epochs = self.trainer.max_epochs
                by_step = key == "total_steps" or interval == "step" or epochs in (None, -1)
                cfg[key] = run_length(self.trainer, by_step)
        return cfg

    # -- gradient diagnostics ----------------------------------------------------------------
    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        """The loss of ``batch`` from the stack's per-step ``outputs`` and final ``state``
        (``rnnlab.callbacks.gradient_flow`` differentiates it with respect to every h_t)."""
        raise NotImplementedError

    def marked_steps(self, batch: Any) -> Tensor | None:
        """``[B, T]`` booleans: the input steps whose content the loss depends on, if known."""
        return None
