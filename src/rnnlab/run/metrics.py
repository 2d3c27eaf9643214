"""What ``metrics.json`` holds, and the summary a command prints at its end.

``metrics.json`` is flat (``{"test/mse": 0.0008, ...}``): every number the run produced
(values logged per step are left out), ``status``, the threads, the times, and ``better``
(which way each metric is better, as the task's metrics declare it). It is written last
and atomically (``rnnlab.io.atomic``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("rnnlab.run.job")


def floats(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers of ``metrics`` (tensors included), without per-step values."""
    import torch

    return {
        k: float(v)
        for k, v in metrics.items()
        if (torch.is_tensor(v) or isinstance(v, (int, float))) and not k.endswith("_step")
    }


def training_results(trainer: Any) -> tuple[dict[str, float], dict[str, str]]:
    """What fitting reports in ``metrics.json``: the last epoch's metrics, the best value
    of the monitored metric (``val/loss_best``) and the epochs; and which way the best
    value is better."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    metrics, directions = floats(trainer.callback_metrics), {}
    best = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    if best is not None and best.best_model_score is not None:
        metrics[f"{best.monitor}_best"] = float(best.best_model_score)
        directions[f"{best.monitor}_best"] = {"min": "lower", "max": "higher"}[best.mode]
    metrics["epochs"] = trainer.current_epoch
    return metrics, directions


_previous_job_end: float | None = None  # time.monotonic() when this process's last job ended


def process_seconds() -> float:
    """Wall seconds since this process started (what a user waits for a run), or, in a
    sweep worker that runs one job after another, since its previous job ended."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = float(Path("/proc/uptime").read_text().split()[0])
        age = boot - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        age = float("nan")
    if _previous_job_end is None:
        return age
    return min(age, time.monotonic() - _previous_job_end)


def job_ended() -> None:
    """Mark the end of a job: the next job in this process counts its time from here."""
    global _previous_job_end
    _previous_job_end = time.monotonic()


def summarize(metrics: dict[str, Any], output_dir: Path) -> None:
    """The final metrics and where they are, at the end of a command's output."""
    shown = {k: v for k, v in sorted(metrics.items()) if isinstance(v, (int, float))
             and k.split("/")[0] in ("test", "test_last", "val", "train", "baseline", "model")}  # fmt: skip
    width = max((len(k) for k in shown), default=0)
    lines = [f"  {k:<{width}}  {v:.6g}" for k, v in shown.items()]
    log.info("results (%s):\n%s\nrun dir: %s", metrics.get("status"), "\n".join(lines), output_dir)
