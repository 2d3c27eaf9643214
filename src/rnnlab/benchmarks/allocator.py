"""Freed memory kept for the next step (what ``rnnlab-train`` does) against glibc's default
of returning it, on the character LM's training step.

Each setting runs in its own process (an allocator setting cannot be undone within one),
alternating ``repeats`` times; the row gives the median CPU time per step (user +
system: page faults are system time) and wall time per step of each, their ratios, and
each setting's peak memory.
"""

from __future__ import annotations

import statistics
from typing import Any

SETTINGS = {"kept": True, "returned": False}


def kept_vs_returned(device: str = "cpu", repeats: int = 3, **chars: Any) -> dict[str, Any]:
    """``chars``: arguments of ``rnnlab.benchmarks.chars.chars_per_second``."""
    from rnnlab.benchmarks.cli import run_one

    if device != "cpu":
        return {"status": "skipped: host memory only matters for a CPU step"}
    samples: dict[str, list[dict[str, Any]]] = {k: [] for k in SETTINGS}
    for _ in range(repeats):
        for name, keep in SETTINGS.items():
            spec = {"_target_": "rnnlab.benchmarks.chars.chars_per_second", "threads": 1,
                    "device": "cpu", "keep_freed_memory": keep, **chars}  # fmt: skip
            row = run_one(name, spec)
            if row.get("status") != "ok":
                raise RuntimeError(f"{name}: {row.get('status')}")
            samples[name].append(row)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in samples[name])

    row: dict[str, Any] = {
        "repeats": repeats,
        "kept_active": samples["kept"][0]["freed_memory_kept"],
    }
    for name in SETTINGS:
        row[f"{name}_cpu_ms"] = round(median(name, "cpu_ms_per_step"), 1)
        row[f"{name}_wall_ms"] = round(median(name, "step_ms"), 1)
        row[f"{name}_peak_mb"] = round(max(r["peak_rss_mb"] for r in samples[name]), 1)
    row["returned_vs_kept_cpu"] = round(row["returned_cpu_ms"] / row["kept_cpu_ms"], 2)
    row["returned_vs_kept_wall"] = round(row["returned_wall_ms"] / row["kept_wall_ms"], 2)
    first = samples["kept"][0]
    row.update({k: first[k] for k in ("cell", "hidden", "layers", "batch", "bptt")})
    return row
