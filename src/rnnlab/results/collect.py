"""Runs as rows for a results table: flattened config, numeric final metrics, directions.

Directories are read with ``rnnlab.io.runs``; a directory that cannot be used (unfinished,
failed, damaged) becomes a ``Skipped`` entry with the reason instead of an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.io.runs import find_run_dirs, flatten, read_run

__all__ = ["Run", "Skipped", "collect_runs", "flatten", "numeric_metrics", "load_run"]


@dataclass
class Run:
    """One finished run: flattened config plus its numeric final metrics.

    ``better`` maps a metric to ``"higher"`` or ``"lower"``: which way is better, as the task
    that computed the metric declared it (``metrics.json``'s ``better`` entry).
    """

    location: str
    config: dict[str, Any]
    metrics: dict[str, float]
    overrides: list[str] = field(default_factory=list)
    better: dict[str, str] = field(default_factory=dict)
    status: str = "completed"  # or "pruned": an Optuna trial stopped early, tested as usual

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass
class Skipped:
    location: str
    reason: str


def numeric_metrics(raw: Mapping[str, Any]) -> dict[str, float]:
    """Keep finite numbers only: status strings, nested entries and NaNs from diverged runs
    would otherwise poison means."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def directions(raw: Mapping[str, Any]) -> dict[str, str]:
    better = raw.get("better")
    if not isinstance(better, Mapping):
        return {}
    return {str(k): str(v) for k, v in better.items() if v in ("higher", "lower")}


def load_run(path: Path) -> Run | Skipped:
    """Load one run directory, or explain why it cannot be used."""
    record = read_run(path)
    loc = str(path)
    if record.metrics is None:
        return Skipped(loc, record.problems["metrics"])
    if record.status == "failed":
        return Skipped(loc, f"run failed: {record.error or 'no error message'}")
    if record.status == "interrupted":
        return Skipped(loc, f"run interrupted at step {record.metrics.get('step', '?')}; resume it")
    if record.config is None:
        return Skipped(loc, record.problems["config"])
    metrics = numeric_metrics(record.metrics)
    if not metrics:
        return Skipped(loc, "metrics.json holds no numeric metrics")
    return Run(
        loc,
        flatten(record.config),
        metrics,
        record.overrides,
        directions(record.metrics),
        record.status,
    )


def collect_runs(roots: Iterable[str | os.PathLike[str]]) -> tuple[list[Run], list[Skipped]]:
    """All usable runs under ``roots`` and every directory that was skipped."""
    dirs, missing = find_run_dirs(roots)
    skipped = [Skipped(loc, reason) for loc, reason in missing.items()]
    runs: list[Run] = []
    for d in dirs:
        loaded = load_run(d)
        (runs if isinstance(loaded, Run) else skipped).append(loaded)
    return runs, skipped
