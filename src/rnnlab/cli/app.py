"""Hydra entry points: bad input answered in one line before anything is written,
resumes that continue the same run, failures recorded in sweeps.

Before Hydra creates a run dir, a single run's config is composed and every value is
checked (``rnnlab.run.options``, no torch import): a mistyped value costs a second, and a
refused command creates nothing. ``resume_dir=RUN`` becomes the run's own saved overrides
plus the few a resume may change. The job itself is imported only when it runs.

Exit codes and what a job's ending records: ``rnnlab.run.lifecycle`` (0 done; 1 any other
failure, a file that could not be written among them; 2 bad config or data; 3 a non-finite
number; 130 / 143 SIGINT / SIGTERM). An error is one line on stderr; an unexpected one's
traceback goes to the run's log file only. A command that fails, or is stopped,
before its job has passed every check (``rundir.commit``) leaves no trace: the run dir it
created is removed, Hydra's files in an existing one are put back (``rnnlab.cli.guard``), and
its buffered log is dropped.
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

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from rnnlab.cli import precheck
from rnnlab.cli.args import wants_help
from rnnlab.cli.compose import hydra_message
from rnnlab.cli.guard import Guard
from rnnlab.cli.help import help_text
from rnnlab.conf import conf_dir, register_resolvers
from rnnlab.errors import ConfigError, DataError
from rnnlab.launch.ranks import is_ddp_child
from rnnlab.launch.resources import job_environment
from rnnlab.run import lifecycle

log = logging.getLogger("rnnlab")


def describe_os_error(err: OSError) -> str:
    """``/path: No space left on device`` rather than a traceback."""
    reason = err.strerror or str(err)
    return f"{err.filename}: {reason}" if err.filename else reason


def _import(target: str) -> Callable[[DictConfig, Path], dict[str, Any]]:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def hydra_main(config_name: str, job: str) -> Callable[[], Any]:
    """Wrap ``job(cfg, output_dir)`` (``"module:function"``) as the command for ``config_name``."""
    register_resolvers()

    guards: list[Guard] = []  # the guard of the command now running

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name=config_name)
    def app(cfg: DictConfig) -> float | None:
        if guards:
            guards[-1].watch_log()  # the job's log, held until its checks pass
        hcfg = HydraConfig.get()
        output_dir = Path(hcfg.runtime.output_dir)
        multirun = hcfg.mode == RunMode.MULTIRUN
        precheck.continue_requeued(cfg, output_dir)

        def run_job() -> Any:
            try:
                lifecycle.begin()  # each job of a sweep starts afresh
                with job_environment(cfg, hcfg):
                    metrics = _import(job)(cfg, output_dir)
            except MissingMandatoryValue as err:
                key = getattr(err, "full_key", "") or "a key"
                err = ConfigError(key, "???", "a value: it has no default")
                return _end(err, output_dir, multirun, f"rnnlab-{config_name}")
            except (Exception, KeyboardInterrupt) as err:
                return _end(err, output_dir, multirun, f"rnnlab-{config_name}")
            objective = cfg.get("optimized_metric")
            return metrics.get(objective) if objective else None

        if multirun and "joblib" in str(hcfg.launcher.get("_target_", "")):
            from rnnlab.launch.isolate import in_own_process

            return in_own_process(run_job, output_dir)  # a killed job leaves the sweep running
        return run_job()

    def main() -> Any:
        with lifecycle.StopSignals():
            return _main()

    def _main() -> Any:
        guards.clear()
        argv = sys.argv[1:]
        if not is_ddp_child():
            if wants_help(argv):
                print(help_text(config_name, argv))
                return None
            try:
                argv, guard = precheck.prepare(config_name, argv)
            except ConfigError as err:
                _exit(f"error: {err}", 2)
            except HydraException as err:
                _exit(f"error: {hydra_message(err)}", 2)
            except OSError as err:  # the run dir cannot be created, say
                _exit(f"error: {describe_os_error(err)}", 1)
            except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:
                _exit(f"{lifecycle.ending(err).message} before the run started", _code(err))
            sys.argv = [sys.argv[0], *argv]
        else:
            guard = Guard()
        guards.append(guard)
        # Hydra reports errors raised outside the job (creating the run dir, say) with a
        # traceback; let them reach us so a file error is one line. HYDRA_FULL_ERROR set by
        # the user keeps Hydra's own reporting.
        if os.environ.get("HYDRA_FULL_ERROR"):
            return app()
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return app()
        except HydraException as err:  # an unknown override or config option
            guard.undo_unless_started()
            _exit(f"error: {hydra_message(err)}", 2)
        except OSError as err:  # Hydra could not create or write the run dir
            guard.undo_unless_started()
            _exit(f"error: {describe_os_error(err)}", 1)
        except SystemExit as err:
            if err.code not in (0, None):
                guard.undo_unless_started()
            raise
        except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:  # outside the job
            started = guard.started()
            guard.undo_unless_started()
            line = lifecycle.ending(err).message
            _exit(line if started else f"{line} before the run started", _code(err))
        except BaseException:
            guard.undo_unless_started()
            raise
        finally:
            del os.environ["HYDRA_FULL_ERROR"]
            guard.release()

    return main


def _exit(message: str, code: int) -> None:
    """The error as one line (a message of several lines is joined)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(line, file=sys.stderr)
    sys.exit(code)


def _code(err: BaseException) -> int:
    return err.exit_code if isinstance(err, lifecycle.RunInterrupted) else 130


def _end(err: BaseException, output_dir: Path, multirun: bool, command: str) -> None:
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
    _exit(end.message, end.exit_code)
    return None


def _log_file_only(err: BaseException) -> None:
    """Write the traceback of an unexpected error to the run's log file, not the console."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "job failed",
                            None, (type(err), err, err.__traceback__))  # fmt: skip
    for handler in logging.getLogger().handlers:
        if isinstance(handler, (logging.FileHandler, logging.handlers.MemoryHandler)):
            handler.handle(record)
