"""Configuration errors that name the key, the value and what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class ConfigError(ValueError):
    """A config value is not acceptable; the message is meant for the user as is."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={shown(value)} is not allowed: {allowed}")

    def under(self, group: str) -> ConfigError:
        """The same error with the key prefixed by its config group (``data.window``)."""
        return ConfigError(f"{group}.{self.key}" if self.key else group, self.value, self.allowed)


def shown(value: Any) -> str:
    """A value as a user writes it on the command line: true, false, null, 'text', 3."""
    if value is True or value is False:
        return str(value).lower()
    if value is None:
        return "null"
    return repr(value)


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
