from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from run_factory import base_config, lightning_curve, write_run

from rnnlab.results.collect import collect_runs
from rnnlab.results.plot import group_curve, make_figure, plot_learning_curves, read_curve
from rnnlab.results.table import build_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_read_curve_uses_only_rows_that_log_the_metric(sweep: Path):
    curve = read_curve(sweep / "lstm_0", "val/loss", "step")
    assert curve == {9.0: 1.5, 19.0: pytest.approx(1.1), 29.0: pytest.approx(0.7)}
    assert set(read_curve(sweep / "lstm_0", "val/loss", "epoch")) == {0.0, 1.0, 2.0}
    assert read_curve(sweep / "lstm_0", "val/nope") == {}


def test_group_curve_mean_and_std_over_seeds():
    xs, mean, std = group_curve([{0: 1.0, 1: 2.0}, {0: 3.0, 1: 4.0}, {0: 5.0}])
    assert xs.tolist() == [0.0, 1.0]
    assert mean.tolist() == [3.0, 3.0]
    assert std[0] == pytest.approx(np.std([1.0, 3.0, 5.0], ddof=1))
    assert std[1] == pytest.approx(np.std([2.0, 4.0], ddof=1))


def test_png_with_one_line_per_group(sweep: Path, tmp_path: Path):
    runs, _ = collect_runs([sweep])
    groups = build_table(runs).groups
    fig, empty = make_figure(groups, "val/loss")
    ax = fig.axes[0]
    assert empty == []
    assert len(ax.lines) == len(groups) == 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "cell=gru (n=3)",
        "cell=lstm (n=3)",
    ]
    gru_line = ax.lines[0]
    assert gru_line.get_ydata()[0] == pytest.approx(1.5 + 0.2 + 0.05)

    out, _ = plot_learning_curves(groups, tmp_path / "figs" / "curves.png", "val/loss")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_plot_reports_groups_without_curves(tmp_path: Path):
    write_run(tmp_path, "a", base_config("lstm"), {"test/acc": 0.9})
    runs, _ = collect_runs([tmp_path])
    (tmp_path / "a" / "wandb" / "offline-run-20260101_000000-abc").mkdir(parents=True)
    out, empty = plot_learning_curves(build_table(runs).groups, tmp_path / "x.png")
    assert out is None and not (tmp_path / "x.png").exists()
    # what was looked in is named, not an exit status
    assert empty == ["all runs (looked in a: wandb (online: read it with --wandb))"]


def test_versioned_csv_logger_folder(tmp_path: Path):
    run = write_run(
        tmp_path, "r", base_config(), {"test/acc": 0.5}, curve=[{"step": 1, "val/loss": 9}]
    )
    for version, value in ((2, 2.0), (10, 1.0)):
        folder = run / "csv" / f"version_{version}"
        folder.mkdir()
        (folder / "metrics.csv").write_text(f"epoch,step,val/loss\n0,1,{value}\n")
    (run / "csv" / "metrics.csv").unlink()
    assert read_curve(run, "val/loss") == {1.0: 1.0}


def _copy_sweep(root: Path, lengths: dict[int, float]) -> list:
    """Two cells at each length; ``baseline/loss`` depends on the length only."""
    for length, baseline in lengths.items():
        for cell in ("lstm", "gru"):
            for seed in range(2):
                config = base_config(cell, seed)
                config["data"] = {"_target_": "rnnlab.data.synthetic.CopyMemory", "length": length}
                metrics = {"test/loss": 0.1, "baseline/loss": baseline, "baseline/acc": 0.125}
                curve = lightning_curve(0.1 * seed)
                write_run(root, f"{length}_{cell}_{seed}", config, metrics, curve=curve)
    runs, _ = collect_runs([root])
    return build_table(runs).groups


def _dashed(ax) -> list:
    return [line for line in ax.lines if line.get_linestyle() == "--"]


def test_loss_plot_draws_one_labelled_baseline_per_distinct_value(tmp_path: Path):
    groups = _copy_sweep(tmp_path, {100: 0.1733, 200: 0.0945})
    fig, _ = make_figure(groups, "val/loss")
    ax = fig.axes[0]
    dashed = _dashed(ax)
    assert sorted(line.get_ydata()[0] for line in dashed) == [0.0945, 0.1733]
    assert all(line.get_ydata()[0] == line.get_ydata()[1] for line in dashed)  # horizontal
    assert len(ax.lines) == len(groups) + 2 == 6
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "baseline 0.0945 (length=200)" in labels
    assert "baseline 0.1733 (length=100)" in labels


def test_one_shared_baseline_is_labelled_by_its_value_only(tmp_path: Path):
    groups = _copy_sweep(tmp_path, {100: 0.1733})
    fig, _ = make_figure(groups, "train/loss")
    (line,) = _dashed(fig.axes[0])
    assert line.get_ydata()[0] == 0.1733
    assert "baseline 0.1733" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_no_baseline_beside_other_metrics_or_without_one(tmp_path: Path, sweep: Path):
    groups = _copy_sweep(tmp_path / "copy", {100: 0.1733})
    fig, _ = make_figure(groups, "val/acc")
    assert _dashed(fig.axes[0]) == []
    runs, _ = collect_runs([sweep])  # runs that wrote no baseline/loss
    fig, _ = make_figure(build_table(runs).groups, "val/loss")
    assert _dashed(fig.axes[0]) == []


def _tensorboard_run(root: Path, name: str, losses: list[float]) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    run = write_run(root, name, base_config("gru"), {"test/acc": 0.5})
    writer = SummaryWriter(str(run / "tensorboard"))
    for epoch, loss in enumerate(losses):
        step = 10 * (epoch + 1)
        writer.add_scalar("val/loss", loss, step)
        writer.add_scalar("epoch", epoch, step)
    writer.close()
    return run


def test_curves_are_read_from_tensorboard_when_there_is_no_csv(tmp_path: Path):
    run = _tensorboard_run(tmp_path, "tb", [2.0, 0.5, 0.01])
    assert read_curve(run, "val/loss") == pytest.approx({10.0: 2.0, 20.0: 0.5, 30.0: 0.01})
    assert read_curve(run, "val/loss", "epoch") == pytest.approx({0.0: 2.0, 1.0: 0.5, 2.0: 0.01})
    runs, _ = collect_runs([tmp_path])
    fig, empty = make_figure(build_table(runs).groups, "val/loss")
    assert empty == [] and len(fig.axes[0].lines) == 1


def test_the_figure_has_a_title_and_a_log_axis_for_a_loss_over_decades(tmp_path: Path, sweep: Path):
    _tensorboard_run(tmp_path, "tb", [2.0, 0.5, 0.01])
    runs, _ = collect_runs([tmp_path])
    ax = make_figure(build_table(runs).groups, "val/loss")[0].axes[0]
    assert ax.get_title() == "train: val/loss, mean ± std over each group's runs"
    assert ax.get_yscale() == "log"  # 2.0 down to 0.01
    runs, _ = collect_runs([sweep])
    assert make_figure(build_table(runs).groups, "val/loss")[0].axes[0].get_yscale() == "linear"


def test_an_accuracys_band_stays_within_0_and_1(tmp_path: Path):
    for seed, acc in enumerate([0.2, 1.0, 1.0]):  # mean 0.73, std 0.46: mean + std is 1.2
        rows = [{"epoch": 0, "step": 9, "val/acc": acc}]
        write_run(tmp_path, f"run{seed}", base_config("gru", seed=seed), {"test/acc": acc},
                  curve=rows)  # fmt: skip
    runs, _ = collect_runs([tmp_path])
    fig, _ = make_figure(build_table(runs).groups, "val/acc")
    (band,) = fig.axes[0].collections
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    assert ys.max() == pytest.approx(1.0) and ys.min() > 0.2
