"""End-to-end training on sine waves: every model, seeding, eval parity, figures."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from rnnlab.run.job import train

from helpers import FAST, make_config, read_metrics, run_cli


@pytest.mark.parametrize(
    "model,bidirectional", list(itertools.product(["rnn", "lstm", "gru"], [False, True]))
)
def test_fast_dev_run_every_model(tmp_path, model, bidirectional):
    cfg = make_config(
        tmp_path, [*FAST, f"model={model}", f"model.bidirectional={bidirectional}", "debug=fdr"]
    )
    metrics = train(cfg, tmp_path)
    assert metrics["status"] == "completed"
    for key in ("train/loss", "test/mse", "test/rollout_mse"):
        assert math.isfinite(metrics[key]), key
    assert metrics["model/params"] > 0
    # floats of recurrent state per sequence: H per layer-direction, 2H for an LSTM
    per = 2 if model == "lstm" else 1
    assert metrics["model/state_size"] == per * 16 * (2 if bidirectional else 1)


def test_run_dir_has_metrics_checkpoints_figure_and_csv(tmp_path):
    metrics = train(make_config(tmp_path, FAST), tmp_path)
    assert read_metrics(tmp_path) == json.loads(json.dumps(metrics))  # every value, written
    for key in ("train/loss", "val/loss", "test/mse", "test/rollout_mse", "epochs", "threads"):
        assert key in metrics, key
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert metrics["test/ckpt"].endswith("best.ckpt")
    assert metrics["val/loss_best"] == pytest.approx(
        min(metrics["val/loss_best"], metrics["val/loss"])
    )


def test_same_seed_same_metrics(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        runs.append(train(make_config(out, [*FAST, "seed=7"]), out))
    keys = [k for k in runs[0] if k.startswith(("train/", "val/", "test/")) and k != "test/ckpt"]
    assert keys
    for key in keys:
        assert runs[0][key] == runs[1][key], key
    # the second job's process time counts from the first's end, not from process start
    # (a sweep worker runs job after job), so it is its own total and the setup before it
    assert runs[1]["time/total_s"] <= runs[1]["time/process_s"] < runs[1]["time/total_s"] + 2


def test_different_seed_different_data(tmp_path):
    a = train(make_config(tmp_path / "a", [*FAST, "seed=1"]), tmp_path / "a")
    b = train(make_config(tmp_path / "b", [*FAST, "seed=2"]), tmp_path / "b")
    assert a["test/mse"] != b["test/mse"]


def test_overfit_one_batch_reaches_near_zero_loss(tmp_path):
    cfg = make_config(
        tmp_path, [*FAST, "debug=overfit", "model.hidden_size=32", "trainer.max_epochs=200"]
    )
    metrics = train(cfg, tmp_path)
    assert metrics["train/loss"] < 1e-3


def test_eval_reproduces_train_test_metrics(tmp_path):
    """rnnlab-eval on the best checkpoint gives exactly the numbers training reported."""
    proc = run_cli("train", [*FAST, "trainer.max_epochs=3"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = read_metrics(tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    proc = run_cli("evaluate", [f"ckpt_path={ckpt}", "trainer.accelerator=cpu"], tmp_path / "eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluated = read_metrics(tmp_path / "eval" / "run")
    test_keys = [k for k in trained if k.startswith("test/") and k != "test/ckpt"]
    assert {"test/mse", "test/rollout_mse", "test/loss"} <= set(test_keys)
    for key in test_keys:
        assert evaluated[key] == trained[key], key


def test_evaluations_of_two_models_are_two_rows_of_a_table(tmp_path):
    from rnnlab.results.collect import collect_runs
    from rnnlab.results.table import build_table
    from rnnlab.run.job import evaluate

    for cell in ("lstm", "gru"):
        trained = tmp_path / cell / "train"
        train(make_config(trained, [*FAST, "trainer.max_epochs=1", f"model={cell}"]), trained)
        ckpt = f"ckpt_path={trained}/checkpoints/best.ckpt"
        evaluated = tmp_path / "eval" / cell
        evaluate(make_config(evaluated, [ckpt, "trainer.accelerator=cpu"], "eval"), evaluated)
    runs, skipped = collect_runs([tmp_path / "eval"])
    assert skipped == [] and len(runs) == 2
    table = build_table(runs)
    assert "model.cell" in table.keys and len(table.groups) == 2
