"""Hydra entry points: bad input answered in one line before anything is written,
resumes that continue the same run, failures recorded in sweeps.

Before Hydra creates a run dir, a single run's config is composed and every value is
checked (``rnnlab.run.options``, no torch import): a mistyped value costs a second, and a
refused command creates nothing. ``resume_dir=RUN`` becomes the run's own saved overrides
plus the few a resume may change. The job itself is imported only when it runs.

Exit codes: 0 done; 2 bad config or data; 3 non-finite loss or weights; 1 a file that
could not be read or written (the message names it: a read-only or full disk, say);
130 / 143 interrupted by SIGINT / SIGTERM after saving ``last.ckpt`` (130 also for a Ctrl-C
outside training). An error is one line on stderr. A command that fails, or is stopped,
before its job has passed every check (``rundir.commit``) leaves no trace: the run dir it
created is removed, Hydra's files in an existing one are put back (``rnnlab.cli.guard``), and
its buffered log is dropped.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import os
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
from rnnlab.io.atomic import write_json
from rnnlab.launch.ranks import global_rank_from_env, is_ddp_child
from rnnlab.launch.resources import job_environment

log = logging.getLogger("rnnlab")
INTERRUPTED = "error: interrupted (Ctrl-C)"


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
        try:
            with job_environment(cfg, hcfg):
                metrics = _import(job)(cfg, output_dir)
        except (ConfigError, DataError) as err:
            return _fail(output_dir, err, multirun, exit_code=2)
        except MissingMandatoryValue as err:
            key = getattr(err, "full_key", "") or "a key"
            return _fail(
                output_dir, ConfigError(key, "???", "a value: it has no default"), multirun, 2
            )
        except FloatingPointError as err:
            return _fail(output_dir, err, multirun, exit_code=3)
        except OSError as err:
            return _fail(output_dir, OSError(describe_os_error(err)), multirun, exit_code=1)
        except Exception as err:
            if type(err).__name__ == "RunInterrupted":
                return _interrupted(err, output_dir, multirun, f"rnnlab-{config_name}")
            if not multirun:
                raise
            # In a sweep any error of one job is recorded; the other jobs still run.
            log.exception("job failed")
            return _fail(output_dir, RuntimeError(f"{type(err).__name__}: {err}"), multirun, 1)
        objective = cfg.get("optimized_metric")
        return metrics.get(objective) if objective else None

    def main() -> Any:
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
            except KeyboardInterrupt:
                _exit(INTERRUPTED, 130)
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
        except KeyboardInterrupt:  # Ctrl-C outside training (which stops cleanly itself)
            started = guard.started()
            guard.undo_unless_started()
            _exit(INTERRUPTED if started else f"{INTERRUPTED} before the run started", 130)
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


def _fail(output_dir: Path, err: Exception, multirun: bool, exit_code: int) -> None:
    """Report the error in one line. In a sweep, record it and let the other jobs run."""
    # Ranks > 0 of a DDP job leave metrics.json to rank 0.
    if (multirun or isinstance(err, FloatingPointError)) and global_rank_from_env() == 0:
        try:
            write_json(output_dir / "metrics.json", {"status": "failed", "error": str(err)})
        except OSError as write_err:  # the disk that failed the run may fail this too
            print(f"error: {describe_os_error(write_err)}", file=sys.stderr)
    if multirun:
        log.error("job failed: %s", err)
        return None
    _exit(f"error: {err}", exit_code)
    return None


def _interrupted(err: Any, output_dir: Path, multirun: bool, command: str) -> None:
    """Training stopped on a signal: say how to continue; a sweep stops too."""
    import signal

    from rnnlab.run.interrupt import hand_on

    hint = f"{err}; last.ckpt saved; continue with: {command} resume_dir={output_dir}"
    if not err.saved:
        hint = f"{err}; continue with: {command} resume_dir={output_dir}"
    print(hint, file=sys.stderr)
    if multirun:
        from rnnlab.launch.summary import write_summary

        log.info("%s", hint)
        write_summary(output_dir.parent)
    if err.signum == getattr(signal, "SIGUSR2", None):
        hand_on(err.signum)  # submitit requeues the job, which resumes from last.ckpt
    sys.exit(err.exit_code)
