"""What a command does before Hydra starts a job: checks, resume, the run dir.

``prepare`` composes a single run's config (``rnnlab.cli.compose``) and checks every value
(``rnnlab.run.options``) before any run dir exists, so bad input is one line and leaves
nothing behind. A sweep's launcher is checked against the machine. ``resume_dir=RUN`` is
turned into the run's own overrides (see ``rnnlab.run.rundir``) and refused when today's
configs would give the run another model. The run dir of a single run is fixed here
(``hydra.run.dir``, resolved once) and locked for the duration of the command
(``rnnlab.cli.guard``).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnlab.cli.args import MULTIRUN, PASSTHROUGH, quote_paths, split_args, unquote
from rnnlab.cli.compose import (
    check_moved_and_null_groups,
    check_syntax,
    compose,
    group_options,
    plain_config,
    unknown_key,
)
from rnnlab.cli.guard import Guard, lock_run_dir, slurm_requeued
from rnnlab.errors import ConfigError
from rnnlab.run.rundir import differences, override_key, resume_overrides
from rnnlab.schema.validate import validate

_REQUIRED = {"eval": "ckpt_path", "sample": "ckpt_path"}


def prepare(config_name: str, argv: list[str]) -> tuple[list[str], Guard]:
    """The arguments to run with (resume expanded, paths quoted) and the run-dir guard."""
    flags, overrides = split_args(argv)
    overrides = quote_paths(overrides)
    guard = Guard()
    if any(f in PASSTHROUGH or f.split("=")[0] in PASSTHROUGH for f in flags):
        return [*flags, *overrides], guard
    check_syntax(overrides)
    _check_given_once(overrides, flags)
    check_moved_and_null_groups(overrides, flags)
    if any(f in MULTIRUN for f in flags):
        _check_sweep(config_name, overrides, flags)
        return [*flags, *overrides], guard
    resume = next((o for o in overrides if override_key(o) == "resume_dir"), None)
    if resume is not None and config_name == "train":
        overrides = _resume(unquote(resume.split("=", 1)[1]), overrides, flags)
    cfg = _compose_or_explain(config_name, overrides, flags)
    if cfg.hydra.mode is not None and str(cfg.hydra.mode).endswith("MULTIRUN"):
        _check_sweep(config_name, overrides, flags)
        return [*flags, *overrides], guard  # an hparams_search config switched to multirun
    required = _REQUIRED.get(config_name)
    if required and OmegaConf.is_missing(cfg, required):
        raise ConfigError(
            required, "???", f"a checkpoint file: rnnlab-{config_name} {required}=PATH"
        )
    validate(plain_config(cfg), config_name)
    if not any(override_key(o) == "hydra.run.dir" for o in overrides):
        # Resolved once here: Hydra then uses this dir, and a refusal knows what it created.
        try:
            run_dir = str(cfg.hydra.run.dir)
        except Exception:  # left to Hydra, which reports it
            run_dir = None
        if run_dir:
            overrides = [*overrides, *quote_paths([f"hydra.run.dir={run_dir}"])]
    guard = lock_run_dir(cfg, overrides, config_name)
    return [*flags, *overrides], guard


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


def _compose_or_explain(config_name: str, overrides: list[str], flags: list[str]) -> DictConfig:
    """``compose``, with an unknown key answered by the keys there are."""
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    try:
        return compose(config_name, overrides, flags)
    except ConfigCompositionException as err:
        key = getattr(err.__cause__, "full_key", None)  # OmegaConf names the key it lacks
        if key and isinstance(err.__cause__, (ConfigAttributeError, ConfigKeyError)):
            raise unknown_key(config_name, str(key), overrides, flags) from None
        raise


def _check_sweep(config_name: str, overrides: list[str], flags: list[str]) -> None:
    """What every job of a sweep shares, checked before any job starts: each value alone
    (the swept ones too) and what the machine must have (the launcher). Rules that span keys
    are left to the jobs, where each combination is known."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from rnnlab.schema.registry import check_key

    parser = OverridesParser.create()
    parsed = [(o, parser.parse_override(o)) for o in overrides]
    single = [o for o, p in parsed if not p.is_sweep_override()]
    cfg = _compose_or_explain(config_name, single, flags)
    plain = plain_config(cfg)
    validate(plain, config_name, rules=False)
    for _, override in parsed:
        if override.is_sweep_override() and not override.is_hydra_override():
            try:
                values = list(override.sweep_iterator())
            except Exception:  # an interval: the Optuna sweeper draws within it
                continue
            key = override.get_key_element().lstrip("+~")
            options = group_options(key, flags)
            for value in values:
                if options and value not in options:  # a config group's option that is not there
                    raise ConfigError(key, value, "one of " + ", ".join(options))
                if options:  # a key the shared overrides set that this option lacks: Hydra
                    # would stop the whole sweep at that job, so it is refused before any
                    _compose_or_explain(config_name, [*single, f"{key}={value}"], flags)
                check_key(plain, key, value)
    launcher = plain.get("launcher")
    choice = cfg.hydra.runtime.choices.get("launcher")
    if launcher is not None and choice in ("slurm",):
        from rnnlab.launch.options import LAUNCHERS
        from rnnlab.schema.validate import node

        node(launcher, "launcher", LAUNCHERS[choice], rules=True)


def _resume(value: str, overrides: list[str], flags: list[str]) -> list[str]:
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
    saved = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
    now = compose("train", merged, flags)
    now_plain = {k: v for k, v in OmegaConf.to_container(now).items() if k != "hydra"}
    diffs = differences(saved, now_plain)
    if diffs:
        raise ConfigError(
            "resume_dir", str(run_dir), "a run whose saved config today's configs reproduce ("
            + "; ".join(diffs[:3]) + "): the project's configs changed since it started",
        )  # fmt: skip
    # Hydra must not rewrite the run's .hydra files before the resume is validated.
    return [*merged, "hydra.output_subdir=null"]


def continue_requeued(cfg: DictConfig, output_dir: Path) -> None:
    """A SLURM job requeued after preemption runs again in its dir: continue from last.ckpt."""
    if not slurm_requeued():
        return
    if (output_dir / "checkpoints" / "last.ckpt").is_file() and not cfg.get("resume_dir"):
        from omegaconf import open_dict

        with open_dict(cfg):
            cfg.resume_dir = str(output_dir)
