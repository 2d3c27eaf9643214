"""The default experiment with ``trainer.threads=auto`` against 1 thread and against all
cores (torch's own default), on an idle machine and on one loaded by other processes.

The load is what a shared machine sees: one busy process per core, started before the
loaded round and stopped after it. Within each round the three settings run in turn,
``repeats`` times, and the median wall time of each is reported with its ratio to auto.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

SETTINGS = {"auto": "auto", "one": "1", "all": None}  # None: torch's default, every core


def _spin() -> None:
    while True:
        pass


def _run(threads: str | None, overrides: list[str], tmp: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "rnnlab.cli.train", "trainer.accelerator=cpu",
           "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
           f"hydra.run.dir={tmp}/run-{time.monotonic_ns()}", *overrides]  # fmt: skip
    if threads is None:
        cmd.append("trainer.threads=" + str(os.cpu_count() or 1))
    else:
        cmd.append(f"trainer.threads={threads}")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return time.perf_counter() - started


def threads_compare(device: str = "cpu", epochs: int = 10, repeats: int = 2) -> dict[str, Any]:
    """Seconds of the default experiment (``epochs`` epochs) per thread setting and load."""
    overrides = [f"trainer.max_epochs={epochs}"]
    row: dict[str, Any] = {"epochs": epochs, "cores": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("idle", "loaded"):
            spinners = []
            if load == "loaded":
                spinners = [multiprocessing.Process(target=_spin, daemon=True)
                            for _ in range(row["cores"])]  # fmt: skip
                for p in spinners:
                    p.start()
            try:
                samples: dict[str, list[float]] = {k: [] for k in SETTINGS}
                for _ in range(repeats):
                    for name, threads in SETTINGS.items():
                        samples[name].append(_run(threads, overrides, tmp))
            finally:
                for p in spinners:
                    p.terminate()
            medians = {k: statistics.median(v) for k, v in samples.items()}
            for name, seconds in medians.items():
                row[f"{load}_{name}_s"] = round(seconds, 2)
            row[f"{load}_one_vs_auto"] = round(medians["one"] / medians["auto"], 2)
            row[f"{load}_all_vs_auto"] = round(medians["all"] / medians["auto"], 2)
    return row
