"""Read runs (config + summary metrics) from a W&B project instead of disk.

wandb is imported lazily: it is slow to import and the table tool must work on
machines where it is missing or not logged in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rnnlab.results.collect import Run, Skipped, directions, flatten, numeric_metrics

USABLE_STATES = {"finished"}


class WandbUnavailable(RuntimeError):
    """W&B cannot be queried (not installed, offline, or no credentials)."""


def _make_api() -> Any:
    if os.environ.get("WANDB_MODE", "").lower() in {"offline", "disabled", "dryrun"}:
        raise WandbUnavailable(
            "WANDB_MODE is offline/disabled; reading a project needs the W&B server. "
            "Unset WANDB_MODE or read local run directories instead."
        )
    try:
        import wandb
    except ImportError as exc:
        raise WandbUnavailable("wandb is not installed (pip install wandb)") from exc
    try:
        return wandb.Api(timeout=30)
    except Exception as exc:  # wandb raises several unrelated types here
        raise WandbUnavailable(
            f"could not create a W&B API client ({exc}); run `wandb login` or set WANDB_API_KEY"
        ) from exc


def _unwrap(config: Mapping[str, Any], top: bool = True) -> dict[str, Any]:
    """Drop wandb's top-level bookkeeping (``_wandb``) and the {"value": x}
    wrappers some exports keep; nested ``_target_`` keys are real config."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if top and key.startswith("_"):
            continue
        if isinstance(value, Mapping) and set(value) <= {"value", "desc"} and "value" in value:
            value = value["value"]
        out[key] = _unwrap(value, top=False) if isinstance(value, Mapping) else value
    return out


def _summary(run: Any) -> dict[str, Any]:
    summary = getattr(run, "summary", None) or {}
    raw = getattr(summary, "_json_dict", None)
    items = dict(raw if isinstance(raw, Mapping) else summary)
    # _step, _runtime, _timestamp are wandb's own counters, not results.
    return {k: v for k, v in items.items() if not str(k).startswith("_")}


def _to_run(project: str, run: Any) -> Run | Skipped:
    loc = f"wandb:{project}/{getattr(run, 'id', '?')}"
    state = str(getattr(run, "state", "finished"))
    if state not in USABLE_STATES:
        return Skipped(loc, f"W&B run state is {state!r}")
    config = flatten(_unwrap(dict(getattr(run, "config", {}) or {})))
    summary = _summary(run)
    metrics = numeric_metrics(summary)
    if not metrics:
        return Skipped(loc, "W&B summary holds no numeric metrics")
    return Run(loc, config, metrics, better=directions(summary))


def load_wandb_runs(
    project: str,
    filters: Mapping[str, Any] | None = None,
    api: Any | None = None,
) -> tuple[list[Run], list[Skipped]]:
    """Runs of ``entity/project`` matching the MongoDB-style ``filters``.

    ``api`` may be any object with ``runs(path, filters=...)``; tests pass a fake.
    """
    if project.count("/") != 1 or not all(project.split("/")):
        raise ValueError(f"expected --wandb entity/project, got {project!r}")
    api = api if api is not None else _make_api()
    runs: list[Run] = []
    skipped: list[Skipped] = []
    try:
        for wrun in api.runs(project, filters=dict(filters or {})):
            loaded = _to_run(project, wrun)
            (runs if isinstance(loaded, Run) else skipped).append(loaded)
    except WandbUnavailable:
        raise
    except Exception as exc:
        raise WandbUnavailable(
            f"could not read W&B project {project!r}: {exc} "
            "(check the name, network access and `wandb login`)"
        ) from exc
    return runs, skipped
