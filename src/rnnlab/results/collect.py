"""Find training run directories and load their config and final metrics.

A run directory is whatever the training command leaves behind: ``metrics.json``
with the final numbers and ``.hydra/config.yaml`` with the resolved config.
Broken or unfinished runs are common in a sweep, so loading never raises for a
single bad directory; it records why the directory was skipped instead.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METRICS_FILE = "metrics.json"
CONFIG_FILE = os.path.join(".hydra", "config.yaml")
OVERRIDES_FILE = os.path.join(".hydra", "overrides.yaml")


@dataclass
class Run:
    """One finished run: flattened config plus its numeric final metrics."""

    location: str
    config: dict[str, Any]
    metrics: dict[str, float]
    overrides: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass
class Skipped:
    location: str
    reason: str


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def numeric_metrics(raw: Mapping[str, Any]) -> dict[str, float]:
    """Keep finite numbers only: status strings, nested logs and NaNs from
    diverged runs would otherwise poison means."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def is_run_dir(path: Path) -> bool:
    return (path / METRICS_FILE).is_file() or (path / CONFIG_FILE).is_file()


def find_run_dirs(roots: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Skipped]]:
    """Walk ``roots`` for run directories without descending into a run
    (checkpoints, csv logs and wandb folders inside it are not runs)."""
    found: list[Path] = []
    missing: list[Skipped] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            missing.append(Skipped(str(root), "path does not exist"))
            continue
        if not root.is_dir():
            missing.append(Skipped(str(root), "not a directory"))
            continue
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if is_run_dir(here):
                found.append(here)
                dirnames[:] = []
                continue
            # Hidden folders (.hydra, .git, caches) never hold runs of their own.
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(set(found)), missing


def _read_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_run(path: Path) -> Run | Skipped:
    """Load one run directory, or explain why it cannot be used."""
    loc = str(path)
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        return Skipped(loc, "no metrics.json (unfinished or crashed before the end)")
    try:
        raw = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Skipped(loc, f"unreadable metrics.json: {exc}")
    if not isinstance(raw, dict):
        return Skipped(loc, "metrics.json is not a JSON object")
    status = str(raw.get("status", "completed"))
    if status == "failed":
        error = raw.get("error") or "no error message"
        return Skipped(loc, f"run failed: {error}")

    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        return Skipped(loc, "missing .hydra/config.yaml")
    try:
        config = _read_yaml(config_path)
    except (OSError, yaml.YAMLError) as exc:
        return Skipped(loc, f"unreadable .hydra/config.yaml: {exc}")
    if not isinstance(config, dict):
        return Skipped(loc, ".hydra/config.yaml is not a mapping")

    overrides: list[str] = []
    try:
        loaded = _read_yaml(path / OVERRIDES_FILE)
        if isinstance(loaded, list):
            overrides = [str(o) for o in loaded]
    except (OSError, yaml.YAMLError):
        pass  # overrides are informational only

    metrics = numeric_metrics(raw)
    if not metrics:
        return Skipped(loc, "metrics.json holds no numeric metrics")
    return Run(loc, flatten(config), metrics, overrides)


def collect_runs(
    roots: Iterable[str | os.PathLike[str]],
) -> tuple[list[Run], list[Skipped]]:
    """All usable runs under ``roots`` and every directory that was skipped."""
    dirs, skipped = find_run_dirs(roots)
    runs: list[Run] = []
    for d in dirs:
        loaded = load_run(d)
        (runs if isinstance(loaded, Run) else skipped).append(loaded)
    return runs, skipped
