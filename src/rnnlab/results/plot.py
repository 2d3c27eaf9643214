"""Learning curves per group, read from whichever logger each run used; and a final metric
against a number every run reports (its recurrent state size, its parameters).

Each run contributes one curve: ``<run>/csv/metrics.csv``, or its TensorBoard event files,
or its offline W&B run (an uploaded one: ``rnnlab-table --wandb``); curves of the runs in a
group (usually seeds) are aligned on the x value and drawn as a mean line with a
plus/minus one standard deviation band. A loss curve gets the trivial strategy's loss
beside it (``baseline/loss`` of the runs' ``metrics.json``, written by the tasks that know
one): a model whose band sits on that line has learnt nothing the task rewards.

``make_metric_figure`` draws one line per group through the distinct values of a number of
``metrics.json`` (``model/state_size``: x on a log scale), each point the mean ± std of a final
metric over the runs at that value; with a ``Selection`` the runs at each point are those of the
value of the swept key (the learning rate) chosen among them, named beside the point.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, ScalarFormatter

from rnnlab.io.atomic import write_png
from rnnlab.results.collect import Run
from rnnlab.results.render import scale
from rnnlab.results.table import Choice, Group, Selection, Stat, display_value, is_accuracy

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
    """``{x: value}`` of ``metric`` from whichever logger the run used: its CSV file, else
    its TensorBoard event files, else its offline W&B run; empty when none holds it."""
    run_dir = Path(run_dir)
    for read in (_read_csv_curve, _read_tensorboard_curve, _read_wandb_curve):
        curve = read(run_dir, metric, x)
        if curve:
            return curve
    return {}


def curve_sources(run_dir: Path) -> list[str]:
    """The loggers' files a run has that curves can be read from (for messages)."""
    found = ["csv"] if _csv_file(Path(run_dir)) else []
    if _event_files(Path(run_dir)):
        found.append("tensorboard")
    if list(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb")):
        found.append("wandb offline")
    elif list(Path(run_dir).glob("wandb/*run-*")):
        found.append("wandb (online: read it with --wandb)")
    return found


# The x of a W&B history row: Lightning's WandbLogger logs the trainer's step with each row.
_WANDB_X = {"step": "trainer/global_step"}


def _read_wandb_curve(run_dir: Path, metric: str, x: str) -> dict[float, float]:
    if not list(run_dir.glob("wandb/offline-run-*")):
        return {}
    from rnnlab.results.wandb_offline import history

    curve: dict[float, float] = {}
    try:
        rows = history(run_dir)
    except Exception:  # a damaged or foreign file: named by curve_sources, not fatal
        return curve
    for row in rows:
        xv, yv = row.get(_WANDB_X.get(x, x)), row.get(metric)
        if isinstance(xv, (int, float)) and isinstance(yv, (int, float)) and math.isfinite(yv):
            curve[float(xv)] = float(yv)
    return curve


def _event_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("**/events.out.tfevents.*"))


def _read_tensorboard_curve(run_dir: Path, metric: str, x: str) -> dict[float, float]:
    """The metric's scalars in the run's TensorBoard folders, by step (or by the ``epoch``
    scalar Lightning logs at the same step)."""
    folders = sorted({p.parent for p in _event_files(run_dir)})
    curve: dict[float, float] = {}
    if not folders:
        return curve
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for folder in folders:
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        tags = events.Tags().get("scalars", [])
        if metric not in tags or (x != "step" and x not in tags):
            continue
        at = {e.step: e.value for e in events.Scalars(x)} if x != "step" else None
        for event in events.Scalars(metric):
            xv = float(event.step) if at is None else at.get(event.step)
            if xv is not None and math.isfinite(event.value):
                curve[float(xv)] = float(event.value)
    return curve


def _read_csv_curve(run_dir: Path, metric: str, x: str) -> dict[float, float]:
    """Lightning writes one row per logging call with the other columns empty; a
    metric logged twice at the same x (e.g. resumed runs) keeps the last value."""
    path = _csv_file(run_dir)
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


BASELINE_METRIC = "baseline/loss"


def baselines(groups: Sequence[Group], metric: str) -> list[tuple[float, str]]:
    """The distinct ``baseline/loss`` values of the runs, each with its legend text, when
    ``metric`` is a loss (``*/loss``); otherwise none.

    Runs of one setting share a value (it depends on the data, not on the seed). When the
    figure holds several, each label names what the groups with that value have in common
    and the others lack (say ``length=200``), so a line can be told from its neighbours.
    """
    if not metric.endswith("/loss"):
        return []
    owners: dict[float, list[Group]] = {}
    for group in groups:
        for run in group.runs:
            value = run.metrics.get(BASELINE_METRIC)
            if value is not None and math.isfinite(value):
                members = owners.setdefault(value, [])
                if not any(g is group for g in members):
                    members.append(group)
    lines = []
    for value, members in sorted(owners.items()):
        label = f"baseline {value:.4g}"
        if len(owners) > 1:
            others = [g for g in groups if not any(g is m for m in members)]
            common = _shared_values(members, others)
            if common:
                label += f" ({common})"
        lines.append((value, label))
    return lines


def _shared_values(members: Sequence[Group], others: Sequence[Group]) -> str:
    """``key=value`` pairs every group in ``members`` has and some group in ``others`` lacks."""
    parts = []
    for key, value in members[0].values.items():
        if not all(key in g.values and g.values[key] == value for g in members[1:]):
            continue
        if all(g.values.get(key) == value for g in others):
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={display_value(key, value)}")
    return ", ".join(parts)


def make_figure(
    groups: Sequence[Group], metric: str = "val/loss", x: str = "step"
) -> tuple[Figure, list[str]]:
    """Figure with one mean line per group that logged ``metric`` and, for a loss, one
    dashed line per distinct baseline; also the labels of groups that had no curve at all
    (so callers can warn)."""
    fig = Figure(figsize=(6.4, 4.0 + 0.2 * len(groups)), layout="constrained")
    ax = fig.add_subplot()
    empty: list[str] = []
    for group in groups:
        curves = [c for c in (read_curve(r.path, metric, x) for r in group.runs) if c]
        if not curves:
            read = "; ".join(f"{r.path.name}: {', '.join(curve_sources(r.path)) or 'no logger files'}"
                             for r in group.runs)  # fmt: skip
            empty.append(f"{group.label} (looked in {read})")
            continue
        xs, mean, std = group_curve(curves)
        label = f"{group.label} (n={len(curves)})"
        (line,) = ax.plot(xs, mean, label=label, marker="." if xs.size < 30 else None)
        low, high = mean - std, mean + std
        if _is_fraction(metric):  # an accuracy's spread stays within what it can be
            low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, lw=0)
    if len(empty) < len(groups):
        lines = baselines(groups, metric)
        for i, (value, label) in enumerate(lines):
            grey = str(0.55 * i / max(1, len(lines) - 1))  # black to mid grey
            ax.axhline(value, color=grey, linestyle="--", linewidth=1.2, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.set_title(_title(groups, metric), fontsize="medium")
    _finish(fig, ax, len(ax.lines))
    return fig, empty


def _title(groups: Sequence[Group], metric: str) -> str:
    """What the curves are, and the setting every run shares (its task), for a reader."""
    tasks = {str(r.config.get("task_name", "")) for g in groups for r in g.runs} - {""}
    where = f"{tasks.pop()}: " if len(tasks) == 1 else ""
    return f"{where}{metric}, mean ± std over each group's runs"


def _value_range(ax: Any) -> tuple[float, float]:
    values = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.zeros(1)])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)


def plot_learning_curves(
    groups: Sequence[Group],
    output: str | os.PathLike[str],
    metric: str = "val/loss",
    x: str = "step",
) -> tuple[Path | None, list[str]]:
    """Write the learning-curve PNG; returns its path (None when no run had the curve)
    and the groups left out, each with what was looked in."""
    fig, empty = make_figure(groups, metric, x)
    if len(empty) == len(groups):
        return None, empty
    return write_png(output, fig), empty


# What a number of metrics.json counts, for an axis label; accuracies are drawn in percent.
UNITS = {
    "model/state_size": "floats of recurrent state per sequence",
    "model/params": "parameters",
    "time/total_s": "s",
    "time/process_s": "s",
}
# The same by the last word of a metric's name (test/bpc, val/bpc_best).
NAME_UNITS = {"bpc": "bits per character"}


def axis_label(metric: str) -> str:
    """``test/acc (%)``, ``model/state_size (floats of recurrent state per sequence)``; the
    name alone where this module does not know the unit (a task's loss)."""
    unit = UNITS.get(metric) or NAME_UNITS.get(metric.rsplit("/", 1)[-1].removesuffix("_best"))
    if is_accuracy(metric):
        unit = "%"
    return f"{metric} ({unit})" if unit else metric


@dataclass
class Point:
    """The runs of one group at one x: their final ``metric`` (mean ± std), and, with a
    Selection, the value of the swept key chosen among them."""

    x: float
    stat: Stat
    choice: Choice | None = None


def metric_points(
    groups: Sequence[Group], x: str, metric: str, selection: Selection | None = None
) -> list[tuple[Group, list[Point]]]:
    """Each group's points: its runs split by their value of ``x`` (a ``metrics.json``
    number), then at each value the chosen runs' ``metric``. A group's runs are all its runs
    (``Group.pool``): the choice is made again at each point, not once for the row."""
    out = []
    for group in groups:
        at: dict[float, list[Run]] = {}
        for run in group.pool:
            if x in run.metrics:
                at.setdefault(run.metrics[x], []).append(run)
        points = []
        for xv in sorted(at):
            runs, choice = at[xv], None
            if selection:
                choice, runs = selection.choose(runs)
            vals = [r.metrics[metric] for r in runs if metric in r.metrics]
            if vals:
                points.append(Point(xv, Stat.of(vals), choice))
        out.append((group, points))
    return out


def make_metric_figure(
    groups: Sequence[Group], metric: str, x: str, selection: Selection | None = None
) -> tuple[Figure, list[str]]:
    """Figure with one error-bar line per group that has a point; also the labels of the
    groups without one (so callers can warn)."""
    fig = Figure(figsize=(6.4, 4.0 + 0.2 * len(groups)), layout="constrained")
    ax = fig.add_subplot()
    empty: list[str] = []
    xs_all: set[float] = set()
    for group, points in metric_points(groups, x, metric, selection):
        if not points:
            empty.append(f"{group.label} (no run reports both {x} and {metric})")
            continue
        xs = np.array([p.x for p in points], dtype=float)
        xs_all.update(xs.tolist())
        ys = np.array([scale(metric, p.stat.mean) for p in points], dtype=float)
        err = np.array([scale(metric, p.stat.std) for p in points], dtype=float)
        ns = sorted({p.stat.n for p in points})
        n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
        label = f"{group.label} (n={n} per point"
        chosen = sorted({display_value(selection.key, p.choice.value) for p in points}
                        if selection else [])  # fmt: skip
        name = selection.key.rsplit(".", 1)[-1] if selection else ""
        if len(chosen) == 1:  # the same value everywhere: said once, in the legend
            label += f", {name}={chosen[0]} at each"
        bars = ax.errorbar(xs, ys, yerr=err, marker="o", markersize=4, capsize=3, label=label + ")")
        if len(chosen) > 1:  # else the chosen value beside each point
            color = bars.lines[0].get_color()
            for p, y in zip(points, ys, strict=True):
                ax.annotate(f"{name}={display_value(selection.key, p.choice.value)}", (p.x, y),
                            xytext=(5, 4), textcoords="offset points", fontsize="x-small",
                            color=color)  # fmt: skip
    ax.set_xscale("log")
    if 0 < len(xs_all) <= 8:  # the sizes run at, as plain numbers
        ax.set_xticks(_spread_ticks(sorted(xs_all)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(metric))
    ax.set_title(_metric_title(groups, metric, x, selection), fontsize="medium")
    _finish(fig, ax, len(ax.containers))
    return fig, empty


X_WORDS = {"model/state_size": "recurrent state size", "model/params": "parameter count"}


def _metric_title(groups: Sequence[Group], metric: str, x: str, selection: Selection | None) -> str:
    """What is drawn against what, on which data, and how each point was made."""
    data = {display_value("data._target_", r.config.get("data._target_"))
            for g in groups for r in g.pool} - {"-"}  # fmt: skip
    where = f"{data.pop()}: " if len(data) == 1 else ""
    how = "mean ± std over the runs at each point"
    if selection:
        how = (f"at each point, the {selection.key} whose runs have the {selection.wording} "
               f"mean {selection.metric};\nmean ± std over its runs")  # fmt: skip
    return f"{where}{metric} against {X_WORDS.get(x, x)}\n{how}"


def plot_metric(
    groups: Sequence[Group],
    output: str | os.PathLike[str],
    metric: str,
    x: str,
    selection: Selection | None = None,
) -> tuple[Path | None, list[str]]:
    """Write the metric-against-``x`` PNG; returns its path (None when no group had a point)
    and the groups left out, each with why."""
    fig, empty = make_metric_figure(groups, metric, x, selection)
    if len(empty) == len(groups):
        return None, empty
    return write_png(output, fig), empty


def _spread_ticks(xs: list[float], ratio: float = 1.25) -> list[float]:
    """The sizes to label on a log axis: each at least ``ratio`` times the last one kept
    (1,024 and 1,092 side by side would print over each other)."""
    kept: list[float] = []
    for x in xs:
        if not kept or x >= kept[-1] * ratio or kept[-1] <= 0:
            kept.append(x)
    return kept


def _is_fraction(metric: str) -> bool:
    """Whether ``metric`` is a fraction in [0, 1] as logged (an accuracy)."""
    return metric.rsplit("/", 1)[-1].split("_")[0] == "acc"


def _finish(fig: Figure, ax: Any, entries: int) -> None:
    """Shared by both figures: a log y axis for values over decades (a loss's late part stays
    readable), the grid, and the legend (``entries`` of them) below the axes, where long
    group labels do not cover the data."""
    low, high = _value_range(ax)
    if low > 0 and high / low >= 10:
        ax.set_yscale("log")
    ax.grid(True, which="both" if ax.get_yscale() == "log" else "major", alpha=0.3)
    if entries:
        fig.legend(loc="outside lower center", fontsize="small", ncols=1 if entries > 4 else 2)
