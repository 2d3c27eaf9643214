"""Learning curves per group from Lightning's CSVLogger output.

Each run contributes one curve ``<run>/csv/metrics.csv``; curves of the runs in a
group (usually seeds) are aligned on the x value and drawn as a mean line with a
plus/minus one standard deviation band.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rnnlab.io.atomic import write_png
from rnnlab.results.table import Group

CSV_PATH = os.path.join("csv", "metrics.csv")


def _csv_file(run_dir: Path) -> Path | None:
    """``csv/metrics.csv``, or the newest ``csv/version_*/metrics.csv`` that a
    CSVLogger without a fixed version writes."""
    direct = run_dir / CSV_PATH
    if direct.is_file():
        return direct
    versions = sorted(
        run_dir.glob("csv/version_*/metrics.csv"),
        key=lambda p: int(p.parent.name.split("_")[-1]) if p.parent.name[8:].isdigit() else -1,
    )
    return versions[-1] if versions else None


def read_curve(run_dir: Path, metric: str, x: str = "step") -> dict[float, float]:
    """``{x: value}`` for the rows of a run's metrics.csv that log ``metric``.

    Lightning writes one row per logging call with the other columns empty; a
    metric logged twice at the same x (e.g. resumed runs) keeps the last value.
    """
    path = _csv_file(Path(run_dir))
    curve: dict[float, float] = {}
    if path is None:
        return curve
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            xs, ys = row.get(x) or "", row.get(metric) or ""
            try:
                xv, yv = float(xs), float(ys)
            except ValueError:
                continue
            if math.isfinite(yv):
                curve[xv] = yv
    return curve


def group_curve(
    runs_curves: Sequence[dict[float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample std across runs at every x any run logged. Points where
    only one run has a value get std 0 rather than NaN."""
    xs = np.array(sorted({x for c in runs_curves for x in c}), dtype=float)
    mean = np.empty_like(xs)
    std = np.zeros_like(xs)
    for i, x in enumerate(xs):
        vals = np.array([c[x] for c in runs_curves if x in c], dtype=float)
        mean[i] = vals.mean()
        if vals.size > 1:
            std[i] = vals.std(ddof=1)
    return xs, mean, std


def make_figure(
    groups: Sequence[Group], metric: str = "val/loss", x: str = "step"
) -> tuple[Figure, list[str]]:
    """Figure with one mean line per group that logged ``metric``; also the
    labels of groups that had no curve at all (so callers can warn)."""
    fig = Figure(figsize=(6.4, 4.0 + 0.2 * len(groups)), layout="constrained")
    ax = fig.add_subplot()
    empty: list[str] = []
    for group in groups:
        curves = [c for c in (read_curve(r.path, metric, x) for r in group.runs) if c]
        if not curves:
            empty.append(group.label)
            continue
        xs, mean, std = group_curve(curves)
        label = f"{group.label} (n={len(curves)})"
        (line,) = ax.plot(xs, mean, label=label, marker="." if xs.size < 30 else None)
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        # Below the axes: group labels are long and would cover the curves.
        fig.legend(
            loc="outside lower center", fontsize="small", ncols=1 if len(ax.lines) > 4 else 2
        )
    return fig, empty


def plot_learning_curves(
    groups: Sequence[Group],
    output: str | os.PathLike[str],
    metric: str = "val/loss",
    x: str = "step",
) -> tuple[Path, list[str]]:
    """Write the learning-curve PNG; returns its path and the groups left out."""
    fig, empty = make_figure(groups, metric, x)
    if len(empty) == len(groups):
        raise ValueError(f"no run has a {metric!r} column with a {x!r} value in {CSV_PATH}")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, fig)
    return out, empty
