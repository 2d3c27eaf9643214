"""Hydra's behaviour that rnnlab relies on beyond its documented API, in one place
(``tests/compat/test_hydra.py`` fails when a Hydra release changes any of it).

- ``run_main``: what ``@hydra.main`` does, with the arguments given rather than read from
  ``sys.argv`` (``hydra._internal.utils._run_hydra``).
- ``Refusal``: Hydra turns an ``Exception`` raised by a callback into a warning and goes on
  (``hydra._internal.callbacks.Callbacks._notify``); a callback that must stop the command
  before the run dir exists raises this ``BaseException`` instead.
- ``job_config``: the config one job of a sweep gets, composed as the launchers compose it
  (``ConfigLoader.load_sweep_config`` of the running Hydra).
- ``basic_sweep_jobs``: the jobs Hydra's basic sweeper would launch, each as its overrides
  (``BasicSweeper.split_arguments``).
- ``group_options``: a config group's options as the running Hydra finds them (the
  shipped configs and ``--config-dir``).
- ``error_line``: Hydra's error message without the config search path it appends.
- ``convert_choice``: Hydra's conversion of one element of a ``choice(...)`` sweep to the
  value a job would receive (the Optuna sweeper turns choices into categorical parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

VERSION_BASE = "1.3"


def run_main(task: Callable[[DictConfig], Any], config_dir: str, config_name: str,
             argv: list[str]) -> None:  # fmt: skip
    """Run ``task`` as ``@hydra.main(version_base="1.3", config_path=config_dir,
    config_name=config_name)`` would, on the command-line arguments ``argv``."""
    from hydra import version
    from hydra._internal.utils import _run_hydra, get_args_parser

    version.setbase(VERSION_BASE)
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if args.experimental_rerun is not None:
        from hydra._internal.utils import _get_rerun_conf

        task(_get_rerun_conf(args.experimental_rerun, args.overrides))
        return
    _run_hydra(args=args, args_parser=parser, task_function=task, config_path=config_dir,
               config_name=config_name)  # fmt: skip


class Refusal(BaseException):  # noqa: N818 (not an error of the program: a refused command)
    """Raised by a Hydra callback to stop the command: ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def job_config(master: DictConfig, overrides: list[str]) -> DictConfig:
    """The config of a sweep's job with ``overrides``, composed by the running Hydra."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader().load_sweep_config(master, overrides)


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def basic_sweep_jobs(master: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, as Hydra's basic sweeper expands the sweep of ``master``;
    None under another sweeper (Optuna's draws its jobs as it goes)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if master.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    overrides = OverridesParser.create().parse_overrides(list(master.hydra.overrides.task))
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def group_options(group: str) -> list[str]:
    """The options of config ``group`` in the running Hydra's search path (empty when
    ``group`` is not a config group)."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader().get_group_options(group)


def error_line(err: Exception) -> str:
    """Hydra's message in one line, without the config search path it lists after it."""
    message = str(err).split("\nConfig search path:")[0].strip()
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def convert_choice(override: Any, value: Any) -> Any:
    """The value ``override=choice(..., value, ...)`` gives a job (e.g. ``'1e-3'`` -> 0.001)."""
    return override._convert_value(value)
