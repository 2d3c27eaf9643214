"""Runs that exercise an option end to end: TensorBoard's HPARAMS record, early stopping,
per-step schedules, no callbacks at all, and a new run started from another's checkpoint."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch

import rnnlab.run.build as build
from rnnlab.run.job import train

from helpers import FAST, make_config, read_metrics

QUICK = [*FAST, "trainer.deterministic=true", "callbacks.test_figures=null"]


def tensorboard_events(run_dir) -> list:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    paths = sorted((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert paths
    return [event for path in paths for event in EventFileLoader(str(path)).Load()]


def test_tensorboard_gets_an_hparams_record_with_the_final_metrics(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    metrics = train(make_config(tmp_path, [*QUICK, "logger=tensorboard"]), tmp_path)
    events = tensorboard_events(tmp_path)
    hparams, scalars = [], {}
    for event in events:
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                data = plugin_data_pb2.HParamsPluginData()
                data.ParseFromString(value.metadata.plugin_data.content)
                hparams.append(data)
            elif value.HasField("simple_value") or value.HasField("tensor"):
                number = value.simple_value if value.HasField("simple_value") else None
                if number is None:
                    number = float(torch.tensor(list(value.tensor.float_val or [math.nan]))[0])
                scalars.setdefault(value.tag, []).append((event.step, number))
    experiment = next(d.experiment for d in hparams if d.HasField("experiment"))
    names = {m.name.tag for m in experiment.metric_infos}
    assert {"test/mse", "test/rollout_mse", "val/loss_best", "train/loss"} <= names
    session = next(d.session_start_info for d in hparams if d.HasField("session_start_info"))
    assert session.hparams["model.cell"].string_value == "lstm"
    assert session.hparams["model.hidden_size"].number_value == 16
    # the final values are written beside it, under the same tags
    for key in ("test/mse", "val/loss_best"):
        assert scalars[key][-1][1] == pytest.approx(metrics[key], rel=1e-6), key


def test_early_stopping_stops_when_val_loss_stops_improving(tmp_path):
    overrides = [*QUICK, "callbacks=early_stopping", "callbacks.early_stopping.patience=1",
                 "callbacks.early_stopping.min_delta=100", "trainer.max_epochs=6"]  # fmt: skip
    metrics = train(make_config(tmp_path, overrides), tmp_path)
    # no improvement of 100 ever: epoch 0 sets the reference, epoch 1 runs out of patience
    assert metrics["epochs"] == 2 and metrics["status"] == "completed"


def test_onecycle_steps_every_batch_over_the_whole_run(tmp_path):
    overrides = [*QUICK, "scheduler=onecycle", "trainer.max_epochs=2"]
    rates = []

    class Rates(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, *args) -> None:
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    original = build.build_callbacks
    with pytest.MonkeyPatch.context() as m:
        m.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), Rates()])
        train(make_config(tmp_path, overrides), tmp_path)
    assert len(rates) == 22  # 11 batches x 2 epochs, each with its own rate
    peak = max(range(22), key=rates.__getitem__)
    assert rates[peak] == pytest.approx(0.01, rel=0.02)  # max_lr, reached once, a third in
    assert 4 <= peak <= 9 and rates[0] < 0.001 and rates[-1] < 1e-4
    assert all(a < b for a, b in zip(rates[:peak], rates[1 : peak + 1], strict=True))


@pytest.mark.xfail(
    strict=True,
    reason="callbacks=none: Lightning adds its default ModelCheckpoint (trainer."
    "enable_checkpointing is not turned off), which writes csv/checkpoints/epoch=*.ckpt",
)
def test_no_callbacks_still_trains_and_tests_the_last_weights(tmp_path):
    no_callbacks = [o for o in FAST if not o.startswith("callbacks.")] + ["callbacks=none"]
    metrics = train(make_config(tmp_path, no_callbacks), tmp_path)
    assert metrics["status"] == "completed" and metrics["test/ckpt"] == "last weights"
    assert not list(tmp_path.rglob("*.ckpt")) and "val/loss_best" not in metrics
    assert math.isfinite(metrics["test/mse"])


def test_ckpt_path_starts_a_new_run_from_another_runs_checkpoint(tmp_path):
    """Two epochs, then a new run from last.ckpt for a third: the same as three epochs."""
    steady = [*QUICK, "~scheduler"]  # a schedule would depend on the first run's length
    full = train(
        make_config(tmp_path / "full", [*steady, "trainer.max_epochs=3"]), tmp_path / "full"
    )
    first = tmp_path / "first"
    train(make_config(first, [*steady, "trainer.max_epochs=2"]), first)
    last = first / "checkpoints" / "last.ckpt"
    before = last.stat().st_mtime_ns, read_metrics(first)
    start = {}

    class Start(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            start["epoch"] = trainer.current_epoch
            start["weights"] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    second = tmp_path / "second"
    original = build.build_callbacks
    with pytest.MonkeyPatch.context() as m:
        m.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), Start()])
        cfg = make_config(second, [*steady, "trainer.max_epochs=3", f"ckpt_path={last}"])
        resumed = train(cfg, second)
    saved = torch.load(last, weights_only=False)["state_dict"]
    assert start["epoch"] == 2
    assert all(torch.equal(start["weights"][k], v) for k, v in saved.items())
    assert resumed["epochs"] == 3 and read_metrics(second)["status"] == "completed"
    for key in ("train/loss", "val/loss", "test/mse", "test/rollout_mse"):
        assert resumed[key] == full[key], key
    # the first run is left as it was; the new one has its own checkpoints
    assert (last.stat().st_mtime_ns, read_metrics(first)) == before
    assert (second / "checkpoints" / "last.ckpt").is_file()
