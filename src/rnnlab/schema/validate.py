"""The one check of a composed config: every key against its declaration, then the rules
that span groups. It runs before torch is imported and before anything is written.

``validate(cfg, command)`` walks the plain config of ``rnnlab-train``, ``-eval`` or
``-sample``: each config group's node is checked by the declaration its ``_target_`` (or
its group option) names (``rnnlab.schema.registry``), and a node whose ``_target_`` is a
class of the user's own is checked against that class's constructor instead. The first
bad value raises ``ConfigError`` naming the full key (``data.window``), the value and what
is allowed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from rnnlab.errors import ConfigError, config_group, did_you_mean
from rnnlab.schema import registry
from rnnlab.schema.declare import Options

GROUPS = ("data", "model", "task", "optimizer", "scheduler", "trainer", "callbacks", "logger",
          "paths", "launcher", "optuna", "hydra")  # fmt: skip


def validate(cfg: Mapping[str, Any], command: str, rules: bool = True) -> None:
    """Every key and value of ``rnnlab-<command>``'s composed config (plain values); with
    ``rules`` false, each value alone (a sweep's base config: its jobs check the rest)."""
    root = registry.root(command)
    groups = {k: v for k, v in cfg.items() if k in GROUPS}
    top = {k: v for k, v in cfg.items() if k not in GROUPS}
    unknown = [k for k in top if k not in root.key_names()]
    if unknown:
        key = unknown[0]
        known = [*root.key_names(), *(g for g in GROUPS if g in cfg and g != "hydra")]
        raise ConfigError(key, top[key], f"a key of rnnlab-{command}'s config"
                          + did_you_mean(key, known) + "; the keys are " + ", ".join(known))  # fmt: skip
    root.check(top, rules)
    if "paths" in groups:
        node(groups["paths"], "paths", registry.PathsConfig, rules)
    if "trainer" in groups:
        node(groups["trainer"], "trainer", registry.TrainerOptions, rules)
    if command != "train":
        return
    node(groups["model"], "model", registry.StackOptions, rules)
    by_target(groups["data"], "data", registry.DATA, rules)
    by_target(groups["task"], "task", registry.TASKS, rules)
    by_target(groups["optimizer"], "optimizer", registry.OPTIMIZERS, rules)
    if groups.get("scheduler"):
        by_target(groups["scheduler"], "scheduler", registry.SCHEDULERS, rules)
    for group, table in (("callbacks", registry.CALLBACKS), ("logger", registry.LOGGERS)):
        for name, sub in (groups.get(group) or {}).items():
            if sub is not None:
                by_target(sub, f"{group}.{name}", table, rules)
    if groups.get("optuna") is not None:
        node(groups["optuna"], "optuna", registry.OptunaTrial, rules)
    hydra = groups.get("hydra") or {}
    choice = ((hydra.get("runtime") or {}).get("choices") or {}).get("launcher")
    if groups.get("launcher") is not None and choice in registry.LAUNCHERS:
        node(groups["launcher"], "launcher", registry.LAUNCHERS[choice], rules)
    sweeper = hydra.get("sweeper") or {}
    if sweeper.get("_target_") == registry.SWEEPER.__dataclass_fields__["_target_"].default:
        node(sweeper, "hydra.sweeper", registry.SWEEPER, rules)
    if rules:
        registry.cross_rules(cfg)


def node(values: Any, where: str, cls: type[Options], rules: bool) -> Options:
    """One config node against one declaration (its rules too, unless ``rules`` is false);
    errors under ``where``."""
    if not isinstance(values, Mapping):
        raise ConfigError(where, values, "a config node (key: value pairs)")
    with config_group(where):
        return cls.check(values, rules, where)


def by_target(values: Any, where: str, table: Mapping[str, type[Options]],
              rules: bool) -> Options | None:  # fmt: skip
    """A node whose ``_target_`` names its declaration, or a class of the user's own."""
    if not isinstance(values, Mapping):
        raise ConfigError(where, values, "a config node with a _target_")
    target = values.get("_target_")
    if target in table:
        return node(values, where, table[target], rules)
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{where}._target_", target, "the import path of a class, or one of "
                          + ", ".join(table))  # fmt: skip
    check_signature(values, where, target)
    return None


def check_signature(values: Mapping[str, Any], where: str, target: str) -> None:
    """A class of the user's own: importable, and every key one of its arguments."""
    from hydra.utils import get_object

    try:
        cls = get_object(target)
    except Exception as err:
        # Hydra's message spans lines (what failed to load, then why): all of it, on one line
        reason = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        reason = reason or type(err).__name__
        raise ConfigError(f"{where}._target_", target,
                          f"an importable class or function ({reason})") from None  # fmt: skip
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key, value in values.items():
        if not str(key).startswith("_") and key not in names:
            raise ConfigError(f"{where}.{key}", value, f"an argument of {target}"
                              + did_you_mean(key, names) + "; its arguments are "
                              + ", ".join(names))  # fmt: skip
