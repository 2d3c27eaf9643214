"""One job's lifecycle: check, build, fit, test, and ``metrics.json`` last.

``train`` is ``rnnlab-train``'s job, ``evaluate`` ``rnnlab-eval``'s and ``sample``
``rnnlab-sample``'s; the entry points in ``rnnlab.cli`` are thin Hydra wrappers around
them. Data flows one way (see ``rnnlab.run.build``). Nothing is written into the run dir
until every check has passed: values (``rnnlab.run.options``), the task against the data,
callbacks against the task, monitored metrics, and a checkpoint against the model.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.io.atomic import atomic_write_text, remove_stale_temporaries
from rnnlab.io.runs import flatten
from rnnlab.run import lifecycle
from rnnlab.run.allocator import keep_freed_memory
from rnnlab.run.config_tree import config_tree
from rnnlab.run.metrics import floats, job_ended, process_seconds, summarize, training_results
from rnnlab.run.threads import apply_threads
from rnnlab.schema.validate import validate

log = logging.getLogger(__name__)


def train(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Fit, test the best checkpoint, write ``metrics.json``; return the metrics.

    The phases and every way out of them: ``rnnlab.run.lifecycle``. A resumed run whose
    training had finished (stopped during test, or killed after its final ``last.ckpt``)
    only tests, with the training metrics its final ``last.ckpt`` holds."""
    run = lifecycle.begin()
    try:
        return _train(cfg, output_dir, run)
    except BaseException as err:
        lifecycle.record(lifecycle.ending(err))
        raise


def _train(cfg: DictConfig, output_dir: Path, run: lifecycle.Lifecycle) -> dict[str, Any]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    run_config = OmegaConf.to_container(cfg, resolve=True)  # resolved once: check, tree, hparams
    if _in_sweep():  # a single run was checked before its run dir existed (rnnlab.cli.boundary)
        validate({**run_config, "hydra": _hydra_part()}, "train")
    if cfg.get("print_config", True):
        log.info("%s", config_tree(run_config))
    threads = apply_threads(cfg.trainer.get("threads", "auto"), cfg)
    keep_freed_memory()
    import lightning.pytorch as pl

    from rnnlab.compat.lightning import quiet
    from rnnlab.run import build, checkpoints, interrupt, loggers, resume, rundir
    from rnnlab.run.phases import PhaseTracker

    quiet()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    started = time.perf_counter()
    dm = build.build_datamodule(cfg)
    ckpt_path = checkpoints.resolve_ckpt_path(cfg, output_dir)
    ckpt = checkpoints.load_checkpoint(ckpt_path) if ckpt_path else None
    if ckpt is not None:
        checkpoints.restore_data(dm, ckpt)  # the vocabulary or permutation it trained with
    task = build.build_task(cfg, dm, run_config)
    if ckpt is not None:
        checkpoints.check_same_model(ckpt, task.hparams, ckpt_path)
    build.check_monitors(cfg, task)
    callbacks = [*build.build_callbacks(cfg.get("callbacks"), task), PhaseTracker()]
    continuation, finished = None, None
    if ckpt is not None and cfg.get("resume_dir"):
        continuation = loggers.Continuation(
            ckpt.get("global_step", 0), checkpoints.logger_positions(ckpt)
        )
        finished = resume.plan(cfg, output_dir, checkpoints.finished_training(ckpt))
        log.info("resuming %s from global step %s", output_dir, ckpt.get("global_step"))
    del ckpt
    # Every check has passed: from here on the run dir is written.
    rundir.commit(output_dir, cfg)
    run.run_dir = output_dir
    if continuation is not None:  # a kill during a save may have left a temporary file
        for folder in (output_dir / "checkpoints", output_dir / "csv"):
            remove_stale_temporaries(folder)
    identity = loggers.run_identity(cfg.task_name, _kind(task), cfg)
    run_loggers = loggers.build_loggers(cfg.get("logger"), identity, continuation)
    size = {"model/params": task.num_parameters, "model/state_size": task.rnn.state_size}
    params = {**flatten(run_config), **size}
    metrics = run.metrics
    metrics.update({**size, "threads": threads})
    directions = task.metric_directions()
    failed = True
    try:
        trainer = build.build_trainer(cfg, callbacks, run_loggers)
        for logger in trainer.loggers:
            logger.log_hyperparams(params)
        stops_cleanly = any(isinstance(c, interrupt.LastCheckpoint) for c in callbacks)
        with interrupt.catch_signals(active=stops_cleanly):
            best_ckpt = None
            if finished is not None:  # trained already: its results, then the tests
                metrics.update(finished["results"])
                directions.update(finished["better"])
                best_ckpt = resume.existing(finished["best_path"], output_dir)
            elif cfg.get("train", True):
                trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
                results, better = training_results(trainer)
                metrics.update(results)
                directions.update(better)
                best_ckpt = _best_checkpoint(trainer)
            trained = finished is not None or cfg.get("train", True)
            if cfg.get("test_last", False) and trained:
                # the weights at the end of training, as papers often report them
                # (tested first, so the figures show the best checkpoint); the weights in
                # memory are those when last.ckpt is not written
                run.enter("test_last")
                last = output_dir / checkpoints.LAST
                last_ckpt = str(last) if last.is_file() else None
                with loggers.detached(trainer):  # logged below under test_last/*
                    (results,) = trainer.test(
                        task, datamodule=dm, ckpt_path=last_ckpt, verbose=False
                    )
                last_results = {}
                for key, value in floats(results).items():
                    last_results[key.replace("test/", "test_last/", 1)] = value
                    directions[key.replace("test/", "test_last/", 1)] = directions.get(key)
                metrics.update(last_results)
                lifecycle.check_finite(metrics, "test_last/", trainer.global_step, None)
                loggers.log_metrics(trainer, last_results)
            if cfg.get("test", True):
                run.enter("test")
                test_ckpt = best_ckpt if trained else ckpt_path
                (results,) = trainer.test(task, datamodule=dm, ckpt_path=test_ckpt, verbose=False)
                metrics.update(floats(results))
                metrics["test/ckpt"] = test_ckpt or "last weights"
                lifecycle.check_finite(metrics, "test/", trainer.global_step, None)
        run.enter("write")
        metrics.update(dm.stats())
        metrics["better"] = directions
        metrics["time/total_s"] = time.perf_counter() - started
        metrics["time/process_s"] = process_seconds()
        lifecycle.complete(metrics, output_dir, write=trainer.is_global_zero)
        if trainer.is_global_zero:
            loggers.log_final(
                trainer.loggers, params, floats(metrics), metrics["better"], trainer.global_step
            )
            summarize(metrics, output_dir)
        failed = False
        return metrics
    finally:
        loggers.finish_loggers(run_loggers, failed=failed, announce=not _in_sweep())
        job_ended()


def _kind(task: Any) -> str:
    """``regression`` for ``RegressionTask``: the W&B job type."""
    import re

    name = type(task).__name__.removesuffix("Task")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _model_checkpoint(trainer: Any) -> Any:
    """The callback that keeps the best checkpoint (``callbacks.model_checkpoint``), if any."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)


def _best_checkpoint(trainer: Any) -> str | None:
    ckpt = _model_checkpoint(trainer)
    path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
    return path or None


def _hydra_part() -> dict[str, Any]:
    """What the check reads of Hydra's config in a job: the group choices."""
    from hydra.core.hydra_config import HydraConfig

    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    return {"runtime": {"choices": choices}}


def _in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _data_dir_for(run_cfg: DictConfig, data_root: str) -> str:
    """Where the checkpoint's data is on this machine: the folder it trained with if it
    exists here, else the same subfolder of this machine's ``paths.data_dir``."""
    data_dir = str(run_cfg.data.data_dir)
    if Path(data_dir).exists():
        return data_dir
    trained_root = str(run_cfg.get("paths", {}).get("data_dir", ""))
    if trained_root and data_dir.startswith(trained_root):
        return data_root + data_dir[len(trained_root) :]
    return data_root


def _load_task(ckpt: dict[str, Any], path: str) -> Any:
    """The task a checkpoint holds, with its weights; one line if they do not fit."""
    from hydra.utils import get_class

    target = ckpt["hyper_parameters"]["run_config"]["task"]["_target_"]
    try:
        return get_class(target).load_from_checkpoint(path, map_location="cpu")
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            "ckpt_path", path, f"a checkpoint whose weights fit its config ({_mismatch(err)})"
        ) from None


def _mismatch(err: Exception) -> str:
    """The telling part of torch's ``load_state_dict`` error: the first size mismatch or
    missing key (its first line only says that there are errors)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith(("size mismatch", "Missing key",
                                                          "Unexpected key"))]  # fmt: skip
    reason = (telling or lines or [type(err).__name__])[0]
    more = f" and {len(telling) - 1} more" if len(telling) > 1 else ""
    return reason[:300].rstrip(".") + more


def evaluate(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Rebuild the run stored in a checkpoint and test it; write ``metrics.json``."""
    lifecycle.begin()
    try:
        return _evaluate(cfg, output_dir)
    except BaseException as err:
        lifecycle.record(lifecycle.ending(err, "rnnlab-eval"))
        raise


def _evaluate(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    apply_threads(cfg.trainer.get("threads", "auto"), cfg)
    import lightning.pytorch as pl

    from rnnlab.compat.lightning import quiet
    from rnnlab.run import build, checkpoints, rundir

    quiet()
    ckpt = checkpoints.load_checkpoint(cfg.ckpt_path)
    run_cfg = OmegaConf.create(ckpt["hyper_parameters"]["run_config"])
    if "data_dir" in run_cfg.data:
        run_cfg.data.data_dir = _data_dir_for(run_cfg, cfg.paths.data_dir)
    pl.seed_everything(run_cfg.seed, workers=True, verbose=False)
    dm = build.build_datamodule(run_cfg)
    checkpoints.restore_data(dm, ckpt)
    task = _load_task(ckpt, str(cfg.ckpt_path))
    del ckpt
    build.prepare_data(dm)  # missing data files are refused before the run dir is written
    rundir.commit(output_dir)
    lifecycle.current.run_dir = output_dir
    rundir.record_evaluated_config(output_dir, run_cfg)  # what tables group evaluations by
    trainer = build.build_trainer(cfg, [], [])
    lifecycle.current.enter("test")
    (results,) = trainer.test(task, datamodule=dm, verbose=False)
    metrics = lifecycle.current.metrics
    metrics.update({**floats(results), **dm.stats(), "test/ckpt": str(cfg.ckpt_path)})
    lifecycle.check_finite(metrics, "test/", None, None)
    lifecycle.current.enter("write")
    metrics["better"] = task.metric_directions()
    lifecycle.complete(metrics, output_dir, write=trainer.is_global_zero)
    if trainer.is_global_zero:
        summarize(metrics, output_dir)
    return metrics


def sample(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Print ``prompt`` and its continuation as it is drawn (``length`` at most
    ``rnnlab.tasks.sampling.MAX_LENGTH``); also write it to ``<run>/sample.txt``."""
    lifecycle.begin()
    try:
        return _sample(cfg, output_dir)
    except BaseException as err:
        lifecycle.record(lifecycle.ending(err, "rnnlab-sample"))
        raise


def _sample(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    import sys

    import torch  # the values were checked before the job (rnnlab.run.options.SampleConfig)

    from rnnlab.run import checkpoints, rundir
    from rnnlab.tasks.sampling import check_prompt

    ckpt = checkpoints.load_checkpoint(cfg.ckpt_path)
    if "vocab" not in ckpt["hyper_parameters"]:
        raise ConfigError(
            "ckpt_path",
            str(cfg.ckpt_path),
            "a checkpoint of a character language model (data=chars)",
        )
    task = _load_task(ckpt, str(cfg.ckpt_path))
    check_prompt(task.vocab, cfg.prompt)
    rundir.commit(output_dir)
    lifecycle.current.run_dir = output_dir
    generator = torch.Generator().manual_seed(cfg.seed)
    parts = [str(cfg.prompt)]
    sys.stdout.write(parts[0])
    for i, char in enumerate(
        task.stream(str(cfg.prompt), cfg.length, cfg.temperature, cfg.top_k, generator)
    ):
        parts.append(char)
        sys.stdout.write(char)
        if i % 64 == 63:
            sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    lifecycle.current.enter("write")
    text = "".join(parts)
    atomic_write_text(output_dir / "sample.txt", text)
    # metrics.json as every command writes it: a sweep's summary reads each job's status there
    metrics = lifecycle.current.metrics
    metrics.update({"sample/chars": len(text) - len(str(cfg.prompt)),
                    "sample/ckpt": str(cfg.ckpt_path)})  # fmt: skip
    lifecycle.complete(metrics, output_dir)
    return metrics
