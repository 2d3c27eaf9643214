"""Every option of every config group composes, and the debug modes run."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest

import rnnlab.run.build as build
from rnnlab.conf import conf_dir
from rnnlab.run.job import train

from helpers import FAST, make_config
from instantiate import check_option

# Groups selected on the command line as `group=option`; files starting with "_" are parts.
GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "debug",
          "experiment", "launcher", "hparams_search"]  # fmt: skip


def _options() -> list[tuple[str, str]]:
    root = Path(conf_dir())
    return [
        (group, path.stem)
        for group in GROUPS
        for path in sorted((root / group).glob("*.yaml"))
        if not path.stem.startswith("_")
    ]


@pytest.mark.parametrize("group,option", _options())
def test_every_option_composes_and_works(tmp_path, group, option):
    check_option(tmp_path, group, option)  # builds what the option configures, uses it once


def test_every_group_has_options():
    found = {group for group, _ in _options()}
    assert {"data", "model", "optimizer", "trainer", "callbacks", "logger", "debug"} <= found


class Batches(pl.Callback):
    """Batches run per stage and epoch."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = {"train": [], "val": [], "test": []}

    def _count(self, stage: str, trainer: pl.Trainer) -> None:
        epoch = trainer.current_epoch if stage != "test" else 0
        counts = self.seen[stage]
        counts.extend([0] * (epoch + 1 - len(counts)))
        counts[epoch] += 1

    def on_train_batch_end(self, trainer, *args) -> None:
        self._count("train", trainer)

    def on_validation_batch_end(self, trainer, *args) -> None:
        self._count("val", trainer)

    def on_test_batch_end(self, trainer, *args) -> None:
        self._count("test", trainer)


def count_batches(tmp_path, monkeypatch, overrides: list[str]) -> tuple[dict, Batches]:
    batches = Batches()
    original = build.build_callbacks
    monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), batches])
    # Every split has more batches than the debug modes take (train 11, val and test 5).
    small = [o for o in FAST if not o.startswith("trainer.max_epochs")]
    return train(
        make_config(tmp_path, [*small, "data.eval_batch_size=8", *overrides]), tmp_path
    ), batches


def test_debug_limit_runs_exactly_the_limited_batches(tmp_path, monkeypatch):
    metrics, batches = count_batches(tmp_path, monkeypatch, ["debug=limit"])
    assert batches.seen == {"train": [5, 5, 5], "val": [2, 2, 2], "test": [2]}
    assert metrics["status"] == "completed" and metrics["epochs"] == 3


def test_debug_fdr_runs_one_batch_of_each_stage(tmp_path, monkeypatch):
    metrics, batches = count_batches(tmp_path, monkeypatch, ["debug=fdr"])
    assert batches.seen == {"train": [1], "val": [1], "test": [1]}
    assert not (tmp_path / "csv").exists()  # no logger


def test_debug_profiler_reports_where_time_goes(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    metrics, batches = count_batches(tmp_path, monkeypatch, ["debug=profiler"])
    assert batches.seen["train"] == [11]  # one whole epoch
    report = "\n".join(
        r.getMessage() for r in caplog.records if "Profiler Report" in r.getMessage()
    )
    assert "FIT Profiler Report" in report
    for action in (
        "run_training_epoch",
        "run_training_batch",
        "[LightningModule]RegressionTask.optimizer_step",
    ):
        assert action in report, action


@pytest.mark.parametrize(
    "experiment", [p.stem for p in (Path(conf_dir()) / "experiment").glob("*.yaml")]
)
def test_every_experiment_shows_progress(tmp_path, experiment):
    # long runs (the long-memory tasks: minutes per epoch) must show how far they are
    cfg = make_config(tmp_path, [f"experiment={experiment}"])
    assert cfg.trainer.enable_progress_bar
    assert cfg.callbacks.get("progress_bar") is not None


@pytest.mark.parametrize(
    "experiment", [p.stem for p in (Path(conf_dir()) / "experiment").glob("chars_*.yaml")]
)
def test_every_char_experiment_writes_text_samples(tmp_path, experiment):
    # the README promises samples.txt from the char experiments
    cfg = make_config(tmp_path, [f"experiment={experiment}"])
    assert cfg.callbacks.text_samples.filename == "samples.txt"
