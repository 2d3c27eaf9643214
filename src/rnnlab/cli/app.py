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
traceback goes to the run's log file only (the job's side: ``rnnlab.launch.task``). A command that fails, or is stopped,
before its job has passed every check (``rundir.commit``) leaves no trace: the run dir it
created is removed, Hydra's files in an existing one are put back (``rnnlab.cli.guard``), and
its buffered log is dropped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from hydra.errors import HydraException

from rnnlab.cli import boundary
from rnnlab.cli.args import split_args, wants_help
from rnnlab.cli.compose import composition_error, hydra_message
from rnnlab.cli.guard import Guard
from rnnlab.cli.help import help_text
from rnnlab.compat.hydra import Refusal, run_main
from rnnlab.conf import conf_dir, register_resolvers
from rnnlab.errors import ConfigError
from rnnlab.launch.ranks import is_ddp_child
from rnnlab.launch.task import describe_os_error, exit_with_line, task_function
from rnnlab.run import lifecycle


def hydra_main(config_name: str, job: str) -> Callable[[], None]:
    """Wrap ``job(cfg, output_dir)`` (``"module:function"``) as the command for ``config_name``."""
    register_resolvers()

    def watch_log() -> None:
        if boundary.GUARDS:
            boundary.GUARDS[-1].watch_log()  # the job's log, held until its checks pass

    app = task_function(config_name, job, on_start=watch_log)

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
            exit_with_line(f"error: {err}", 2)
        except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:
            exit_with_line(f"{lifecycle.ending(err).message} before the run started", _code(err))
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
                exit_with_line(f"error: {err}", 2)
            if isinstance(err, OSError):  # the run dir cannot be created, say
                exit_with_line(f"error: {describe_os_error(err)}", 1)
            if isinstance(err, HydraException):
                exit_with_line(f"error: {hydra_message(err)}", 2)
            if isinstance(err, lifecycle.RunInterrupted):
                exit_with_line(
                    f"{lifecycle.ending(err).message} before the run started", _code(err)
                )
            raise err from None
        except HydraException as err:  # an unknown override or config option
            _undo()
            found = composition_error(err, split_args(argv)[1], config_name)
            exit_with_line(f"error: {found if found is not err else hydra_message(err)}", 2)
        except OSError as err:  # Hydra could not create or write the run dir
            _undo()
            exit_with_line(f"error: {describe_os_error(err)}", 1)
        except SystemExit as err:
            if err.code not in (0, None):
                _undo()
            raise
        except (KeyboardInterrupt, lifecycle.RunInterrupted) as err:  # outside the job
            started = _guard().started()
            _undo()
            line = lifecycle.ending(err).message
            exit_with_line(line if started else f"{line} before the run started", _code(err))
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


def _code(err: BaseException) -> int:
    return err.exit_code if isinstance(err, lifecycle.RunInterrupted) else 130
