"""Render a ResultTable as markdown, booktabs LaTeX or CSV.

Accuracies show as percentages, the best value of each column is bold (within the
same data setting), and published reference numbers get a column and footnotes.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from rnnlab.results.references import Reference
from rnnlab.results.table import (
    FORMATS,
    Group,
    ResultTable,
    display_value,
    is_accuracy,
    sort_key,
    value_key,
)


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


def _choice_header(table: ResultTable) -> list[str]:
    """The column naming the value each row's runs chose (``best optimizer.lr``), if any."""
    return [f"best {table.selection.key}"] if table.selection else []


def _choice_cell(table: ResultTable, group: Group) -> list[str]:
    if not table.selection:
        return []
    choice = group.choice
    return [display_value(choice.selection.key, choice.value) if choice and choice.made else "-"]


def choice_note(table: ResultTable) -> list[str]:
    """How the best column was chosen, for a reader of the table alone."""
    sel = table.selection
    if not sel:
        return []
    tried: dict[str, Any] = {}
    for g in table.groups:
        for value, _ in g.choice.tried if g.choice else []:
            tried.setdefault(value_key(value), value)
    values = sorted(tried.values(), key=lambda v: sort_key((v,)))
    return [
        f"best {sel.key}: per row, of {', '.join(display_value(sel.key, v) for v in values)}, "
        f"the value whose runs have the {sel.wording} mean {sel.metric}; the row shows "
        "that value's runs (n) only."
    ]


def render_markdown(table: ResultTable) -> str:
    published = _published_cells(table)
    header = [*(table.keys or ["setting"]), *_choice_header(table), "n",
              *map(metric_header, table.metrics)]  # fmt: skip
    if published:
        header.append("published")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for i, g in enumerate(table.groups):
        row = [display_value(k, g.values[k]) for k in table.keys] or ["all runs"]
        row += [*_choice_cell(table, g), g.count]
        for m in table.metrics:
            cell = _cell(g, m, "±", len(g.runs))
            row.append(f"**{cell}**" if m in g.best else cell)
        if published:
            row.append(published[0][i])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    notes = choice_note(table) + (_footnotes(published[1]) if published else [])
    if notes:
        lines += ["", *notes]
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
    header = [*(table.keys or ["setting"]), *_choice_header(table), "n",
              *map(metric_header, table.metrics)]  # fmt: skip
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
        row += [*map(latex_escape, _choice_cell(table, g)), g.count]
        for m in table.metrics:
            cell = latex_escape(_cell(g, m, "PLUSMINUS", len(g.runs)))
            cell = cell.replace("PLUSMINUS", r"$\pm$")
            row.append(rf"\textbf{{{cell}}}" if m in g.best else cell)
        if published:
            row.append(latex_escape(published[0][i]))
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    # Comments keep the block pasteable into a table environment as is.
    notes = choice_note(table) + (_footnotes(published[1]) if published else [])
    lines += ["% " + note for note in notes]
    return "\n".join(lines) + "\n"


def _csv_value(value: Any) -> str:
    return "" if value is None else value_key(value)


def render_csv(table: ResultTable) -> str:
    """Raw numbers (fractions, not percent) so downstream tools need no parsing."""
    published = _published_cells(table)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [*table.keys, *_choice_header(table), "n"]
    for m in table.metrics:
        header += [f"{m} mean", f"{m} std", f"{m} n"]
    if published:
        header += ["published", "published source"]
    writer.writerow(header)
    for g in table.groups:
        row: list[Any] = [_csv_value(g.values[k]) for k in table.keys]
        if table.selection:
            row.append(_csv_value(g.choice.value) if g.choice and g.choice.made else "")
        row.append(len(g.runs))
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
