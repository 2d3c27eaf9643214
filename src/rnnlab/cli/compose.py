"""Composing a config as Hydra will, without starting a job, and Hydra's errors in one line.

``compose`` gives the config a command would run with; ``plain`` turns it into Python
values for the torch-free checks. Hydra answers an unknown key, a missing option, a group
set to null, a moved key or an override it cannot parse with a traceback or a hint that
does not say what is allowed: ``hydra_message``, ``check_syntax``,
``check_moved_and_null_groups`` and ``unknown_key`` turn each into the one-line form of
``rnnlab.errors.ConfigError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.cli.args import MOVED, config_dir, parts
from rnnlab.compat.omegaconf import written_value
from rnnlab.conf import conf_dir
from rnnlab.errors import ConfigError, did_you_mean


def compose(config_name: str, overrides: list[str], flags: list[str]) -> DictConfig:
    """The config Hydra would give the job, composed without starting it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    extra = config_dir(flags)
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
                out[key] = written_value(node, key)
        return out
    if OmegaConf.is_list(node):
        return [plain(v) for v in node]
    return node


def plain_item(cfg: DictConfig, key: str) -> Any:
    """``plain(cfg[key])``; an interpolation that cannot be resolved stays as written."""
    try:
        return plain(cfg[key])
    except Exception:
        return written_value(cfg, key)


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """A composed config as Python values for the check: every key but ``hydra``, plus the
    parts of ``hydra`` the check reads (the group choices and the sweeper)."""
    out = {k: plain_item(cfg, k) for k in cfg if k != "hydra"}
    if "hydra" in cfg:
        hydra = cfg.hydra
        out["hydra"] = {
            "runtime": {"choices": plain(hydra.runtime.choices)},
            "sweeper": plain_item(hydra, "sweeper") if "sweeper" in hydra else {},
        }
    return out


def hydra_message(err: Exception) -> str:
    """Hydra's error in one line: a missing option of a group from the exception's own fields
    (``group='option' is not allowed: one of ...``), any other as its first lines without
    the config search path."""
    from hydra.errors import MissingConfigException

    missing, options = getattr(err, "missing_cfg_file", None), getattr(err, "options", None)
    if isinstance(err, MissingConfigException) and missing and options and "/" in missing:
        group, option = missing.rsplit("/", 1)
        choices = [o for o in options if not o.startswith("_")]
        return str(ConfigError(group, option, "one of " + ", ".join(choices)))
    message = str(err).split("\nConfig search path:")[0].strip()
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def check_syntax(overrides: list[str]) -> None:
    """An override Hydra cannot parse, named with the parser's reason."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as err:
            key, value = parts(override)
            reason = str(err).splitlines()[-2 if "See https" in str(err) else -1].strip()
            if "=" not in override:
                raise ConfigError(
                    key, "", f"key=value: the value is missing ({key}=VALUE)"
                ) from None
            raise ConfigError(
                key, value, f"a value Hydra can read ({reason}); quote one that holds "
                f"= , [ ] {{ }} ( ) or spaces: {key}='...'",
            ) from None  # fmt: skip


def check_moved_and_null_groups(overrides: list[str], flags: list[str]) -> None:
    """A key that moved to another group, and a config group set to null (Hydra
    answers both with a traceback or a hint that does not help)."""
    for override in overrides:
        key, value = parts(override)
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
    roots = [Path(conf_dir())] + ([Path(d)] if (d := config_dir(flags)) else [])
    names = {p.stem for r in roots if (r / group).is_dir() for p in (r / group).glob("*.yaml")}
    return sorted(n for n in names if not n.startswith("_"))


def _value(override: str) -> Any:
    """The value of an override as Hydra reads it (``32`` of ``model.hiden_size=32``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(override).value()
    except Exception:
        return parts(override)[1]


def unknown_key(config_name: str, key: str, overrides: list[str], flags: list[str]) -> ConfigError:
    """``key=value`` for a key the config does not have, answered by the one check: the
    config without it, with it added, names the keys there are and a near match."""
    from rnnlab.schema.validate import validate

    override = next((o for o in overrides if parts(o)[0] == key), None)
    if override is None:  # OmegaConf named the missing parent (``modle`` of modle.hidden_size)
        override = next((o for o in overrides if parts(o)[0].startswith(key + ".")), f"{key}=")
        key = parts(override)[0]
    value = _value(override)
    others = [o for o in overrides if o != override]
    cfg = None
    # The keys come from the group choices; other values may be just as wrong.
    for attempt in (others, [o for o in others if "." not in parts(o)[0]]):
        try:
            cfg = plain_config(compose(config_name, attempt, flags))
            break
        except Exception:
            continue
    if cfg is not None:
        node, segments = cfg, key.split(".")
        for part in segments[:-1]:
            if not isinstance(node.get(part), dict):
                node = None
                break
            node = node[part]
        if node is not None:
            node[segments[-1]] = value
            try:
                validate(cfg, config_name)
            except ConfigError as err:
                return err
    groups = [k for k in (cfg or {}) if k != "hydra"]
    return ConfigError(key, value, f"a key of rnnlab-{config_name}'s config"
                       + did_you_mean(key.split(".")[0], groups)
                       + "; its groups and keys are " + ", ".join(groups))  # fmt: skip
