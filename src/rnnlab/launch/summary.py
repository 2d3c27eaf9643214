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
            "dir": str(record.path.relative_to(sweep_dir)),
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
        not_done = {r["job"]: r["status"] for r in rows if r["status"] != "completed"}
        log.info(
            "sweep: %d jobs, %d not completed %s; summary in %s",
            len(rows),
            len(not_done),
            not_done or "",
            sweep_dir / "summary.csv",
        )
        if offline_wandb_runs(sweep_dir):
            log.info("W&B runs saved offline; upload them all with: wandb sync %s/*/wandb/offline-run-*",
                     sweep_dir)  # fmt: skip
