"""A command's job as Hydra runs it, and every way it ends.

``task_function(command, job)`` is the function Hydra calls with a job's config: it runs
``job(cfg, output_dir)`` in the job's environment (threads, GPUs: ``launch.resources``),
each job of a ``launcher=local`` sweep in a process of its own (``launch.isolate``), and
ends a job that did not complete in one place (``end_job``): one line on stderr, the exit
code of ``rnnlab.run.lifecycle``, the job recorded in a sweep while the others run on, an
unexpected error's traceback in the run's log file only.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from rnnlab.errors import ConfigError, DataError
from rnnlab.launch.resources import job_environment
from rnnlab.run import lifecycle

log = logging.getLogger("rnnlab")


def task_function(config_name: str, job: str,
                  on_start: Callable[[], None] | None = None) -> Callable[[DictConfig], Any]:  # fmt: skip
    """Hydra's task function for ``rnnlab-<config_name>``, running ``job``
    (``"module:function"``, imported only when a job runs); ``on_start`` is called first."""

    def app(cfg: DictConfig) -> float | None:
        if on_start is not None:
            on_start()
        hcfg = HydraConfig.get()
        output_dir = Path(hcfg.runtime.output_dir)
        multirun = hcfg.mode == RunMode.MULTIRUN
        continue_requeued(cfg, output_dir)

        def run_job() -> Any:
            try:
                lifecycle.begin()  # each job of a sweep starts afresh
                with job_environment(cfg, hcfg):
                    metrics = _import(job)(cfg, output_dir)
            except MissingMandatoryValue as err:
                key = getattr(err, "full_key", "") or "a key"
                err = ConfigError(key, "???", "a value: it has no default")
                return end_job(err, output_dir, multirun, f"rnnlab-{config_name}")
            except (Exception, KeyboardInterrupt) as err:
                return end_job(err, output_dir, multirun, f"rnnlab-{config_name}")
            objective = cfg.get("optimized_metric")
            return metrics.get(objective) if objective else None

        if multirun and "joblib" in str(hcfg.launcher.get("_target_", "")):
            from rnnlab.launch.isolate import in_own_process

            return in_own_process(run_job, output_dir)  # a killed job leaves the sweep running
        return run_job()

    return app


def _import(target: str) -> Callable[[DictConfig, Path], dict[str, Any]]:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def describe_os_error(err: OSError) -> str:
    """``/path: No space left on device`` rather than a traceback."""
    reason = err.strerror or str(err)
    return f"{err.filename}: {reason}" if err.filename else reason


def exit_with_line(message: str, code: int) -> None:
    """The error as one line (a message of several lines is joined)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(line, file=sys.stderr)
    sys.exit(code)


def end_job(err: BaseException, output_dir: Path, multirun: bool, command: str) -> None:
    """The job ended without completing: one line on stderr and the exit code
    (``rnnlab.run.lifecycle.ending``); in a sweep the job is recorded and the others run."""
    end = lifecycle.ending(err, command)
    expected = (ConfigError, DataError, OSError, FloatingPointError, lifecycle.RunInterrupted)
    if not isinstance(err, expected) and not lifecycle.numerical_fault(err):
        _log_file_only(err)  # the traceback, for whoever reads the run's log
    if multirun:  # the job dir is the job's record, even for a job refused before it ran
        lifecycle.record(end, output_dir)
    if end.status == "interrupted":
        print(end.message, file=sys.stderr)
        if multirun:
            from rnnlab.launch.summary import write_summary

            log.info("%s", end.message)
            write_summary(output_dir.parent)
        if isinstance(err, lifecycle.RunInterrupted) and err.signum == getattr(
            signal, "SIGUSR2", None
        ):
            lifecycle.hand_on(err.signum)  # submitit requeues the job, which resumes from last.ckpt
        sys.exit(end.exit_code)
    if multirun:
        log.error("job failed: %s", end.message.removeprefix("error: "))
        return None
    exit_with_line(end.message, end.exit_code)
    return None


def _log_file_only(err: BaseException) -> None:
    """Write the traceback of an unexpected error to the run's log file, not the console."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "job failed",
                            None, (type(err), err, err.__traceback__))  # fmt: skip
    for handler in logging.getLogger().handlers:
        if isinstance(handler, (logging.FileHandler, logging.handlers.MemoryHandler)):
            handler.handle(record)


def slurm_requeued() -> bool:
    """Whether this is a SLURM job run again after preemption or a time limit (SLURM sets
    ``SLURM_RESTART_COUNT`` on a requeued job): it continues the run in its dir."""
    return bool(os.environ.get("SLURM_RESTART_COUNT", "0").strip().strip("0"))


def continue_requeued(cfg: DictConfig, output_dir: Path) -> None:
    """A SLURM job requeued after preemption runs again in its dir: continue from last.ckpt."""
    if not slurm_requeued():
        return
    if (output_dir / "checkpoints" / "last.ckpt").is_file() and not cfg.get("resume_dir"):
        from omegaconf import open_dict

        with open_dict(cfg):
            cfg.resume_dir = str(output_dir)
