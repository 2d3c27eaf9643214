"""What the commands do before Hydra starts a job: help, resume, checks, the run-dir lock.

``prepare`` composes a single run's config with Hydra's compose API and checks every value
(``rnnlab.run.options``) before any run dir exists, so bad input is one line and leaves
nothing behind; Hydra's own composition errors (an unknown key or option, a group set to
null, a moved key, an override it cannot parse) become the same one-line form. A sweep's
launcher is checked against the machine. ``resume_dir=RUN`` is turned into the run's own
overrides (see ``rnnlab.run.rundir``) and refused when today's configs would give the run
another model.

The run dir of a single run is fixed here (``hydra.run.dir``, resolved once) and locked for
the duration of the command. ``Guard`` remembers whether this command created it, and what
Hydra may write into an existing one before the job's checks have run (``.hydra/``, the log
file): a command refused after Hydra started (a check that needs built objects, a
checkpoint that does not fit) removes the dir it created, or puts those files back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.conf import conf_dir
from rnnlab.errors import ConfigError, config_group, did_you_mean
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


# What Hydra writes into a run dir before the job runs (the log file is buffered: see
# hydra/job_logging/rnnlab.yaml), relative to the run dir; ``{config}`` is the config name.
HYDRA_WRITES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "{config}.log")


@dataclass
class Guard:
    """The lock held on the run dir, the folders this command created (if any), and the
    files Hydra may rewrite in a run dir that existed: what a refused command undoes."""

    lock: RunDirLock | None = None
    created: Path | None = None
    created_parents: list[Path] = field(default_factory=list)
    run_dir: Path | None = None
    saved: dict[Path, tuple[bytes, int, int] | None] = field(default_factory=dict)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def snapshot(self, run_dir: Path, config_name: str) -> None:
        """Remember the bytes and times of the files Hydra may write into ``run_dir``."""
        self.run_dir = run_dir
        for rel in HYDRA_WRITES:
            path = run_dir / rel.format(config=config_name)
            try:
                st = path.stat()
                self.saved[path] = (path.read_bytes(), st.st_atime_ns, st.st_mtime_ns)
            except OSError:  # absent (or unreadable: then it cannot be written either)
                self.saved[path] = None

    def undo(self) -> None:
        """The command was refused: remove the run dir it created, or restore what Hydra
        rewrote in an existing one. Best effort: a failure here must not hide the error."""
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            for parent in self.created_parents:  # deepest first; only if left empty
                try:
                    parent.rmdir()
                except OSError:
                    break
            return
        for path, before in self.saved.items():
            try:
                if before is None:
                    path.unlink(missing_ok=True)
                    continue
                data, atime, mtime = before
                if not path.is_file() or path.read_bytes() != data:
                    path.write_bytes(data)
                os.utime(path, ns=(atime, mtime))
            except OSError:
                pass
        hydra_dir = self.run_dir / ".hydra" if self.run_dir is not None else None
        if hydra_dir is not None and all(
            before is None for p, before in self.saved.items() if p.parent == hydra_dir
        ):
            with contextlib.suppress(OSError):
                hydra_dir.rmdir()  # created by Hydra for this command, and empty again


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


_NOT_FOUND = re.compile(r"Could not find '(?P<path>[^']+)'")
_OPTIONS = re.compile(r"Available options in '[^']+':\n(?P<options>(?:\t[^\n]*\n?)*)")
_NO_KEY = re.compile(r"Could not override '(?P<key>[^']+)'")


def hydra_message(err: Exception) -> str:
    """Hydra's message in one line without its config search path: a missing option of a
    group as ``group='option' is not allowed: one of ...``, a moved key with its new name."""
    text = str(err)
    found, options = _NOT_FOUND.search(text), _OPTIONS.search(text)
    if found and options and "/" in found["path"]:
        group, option = found["path"].rsplit("/", 1)
        choices = [o.strip() for o in options["options"].split("\n")]
        choices = [c for c in choices if c and not c.startswith("_")]
        return str(ConfigError(group, option, "one of " + ", ".join(choices)))
    message = text.split("\nConfig search path:")[0].strip()
    message = re.sub(r"\s*\n\s*", " ", message)
    for old, new in MOVED.items():
        if f"'{old}'" in message or f"{old}=" in message:
            message = f"{old} is not a key any more: it is {new} now"
    return message


def _parts(override: str) -> tuple[str, str]:
    """(key, value as written) of ``+key=value``."""
    key, _, value = override.lstrip("+~").partition("=")
    return key.strip(), value


def _check_syntax(overrides: list[str]) -> None:
    """An override Hydra cannot parse, named with the parser's reason."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as err:
            key, value = _parts(override)
            reason = str(err).splitlines()[-2 if "See https" in str(err) else -1].strip()
            if "=" not in override:
                raise ConfigError(
                    key, "", f"key=value: the value is missing ({key}=VALUE)"
                ) from None
            raise ConfigError(
                key, value, f"a value Hydra can read ({reason}); quote one that holds "
                f"= , [ ] {{ }} ( ) or spaces: {key}='...'",
            ) from None  # fmt: skip


def _check_moved_and_null_groups(overrides: list[str], flags: list[str]) -> None:
    """A key that moved to another group, and a config group set to null (Hydra
    answers both with a traceback or a hint that does not help)."""
    for override in overrides:
        key, value = _parts(override)
        if key in MOVED and not override.startswith("~"):
            raise ConfigError(key, value, f"{MOVED[key]}={value}: the key moved to {MOVED[key]}")
        if value.strip() == "null" and "." not in key and not override.startswith("~"):
            choices = group_options(key, flags)
            if choices:
                hint = f"; {key}=none for no {key}" if "none" in choices else ""
                raise ConfigError(key, value, "one of " + ", ".join(choices) + hint)


def group_options(group: str, flags: list[str]) -> list[str]:
    """The options of a config group in the shipped configs and ``--config-dir``, private
    ones (``_stack``) left out; empty when ``group`` is not a config group."""
    roots = [Path(conf_dir())] + ([Path(d)] if (d := _config_dir(flags)) else [])
    names = {p.stem for r in roots if (r / group).is_dir() for p in (r / group).glob("*.yaml")}
    return sorted(n for n in names if not n.startswith("_"))


def _keys(node: Any) -> list[str]:
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def _value(override: str) -> Any:
    """The value of an override as Hydra reads it (``32`` of ``model.hiden_size=32``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(override).value()
    except Exception:
        return _parts(override)[1]


def unknown_key(config_name: str, key: str, overrides: list[str], flags: list[str]) -> ConfigError:
    """``key=value`` for a key the config does not have: the keys it has, a near match."""
    override = next((o for o in overrides if _parts(o)[0] == key), f"{key}=")
    parts = key.split(".")
    node: Any = None
    others = [o for o in overrides if o != override]
    # The keys come from the group choices; other values may be just as wrong.
    for attempt in (others, [o for o in others if "." not in _parts(o)[0]]):
        try:
            node = compose(config_name, attempt, flags)
            break
        except Exception:
            continue
    where: list[str] = []
    for part in parts[:-1]:
        if part not in _keys(node):
            break
        node = node._get_node(part)
        where.append(part)
    known = [k for k in _keys(node) if k != "hydra"]
    scope = ".".join(where) or f"rnnlab-{config_name}'s config"
    prefix = "".join(f"{w}." for w in where)
    hint = did_you_mean(parts[len(where)], known).replace("mean ", f"mean {prefix}")
    allowed = f"a key of {scope}{hint}"
    if known:
        allowed += "; the keys are " + ", ".join(known)
    if not where or where[0] not in ("model", "data"):  # those groups take no other keys
        allowed += f"; +{key}=... adds a key of your own"
    return ConfigError(key, _value(override), allowed)


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


def plain_item(cfg: DictConfig, key: str) -> Any:
    """``plain(cfg[key])``; an interpolation that cannot be resolved stays as written."""
    try:
        return plain(cfg[key])
    except Exception:
        return cfg._get_node(key)._value()


def prepare(config_name: str, argv: list[str]) -> tuple[list[str], Guard]:
    """The arguments to run with (resume expanded, paths quoted) and the run-dir guard."""
    flags, overrides = split_args(argv)
    overrides = quote_paths(overrides)
    guard = Guard()
    if any(f in _PASSTHROUGH or f.split("=")[0] in _PASSTHROUGH for f in flags):
        return [*flags, *overrides], guard
    _check_syntax(overrides)
    _check_moved_and_null_groups(overrides, flags)
    if any(f in _MULTIRUN for f in flags):
        _check_sweep(config_name, overrides, flags)
        return [*flags, *overrides], guard
    resume = next((o for o in overrides if override_key(o) == "resume_dir"), None)
    if resume is not None and config_name == "train":
        overrides = _resume(_unquote(resume.split("=", 1)[1]), overrides, flags)
    cfg = _compose_or_explain(config_name, overrides, flags)
    if cfg.hydra.mode is not None and str(cfg.hydra.mode).endswith("MULTIRUN"):
        _check_sweep(config_name, overrides, flags)
        return [*flags, *overrides], guard  # an hparams_search config switched to multirun
    required = _REQUIRED.get(config_name)
    if required and OmegaConf.is_missing(cfg, required):
        raise ConfigError(
            required, "???", f"a checkpoint file: rnnlab-{config_name} {required}=PATH"
        )
    if required:
        from rnnlab.run.options import check_ckpt_path

        check_ckpt_path(plain_item(cfg, required), required=True)
    if config_name == "train":
        from rnnlab.run.options import check_run

        check_run({k: plain_item(cfg, k) for k in ("seed", "ckpt_path", "optimizer", "scheduler",
                                                   "trainer", "model", "data") if k in cfg})  # fmt: skip
    elif config_name == "eval" and "trainer" in cfg:
        from rnnlab.run.options import check_trainer

        with config_group("trainer"):
            check_trainer(plain_item(cfg, "trainer"))
    elif config_name == "sample":
        from rnnlab.run.options import check_seed

        check_seed(plain_item(cfg, "seed"))
    if not any(override_key(o) == "hydra.run.dir" for o in overrides):
        # Resolved once here: Hydra then uses this dir, and a refusal knows what it created.
        try:
            run_dir = str(cfg.hydra.run.dir)
        except Exception:  # left to Hydra, which reports it
            run_dir = None
        if run_dir:
            overrides = [*overrides, *quote_paths([f"hydra.run.dir={run_dir}"])]
    guard = _lock(cfg, overrides, config_name)
    return [*flags, *overrides], guard


def _compose_or_explain(config_name: str, overrides: list[str], flags: list[str]) -> DictConfig:
    """``compose``, with an unknown key answered by the keys there are."""
    from hydra.errors import ConfigCompositionException

    try:
        return compose(config_name, overrides, flags)
    except ConfigCompositionException as err:
        match = _NO_KEY.search(str(err))
        if match and "To append to your config" in str(err):
            raise unknown_key(config_name, match["key"], overrides, flags) from None
        raise


def _check_sweep(config_name: str, overrides: list[str], flags: list[str]) -> None:
    """What a sweep needs of this machine (its launcher), checked before any job starts."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from rnnlab.run.options import check_launcher

    parser = OverridesParser.create()
    single = [o for o in overrides if not parser.parse_override(o).is_sweep_override()]
    try:
        cfg = compose(config_name, single, flags)
    except Exception:  # Hydra reports its own composition errors when the sweep starts
        return
    choice = cfg.hydra.runtime.choices.get("launcher") or cfg.hydra.runtime.choices.get(
        "hydra/launcher"
    )
    check_launcher(choice, cfg.hydra.launcher.get("_target_"))


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


def _unquote(value: str) -> str:
    """The path of a quoted override value (``quote_paths`` in reverse)."""
    if len(value) < 2 or value[0] != value[-1] or value[0] not in "'\"":
        return value
    out, chars = [], iter(value[1:-1])
    for char in chars:
        out.append(next(chars, "\\") if char == "\\" else char)
    return "".join(out)


def _lock(cfg: DictConfig, overrides: list[str], config_name: str = "train") -> Guard:
    """Create (if new) and lock the run dir (resume_dir, hydra.run.dir); remember what a
    refusal must undo in it."""
    named = cfg.get("resume_dir") or next(
        (_unquote(o.split("=", 1)[1]) for o in overrides if override_key(o) == "hydra.run.dir"),
        None,
    )
    if not named:
        return Guard()
    run_dir = Path(str(named)).expanduser().resolve()
    guard = Guard()
    if not run_dir.exists():
        missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
        run_dir.mkdir(parents=True)
        guard.created, guard.created_parents = run_dir, missing[1:]
    else:
        guard.snapshot(run_dir, config_name)
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
