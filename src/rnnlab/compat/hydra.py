"""Hydra internals rnnlab uses.

- ``convert_choice``: Hydra's conversion of one element of a ``choice(...)`` sweep to the
  value a job would receive (the Optuna sweeper turns choices into categorical parameters).
"""

from __future__ import annotations

from typing import Any


def convert_choice(override: Any, value: Any) -> Any:
    """The value ``override=choice(..., value, ...)`` gives a job (e.g. ``'1e-3'`` -> 0.001)."""
    return override._convert_value(value)
