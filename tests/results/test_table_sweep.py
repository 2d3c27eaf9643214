"""A real (tiny) sweep turned into tables: the numbers are the runs' own means and stds."""

from __future__ import annotations

import csv
import io
import json
import statistics

import pytest

from rnnlab.results.cli import main as table_main

from helpers import FAST, run_cli


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    args = ["-m", *FAST, "model=rnn,gru", "seed=1,2", "trainer.max_epochs=1"]
    proc = run_cli("train", args, tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp / "sweep"


def _expected(sweep, metric):
    by_cell: dict[str, list[float]] = {}
    for metrics_file in sweep.glob("*/metrics.json"):
        overrides = (metrics_file.parent / ".hydra" / "overrides.yaml").read_text()
        cell = "rnn" if "model=rnn" in overrides else "gru"
        by_cell.setdefault(cell, []).append(json.loads(metrics_file.read_text())[metric])
    return {cell: (statistics.mean(v), statistics.stdev(v), len(v)) for cell, v in by_cell.items()}


def test_csv_table_has_mean_std_n_per_model(sweep, capsys):
    assert table_main([str(sweep), "--metrics", "test/mse", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2  # grouped by model, not by seed
    expected = _expected(sweep, "test/mse")
    for row in rows:
        cell = row["model.cell"]
        mean, std, n = expected[cell]
        assert float(row["test/mse mean"]) == pytest.approx(mean, rel=1e-6)
        assert float(row["test/mse std"]) == pytest.approx(std, rel=1e-6)
        assert int(row["test/mse n"]) == n == 2


@pytest.mark.parametrize("fmt,marker", [("markdown", "|"), ("latex", "\\toprule")])
def test_markdown_and_latex_tables(sweep, capsys, fmt, marker):
    assert table_main([str(sweep), "--metrics", "test/mse", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert marker in out
    assert "rnn" in out and "gru" in out
    assert ("**" if fmt == "markdown" else "\\textbf") in out  # the best is bold


def test_learning_curve_plot_from_real_csv_logs(sweep, tmp_path, capsys):
    png = tmp_path / "curves.png"
    args = [str(sweep), "--metrics", "test/mse", "--plot", str(png), "--plot-metric", "val/loss"]
    assert table_main(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
