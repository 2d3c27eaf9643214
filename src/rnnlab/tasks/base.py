"""Behaviour every task shares: the recurrent stack, optimiser, scheduler and logging.

A task adds a head, a loss and its metrics. Everything needed to rebuild it (model,
optimiser and scheduler configs, sizes stated by the datamodule) is saved as
hyper-parameters, so a checkpoint alone is enough to evaluate or sample.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from rnnlab.errors import config_group
from rnnlab.nn.recurrent import RecurrentStack, count_parameters

# ModuleDict keys of per-stage metrics carry a suffix: "train" would shadow Module.train.
STAGES = ("train", "val", "test")


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class BaseTask(pl.LightningModule):
    """Base LightningModule: subclasses build ``self.head`` and implement ``step``.

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
            logger=False,  # the run's whole config is logged, flattened, by the experiment
        )
        with config_group("model"):
            self.rnn = RecurrentStack(
                input_size=self.encoder_size(input_size), **self.hparams.model
            )

    def encoder_size(self, input_size: int) -> int:
        """Features the stack reads per step; a task with an embedding overrides this."""
        return input_size

    @property
    def num_parameters(self) -> int:
        return count_parameters(self)

    # -- steps ---------------------------------------------------------------
    def step(self, batch: Any, stage: str) -> Tensor:
        """Compute the loss, update ``stage`` metrics, return the loss."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.step(batch, "train")
        finite = bool(torch.isfinite(loss))
        if self.trainer.world_size > 1:  # every DDP rank stops at the same step, none hangs
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            raise NonFiniteLossError(
                f"train/loss is {loss.item()} at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); try a lower optimizer.lr"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=self.batch_size(batch))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss = self.step(batch, "val")
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=self.batch_size(batch))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss = self.step(batch, "test")
        self.log("test/loss", loss, sync_dist=True, batch_size=self.batch_size(batch))

    @staticmethod
    def batch_size(batch: Any) -> int:
        return len(batch[0])

    # -- optimisation ----------------------------------------------------------
    def configure_optimizers(self) -> Any:
        with config_group("optimizer"):
            optimizer = instantiate(self.hparams.optimizer)(params=self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        cfg = dict(self.hparams.scheduler)
        monitor, interval = cfg.pop("monitor", "val/loss"), cfg.pop("interval", "epoch")
        cfg = self._fill_total_steps(cfg)
        with config_group("scheduler"):
            scheduler = instantiate(cfg)(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "interval": interval},
        }

    def _fill_total_steps(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Schedulers that need the run's length get it from the trainer (``T_max: auto``)."""
        for key in ("T_max", "total_steps"):
            if cfg.get(key) == "auto":
                steps = self.trainer.estimated_stepping_batches
                epochs = self.trainer.max_epochs
                cfg[key] = int(steps if key == "total_steps" or epochs in (None, -1) else epochs)
                cfg[key] = max(cfg[key], 1) if math.isfinite(cfg[key]) else 1
        return cfg
