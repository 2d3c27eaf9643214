"""Composing a config as Hydra will, without starting a job, and Hydra's errors in one line.

``compose`` gives the config a command would run with; ``plain`` turns it into Python
values for the torch-free checks. Hydra answers an unknown key, a missing option, a group
set to null, a moved key or an override it cannot parse with a traceback or a hint that
does not say what is allowed: ``hydra_message``, ``check_syntax``,
``check_moved_and_null_groups`` and ``unknown_key`` turn each into the one-line form of
``rnnlab.errors.ConfigError``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.cli.args import MOVED, config_dir, parts
from rnnlab.conf import conf_dir
from rnnlab.errors import ConfigError, did_you_mean

_NOT_FOUND = re.compile(r"Could not find '(?P<path>[^']+)'")


_OPTIONS = re.compile(r"Available options in '[^']+':\n(?P<options>(?:\t[^\n]*\n?)*)")


NO_KEY = re.compile(r"Could not override '(?P<key>[^']+)'")


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


def _keys(node: Any) -> list[str]:
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def _value(override: str) -> Any:
    """The value of an override as Hydra reads it (``32`` of ``model.hiden_size=32``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(override).value()
    except Exception:
        return parts(override)[1]


def unknown_key(config_name: str, key: str, overrides: list[str], flags: list[str]) -> ConfigError:
    """``key=value`` for a key the config does not have: the keys it has, a near match."""
    override = next((o for o in overrides if parts(o)[0] == key), f"{key}=")
    segments = key.split(".")
    node: Any = None
    others = [o for o in overrides if o != override]
    # The keys come from the group choices; other values may be just as wrong.
    for attempt in (others, [o for o in others if "." not in parts(o)[0]]):
        try:
            node = compose(config_name, attempt, flags)
            break
        except Exception:
            continue
    where: list[str] = []
    for part in segments[:-1]:
        if part not in _keys(node):
            break
        node = node._get_node(part)
        where.append(part)
    known = [k for k in _keys(node) if k != "hydra"]
    scope = ".".join(where) or f"rnnlab-{config_name}'s config"
    prefix = "".join(f"{w}." for w in where)
    hint = did_you_mean(segments[len(where)], known).replace("mean ", f"mean {prefix}")
    allowed = f"a key of {scope}{hint}"
    if known:
        allowed += "; the keys are " + ", ".join(known)
    if not where or where[0] not in ("model", "data"):  # those groups take no other keys
        allowed += f"; +{key}=... adds a key of your own"
    return ConfigError(key, _value(override), allowed)
