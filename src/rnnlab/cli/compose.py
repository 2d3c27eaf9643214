"""Config values for the checks, and Hydra's errors in one line.

Hydra answers an unknown key, a missing option, a group set to
null, a moved key or an override it cannot parse with a traceback or a hint that does not
say what is allowed: ``hydra_message``, ``composition_error``, ``check_syntax`` and
``check_moved_and_null_groups`` turn each into the one-line form of
``rnnlab.errors.ConfigError``, from the errors' own fields where they have them.
``compose`` composes a config outside a run, for ``--help`` and the tests: a command's
config is composed once, by Hydra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rnnlab.cli.args import MOVED, config_dir, parts
from rnnlab.compat.hydra import error_line
from rnnlab.conf import conf_dir
from rnnlab.errors import ConfigError, did_you_mean
from rnnlab.schema.values import plain


def compose(config_name: str, overrides: list[str], flags: list[str]) -> DictConfig:
    """The config Hydra would give the job, composed outside a run (``--help``, tests)."""
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
    return error_line(err)


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


def composition_error(err: Exception, overrides: list[str], command: str = "train") -> Exception:
    """Hydra's composition error as ``ConfigError`` where OmegaConf names the key the config
    lacks (``model.hiden_size=32``), from the error's own fields: the key's declaration says
    what there is, or else the node's keys. Any other error is returned as it is."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from rnnlab.schema.registry import check_key, declaration_of

    cause = err.__cause__
    missing = str(getattr(cause, "full_key", "") or "")
    if not missing or not isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return err
    override = next((o for o in overrides if parts(o)[0] == missing), None) or next(
        (o for o in overrides if parts(o)[0].startswith(missing + ".")), f"{missing}="
    )  # the key itself, or one below a node that is not there (``modle.hidden_size``)
    key, value = parts(override)[0], _value(override)
    parent = getattr(cause, "parent_node", None)
    node = plain(parent) if isinstance(parent, DictConfig) else {}
    where, _, name = missing.rpartition(".")
    if where and key == missing:
        nested: dict[str, Any] = node
        for part in reversed(where.split(".")):
            nested = {part: nested}
        if declaration_of(nested, key, command)[0] is not None:
            try:
                check_key(nested, key, value, command)
            except ConfigError as refused:
                return refused
            return ConfigError(key, value, "a key the config lists; add a key its declaration "
                               f"allows with +{key}={parts(override)[1]}")  # fmt: skip
    keys = [str(k) for k in node if not str(k).startswith("_") and k != "hydra"]
    node_name = where or f"rnnlab-{command}'s config"
    return ConfigError(key, value, f"a key of {node_name}" + did_you_mean(name, keys)
                       + "; the keys there are " + ", ".join(keys))  # fmt: skip
