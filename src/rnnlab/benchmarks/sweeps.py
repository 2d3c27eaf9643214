"""How much a parallel local sweep saves over running its jobs one after another.

``parallel_vs_sequential`` times the same tiny sweep (``n_jobs`` seeds of a small
sine model) twice, as whole ``rnnlab-train -m`` commands: with Hydra's basic
launcher (one job at a time, one process) and with ``launcher=local`` (joblib
workers, torch threads divided between them). Process start-up is included in both,
as a user would see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rnnlab.benchmarks.default_run import trainer_accelerator
from rnnlab.conf import repo_root

TINY = [
    "data.num_series=32",
    "data.length=64",
    "data.window=16",
    "data.horizon=4",
    "data.batch_size=32",
    "model.hidden_size=16",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "callbacks.test_figures=null",
]


def _timed_sweep(args: list[str], sweep_dir: Path, threads: int | None = None) -> float:
    env = {**os.environ, "WANDB_MODE": "offline", "RNNLAB_DATA_DIR": str(sweep_dir / "data")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "rnnlab.cli.train", "-m", *args, f"hydra.sweep.dir={sweep_dir}"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=repo_root())
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rows = json.loads((sweep_dir / "summary.json").read_text())
    if [r["status"] for r in rows].count("completed") != len(rows):
        raise RuntimeError(f"some jobs of the sweep in {sweep_dir} failed")
    return elapsed


def parallel_vs_sequential(
    device: str = "cpu",
    n_jobs: int = 4,
    workers: int = 2,
    epochs: int = 3,
    overrides: list[str] | None = None,
    sequential_threads: int | None = None,
) -> dict[str, Any]:
    """Wall time of an ``n_jobs`` sweep, sequential vs ``workers`` parallel jobs.

    ``sequential_threads`` pins the sequential run's torch threads (``OMP_NUM_THREADS``);
    by default it uses torch's own choice (all cores), the parallel run cores // workers.
    Returns ``sequential_s``, ``parallel_s`` and ``speedup`` (sequential / parallel),
    with the settings used and the cores available.
    """
    seeds = ",".join(str(s) for s in range(1, n_jobs + 1))
    args = [*TINY, f"trainer.accelerator={trainer_accelerator(device)}",
            f"trainer.max_epochs={epochs}", *(overrides or []), f"seed={seeds}"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as tmp:
        sequential = _timed_sweep(args, Path(tmp) / "sequential", sequential_threads)
        parallel = _timed_sweep(
            [*args, "launcher=local", f"launcher.n_jobs={workers}"], Path(tmp) / "parallel"
        )
    return {
        "device": device,
        "n_jobs": n_jobs,
        "workers": workers,
        "epochs": epochs,
        "sequential_threads": sequential_threads or "torch default",
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "sequential_s": round(sequential, 2),
        "parallel_s": round(parallel, 2),
        "speedup": round(sequential / parallel, 3),
    }
