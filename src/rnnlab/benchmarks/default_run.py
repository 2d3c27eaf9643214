"""The default experiment end to end: seconds from process start to metrics.json."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def trainer_accelerator(device: str) -> str:
    """``trainer.accelerator`` for a benchmark's ``device`` (``cpu`` or ``cuda``)."""
    return "gpu" if device == "cuda" else "cpu"


def default_run(device: str = "cpu", overrides: list[str] | None = None) -> dict[str, Any]:
    """Run ``rnnlab-train`` (LSTM on sine waves) as a fresh process and time it.

    The clock includes interpreter start-up, imports, data generation, training,
    testing the best checkpoint and writing ``metrics.json``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [
            sys.executable, "-m", "rnnlab.cli.train",
            f"trainer.accelerator={trainer_accelerator(device)}",
            "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
            f"hydra.run.dir={run_dir}", *(overrides or []),
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"rnnlab-train failed: {proc.stderr.strip()[-500:]}")
        metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "name": "default_run",
        "seconds": seconds,
        "test/mse": metrics["test/mse"],
        "test/rollout_mse": metrics["test/rollout_mse"],
        "epochs": metrics.get("epochs"),
    }
