"""Configuration errors that name the key, the value and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class ConfigError(ValueError):
    """A config value is not acceptable; the message is meant for the user as is."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")

    def under(self, group: str) -> ConfigError:
        """The same error with the key prefixed by its config group (``data.window``)."""
        return ConfigError(f"{group}.{self.key}" if self.key else group, self.value, self.allowed)


class DataError(RuntimeError):
    """A dataset could not be read or fetched; the message says which file and why."""


@contextmanager
def config_group(group: str) -> Iterator[None]:
    """Re-raise ConfigErrors from code that knows only its own keys under ``group``."""
    try:
        yield
    except ConfigError as err:
        raise err.under(group) from None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean hidden_size?)`` for a key close to a known one, else ``""``."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_positive(key: str, value: Any, *, integer: bool = True) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise ConfigError(key, value, f"a positive {'integer' if integer else 'number'}")


def check_fraction(key: str, value: Any, *, high_inclusive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and value >= 0 and (value <= 1 if high_inclusive else value < 1)
    if not ok:
        raise ConfigError(key, value, f"a number in [0, 1{']' if high_inclusive else ')'}")


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(key, value, "one of " + ", ".join(choices))


def check_range(key: str, value: Any) -> None:
    """A ``[low, high]`` pair with low <= high."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(key, value, "a pair [low, high] of numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(key, list(value), "a pair [low, high] of finite numbers")
    if low > high:
        raise ConfigError(key, value, "a pair [low, high] with low <= high")
