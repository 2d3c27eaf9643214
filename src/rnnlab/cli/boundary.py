"""The boundary of a command: what is checked before Hydra creates a run or sweep dir.

Two steps, neither of which composes a config of its own:

- ``arguments`` reads the command line (no config yet): overrides Hydra cannot parse, a
  config group given twice or set to null, a key that moved, and ``resume_dir=RUN``, which
  becomes the run's own saved overrides plus the few a resume may change.
- ``Boundary``, a Hydra callback (``conf/hydra/default.yaml``), receives the config Hydra
  composed for the command before Hydra creates anything on disk (``on_run_start``,
  ``on_multirun_start``), and checks it against the declarations (``rnnlab.schema``). A
  single run's dir is then fixed, created and locked (``rnnlab.cli.guard``); a sweep's
  values are checked one by one (the combinations are checked by each job). A refusal
  stops the command through ``rnnlab.compat.hydra.Refusal``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnnlab.cli.args import MULTIRUN, PASSTHROUGH, quote_paths, split_args, unquote
from rnnlab.cli.compose import check_moved_and_null_groups, check_syntax, group_options
from rnnlab.cli.guard import Guard, lock_run_dir
from rnnlab.compat.hydra import Refusal, basic_sweep_jobs, job_config
from rnnlab.compat.hydra import group_options as hydra_group_options
from rnnlab.errors import ConfigError
from rnnlab.launch.ranks import is_ddp_child
from rnnlab.run.rundir import differences, override_key, resume_overrides
from rnnlab.schema.validate import validate
from rnnlab.schema.values import plain_config

_REQUIRED = {"eval": "ckpt_path", "sample": "ckpt_path"}

# The guard of the single run now starting (set by ``Boundary``, released by the command).
GUARDS: list[Guard] = []


def arguments(config_name: str, argv: list[str]) -> list[str]:
    """The arguments Hydra runs with: paths quoted, ``resume_dir`` expanded; what can be
    refused from the command line alone is refused here."""
    flags, overrides = split_args(argv)
    overrides = quote_paths(overrides, multirun=any(f in MULTIRUN for f in flags))
    if any(f in PASSTHROUGH or f.split("=")[0] in PASSTHROUGH for f in flags):
        return [*flags, *overrides]  # Hydra prints something and runs no job
    check_syntax(overrides)
    _check_given_once(overrides, flags)
    check_moved_and_null_groups(overrides, flags)
    resume = next((o for o in overrides if override_key(o) == "resume_dir"), None)
    if resume is not None and config_name == "train" and not any(f in MULTIRUN for f in flags):
        overrides = _resume(unquote(resume.split("=", 1)[1]), overrides)
    return [*flags, *overrides]


class Boundary(Callback):
    """Checks the composed config before Hydra creates the run or sweep dir."""

    def on_run_start(self, config: DictConfig, config_name: str | None = None,
                     **kwargs: Any) -> None:  # fmt: skip
        if is_ddp_child():  # the parent process checked this run and holds its dir
            return
        try:
            GUARDS.append(check_run(config, config_name or "train"))
        except Exception as err:  # Hydra would turn it into a warning and go on
            raise Refusal(err) from err

    def on_multirun_start(self, config: DictConfig, config_name: str | None = None,
                          **kwargs: Any) -> None:  # fmt: skip
        try:
            check_sweep(config, config_name or "train")
        except Exception as err:  # Hydra would turn it into a warning and go on
            raise Refusal(err) from err


def check_run(cfg: DictConfig, config_name: str) -> Guard:
    """A single run's config, checked; its run dir fixed, created and locked."""
    required = _REQUIRED.get(config_name)
    if required and OmegaConf.is_missing(cfg, required):
        raise ConfigError(
            required, "???", f"a checkpoint file: rnnlab-{config_name} {required}=PATH"
        )
    if config_name == "train" and cfg.get("resume_dir"):
        _check_reproduced(Path(str(cfg.resume_dir)), cfg)
    validate(plain_config(cfg), config_name)
    if config_name == "train" and cfg.get("ckpt_path") == "last" and not cfg.get("resume_dir"):
        from rnnlab.run.checkpoints import earlier_last_checkpoint

        earlier_last_checkpoint(Path(str(cfg.paths.log_dir)), str(cfg.task_name))
    # Resolved once (``${now:...}``): the dir locked here is the dir Hydra then uses.
    run_dir = str(cfg.hydra.run.dir)
    cfg.hydra.run.dir = run_dir
    return lock_run_dir(cfg, run_dir, config_name)


def check_sweep(cfg: DictConfig, config_name: str) -> None:
    """What every job of a sweep shares, checked before any job starts: each value alone
    (the swept ones too) and what the machine must have (the launcher). Rules that span keys
    are left to the jobs, where each combination is known."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from rnnlab.schema.registry import check_key

    parser = OverridesParser.create()
    parsed = [parser.parse_override(o) for o in cfg.hydra.overrides.task]
    single = [p.input_line for p in parsed if not p.is_sweep_override()]
    plain = plain_config(cfg)
    swept = []
    for override in parsed:
        if not override.is_sweep_override():
            continue
        try:
            values = [_unquoted(v) for v in override.sweep_iterator()]
        except Exception:  # an interval: the Optuna sweeper draws within it
            continue
        key = override.get_key_element().lstrip("+~")
        swept.append((key, values))
        _fill_missing(plain, key, values)
    validate(plain, config_name, rules=False)
    for key, values in swept:
        options = [o for o in hydra_group_options(key) if not o.startswith("_")]
        for value in values:
            if options and value not in options:  # a config group's option that is not there
                raise ConfigError(key, value, "one of " + ", ".join(options))
            if options:  # a key the shared overrides set that this option lacks: Hydra
                # would stop the whole sweep at that job, so it is refused before any
                _job_config(cfg, [*single, f"{key}={value}"])
            check_key(plain, key, value, config_name)
    _check_some_job_runs(cfg, config_name)
    if config_name == "train":
        _resolve_last(cfg, plain, swept)
    launcher = plain.get("launcher")
    choice = cfg.hydra.runtime.choices.get("launcher")
    if launcher is not None and choice in ("slurm",):
        from rnnlab.launch.options import LAUNCHERS
        from rnnlab.schema.validate import node

        node(launcher, "launcher", LAUNCHERS[choice], rules=True)


def _resolve_last(cfg: DictConfig, plain: dict[str, Any], swept: list[tuple[str, list]]) -> None:
    """``ckpt_path=last`` in a sweep names the newest earlier run's ``last.ckpt``: it is
    found once, before any job starts (refused where there is none), and every job is given
    that file, so that no job starts from a checkpoint another job of the same sweep wrote.
    (A swept ``task_name`` or ``ckpt_path`` is checked for an earlier run of each name.)"""
    from rnnlab.run.checkpoints import earlier_last_checkpoint

    values = dict(swept)
    if plain.get("resume_dir") or "last" not in values.get("ckpt_path", [plain.get("ckpt_path")]):
        return
    log_dir = Path(str(plain["paths"]["log_dir"]))
    names = values.get("task_name", [plain.get("task_name")])
    found = [earlier_last_checkpoint(log_dir, str(name)) for name in names]
    if "ckpt_path" in values or "task_name" in values:
        return
    task = cfg.hydra.overrides.task
    given = quote_paths([f"ckpt_path={found[0]}"])[0]
    at = [i for i, override in enumerate(task) if override_key(override) == "ckpt_path"]
    if at:
        task[at[-1]] = given
    else:  # set by an experiment's config
        task.append(given)


def _unquoted(value: Any) -> Any:
    """A swept value as the job receives it: a quoted one (a path) as its text."""
    from hydra.core.override_parser.types import QuotedString

    return value.text if isinstance(value, QuotedString) else value


def _fill_missing(plain: dict[str, Any], key: str, values: list[Any]) -> None:
    """A required key given only by the sweep (``rnnlab-eval -m ckpt_path=a.ckpt,b.ckpt``)
    is ``???`` in the sweep's own config: its first value stands in, each being checked."""
    *parents, name = key.split(".")
    node = plain
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and node.get(name) == "???" and values:
        node[name] = values[0]


def _check_some_job_runs(master: DictConfig, config_name: str) -> None:
    """A sweep whose every job would be refused (``-m model=lstm,gru model.d_state=4``: a
    key neither cell reads) is refused before it starts; one with a job that passes its
    checks runs, and its other jobs fail alone. The jobs are checked in order until one
    passes: for a sweep of valid jobs, one."""
    jobs = basic_sweep_jobs(master)
    first = None
    for overrides in jobs or []:
        try:
            validate(plain_config(_job_config(master, overrides)), config_name)
            return
        except ConfigError as err:
            first = first or err
    if first is not None:
        raise ConfigError(first.key, first.value, f"{first.allowed} (in every job of the sweep)")


def _job_config(master: DictConfig, overrides: list[str]) -> DictConfig:
    """A job's config, with a key the config lacks answered as the command line's is."""
    from hydra.errors import ConfigCompositionException

    from rnnlab.cli.compose import composition_error

    try:
        return job_config(master, overrides)
    except ConfigCompositionException as err:
        raise composition_error(err, overrides) from None


def _check_given_once(overrides: list[str], flags: list[str]) -> None:
    """A config group chosen twice (``experiment=adding experiment=copy``): Hydra would keep
    one choice silently, with all its settings. (A value given twice is Hydra's usual "the
    last one wins", which scripts rely on to let a user override their defaults.)"""
    seen: dict[str, str] = {}
    for override in overrides:
        key, value = override_key(override), override.partition("=")[2]
        if "." in key or not group_options(key, flags):
            continue
        if key in seen and not override.startswith("~"):
            raise ConfigError(key, value, f"one value: {key} is given twice "
                              f"({key}={seen[key]} and {key}={value})")  # fmt: skip
        seen[key] = value


def _resume(value: str, overrides: list[str]) -> list[str]:
    """``resume_dir=RUN`` as the run's own overrides and the ones a resume may change."""
    if not value.strip():
        raise ConfigError("resume_dir", value, "a run dir of rnnlab-train (logs/train/runs/<run>)")
    run_dir = Path(value).expanduser()
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise ConfigError(
            "resume_dir", str(run_dir), "a run dir of rnnlab-train (with .hydra/config.yaml)"
        )
    if not (run_dir / "checkpoints" / "last.ckpt").is_file():
        raise ConfigError("resume_dir", str(run_dir), "a run dir with checkpoints/last.ckpt")
    given = [o for o in overrides if override_key(o) != "resume_dir"]
    merged = resume_overrides(run_dir.resolve(), given)
    # Hydra must not rewrite the run's .hydra files before the resume is validated.
    return [*merged, "hydra.output_subdir=null"]


def _check_reproduced(run_dir: Path, cfg: DictConfig) -> None:
    """A resumed run's config, composed today from its saved overrides, must be the config
    it ran with: otherwise the project's configs changed since, and the checkpoint belongs
    to another model or data."""
    saved = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
    now = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"}
    diffs = differences(saved, now)
    if diffs:
        raise ConfigError(
            "resume_dir", str(run_dir), "a run whose saved config today's configs reproduce ("
            + "; ".join(diffs[:3]) + "): the project's configs changed since it started",
        )  # fmt: skip
