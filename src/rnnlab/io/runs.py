"""Reading run directories: the one reader for sweep summaries and results tables.

A run directory is what ``rnnlab-train`` leaves behind: ``metrics.json`` (final numbers and
``status``), ``.hydra/config.yaml`` (the resolved config), ``.hydra/overrides.yaml`` and
``.hydra/hydra.yaml`` (the job number in a sweep); ``rnnlab-eval``'s also
``.hydra/evaluated_config.yaml``, the config of the run it tested, read as its config. Unfinished or broken runs are common in a
sweep, so reading never raises for one bad directory: what could not be read is recorded
with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
HYDRA_DIR = ".hydra"
CONFIG_FILE = os.path.join(HYDRA_DIR, "config.yaml")
OVERRIDES_FILE = os.path.join(HYDRA_DIR, "overrides.yaml")
HYDRA_FILE = os.path.join(HYDRA_DIR, "hydra.yaml")
# rnnlab-eval's run dir: the config of the run whose checkpoint it tested
EVALUATED_CONFIG_FILE = os.path.join(HYDRA_DIR, "evaluated_config.yaml")
PRUNED_AT = "pruned_at_epoch"  # in metrics.json of an Optuna trial that was pruned


@dataclass
class RunRecord:
    """What one run directory holds; ``problems`` says what could not be read and why."""

    path: Path
    metrics: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    overrides: list[str] = field(default_factory=list)
    job: int | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``completed``, ``pruned`` (an Optuna trial stopped early, then tested as usual),
        ``failed``, ``interrupted``; a run without metrics did not finish."""
        if self.metrics is None:
            return "failed"
        status = str(self.metrics.get("status", "completed"))
        return "pruned" if status == "completed" and PRUNED_AT in self.metrics else status

    @property
    def error(self) -> str:
        if self.metrics is None:
            return self.problems.get("metrics", "no metrics.json")
        return str(self.metrics.get("error", ""))


def _yaml(path: Path) -> Any:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_metrics(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``metrics.json`` as a dict, or None and the reason it cannot be used."""
    file = path / METRICS_FILE
    if not file.is_file():
        return None, "no metrics.json: the run did not finish"
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable metrics.json: {exc}"
    if not isinstance(raw, dict):
        return None, "metrics.json is not a JSON object"
    return raw, None


def read_run(path: str | os.PathLike) -> RunRecord:
    """Read one run directory (never raises for a damaged one)."""
    record = RunRecord(Path(path))
    record.metrics, problem = read_metrics(record.path)
    if problem:
        record.problems["metrics"] = problem
    config_path = record.path / CONFIG_FILE
    if not config_path.is_file():
        record.problems["config"] = "missing .hydra/config.yaml"
    else:
        try:
            config = _yaml(config_path)
        except Exception as exc:  # yaml.YAMLError, OSError
            record.problems["config"] = f"unreadable .hydra/config.yaml: {exc}"
        else:
            if isinstance(config, dict):
                record.config = resolve_where_possible(config)
            else:
                record.problems["config"] = ".hydra/config.yaml is not a mapping"
    evaluated = record.path / EVALUATED_CONFIG_FILE
    if evaluated.is_file():
        with contextlib.suppress(Exception):  # unreadable: the evaluation's own config
            ckpt = {"ckpt_path": (record.config or {}).get("ckpt_path")}
            record.config = {**_yaml(evaluated), **ckpt}
            record.problems.pop("config", None)
    try:
        overrides = _yaml(record.path / OVERRIDES_FILE)
        if isinstance(overrides, list):
            record.overrides = [str(o) for o in overrides]
    except Exception:  # informational only
        pass
    try:
        hydra = _yaml(record.path / HYDRA_FILE)["hydra"]
    except Exception:  # not written by Hydra
        return record
    with contextlib.suppress(Exception):  # single runs have no job number
        record.job = int(hydra["job"]["num"])
    if not record.overrides:
        record.overrides = [str(o) for o in (hydra.get("overrides") or {}).get("task") or []]
    return record


def resolve_where_possible(config: dict[str, Any]) -> dict[str, Any]:
    """Hydra saves interpolations as written (``lr: ${if_equal:...}``): the value a run used
    is what a table groups by. One that needs the live job (``${hydra:...}``) stays as text."""
    from omegaconf import OmegaConf

    from rnnlab.conf import register_resolvers

    register_resolvers()
    tree = OmegaConf.create(config)

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, f"{path}{k}.") for k, v in node.items()}
        if isinstance(node, str) and "${" in node:
            with contextlib.suppress(Exception):
                return OmegaConf.select(tree, path[:-1], throw_on_resolution_failure=True)
        return node

    return walk(config, "")


def is_run_dir(path: Path) -> bool:
    return (path / METRICS_FILE).is_file() or (path / CONFIG_FILE).is_file()


def find_run_dirs(roots: Iterable[str | os.PathLike]) -> tuple[list[Path], dict[str, str]]:
    """Run directories under ``roots`` (not descending into a run), and roots that are unusable."""
    found: list[Path] = []
    missing: dict[str, str] = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            missing[str(root)] = "path does not exist"
            continue
        if not root.is_dir():
            missing[str(root)] = "not a directory"
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


def sweep_jobs(sweep_dir: str | os.PathLike) -> list[RunRecord]:
    """Every job directory of a sweep (found by its ``.hydra/hydra.yaml``), by job number."""
    sweep_dir = Path(sweep_dir)
    found = [p.parent.parent for p in sweep_dir.rglob(HYDRA_FILE) if p.parent.parent != sweep_dir]
    records = [read_run(p) for p in sorted(found)]
    return sorted(records, key=lambda r: (r.job is None, r.job or 0, str(r.path)))


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys (``model.hidden_size``); lists stay values."""
    from collections.abc import Mapping

    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
