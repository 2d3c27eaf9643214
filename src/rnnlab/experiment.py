"""Build a run from its config, train and test it, and record its metrics.

The entry points (``rnnlab-train``, ``rnnlab-eval``) are thin Hydra wrappers around
``train`` and ``evaluate`` here. Data flows one way: the datamodule states the task
and its sizes, the task is built from them and the model config, the trainer fits
and tests, and ``metrics.json`` is written last and atomically.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.batching import TensorDataModule
from rnnlab.errors import ConfigError, config_group
from rnnlab.io import write_json
from rnnlab.loggers import build_loggers, finish_loggers, run_identity
from rnnlab.results.collect import flatten
from rnnlab.resume import check_same_model, resolve_ckpt_path
from rnnlab.tasks import task_class
from rnnlab.tasks.base import BaseTask

log = logging.getLogger(__name__)


def instantiate_group(cfg: DictConfig, group: str, **kwargs: Any) -> Any:
    """``instantiate`` with errors reported under the group's keys (``data.window=...``)."""
    try:
        with config_group(group):
            return instantiate(cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError):
            raise (cause if cause.key.startswith(f"{group}.") else cause.under(group)) from None
        raise ConfigError(
            group, cfg.get("_target_"), f"a valid configuration ({cause or err})"
        ) from None


def build_datamodule(cfg: DictConfig) -> TensorDataModule:
    return instantiate_group(cfg.data, "data")


def build_task(
    cfg: DictConfig, dm: TensorDataModule, run_config: dict[str, Any] | None = None
) -> BaseTask:
    cls = task_class(dm.task)
    return cls(
        model=cfg.model,
        input_size=dm.input_size,
        num_outputs=dm.num_outputs,
        optimizer=cfg.optimizer,
        scheduler=cfg.get("scheduler"),
        run_config=run_config or OmegaConf.to_container(cfg, resolve=True),
        **dm.task_kwargs(),
    )


def build_callbacks(cfg: DictConfig | None) -> list[pl.Callback]:
    return [
        instantiate_group(c, f"callbacks.{name}")
        for name, c in (cfg or {}).items()
        if c is not None
    ]


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any]) -> pl.Trainer:
    return instantiate_group(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    ckpt = trainer.checkpoint_callback
    path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
    return path or None


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if torch.is_tensor(v) or isinstance(v, (int, float))
    }


def train(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Fit, test the best checkpoint, write ``metrics.json``; return the metrics."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    started = time.perf_counter()
    run_config = OmegaConf.to_container(cfg, resolve=True)
    dm = build_datamodule(cfg)
    task = build_task(cfg, dm, run_config)
    log.info("model: %s, %d trainable parameters", cfg.model.cell, task.num_parameters)
    ckpt_path = resolve_ckpt_path(cfg, output_dir)
    if ckpt_path is not None:  # a clear error for a damaged or mismatched checkpoint
        ckpt = load_checkpoint(ckpt_path)
        check_same_model(ckpt, task.hparams, ckpt_path)
        dm.resume_from(ckpt)  # mid-epoch: continue with the next unseen batch
        log.info("resuming from %s (global step %s)", ckpt_path, ckpt.get("global_step"))
        del ckpt
    loggers = build_loggers(cfg.get("logger"), run_identity(cfg.task_name, dm.task))
    callbacks = build_callbacks(cfg.get("callbacks"))
    if not loggers:  # it has nothing to log to and Lightning refuses it
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    failed = True
    try:
        trainer = build_trainer(cfg, callbacks, loggers)
        for logger in trainer.loggers:
            logger.log_hyperparams({**flatten(run_config), "model/params": task.num_parameters})
        metrics: dict[str, Any] = {"model/params": task.num_parameters}
        if cfg.get("train", True):
            trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
            metrics.update(_floats(trainer.callback_metrics))
            ckpt = trainer.checkpoint_callback
            if ckpt is not None and ckpt.best_model_score is not None:
                metrics[f"{ckpt.monitor}_best"] = float(ckpt.best_model_score)
            metrics["epochs"] = trainer.current_epoch
        if cfg.get("test", True):
            test_ckpt = best_checkpoint(trainer) if cfg.get("train", True) else ckpt_path
            (results,) = trainer.test(task, datamodule=dm, ckpt_path=test_ckpt, verbose=False)
            metrics.update(_floats(results))
            metrics["test/ckpt"] = test_ckpt or "last weights"
        metrics["time/total_s"] = time.perf_counter() - started
        metrics["status"] = "completed"
        if trainer.is_global_zero:
            write_json(output_dir / "metrics.json", metrics)
        failed = False
        return metrics
    finally:
        finish_loggers(loggers, failed=failed)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file, with a clear error when it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("ckpt_path", str(path), "an existing checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for damaged files
        raise ConfigError(
            "ckpt_path", str(path), f"a readable checkpoint (loading failed: {err})"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise ConfigError("ckpt_path", str(path), "a checkpoint written by rnnlab-train")
    return ckpt


def _moved_data_dir(run_cfg: DictConfig, data_root: str) -> str:
    """The run's data folder under this machine's ``paths.data_dir``, keeping any subfolder."""
    trained_root = str(run_cfg.get("paths", {}).get("data_dir", ""))
    data_dir = str(run_cfg.data.data_dir)
    if trained_root and data_dir.startswith(trained_root):
        return data_root + data_dir[len(trained_root) :]
    return data_root


def evaluate(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Rebuild the run stored in a checkpoint and test it; write ``metrics.json``."""
    ckpt = load_checkpoint(cfg.ckpt_path)
    run_cfg = OmegaConf.create(ckpt["hyper_parameters"]["run_config"])
    if "data_dir" in run_cfg.data:
        run_cfg.data.data_dir = _moved_data_dir(run_cfg, cfg.paths.data_dir)
    pl.seed_everything(run_cfg.seed, workers=True, verbose=False)
    dm = build_datamodule(run_cfg)
    task = task_class(dm.task).load_from_checkpoint(cfg.ckpt_path, map_location="cpu")
    trainer = build_trainer(cfg, [], [])
    # ckpt_path also restores the datamodule's state (e.g. a pixel permutation).
    (results,) = trainer.test(task, datamodule=dm, ckpt_path=cfg.ckpt_path, verbose=False)
    metrics = {**_floats(results), "test/ckpt": str(cfg.ckpt_path), "status": "completed"}
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
    return metrics
