"""Aggregate runs into groups and render paper-style tables.

Runs are grouped by the config keys that actually vary across the sweep, so a
seed sweep over three cells becomes three rows without naming anything. Keys that
differ between runs for bookkeeping reasons only (seed, output paths, logger ids)
must not split groups, hence the noise rules below.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.results.collect import Run
from rnnlab.results.references import REFERENCES, Reference

FORMATS = ("markdown", "latex", "csv")

NOISE_KEYS = {"seed", "data.seed", "task_name", "tags", "ckpt_path", "trainer.default_root_dir"}
NOISE_PREFIXES = ("paths.", "hydra.", "logger.", "callbacks.", "extras.")
# Output and cache locations differ per machine or per run.
NOISE_SUFFIXES = ("_dir", "_root")

LOWER_IS_BETTER = {"loss", "mse", "mae", "rmse", "bpc", "ppl", "nll", "perplexity", "error", "err"}
HIGHER_IS_BETTER = {"acc", "accuracy", "f1", "auc", "r2"}


def is_noise_key(key: str) -> bool:
    if key in NOISE_KEYS or key.startswith(NOISE_PREFIXES):
        return True
    return key.rsplit(".", 1)[-1].endswith(NOISE_SUFFIXES)


def _tokens(metric: str) -> list[str]:
    return re.split(r"[_\-]", metric.rsplit("/", 1)[-1].lower())


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when unknown."""
    tokens = _tokens(metric)
    if any(t in LOWER_IS_BETTER for t in tokens):
        return -1
    if any(t in HIGHER_IS_BETTER for t in tokens):
        return 1
    return 0


def is_accuracy(metric: str) -> bool:
    return any(t in ("acc", "accuracy") for t in _tokens(metric))


def value_key(value: Any) -> str:
    """Hashable, stable text for a config value (lists and dicts included)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def display_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    text = value_key(value)
    # Class paths are long and only the class name tells settings apart.
    if key.endswith("_target_") and isinstance(value, str):
        return text.rsplit(".", 1)[-1]
    return text


def _partition(runs: Sequence[Run], keys: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(value_key(r.config.get(k)) for k in keys) for r in runs}


def varying_keys(runs: Sequence[Run]) -> list[str]:
    """Config keys whose value differs between runs, noise keys excluded.

    Mixing data modules or cells makes every key that exists for only some runs
    "vary" (data.corpus exists only for char runs). Such a key is dropped when
    the remaining keys already split the runs the same way, so the table shows
    what was swept rather than which config groups exist.
    """
    keys = sorted({k for r in runs for k in r.config})
    varying = [k for k in keys if not is_noise_key(k) and len(_partition(runs, [k])) > 1]
    full = len(_partition(runs, varying))
    for key in [k for k in varying if any(k not in r.config for r in runs)]:
        rest = [k for k in varying if k != key]
        if len(_partition(runs, rest)) == full:
            varying = rest
    return varying


def default_metrics(runs: Sequence[Run]) -> list[str]:
    names = {m for r in runs for m in r.metrics}
    test = sorted(m for m in names if m.startswith("test/"))
    best = sorted(m for m in names if m.startswith("val/") and m.endswith("_best"))
    return test + best


@dataclass
class Stat:
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        arr = np.asarray(values, dtype=float)
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(float(arr.mean()), std, int(arr.size))


@dataclass
class Group:
    values: dict[str, Any]
    runs: list[Run]
    stats: dict[str, Stat] = field(default_factory=dict)
    published: list[Reference] = field(default_factory=list)
    best: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        """Short legend text: ``SequentialMNIST, mode=pixel, cell=lstm``."""
        if not self.values:
            return "all runs"
        parts = []
        for key, value in self.values.items():
            name = key.rsplit(".", 1)[-1]
            text = display_value(key, value)
            parts.append(text if name == "_target_" else f"{name}={text}")
        return ", ".join(parts)

    def shared_config(self) -> dict[str, Any]:
        """Config entries identical across the group's runs; what a reference may match."""
        first = self.runs[0].config
        return {
            k: v
            for k, v in first.items()
            if all(value_key(r.config.get(k)) == value_key(v) for r in self.runs[1:])
        }


@dataclass
class ResultTable:
    keys: list[str]
    metrics: list[str]
    groups: list[Group]


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # Numbers sort numerically (hidden 64 before 128), everything else as text.
    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((0, float(v)))
        else:
            out.append((1, value_key(v)))
    return tuple(out)


def build_table(
    runs: Sequence[Run],
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    references: Sequence[Reference] | None = None,
) -> ResultTable:
    """Group ``runs`` (by ``by`` or by every varying key) and aggregate ``metrics``.

    ``references`` defaults to the built-in published numbers; pass ``()`` for none.
    """
    refs = REFERENCES if references is None else references
    if not runs:
        raise ValueError("no runs to tabulate")
    if by:
        unknown = [k for k in by if not any(k in r.config for r in runs)]
        if unknown:
            raise ValueError(f"--by key(s) not found in any run config: {', '.join(unknown)}")
        keys = list(by)
    else:
        keys = varying_keys(runs)
    names = list(metrics) if metrics else default_metrics(runs)
    if not names:
        raise ValueError("no metrics to show (no test/* or val/*_best metrics in the runs)")

    buckets: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        buckets.setdefault(tuple(value_key(run.config.get(k)) for k in keys), []).append(run)

    groups = []
    for members in buckets.values():
        group = Group({k: members[0].config.get(k) for k in keys}, members)
        for name in names:
            vals = [r.metrics[name] for r in members if name in r.metrics]
            if vals:
                group.stats[name] = Stat.of(vals)
        shared = group.shared_config()
        group.published = [ref for ref in refs if ref.applies(shared)]
        groups.append(group)
    groups.sort(key=lambda g: _sort_key(tuple(g.values.values())))
    _mark_best(groups, names)
    return ResultTable(keys, names, groups)


def _mark_best(groups: list[Group], metrics: list[str]) -> None:
    """Bold the best mean per column, compared only among groups on the same data
    (a char-LM loss and an sMNIST loss in one column are not competitors)."""
    blocks: dict[tuple[str, ...], list[Group]] = {}
    for g in groups:
        task = tuple(value_key(v) for k, v in g.values.items() if k.startswith("data."))
        blocks.setdefault(task, []).append(g)
    for name in metrics:
        sign = direction(name)
        if sign == 0:
            continue
        for block in blocks.values():
            have = [g for g in block if name in g.stats]
            # A single entry is not "best" of anything.
            if len(have) < 2:
                continue
            target = max(sign * g.stats[name].mean for g in have)
            for g in have:
                if math.isclose(sign * g.stats[name].mean, target, rel_tol=1e-9, abs_tol=1e-12):
                    g.best.add(name)


# ---------------------------------------------------------------- formatting


def _decimals(metric: str, mean: float) -> int | None:
    """Digits after the point (about three significant), or None for scientific."""
    if is_accuracy(metric):
        return 2
    mag = abs(mean)
    if mag == 0:
        return 3
    if mag < 1e-3 or mag >= 1e6:
        return None
    if mag < 1:
        return 2 - math.floor(math.log10(mag))
    return 2 if mag < 100 else 1


def scale(metric: str, value: float) -> float:
    # Accuracies are logged as fractions but papers report percent.
    return value * 100.0 if is_accuracy(metric) else value


def fmt_number(metric: str, value: float, like: float | None = None) -> str:
    """Format ``value`` with the precision chosen for ``like`` (the mean), so that
    mean and std line up to the same digit."""
    value = scale(metric, value)
    ref = scale(metric, like) if like is not None else value
    if float(ref).is_integer() and float(value).is_integer() and not is_accuracy(metric):
        return str(int(value))
    digits = _decimals(metric, ref)
    return f"{value:.2e}" if digits is None else f"{value:.{digits}f}"


def fmt_reference(ref: Reference) -> str:
    # Published numbers keep the precision they were printed with.
    return f"{ref.value * 100:.2f}" if is_accuracy(ref.metric) else f"{ref.value:g}"


def metric_header(metric: str) -> str:
    return f"{metric} (%)" if is_accuracy(metric) else metric


def _cell(group: Group, metric: str, pm: str, group_n: int) -> str:
    stat = group.stats.get(metric)
    if stat is None:
        return "-"
    text = fmt_number(metric, stat.mean)
    if stat.n > 1:
        text += f" {pm} {fmt_number(metric, stat.std, like=stat.mean)}"
    if stat.n != group_n:
        text += f" (n={stat.n})"
    return text


def _published_cells(table: ResultTable) -> tuple[list[str], list[Reference]] | None:
    """Published column text per group plus the numbered reference list."""
    cited: list[Reference] = []
    cells = []
    for group in table.groups:
        parts = []
        for ref in group.published:
            if ref not in cited:
                cited.append(ref)
            tag = f"[{cited.index(ref) + 1}]"
            parts.append(f"{fmt_reference(ref)} {ref.metric} {tag}")
        cells.append("; ".join(parts) if parts else "-")
    return (cells, cited) if cited else None


def _footnotes(cited: list[Reference]) -> list[str]:
    return [
        f"[{i}] {ref.metric} {fmt_reference(ref)}: {ref.source}. Note: {ref.note}."
        for i, ref in enumerate(cited, 1)
    ]


def render_markdown(table: ResultTable) -> str:
    published = _published_cells(table)
    header = [*(table.keys or ["setting"]), "n", *map(metric_header, table.metrics)]
    if published:
        header.append("published")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for i, g in enumerate(table.groups):
        row = [display_value(k, g.values[k]) for k in table.keys] or ["all runs"]
        row.append(str(len(g.runs)))
        for m in table.metrics:
            cell = _cell(g, m, "±", len(g.runs))
            row.append(f"**{cell}**" if m in g.best else cell)
        if published:
            row.append(published[0][i])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    if published:
        lines += ["", *_footnotes(published[1])]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: ResultTable) -> str:
    published = _published_cells(table)
    header = [*(table.keys or ["setting"]), "n", *map(metric_header, table.metrics)]
    if published:
        header.append("published")
    align = "l" * max(1, len(table.keys)) + "r" * (len(header) - max(1, len(table.keys)))
    lines = [
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for i, g in enumerate(table.groups):
        row = [latex_escape(display_value(k, g.values[k])) for k in table.keys] or ["all runs"]
        row.append(str(len(g.runs)))
        for m in table.metrics:
            cell = latex_escape(_cell(g, m, "PLUSMINUS", len(g.runs)))
            cell = cell.replace("PLUSMINUS", r"$\pm$")
            row.append(rf"\textbf{{{cell}}}" if m in g.best else cell)
        if published:
            row.append(latex_escape(published[0][i]))
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    # Comments keep the block pasteable into a table environment as is.
    if published:
        lines += ["% " + note for note in _footnotes(published[1])]
    return "\n".join(lines) + "\n"


def _csv_value(value: Any) -> str:
    return "" if value is None else value_key(value)


def render_csv(table: ResultTable) -> str:
    """Raw numbers (fractions, not percent) so downstream tools need no parsing."""
    published = _published_cells(table)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [*table.keys, "n"]
    for m in table.metrics:
        header += [f"{m} mean", f"{m} std", f"{m} n"]
    if published:
        header += ["published", "published source"]
    writer.writerow(header)
    for g in table.groups:
        row: list[Any] = [_csv_value(g.values[k]) for k in table.keys] + [len(g.runs)]
        for m in table.metrics:
            s = g.stats.get(m)
            row += [repr(s.mean), repr(s.std), s.n] if s else ["", "", 0]
        if published:
            row.append("; ".join(f"{r.metric}={r.value!r}" for r in g.published))
            row.append("; ".join(r.source for r in g.published))
        writer.writerow(row)
    return buf.getvalue()


def render(table: ResultTable, fmt: str = "markdown") -> str:
    renderers = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](table)
