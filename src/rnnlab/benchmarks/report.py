"""Benchmark rows as text: the device description, tables, and docs/BENCHMARKS.md.

BENCHMARKS.md has one ``## <benchmark>`` section per benchmark holding a Markdown
table; a row is keyed by (date, device, mode), so re-running on the same day and
machine replaces that row and anything else is appended. Sections of benchmarks not
run this time are kept byte for byte. The file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path
from typing import Any

import torch

from rnnlab.io.atomic import atomic_write_text

KEY = ("date", "device", "mode")
HEADER = (
    "# Benchmarks\n\n"
    "Written by `rnnlab-bench` (see `conf/bench.yaml`). Each figure is measured within one\n"
    "run on the machine named in its row; a ratio compares two timings of that run.\n"
)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_string(device: str) -> str:
    """``AMD EPYC, 2 cores, torch 2.13.0`` or ``NVIDIA H200, torch 2.13.0, CUDA 12.8``."""
    if device == "cuda":
        return (
            f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}"
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_name()}, {cores} cores, torch {torch.__version__}"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "/").replace("\n", " ")


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table over the union of the rows' keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def parse_sections(text: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each section's text by name."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return parts[0], {
        name.strip(): body for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def parse_table(body: str) -> list[dict[str, str]]:
    lines = [ln.strip() for ln in body.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2:
        return []
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(columns, (c.strip() for c in ln.strip("|").split("|")), strict=False))
        for ln in lines[2:]
    ]


def update_docs(
    path: Path, rows: list[dict[str, Any]], *, device: str, mode: str, date: str | None = None
) -> Path:
    """Add or replace this run's row in each benchmark's section of ``path``."""
    date = date or dt.date.today().isoformat()
    text = path.read_text() if path.is_file() else HEADER
    preamble, sections = parse_sections(text)
    for row in rows:
        name = str(row.get("benchmark") or row["name"])
        new = {"date": date, "device": device, "mode": mode}
        # the row's own device (a bare "cpu") must not replace the described one
        new.update({k: fmt(v) for k, v in row.items() if k not in ("name", "benchmark", *KEY)})
        old = [
            r
            for r in parse_table(sections.get(name, ""))
            if tuple(r.get(k) for k in KEY) != tuple(new[k] for k in KEY)
        ]
        sections[name] = "\n\n" + format_table([*old, new]) + "\n\n"
    out = preamble.rstrip("\n") + "\n\n" + "".join(f"## {n}{body}" for n, body in sections.items())
    atomic_write_text(path, out.rstrip("\n") + "\n")
    return path
