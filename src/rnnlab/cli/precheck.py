"""What the commands do before Hydra starts a job: help, resume, checks, the run-dir lock.

``prepare`` composes a single run's config with Hydra's compose API and checks every value
(``rnnlab.run.options``) before any run dir exists, so bad input is one line and leaves
nothing behind. ``resume_dir=RUN`` is turned into the run's own overrides (see
``rnnlab.run.rundir``) and refused when today's configs would give the run another model.
A run dir named on the command line is locked for the duration of the command.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.conf import conf_dir
from rnnlab.errors import ConfigError
from rnnlab.run.rundir import RunDirLock, differences, override_key, resume_overrides

# Arguments after which Hydra does not run a job (or runs many): nothing to pre-check.
_PASSTHROUGH = ("--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--hydra-help",
                "--resolve", "-p", "--package", "--version", "--run", "-r")  # fmt: skip
_MULTIRUN = ("-m", "--multirun")
_WITH_VALUE = ("--config-dir", "-cd", "--config-name", "-cn", "--config-path", "-cp",
               "--cfg", "-c", "--package", "-p", "--info", "-i", "-sc", "--shell-completion",
               "--experimental-rerun")  # fmt: skip
# Keys whose values are paths: quoted for Hydra's parser when they hold '=' or spaces.
_PATH_KEYS = ("ckpt_path", "resume_dir", "hydra.run.dir", "hydra.sweep.dir", "data.path",
              "paths.data_dir", "paths.log_dir")  # fmt: skip
# Keys that moved: the one-line error says where they are now.
MOVED = {"data.encoding": "task.encoding", "data.embedding_dim": "task.embedding_dim"}
_REQUIRED = {"eval": "ckpt_path", "sample": "ckpt_path"}


@dataclass
class Guard:
    """The lock held on the run dir, and the run dir this command created (if any)."""

    lock: RunDirLock | None = None
    created: Path | None = None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def wants_help(argv: list[str]) -> bool:
    return any(a in ("--help", "-h") for a in argv)


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's flags with their values, the overrides)."""
    flags, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            flags.append(arg)
            if arg in _WITH_VALUE and "=" not in arg and i + 1 < len(argv):
                flags.append(argv[i + 1])
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def quote_paths(overrides: list[str]) -> list[str]:
    """``ckpt_path=a=b/last.ckpt`` -> ``ckpt_path='a=b/last.ckpt'``: Hydra's parser reads
    ``=`` and some other characters as syntax; a path should just be a path."""
    out = []
    for override in overrides:
        key, _, value = override.partition("=")
        special = any(c in value for c in "=,[]{}()' ") and value[:1] not in ("'", '"')
        if key.lstrip("+") in _PATH_KEYS and special:
            value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
            override = f"{key}={value}"
        out.append(override)
    return out


def hydra_message(err: Exception) -> str:
    """Hydra's message without its config search path, with a hint for a moved key."""
    message = str(err).split("\nConfig search path:")[0].strip()
    message = re.sub(r"\s*\n\s*", " ", message)
    for old, new in MOVED.items():
        if f"'{old}'" in message or f"{old}=" in message:
            message += f" ({old} is {new} now)"
    return message


def _config_dir(flags: list[str]) -> str | None:
    for i, flag in enumerate(flags):
        if flag in ("--config-dir", "-cd") and i + 1 < len(flags):
            return flags[i + 1]
        if flag.startswith("--config-dir="):
            return flag.split("=", 1)[1]
    return None


def compose(config_name: str, overrides: list[str], flags: list[str]) -> DictConfig:
    """The config Hydra would give the job, composed without starting it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    extra = _config_dir(flags)
    if extra:
        overrides = [*overrides, f"hydra.searchpath=[file://{Path(extra).resolve()}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            return hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def plain(node: Any) -> Any:
    """A config node as Python values, leaving interpolations that cannot be resolved yet
    (``${hydra:runtime.output_dir}``) as they are."""
    if isinstance(node, DictConfig):
        out = {}
        for key in node:
            try:
                out[key] = plain(node[key])
            except Exception:  # not resolvable before the job runs
                out[key] = node._get_node(key)._value()
        return out
    if OmegaConf.is_list(node):
        return [plain(v) for v in node]
    return node


def prepare(config_name: str, argv: list[str]) -> tuple[list[str], Guard]:
    """The arguments to run with (resume expanded, paths quoted) and the run-dir guard."""
    flags, overrides = split_args(argv)
    overrides = quote_paths(overrides)
    guard = Guard()
    if any(f in _PASSTHROUGH or f.split("=")[0] in _PASSTHROUGH for f in flags):
        return [*flags, *overrides], guard
    if any(f in _MULTIRUN for f in flags):
        return [*flags, *overrides], guard
    resume = next((o for o in overrides if override_key(o) == "resume_dir"), None)
    if resume is not None and config_name == "train":
        overrides = _resume(resume.split("=", 1)[1].strip("'\""), overrides, flags)
    cfg = compose(config_name, overrides, flags)
    if cfg.hydra.mode is not None and str(cfg.hydra.mode).endswith("MULTIRUN"):
        return [*flags, *overrides], guard  # an hparams_search config switched to multirun
    required = _REQUIRED.get(config_name)
    if required and OmegaConf.is_missing(cfg, required):
        raise ConfigError(
            required, "???", f"a checkpoint file: rnnlab-{config_name} {required}=PATH"
        )
    if config_name == "train":
        from rnnlab.run.options import check_run

        check_run({k: plain(cfg[k]) for k in ("seed", "optimizer", "scheduler", "trainer",
                                              "model", "data") if k in cfg})  # fmt: skip
    guard = _lock(cfg, overrides)
    return [*flags, *overrides], guard


def _resume(value: str, overrides: list[str], flags: list[str]) -> list[str]:
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


def _lock(cfg: DictConfig, overrides: list[str]) -> Guard:
    """Lock the run dir when it is named (resume_dir, hydra.run.dir); a new one is unique."""
    named = cfg.get("resume_dir") or next(
        (o.split("=", 1)[1].strip("'\"") for o in overrides if override_key(o) == "hydra.run.dir"),
        None,
    )
    if not named:
        return Guard()
    run_dir = Path(str(named)).expanduser().resolve()
    guard = Guard()
    if not run_dir.exists():
        run_dir.mkdir(parents=True)
        guard.created = run_dir
    guard.lock = RunDirLock(run_dir)
    key = "resume_dir" if cfg.get("resume_dir") else "hydra.run.dir"
    try:
        guard.lock.acquire(key)
    except ConfigError:
        guard.lock = None
        raise
    return guard


def continue_requeued(cfg: DictConfig, output_dir: Path) -> None:
    """A SLURM job requeued after preemption runs again in its dir: continue from last.ckpt."""
    if not os.environ.get("SLURM_RESTART_COUNT", "0").strip("0"):
        return
    if (output_dir / "checkpoints" / "last.ckpt").is_file() and not cfg.get("resume_dir"):
        from omegaconf import open_dict

        with open_dict(cfg):
            cfg.resume_dir = str(output_dir)


def help_text(config_name: str, argv: list[str]) -> str:
    """Usage, the config groups and their options (parts starting with '_' left out)."""
    import importlib

    module = {"train": "train", "eval": "eval", "sample": "sample", "bench": None}.get(config_name)
    doc = ""
    if module:
        doc = (importlib.import_module(f"rnnlab.cli.{module}").__doc__ or "").strip()
    root = Path(conf_dir())
    extra = _config_dir(split_args(argv)[0])
    roots = [root] + ([Path(extra)] if extra else [])
    groups: dict[str, set[str]] = {}
    for base in roots:
        for path in base.rglob("*.yaml"):
            rel = path.relative_to(base)
            if len(rel.parts) < 2 or rel.parts[0] in ("hydra", "local"):
                continue
            if any(p.startswith("_") for p in rel.parts):
                continue
            groups.setdefault("/".join(rel.parts[:-1]), set()).add(path.stem)
    lines = [doc, "", "Config groups (choose with group=option):"]
    width = max((len(g) for g in groups), default=0)
    for group in sorted(groups):
        lines.append(f"  {group:<{width}}  {', '.join(sorted(groups[group]))}")
    lines += [
        "",
        "Any value: key=value (model.hidden_size=128). Sweeps: -m key=a,b. Print the config:",
        "--cfg job. Your own configs: --config-dir DIR. Hydra's own options: --hydra-help.",
        'Tab completion: eval "$(rnnlab-train -sc install=bash)".',
    ]
    return "\n".join(lines)
