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
        callback = instantiate_group(_with_mode(ccfg, task), f"callbacks.{name}")
        if not isinstance(callback, pl.Callback):
            raise ConfigError(f"callbacks.{name}._target_", ccfg.get("_target_"),
                              "a Lightning Callback class (lightning.pytorch.Callback)")  # fmt: skip
        if task is not None and hasattr(callback, "check_task"):
            with config_group(f"callbacks.{name}"):
                callback.check_task(task)
        callbacks.append(callback)
    return callbacks


def _with_mode(ccfg: Any, task: Any) -> Any:
    """A callback config whose ``mode`` is null gets it from its metric: the way the task's
    metric is better (without a task, the class's own default)."""
    if not hasattr(ccfg, "get") or "mode" not in ccfg or ccfg.get("mode") is not None:
        return ccfg
    plain = OmegaConf.to_container(ccfg, resolve=True) if isinstance(ccfg, DictConfig) else ccfg
    node = dict(plain)
    metric = str(ccfg.get("monitor") or "val/loss")
    if task is None:
        del node["mode"]
    else:
        node["mode"] = MODE[task.better(metric)]
    return node


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any]) -> pl.Trainer:
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.pop("threads", None)  # rnnlab's own key (rnnlab.run.threads), not Lightning's
    if trainer_cfg.get("enable_progress_bar") is False:  # the bar's own settings go with it
        from lightning.pytorch.callbacks import ProgressBar

        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    trainer = instantiate_group(
        OmegaConf.create(trainer_cfg), "trainer", callbacks=callbacks, logger=loggers or False
    )
    from rnnlab.compat.lightning import clip_before_fused_steps, keep_signal_handlers

    keep_signal_handlers(trainer)  # signals are the run's lifecycle's (rnnlab.run.lifecycle)
    clip_before_fused_steps(trainer)
    return trainer


MODE = {"lower": "min", "higher": "max"}


def check_monitors(cfg: DictConfig, task: Any) -> None:
    """Every ``monitor`` a scheduler, a callback or a sweeper names is a metric the task logs;
    which way it is better comes from the metric (``_with_mode`` fills a null ``mode``), and
    one that contradicts it is refused."""
    known = set(task.logged_metrics())
    known |= {f"{m}_best" for m in known if m.startswith("val/")}  # kept by model_checkpoint
    places = [("scheduler", cfg.get("scheduler"))]
    places += [(f"callbacks.{name}", c) for name, c in (cfg.get("callbacks") or {}).items()]
    for where, node in places:
        metric = (node or {}).get("monitor")
        if metric is None:
            continue
        if metric not in known:
            raise ConfigError(f"{where}.monitor", metric,
                              "a metric this task logs: " + ", ".join(sorted(known)))  # fmt: skip
        wanted = MODE[task.better(metric)]
        if node.get("mode") not in (None, wanted):
            raise ConfigError(f"{where}.mode", node.get("mode"), f"{wanted}, or null: {metric} "
                              f"is better {task.better(metric)}")  # fmt: skip
    metric = cfg.get("optimized_metric")
    if metric:
        if metric not in known:
            raise ConfigError("optimized_metric", metric,
                              "a metric this task logs: " + ", ".join(sorted(known)))  # fmt: skip
        _check_sweep_direction(metric, task.better(metric))


def _check_sweep_direction(metric: str, better: str) -> None:
    """An Optuna search optimises ``optimized_metric`` the way the metric is better."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    direction = (HydraConfig.get().get("sweeper") or {}).get("direction")
    wanted = {"lower": "minimize", "higher": "maximize"}[better]
    if direction in ("minimize", "maximize") and direction != wanted:
        raise ConfigError("hydra.sweeper.direction", direction,
                          f"{wanted}: {metric} is better {better}")  # fmt: skip
