"""rnnlab-table: turn run directories (or a W&B project) into a results table (and curves).

rnnlab-table multirun/2024-06-01 --format latex --output table.tex
rnnlab-table logs/ --by model.cell,data.mode --metrics test/acc --plot curves.png
rnnlab-table SWEEP --by model.cell,model.hidden_size --best-over optimizer.lr
rnnlab-table SWEEP --by model.cell --best-over optimizer.lr --plot size.png \
    --plot-x model/state_size --plot-metric test/acc
rnnlab-table --wandb me/rnnlab --wandb-filters '{"tags": "sweep1"}'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rnnlab.errors import ConfigError, did_you_mean
from rnnlab.io.atomic import atomic_write_text
from rnnlab.results.collect import Run, Skipped, collect_runs
from rnnlab.results.render import render
from rnnlab.results.table import FORMATS, Selection, build_table, check_selection

CURVE_X = ("step", "epoch")


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both ``--by a,b`` and ``--by a --by b``."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rnnlab-table",
        description="Aggregate finished runs into a mean ± std table (and plots).",
    )
    p.add_argument("dirs", nargs="*", metavar="DIR", help="run directories or folders of runs")
    p.add_argument(
        "--by",
        action="append",
        metavar="KEYS",
        help="comma-separated config keys to group by (default: every varying key)",
    )
    p.add_argument(
        "--metrics",
        action="append",
        metavar="NAMES",
        help="comma-separated metrics (default: test/* and val/*_best)",
    )
    p.add_argument(
        "--best-over",
        metavar="KEY",
        help="a swept config key (optimizer.lr): per row, report only the runs of the value "
        "whose seeds have the best mean --select-on metric, and name it in a column",
    )
    p.add_argument(
        "--select-on",
        metavar="METRIC",
        help="the validation metric --best-over chooses by (default: the runs' val/*_best); "
        "which way is better comes from the runs; test metrics are refused",
    )
    p.add_argument("--format", choices=FORMATS, default="markdown")
    p.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    p.add_argument("--no-published", action="store_true", help="omit the published column")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="also write learning curves (or the --plot-x figure) to this PNG",
    )
    p.add_argument(
        "--plot-metric",
        default="val/loss",
        metavar="METRIC",
        help="what to plot: a metrics.csv column (learning curves), or with a metric as "
        "--plot-x a final metric of metrics.json (test/acc)",
    )
    p.add_argument(
        "--plot-x",
        default="step",
        metavar="X",
        help="step or epoch (learning curves), or a number the runs report in "
        "metrics.json, such as model/state_size or model/params: one line per group through "
        "its values, mean ± std over the runs at each (default: step)",
    )
    p.add_argument("--wandb", metavar="ENTITY/PROJECT", help="also read runs from W&B")
    p.add_argument(
        "--wandb-filters",
        metavar="JSON",
        help='MongoDB-style run filters, e.g. \'{"tags": "sweep1"}\'',
    )
    return p


def _gather(args: argparse.Namespace) -> tuple[list[Run], list[Skipped]]:
    runs, skipped = collect_runs(args.dirs) if args.dirs else ([], [])
    if args.wandb:
        from rnnlab.results.wandb_source import load_wandb_runs

        filters = json.loads(args.wandb_filters) if args.wandb_filters else None
        more, more_skipped = load_wandb_runs(args.wandb, filters)
        runs += more
        skipped += more_skipped
    return runs, skipped


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.dirs and not args.wandb:
        parser.error("give at least one run directory or --wandb ENTITY/PROJECT")

    try:
        runs, skipped = _gather(args)
    except (RuntimeError, ValueError) as exc:  # W&B unavailable, bad filter JSON
        print(f"rnnlab-table: error: {exc}", file=sys.stderr)
        return 1
    for s in skipped:
        print(f"skipped {s.location}: {s.reason}", file=sys.stderr)
    if not runs:
        where = ", ".join(args.dirs) or args.wandb
        print(f"rnnlab-table: error: no usable runs found in {where}", file=sys.stderr)
        return 1

    try:
        selection = _check(args, runs)
    except ConfigError as exc:  # before anything is written
        print(f"rnnlab-table: error: {exc}", file=sys.stderr)
        return 2
    try:
        table = build_table(
            runs,
            by=_split(args.by),
            metrics=_split(args.metrics),
            references=() if args.no_published else None,
            selection=selection,
        )
    except ValueError as exc:
        print(f"rnnlab-table: error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(runs)} runs in {len(table.groups)} groups", file=sys.stderr)
    for name in table.metrics:
        if not any(name in g.stats for g in table.groups):
            print(f"warning: no run reports metric {name!r}", file=sys.stderr)
    for g in table.groups:
        if g.choice and not g.choice.made:
            print(f"warning: {g.label}: no run reports {g.choice.selection.metric}; "
                  f"no {g.choice.selection.key} chosen", file=sys.stderr)  # fmt: skip

    text = render(table, args.format)
    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)

    if args.plot and args.plot_x not in CURVE_X:
        from rnnlab.results.plot import plot_metric

        out, empty = plot_metric(table.groups, args.plot, args.plot_metric, args.plot_x,
                                 selection)  # fmt: skip
        for label in empty:
            print(f"plot: nothing to draw for {label}", file=sys.stderr)
        print(f"wrote {out}" if out else f"plot: nothing to draw; {args.plot} not written",
              file=sys.stderr)  # fmt: skip
    elif args.plot:
        from rnnlab.results.plot import plot_learning_curves

        out, empty = plot_learning_curves(table.groups, args.plot, args.plot_metric, args.plot_x)
        for label in empty:
            print(f"plot: no {args.plot_metric} curve for {label}", file=sys.stderr)
        print(f"wrote {out}" if out else f"plot: nothing to draw; {args.plot} not written",
              file=sys.stderr)  # fmt: skip
    return 0


def _check(args: argparse.Namespace, runs: list[Run]) -> Selection | None:
    """The options that name a config key or a metric, against what the runs have: a
    ConfigError naming the first that does not fit; the Selection of --best-over, if given."""
    by = _split(args.by)
    keys = sorted({k for r in runs for k in r.config})
    for key in by or []:
        if key not in keys:
            raise ConfigError("--by", key, f"config keys of the runs{did_you_mean(key, keys)}")
    selection = None
    if args.best_over:
        selection = check_selection(runs, args.best_over, args.select_on, by)
    elif args.select_on:
        raise ConfigError("--select-on", args.select_on, "only with --best-over KEY")
    if args.plot_x in CURVE_X:
        return selection
    names = sorted({m for r in runs for m in r.metrics})
    if args.plot_x not in names:
        some = ", ".join(m for m in ("model/state_size", "model/params") if m in names)
        raise ConfigError("--plot-x", args.plot_x, f"step, epoch, or a number the runs report "
                          f"in metrics.json ({some or ', '.join(names)})"
                          f"{did_you_mean(args.plot_x, names)}")  # fmt: skip
    if not args.plot:
        raise ConfigError("--plot-x", args.plot_x, "with --plot PNG, the file to draw it in")
    if args.plot_metric not in names:
        final = ", ".join(m for m in names if m.startswith(("test/", "val/")))
        raise ConfigError("--plot-metric", args.plot_metric, f"with --plot-x {args.plot_x}: a "
                          f"number the runs report in metrics.json ({final or ', '.join(names)})"
                          f"{did_you_mean(args.plot_metric, names)}")  # fmt: skip
    return selection


if __name__ == "__main__":
    sys.exit(main())
