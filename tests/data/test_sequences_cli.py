"""rnnlab-train on a user's own sequence files, end to end through the command line."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import read_metrics, run_cli
from sequence_files import random_cases, write_split

QUICK = ["model=gru", "model.hidden_size=8", "trainer.max_epochs=2", "trainer.accelerator=cpu",
         "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
         "callbacks.model_summary=null", "callbacks.test_figures=null"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "npz", "ts"])
def test_train_classifies_sequences_from_files(tmp_path, fmt):
    train = write_split(tmp_path, fmt, random_cases(24, 2, (3, 12), 1), ["a", "b"] * 12, "train")
    test = write_split(tmp_path, fmt, random_cases(8, 2, (3, 12), 2), ["a", "b"] * 4, "test")
    args = ["data=sequences", f"data.train_path={train}", f"data.test_path={test}",
            "data.bucket_by_length=true", *QUICK]  # fmt: skip
    result = run_cli("train", args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "completed" and 0 <= metrics["test/acc"] <= 1
    assert (metrics["data/train_cases"], metrics["data/val_cases"], metrics["data/test_cases"]) == (
        22,
        2,
        8,
    )


def test_train_regresses_one_number_per_sequence(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6, 2))
    np.savez(tmp_path / "reg.npz", x=x, y=x[:, :, 0].mean(1))
    path = tmp_path / "reg.npz"
    args = ["data=sequences", f"data.train_path={path}", f"data.test_path={path}",
            "data.target=regression", "task=sequence_regression", *QUICK]  # fmt: skip
    result = run_cli("train", args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path / "run")
    assert metrics["better"]["test/mse"] == "lower" and metrics["better"]["test/mae"] == "lower"
    assert metrics["test/mse"] == pytest.approx(metrics["test/loss"])


def test_a_bad_file_stops_the_command_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,time,f0,label\na,0,1,x\na,1,oops,x\n")
    args = ["data=sequences", f"data.train_path={bad}", f"data.test_path={bad}", *QUICK]
    result = run_cli("train", args, tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {bad}: line 3: value 1 is 'oops', not a number (a missing value is written ?)"
    )
    assert not (tmp_path / "run").exists()
