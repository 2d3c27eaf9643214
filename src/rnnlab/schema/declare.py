"""How a config key is declared: its name, type, default, what it allows and what it means.

Each config group's options are one dataclass (``Options``); each field is declared with
``option(default, meaning, ...)``, which records the bound or the choices beside the
default. ``Options.check(values)`` is the one check of a group's values: unknown keys (with
the keys there are and a near match), each value against its field's type and bound, then
the class's ``rules`` for the few rules that span keys. The error names the key, the value
and what is allowed, in words generated from the same declaration (``allowed``), so the
message, ``--help`` and the README's tables cannot disagree with the check.

Nothing here imports torch: the checks run before any heavy import.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, Union

from rnnlab.errors import ConfigError, did_you_mean

META = "rnnlab"


@dataclass(frozen=True)
class Bound:
    """What a field allows beyond its type (all optional)."""

    meaning: str = ""
    ge: float | None = None  # value >= ge
    gt: float | None = None  # value > gt
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] = ()  # for str fields: the only values; else extra values allowed
    pair: bool = False  # a [low, high] pair with low <= high
    items: int | None = None  # a list of exactly this many values
    check: Callable[[Any], bool] | None = None  # a test the type cannot express
    allowed: str = ""  # what ``check`` allows, in words (replaces the generated text)


def option(
    default: Any = MISSING,
    meaning: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    **bound: Any,
) -> Any:
    """A declared field: ``hidden_size: int = option(64, "units per layer", ge=1)``."""
    if isinstance(default, (list, dict, set)):
        value = default
        factory = factory or (lambda: type(value)(value))
        default = MISSING
    meta = {META: Bound(meaning=meaning, **bound)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def bound_of(f: Field) -> Bound:
    return f.metadata.get(META, Bound())


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return "???"


# Types ------------------------------------------------------------------------------------


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def is_optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in _args(tp)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _fmt(x: float) -> str:
    if x == math.pi * 2:
        return "2*pi"
    return f"{x:g}" if isinstance(x, float) else str(x)


def _bounds_text(b: Bound, integer: bool) -> str:
    low = (">=", b.ge) if b.ge is not None else ((">", b.gt) if b.gt is not None else None)
    high = ("<=", b.le) if b.le is not None else (("<", b.lt) if b.lt is not None else None)
    if low and high:
        if integer and low[0] == ">=" and high[0] == "<=":
            return f" from {_fmt(low[1])} to {_fmt(high[1])}"
        left = "[" if low[0] == ">=" else "("
        right = "]" if high[0] == "<=" else ")"
        return f" in {left}{_fmt(low[1])}, {_fmt(high[1])}{right}"
    if low:  # (an integer >= 1 alone is said as "a positive integer" by _words)
        return f" {low[0]} {_fmt(low[1])}"
    if high:
        return f" {high[0]} {_fmt(high[1])}"
    return ""


def _within(value: float, b: Bound) -> bool:
    return not (
        (b.ge is not None and value < b.ge)
        or (b.gt is not None and value <= b.gt)
        or (b.le is not None and value > b.le)
        or (b.lt is not None and value >= b.lt)
    )


def _words(tp: Any, b: Bound) -> str:
    """What a value of type ``tp`` under bound ``b`` may be, in words."""
    if tp is bool:
        return "true or false"
    if tp is int:
        positive = b.ge == 1 and b.le is None and b.lt is None
        return "a positive integer" if positive else "an integer" + _bounds_text(b, True)
    if tp is float:
        return "a finite number" + _bounds_text(b, False)
    if tp is str:
        if b.choices:
            return "one of " + ", ".join(str(c) for c in b.choices)
        return "a non-empty string"
    if typing.get_origin(tp) in (list, tuple):
        inner = _args(tp)[0] if _args(tp) else Any
        if b.pair:
            each = _bounds_text(b, False)
            return "a pair [low, high] of finite numbers with low <= high" + (
                f", each{each}" if each else ""
            )
        what = _words(inner, Bound(ge=b.ge, gt=b.gt, le=b.le, lt=b.lt)) if inner is not Any else ""
        if b.items not in (None, 2):  # a list of 3 integers, a list of 3 values
            return f"a list of {b.items} {_plural(what) if what else 'values'}"
        count = "a pair" if b.items == 2 else "a list"
        return f"{count} of {_plural(what)}" if what else count
    if _is_union(tp):
        parts = [t for t in _args(tp) if t is not type(None)]
        words = [_words(t, b if t is not str else Bound()) for t in parts if t is not str]
        if str in parts:
            words.insert(0, " or ".join(str(c) for c in b.choices) if b.choices
                         else "a non-empty string")  # fmt: skip
        text = " or ".join(w for w in words if w)
        return ("null or " + text) if type(None) in _args(tp) else text
    if tp is dict or typing.get_origin(tp) is dict:
        return "a mapping"
    return "any value"


def _plural(words: str) -> str:
    for single, plural in (("a finite number", "finite numbers"), ("an integer", "integers"),
                           ("a positive integer", "positive integers"),
                           ("a non-empty string", "strings")):  # fmt: skip
        if words.startswith(single):
            return plural + words[len(single) :]
    return words


def allowed(tp: Any, b: Bound) -> str:
    """The text of ``key=value is not allowed: <allowed>`` for this declaration."""
    return b.allowed or _words(tp, b)


def fits(tp: Any, value: Any, b: Bound) -> bool:
    """Does ``value`` have type ``tp`` and lie within ``b``?"""
    if b.check is not None and not _union_null(tp, value):
        return bool(b.check(value))
    if tp is Any:
        return True
    if _is_union(tp):
        if value is None:
            return type(None) in _args(tp)
        if isinstance(value, str) and str in _args(tp):
            return value in b.choices if b.choices else bool(value.strip())
        return any(fits(t, value, b) for t in _args(tp) if t not in (type(None), str))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return _is_int(value) and _within(value, b)
    if tp is float:
        return _is_number(value) and _within(value, b)
    if tp is str:
        if b.choices:
            return isinstance(value, str) and value in b.choices
        return isinstance(value, str) and bool(value.strip())
    if typing.get_origin(tp) in (list, tuple):
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            return False
        items = list(value)
        if b.items is not None and len(items) != b.items:
            return False
        inner = _args(tp)[0] if _args(tp) else Any
        item_bound = Bound(ge=b.ge, gt=b.gt, le=b.le, lt=b.lt)
        if not all(fits(inner, v, item_bound) for v in items):
            return False
        return not b.pair or (len(items) == 2 and items[0] <= items[1])
    if tp is dict or typing.get_origin(tp) is dict:
        return isinstance(value, Mapping)
    raise TypeError(f"a declaration's type the check does not know: {tp!r}")


def _union_null(tp: Any, value: Any) -> bool:
    return value is None and is_optional(tp)


def _plain(value: Any) -> Any:
    """A value as the user wrote it, for the message (lists as lists)."""
    if isinstance(value, tuple):
        return list(value)
    return value


# The base of every declaration ----------------------------------------------------------


class Options:
    """Mixin of every options dataclass: the check, the defaults, the keys.

    ``declares``: the ``_target_`` this class declares (a datamodule, a task, a callback...);
    ``passthrough``: keys passed on to a library class unchecked (Lightning's other Trainer
    arguments, say), named so that an unknown key is still refused; ``rnnlab_keys``: keys of
    the node that rnnlab reads itself (``_target_``, ``_partial_``).
    """

    declares: ClassVar[str | None] = None
    passthrough: ClassVar[tuple[str, ...]] = ()
    group: ClassVar[str] = ""  # what the unknown-key message calls the node ("model", ...)

    def rules(self) -> None:
        """Rules that span keys; raise ``ConfigError`` with the key relative to the group."""

    @classmethod
    def declared(cls) -> list[Field]:
        return [f for f in fields(cls) if not f.name.startswith("_")]

    @classmethod
    def key_names(cls) -> list[str]:
        return [f.name for f in cls.declared()]

    @classmethod
    def hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every declared key with its default, lists as lists (what the configs compose)."""
        out = {f.name: _plain(default_of(f)) for f in cls.declared()}
        if cls.declares:
            out = {"_target_": cls.declares, **out}
        return out

    @classmethod
    def check_value(cls, key: str, value: Any) -> None:
        """One value against its declaration (``key`` is a field of this class)."""
        f = next(f for f in cls.declared() if f.name == key)
        tp, b = cls.hints()[key], bound_of(f)
        if value == "???":  # Hydra's mark of a value the config leaves to the command line
            raise ConfigError(key, value, f"a value: it has no default ({allowed(tp, b)})")
        if not fits(tp, value, b):
            raise ConfigError(key, _plain(value), allowed(tp, b))

    @classmethod
    def check(cls, values: Mapping[str, Any], rules: bool = True, where: str = "") -> Options:
        """Every key and value of one config node, then the rules (unless ``rules`` is
        false: a sweep's base config, whose combinations only its jobs know). ``where``
        names the node in an unknown key's message (default: the class's ``group``)."""
        known = cls.key_names()
        given = {k: v for k, v in values.items() if not str(k).startswith("_")}
        where = where or cls.group
        for key in given:
            if key not in known and key not in cls.passthrough:
                hint = did_you_mean(key, [*known, *cls.passthrough])
                if where and where != "the config":  # the full key, as the user writes it
                    hint = hint.replace("mean ", f"mean {where}.")
                raise ConfigError(key, _plain(given[key]), f"a key of {where or 'this node'}"
                                  + hint + "; the keys are " + ", ".join(known))  # fmt: skip
        for key in known:
            if key in given:
                cls.check_value(key, given[key])
        options = cls(**{k: v for k, v in given.items() if k in known})
        if rules:
            options.rules()
        return options

    @classmethod
    def table(cls) -> list[tuple[str, str, str, str]]:
        """(key, default, what it allows, meaning) per declared key: ``--help`` and the docs."""
        rows = []
        hints = cls.hints()
        for f in cls.declared():
            default = default_of(f)
            shown = "null" if default is None else str(_plain(default)).lower() if isinstance(
                default, bool) else str(_plain(default))  # fmt: skip
            rows.append((f.name, shown, allowed(hints[f.name], bound_of(f)), bound_of(f).meaning))
        return rows
