"""Build a run's objects from its config, in the one order data flows.

The datamodule is built first and states what the task needs to know (``spec()``: sizes,
a vocabulary, how its batches are laid out); the task named by ``task._target_`` is built
from that, the ``model`` config (the recurrent stack) and the optimiser and scheduler
configs; callbacks and loggers follow; the trainer last. Every config error is reported
under its group's keys (``data.window=...``), and a task that does not fit the data, a
callback that cannot serve the task, or data files that are missing or damaged are refused
here, before training starts (and before the run dir is written).
"""

from __future__ import annotations

import os
import re
from typing import Any

import lightning.pytorch as pl
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from rnnlab.errors import ConfigError, config_group

_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def instantiate_group(cfg: DictConfig, group: str, **kwargs: Any) -> Any:
    """``instantiate`` with errors reported under the group's keys (``data.window=...``)."""
    try:
        with config_group(group):
            return instantiate(cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError):
            raise (cause if cause.key.startswith(f"{group}.") else cause.under(group)) from None
        if isinstance(cause, TypeError) and (m := _UNEXPECTED.search(str(cause))):
            key = m.group(1)
            raise ConfigError(
                f"{group}.{key}", cfg.get(key), f"a key of {cfg.get('_target_')}"
            ) from None
        raise ConfigError(
            group, cfg.get("_target_"), f"a valid configuration ({cause or err})"
        ) from None


def build_datamodule(cfg: DictConfig) -> Any:
    return instantiate_group(cfg.data, "data")


def prepare_data(dm: Any) -> None:
    """Fetch and check the datamodule's files now, on the process that Lightning would ask
    (local rank 0): a missing or damaged file is then refused like a bad value, before the
    run starts. Lightning's own call during ``fit`` finds the work done."""
    if os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")) != "0":
        return
    if type(dm).prepare_data is pl.LightningDataModule.prepare_data:
        return  # nothing to fetch (generated data)
    dm.prepare_data()
    dm.prepare_data = _prepared


def _prepared() -> None:
    """``prepare_data`` of a datamodule whose data ``prepare_data`` above already fetched."""


def _task_class(cfg: DictConfig) -> type:
    target = cfg.task.get("_target_")
    try:
        return get_class(target)
    except Exception:
        raise ConfigError("task._target_", target, "an importable LightningModule class") from None


def build_task(cfg: DictConfig, dm: Any, run_config: dict[str, Any] | None = None) -> Any:
    """The task of ``cfg.task`` for the data of ``dm``; refused if it cannot read its batches.
    The data is fetched and checked first (``prepare_data``)."""
    cls = _task_class(cfg)
    data_format, task_format = getattr(dm, "batch_format", None), getattr(cls, "batch_format", None)
    if data_format != task_format:
        raise ConfigError(
            "task", cls.__name__, f"a task that reads this data's {data_format} batches "
            f"(the data option of this run sets its own task; {cls.__name__} reads {task_format})",
        )  # fmt: skip
    prepare_data(dm)
    return instantiate_group(
        cfg.task,
        "task",
        _recursive_=False,  # the optimiser, scheduler and run config stay configs
        model=cfg.model,
        optimizer=cfg.optimizer,
        scheduler=cfg.get("scheduler"),
        run_config=run_config or OmegaConf.to_container(cfg, resolve=True),
        **dm.spec(),
    )


def build_callbacks(cfg: DictConfig | None, task: Any = None) -> list[pl.Callback]:
    """The ``callbacks`` group; one that states what it needs of a task checks it here."""
    callbacks = []
    for name, ccfg in (cfg or {}).items():
        if ccfg is None:
            continue
        callback = instantiate_group(ccfg, f"callbacks.{name}")
        if task is not None and hasattr(callback, "check_task"):
            with config_group(f"callbacks.{name}"):
                callback.check_task(task)
        callbacks.append(callback)
    return callbacks


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any]) -> pl.Trainer:
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.pop("threads", None)  # rnnlab's own key (rnnlab.run.threads), not Lightning's
    if trainer_cfg.get("enable_progress_bar") is False:  # the bar's own settings go with it
        from lightning.pytorch.callbacks import ProgressBar

        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    trainer = instantiate_group(
        OmegaConf.create(trainer_cfg), "trainer", callbacks=callbacks, logger=loggers or False
    )
    from rnnlab.compat.lightning import keep_signal_handlers

    keep_signal_handlers(trainer)  # signals are the run's lifecycle's (rnnlab.run.lifecycle)
    return trainer


def check_monitors(cfg: DictConfig, task: Any) -> None:
    """Every ``monitor`` a scheduler or callback names is a metric the task logs."""
    known = set(task.logged_metrics())
    known |= {f"{m}_best" for m in known if m.startswith("val/")}  # kept by model_checkpoint
    places = [("scheduler.monitor", (cfg.get("scheduler") or {}).get("monitor"))]
    for name, ccfg in (cfg.get("callbacks") or {}).items():
        if ccfg is not None and ccfg.get("monitor") is not None:
            places.append((f"callbacks.{name}.monitor", ccfg.get("monitor")))
    if cfg.get("optimized_metric"):
        places.append(("optimized_metric", cfg.optimized_metric))
    for key, metric in places:
        if metric is not None and metric not in known:
            raise ConfigError(key, metric, "a metric this task logs: " + ", ".join(sorted(known)))
