"""One table per sweep: every job's overrides, status and metrics.

``SweepSummary`` is a Hydra callback (``conf/hydra/default.yaml``). When a multirun ends it
reads the job directories from disk (``rnnlab.io.runs``), not from the jobs' return values:
jobs of the joblib and submitit launchers run in other processes, and a job killed without
writing ``metrics.json`` must still show up, as failed. It also prints one ``wandb sync``
command for every run of the sweep that W&B logged offline.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnnlab.io.atomic import atomic_write_text, write_json
from rnnlab.io.runs import sweep_jobs

log = logging.getLogger(__name__)

FIRST_COLUMNS = ["job", "overrides", "status", "error", "dir"]


def collect_jobs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job directory under ``sweep_dir``: its overrides, status, error, metrics."""
    sweep_dir = Path(sweep_dir)
    rows = []
    for record in sweep_jobs(sweep_dir):
        metrics = {k: v for k, v in (record.metrics or {}).items() if not isinstance(v, dict)}
        row: dict[str, Any] = {
            "job": record.job,
            "overrides": " ".join(record.overrides),
            "status": record.status,
            "error": record.error,
            "dir": str(record.path),  # the job directory itself, to open or resume
        }
        row.update({k: v for k, v in metrics.items() if k not in ("status", "error")})
        rows.append(row)
    return rows


def write_summary(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write ``summary.json`` and ``summary.csv`` into ``sweep_dir``; return the rows."""
    sweep_dir = Path(sweep_dir)
    rows = collect_jobs(sweep_dir)
    write_json(sweep_dir / "summary.json", rows)
    metric_keys = sorted({k for r in rows for k in r} - set(FIRST_COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIRST_COLUMNS + metric_keys, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / "summary.csv", buf.getvalue())
    return rows


def offline_wandb_runs(sweep_dir: Path) -> list[Path]:
    """The offline W&B run folders of a sweep's jobs (what ``wandb sync`` uploads)."""
    return sorted(p for p in sweep_dir.glob("*/wandb/offline-run-*") if p.is_dir())


class SweepSummary(Callback):
    """Hydra callback: write the sweep summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = write_summary(sweep_dir)
        not_done = {
            r["job"]: r["status"] for r in rows if r["status"] not in ("completed", "pruned")
        }
        log.info(
            "sweep: %d jobs, %d not completed %s; summary in %s",
            len(rows),
            len(not_done),
            not_done or "",
            sweep_dir / "summary.csv",
        )
        table = results_table(sweep_dir, rows, config.get("optimized_metric"))
        if table:
            log.info("results:\n%s", table)
        if offline_wandb_runs(sweep_dir):
            log.info("W&B runs saved offline; upload them all with: wandb sync %s/*/wandb/offline-run-*",
                     sweep_dir)  # fmt: skip


def results_table(sweep_dir: Path, rows: list[dict[str, Any]], optimized: str | None) -> str:
    """The sweep's results table (``rnnlab-table SWEEP``), the jobs left out of it, and for
    an Optuna search the best trial first, with where ``best_params.yaml`` is."""
    from rnnlab.results.collect import collect_runs
    from rnnlab.results.render import render
    from rnnlab.results.table import build_table

    runs, _ = collect_runs([sweep_dir])
    if not runs:
        return ""
    try:
        table = build_table(runs, metrics=_with(optimized, runs))
    except ValueError as err:
        return f"no table: {err}"
    lines = []
    best = _best_params(sweep_dir)
    if best:
        sign = -1 if best.get("direction") == "maximize" else 1
        if optimized in table.metrics:  # the best trial first
            table.groups.sort(
                key=lambda g: sign * g.stats[optimized].mean if optimized in g.stats else math.inf
            )
        params = ", ".join(f"{k}={_short(v)}" for k, v in (best.get("params") or {}).items())
        lines.append(
            f"best trial {best.get('best_trial')}: {optimized or 'value'} = "
            f"{_short(best.get('best_value'))} ({params}); {sweep_dir / BEST_PARAMS}"
        )
    lines.append(render(table).rstrip("\n"))
    left_out = [f"job {r['job']} {r['status']}" + (f": {r['error']}" if r["error"] else "")
                for r in rows if r["status"] in ("failed", "interrupted")]  # fmt: skip
    if left_out:
        lines.append("not in the table: " + "; ".join(left_out))
    return "\n".join(lines)


BEST_PARAMS = "best_params.yaml"  # written by the Optuna sweeper into the sweep dir


def _best_params(sweep_dir: Path) -> dict[str, Any] | None:
    import yaml

    try:
        best = yaml.safe_load((sweep_dir / BEST_PARAMS).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return best if isinstance(best, dict) else None


def _with(metric: str | None, runs: list[Any]) -> list[str] | None:
    """The table's default metrics, and the optimised one where the runs report it."""
    from rnnlab.results.table import default_metrics

    names = default_metrics(runs)
    if metric and metric not in names and any(metric in r.metrics for r in runs):
        names.append(metric)
    return names or None


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
