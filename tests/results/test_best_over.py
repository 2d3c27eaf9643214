"""Best over a swept key (--best-over, --select-on) and a final metric against state size."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from run_factory import base_config, write_run

from rnnlab.errors import ConfigError
from rnnlab.results import cli
from rnnlab.results.collect import Run, collect_runs
from rnnlab.results.plot import make_metric_figure, metric_points
from rnnlab.results.render import render
from rnnlab.results.table import build_table, check_selection

LRS = (0.01, 0.001)
SEEDS = (0, 1, 2)
# The learning rate that validates best, per (cell, hidden size); the test set prefers the
# other one, so a choice made on test metrics shows.
GOOD = {("gru", 8): 0.01, ("gru", 32): 0.001, ("lstm", 8): 0.001, ("lstm", 32): 0.001}
STATE = {"gru": 1, "lstm": 2}  # floats of state per unit


def accuracies(cell: str, hidden: int, lr: float, seed: int) -> tuple[float, float]:
    """(val/acc_best, test/acc) of one fake run."""
    base = 0.5 + (0.2 if hidden == 32 else 0.0) + (0.05 if cell == "lstm" else 0.0)
    good = lr == GOOD[(cell, hidden)]
    jitter = 0.01 * seed + 0.003 * seed**2  # unequal steps: std differs from mean's digits
    return base + (0.1 if good else 0.0) + jitter, base + (0.0 if good else 0.1) + jitter


@pytest.fixture
def lr_sweep(tmp_path: Path) -> Path:
    root = tmp_path / "lr_sweep"
    for (cell, hidden), _ in GOOD.items():
        for lr in LRS:
            for seed in SEEDS:
                val_acc, test_acc = accuracies(cell, hidden, lr, seed)
                config = base_config(cell, seed, hidden_size=hidden)
                config["optimizer"]["lr"] = lr
                metrics = {
                    "val/acc_best": val_acc,
                    "val/loss": 1.0 - val_acc,
                    "test/acc": test_acc,
                    "test/loss": 1.0 - test_acc,
                    "model/state_size": STATE[cell] * hidden,
                    "model/params": 100 * hidden,
                }
                write_run(root, f"{cell}_{hidden}_{lr}_{seed}", config, metrics)
    return root


@pytest.fixture
def runs(lr_sweep: Path) -> list[Run]:
    loaded, skipped = collect_runs([lr_sweep])
    assert not skipped
    return loaded


def expected(cell: str, hidden: int, lr: float, which: int) -> tuple[float, float]:
    """Mean and sample std over the seeds, computed apart from the code under test."""
    values = np.array([accuracies(cell, hidden, lr, s)[which] for s in SEEDS])
    return float(values.mean()), float(values.std(ddof=1))


BY = ["model.cell", "model.hidden_size"]


def test_each_row_reports_the_lr_its_validation_mean_chose(runs: list[Run]):
    sel = check_selection(runs, "optimizer.lr", None, BY)
    assert (sel.metric, sel.sign) == ("val/acc_best", 1)  # the runs' one val/*_best, maximised
    table = build_table(runs, by=BY, metrics=["test/acc", "val/acc_best"], selection=sel)
    assert len(table.groups) == 4
    for g in table.groups:
        cell, hidden = g.values["model.cell"], g.values["model.hidden_size"]
        good = GOOD[(cell, hidden)]
        assert g.choice.value == good
        assert {r.config["optimizer.lr"] for r in g.runs} == {good}
        assert len(g.runs) == len(SEEDS) and len(g.pool) == len(SEEDS) * len(LRS)
        mean, std = expected(cell, hidden, good, 1)
        assert g.stats["test/acc"].mean == pytest.approx(mean)
        assert g.stats["test/acc"].std == pytest.approx(std)
        assert g.stats["test/acc"].n == len(SEEDS)
        # every value tried, with its validation mean
        assert [v for v, _ in g.choice.tried] == sorted(LRS)
        for value, stat in g.choice.tried:
            assert stat.mean == pytest.approx(expected(cell, hidden, value, 0)[0])


def test_test_metrics_do_not_choose(runs: list[Run]):
    table = build_table(runs, by=BY, selection=check_selection(runs, "optimizer.lr", None, BY))
    for g in table.groups:
        cell, hidden = g.values["model.cell"], g.values["model.hidden_size"]
        other = next(lr for lr in LRS if lr != GOOD[(cell, hidden)])
        # the test set prefers the other lr: the row shows the lower test number
        assert g.stats["test/acc"].mean < expected(cell, hidden, other, 1)[0]
    for metric in ("test/acc", "test/loss"):
        with pytest.raises(ConfigError, match="a validation metric"):
            check_selection(runs, "optimizer.lr", metric, BY)


def test_a_loss_is_minimised_an_accuracy_maximised(runs: list[Run]):
    by_loss = check_selection(runs, "optimizer.lr", "val/loss", BY)
    assert by_loss.sign == -1
    for sel in (by_loss, check_selection(runs, "optimizer.lr", "val/acc_best", BY)):
        table = build_table(runs, by=BY, selection=sel)
        chosen = {(g.values["model.cell"], g.values["model.hidden_size"]): g.choice.value
                  for g in table.groups}  # fmt: skip
        assert chosen == GOOD, sel.metric


def test_the_swept_key_leaves_the_grouping(runs: list[Run]):
    sel = check_selection(runs, "optimizer.lr", None, None)
    assert build_table(runs, selection=sel).keys == BY
    assert build_table(runs).keys == [*BY, "optimizer.lr"]


def test_rendered_column_and_note(runs: list[Run]):
    sel = check_selection(runs, "optimizer.lr", None, BY)
    table = build_table(runs, by=BY, metrics=["test/acc"], selection=sel, references=())
    lines = render(table, "markdown").splitlines()
    assert lines[0] == "| model.cell | model.hidden_size | best optimizer.lr | n | test/acc (%) |"
    mean, std = expected("gru", 32, 0.001, 1)
    assert f"| gru | 32 | 0.001 | 3 | {mean * 100:.2f} ± {std * 100:.2f} |" in lines
    assert lines[-1].startswith("best optimizer.lr: per row, of 0.001, 0.01, the value whose runs "
                                "have the highest mean val/acc_best")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert [(r["model.cell"], r["model.hidden_size"], r["best optimizer.lr"]) for r in rows] == [
        ("gru", "8", "0.01"),
        ("gru", "32", "0.001"),
        ("lstm", "8", "0.001"),
        ("lstm", "32", "0.001"),
    ]
    assert "best optimizer.lr" in render(table, "latex").splitlines()[2]


def one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--best-over", "optimizer.lrr"], ["--best-over", "optimizer.lrr", "optimizer.lr?"]),
        (["--best-over", "seed"], ["--best-over", "seed"]),
        (["--best-over", "optimizer.lr", "--by", "model.cell,optimizer.lr"], ["--by"]),
        (["--best-over", "optimizer.lr", "--select-on", "val/bpc_best"], ["val/bpc_best"]),
        (["--best-over", "optimizer.lr", "--select-on", "test/acc"], ["test/acc", "val/acc_best"]),
        (["--select-on", "val/acc_best"], ["--select-on", "--best-over"]),
        (["--plot", "P.png", "--plot-x", "model/state"], ["model/state", "model/state_size"]),
        (["--plot-x", "model/state_size"], ["--plot"]),
        (["--plot", "P.png", "--plot-x", "model/params", "--plot-metric", "test/bpc"],
         ["test/bpc", "test/acc"]),
    ],
)  # fmt: skip
def test_bad_arguments_one_line_exit_2_nothing_written(lr_sweep, tmp_path, capsys, args, names):
    out = tmp_path / "out"
    args = [a.replace("P.png", str(out / "p.png")) for a in args]
    assert cli.main([str(lr_sweep), "--output", str(out / "t.md"), *args]) == 2
    err = one_line(capsys)
    assert err.startswith("rnnlab-table: error: ")
    for name in names:
        assert name in err
    assert not out.exists()


def test_no_default_selection_metric_when_the_runs_have_two(tmp_path: Path, capsys):
    for lr in LRS:
        config = base_config("gru", 0)
        config["optimizer"]["lr"] = lr
        write_run(tmp_path, f"r{lr}", config, {"val/acc_best": 0.5, "val/bpc_best": 1.0})
    assert cli.main([str(tmp_path), "--best-over", "optimizer.lr"]) == 2
    assert "--select-on" in one_line(capsys)


def test_cli_best_over_and_state_size_plot(lr_sweep: Path, tmp_path: Path, capsys):
    png = tmp_path / "size.png"
    args = [str(lr_sweep), "--by", "model.cell", "--best-over", "optimizer.lr", "--plot",
            str(png), "--plot-x", "model/state_size", "--plot-metric", "test/acc"]  # fmt: skip
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("| model.cell | best optimizer.lr | n |")
    assert f"wrote {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_state_size_figure_one_line_per_cell_choice_per_point(runs: list[Run]):
    sel = check_selection(runs, "optimizer.lr", None, ["model.cell"])
    groups = build_table(runs, by=["model.cell"], selection=sel).groups
    fig, empty = make_metric_figure(groups, "test/acc", "model/state_size", sel)
    ax = fig.axes[0]
    assert empty == []
    assert len(ax.containers) == 2  # one error-bar line per cell
    for bars, cell in zip(ax.containers, ("gru", "lstm"), strict=True):
        line, _, (bar,) = bars.lines
        xs = [STATE[cell] * h for h in (8, 32)]
        assert line.get_xdata().tolist() == xs
        # the lr chosen at each state size, not once per line
        want = [expected(cell, h, GOOD[(cell, h)], 1) for h in (8, 32)]
        assert line.get_ydata() == pytest.approx([100 * m for m, _ in want])  # percent
        spans = [seg[1, 1] - seg[0, 1] for seg in bar.get_segments()]
        assert spans == pytest.approx([200 * s for _, s in want])  # ± one std
    # gru's choice differs between its points: named beside each; lstm's is said once
    assert [t.get_text() for t in ax.texts] == ["lr=0.01", "lr=0.001"]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "model/state_size (floats of recurrent state per sequence)"
    assert ax.get_ylabel() == "test/acc (%)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["cell=gru (n=3 per point)", "cell=lstm (n=3 per point, lr=0.001 at each)"]
    assert ax.get_title().startswith("SequentialMNIST: test/acc against recurrent state size\n")
    assert "optimizer.lr whose runs have the highest mean val/acc_best" in ax.get_title()


def test_state_size_points_without_a_choice_pool_every_run(runs: list[Run]):
    groups = build_table(runs, by=["model.cell"]).groups
    (gru, points), _ = metric_points(groups, "model/state_size", "test/loss")
    assert gru.values == {"model.cell": "gru"} and [p.x for p in points] == [8.0, 32.0]
    assert all(p.stat.n == len(SEEDS) * len(LRS) and p.choice is None for p in points)


def test_a_row_whose_runs_lack_the_selection_metric_reports_nothing(tmp_path: Path, capsys):
    for cell, metric in (("gru", "val/acc_best"), ("lstm", "val/acc")):
        for lr in LRS:
            config = base_config(cell, 0)
            config["optimizer"]["lr"] = lr
            write_run(tmp_path, f"{cell}{lr}", config, {metric: lr, "test/acc": 0.5})
    assert cli.main([str(tmp_path), "--best-over", "optimizer.lr", "--metrics", "test/acc",
                     "--format", "csv"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    rows = {r["model.cell"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["gru"]["best optimizer.lr"] == "0.01" and rows["gru"]["n"] == "1"
    # no lr of the lstm row can be chosen: no numbers rather than all its lrs mixed
    assert rows["lstm"]["best optimizer.lr"] == "" and rows["lstm"]["test/acc n"] == "0"
    assert "cell=lstm: no run reports val/acc_best; no optimizer.lr chosen" in err


def test_state_size_ticks_that_would_print_over_each_other_are_thinned():
    from rnnlab.results.plot import _spread_ticks

    assert _spread_ticks([64, 128, 1024, 1092, 2048, 4228]) == [64, 128, 1024, 2048, 4228]
    assert _spread_ticks([8]) == [8]
