"""Hydra entry points: bad input answered in one line before anything is written,
resumes that continue the same run, failures recorded in sweeps.

The command line goes to Hydra as given (``rnnlab.compat.hydra.run_main``); Hydra composes
the config once, and the ``Boundary`` callback checks it against the declarations before
Hydra creates a run or sweep dir (``rnnlab.cli.boundary``, no torch import): a mistyped
value costs a second, and a refused command creates nothing. ``resume_dir=RUN`` becomes the
run's own saved overrides plus the few a resume may change. The job itself is imported
only when it runs.

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

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from rnnlab.cli import boundary
from rnnlab.cli.args import split_args, wants_help
from rnnlab.cli.compose import composition_error, hydra_message
from rnnlab.cli.guard import Guard
from rnnlab.cli.help import help_text
from rnnlab.compat.hydra import Refusal, run_main
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

    def app(cfg: DictConfig) -> float | None:
        if boundary.GUARDS:
            boundary.GUARDS[-1].watch_log()  # the job's log, held until its checks pass
        hcfg = HydraConfig.get()
        output_dir = Path(hcfg.runtime.output_dir)
        multirun = hcfg.mode == RunMode.MULTIRUN
        boundary.continue_requeued(cfg, output_dir)

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

    def run(argv: list[str]) -> None:
        run_main(app, conf_dir(), config_name, argv)

    def main() -> None:
        with lifecycle.StopSignals():
            _main()

    def _main() -> None:
        boundary.GUARDS.clear()
        argv = sys.argv[1:]
        if is_ddp_child():  # started by the DDP launcher: the parent checked the command
            return run(argv)
        if wants_help(argv):
            print(help_text(config_name, argv))
            return None
        try:
            argv = boundary.arguments(config_name, argv)
        except ConfigError as err:
            _exit(f"error: {err}", 2)
        except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:
            _exit(f"{lifecycle.ending(err).message} before the run started", _code(err))
        # Hydra reports errors raised outside the job (composing, creating the run dir) with
        # a traceback; let them reach us so each is one line. HYDRA_FULL_ERROR set by the
        # user keeps Hydra's own reporting.
        if os.environ.get("HYDRA_FULL_ERROR"):
            return run(argv)
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return run(argv)
        except Refusal as refusal:  # the composed config did not pass the boundary
            _undo()
            err = refusal.error
            if isinstance(err, ConfigError):
                _exit(f"error: {err}", 2)
            if isinstance(err, OSError):  # the run dir cannot be created, say
                _exit(f"error: {describe_os_error(err)}", 1)
            if isinstance(err, HydraException):
                _exit(f"error: {hydra_message(err)}", 2)
            if isinstance(err, lifecycle.RunInterrupted):
                _exit(f"{lifecycle.ending(err).message} before the run started", _code(err))
            raise err from None
        except HydraException as err:  # an unknown override or config option
            _undo()
            found = composition_error(err, split_args(argv)[1], config_name)
            _exit(f"error: {found if found is not err else hydra_message(err)}", 2)
        except OSError as err:  # Hydra could not create or write the run dir
            _undo()
            _exit(f"error: {describe_os_error(err)}", 1)
        except SystemExit as err:
            if err.code not in (0, None):
                _undo()
            raise
        except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:  # outside the job
            started = _guard().started()
            _undo()
            line = lifecycle.ending(err).message
            _exit(line if started else f"{line} before the run started", _code(err))
        except BaseException:
            _undo()
            raise
        finally:
            del os.environ["HYDRA_FULL_ERROR"]
            for guard in boundary.GUARDS:
                guard.release()

    return main


def _guard() -> Guard:
    """The run-dir guard of the single run now starting (an empty one before it exists)."""
    return boundary.GUARDS[-1] if boundary.GUARDS else Guard()


def _undo() -> None:
    """The command failed before its run started: leave the run dir as it was."""
    _guard().undo_unless_started()


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
