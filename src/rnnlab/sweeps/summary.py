"""One table per sweep: every job's overrides, status and metrics.

``SweepSummary`` is a Hydra callback (``conf/hydra/default.yaml``). When a multirun
ends it reads the job directories from disk, not from the jobs' return values: jobs
of the joblib and submitit launchers run in other processes, and a job killed
without writing ``metrics.json`` must still show up, as failed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnnlab.io import atomic_write_text, write_json

log = logging.getLogger(__name__)

FIRST_COLUMNS = ["job", "overrides", "status", "error", "dir"]


def _job_row(sweep_dir: Path, hydra_yaml: Path) -> dict[str, Any]:
    hydra = OmegaConf.load(hydra_yaml).hydra
    job_dir = hydra_yaml.parent.parent
    row: dict[str, Any] = {
        "job": int(hydra.job.num),
        "overrides": " ".join(hydra.overrides.task),
        "dir": str(job_dir.relative_to(sweep_dir)),
    }
    try:
        metrics = json.loads((job_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {"status": "failed", "error": "no readable metrics.json: the job did not finish"}
    row["status"] = metrics.pop("status", "unknown")
    row["error"] = metrics.pop("error", "")
    row.update(metrics)
    return row


def collect_jobs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job directory under ``sweep_dir`` (found by its ``.hydra/hydra.yaml``)."""
    sweep_dir = Path(sweep_dir)
    found = sorted(p for p in sweep_dir.rglob(".hydra/hydra.yaml") if p.parent.parent != sweep_dir)
    return sorted((_job_row(sweep_dir, p) for p in found), key=lambda r: r["job"])


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


class SweepSummary(Callback):
    """Hydra callback: write the sweep summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = write_summary(sweep_dir)
        failed = [r["job"] for r in rows if r["status"] != "completed"]
        log.info(
            "sweep: %d jobs, %d failed %s; summary in %s",
            len(rows),
            len(failed),
            failed or "",
            sweep_dir / "summary.csv",
        )
