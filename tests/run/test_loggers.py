"""W&B offline: one run per job, grouped by sweep, holding the config and metrics logged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import FAST, REPO, run_cli
from wandb_records import read_offline_run


def _runs(root: Path) -> list[Path]:
    return sorted(root.glob("**/wandb/offline-run-*"))


def test_offline_run_holds_config_metrics_and_figure(tmp_path):
    proc = run_cli("train", [*FAST, "logger=wandb", "tags=[smoke,sine]"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wandb sync" in proc.stdout + proc.stderr
    assert "anonymous setting" not in proc.stdout + proc.stderr
    (run_dir,) = _runs(tmp_path / "run")
    run = read_offline_run(run_dir)
    assert run["config"]["model.cell"] == "lstm"
    assert run["config"]["data.window"] == 12
    assert run["config"]["model/params"] > 0
    logged = {k for row in run["history"] for k in row}
    assert {"train/loss", "val/loss", "test/mse", "test/rollout_mse"} <= logged
    assert any(k.startswith("test/predictions") for k in logged)
    assert run["run"].job_type == "regression"
    assert list(run["run"].tags) == ["smoke", "sine"]
    assert run["run"].run_group == "train"
    assert run["run"].display_name == "lstm data.length=48 model.hidden_size=16 seed=42"
    # rnnlab-table --plot reads the curve of a run that logged to W&B only
    from rnnlab.results.plot import read_curve

    assert not (tmp_path / "run" / "csv").exists()
    curve = read_curve(tmp_path / "run", "val/loss")
    val_rows = [row for row in run["history"] if "val/loss" in row]
    assert curve == {float(r["trainer/global_step"]): r["val/loss"] for r in val_rows}
    assert len(curve) == 2  # one per epoch


def test_each_sweep_job_is_its_own_run_in_one_group(tmp_path):
    proc = run_cli(
        "train", ["-m", *FAST, "logger=wandb", "seed=1,2", "trainer.max_epochs=1"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = [read_offline_run(d)["run"] for d in _runs(tmp_path / "sweep")]
    assert len(runs) == 2
    assert runs[0].run_id != runs[1].run_id
    assert runs[0].run_group == runs[1].run_group
    assert runs[0].run_group.startswith("train/")
    # the model, the chosen overrides, the seed and the job number
    assert {r.display_name for r in runs} == {"lstm data.length=48 model.hidden_size=16 seed=1 #0",
                                              "lstm data.length=48 model.hidden_size=16 seed=2 #1"}  # fmt: skip


@pytest.mark.slow
def test_failed_job_is_a_failed_run_and_the_next_job_still_logs(tmp_path):
    args = ["-m", *FAST, "logger=wandb", "optimizer.lr=1e30,0.01", "trainer.max_epochs=1"]
    proc = run_cli("train", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = {d.parents[1].name: read_offline_run(d) for d in _runs(tmp_path / "sweep")}
    assert set(runs) == {"0", "1"}
    assert runs["0"]["exit_code"] == 1  # the diverging job
    assert runs["1"]["exit_code"] == 0


@pytest.mark.slow  # two processes
def test_a_resumed_run_reopens_the_same_wandb_run(tmp_path, monkeypatch):
    """A run stopped by SIGTERM and resumed logs into one W&B run (same id, resume=allow):
    the second process's records continue after the checkpoint's step."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests", "tests/run"))
    )
    args = [*FAST, "logger=wandb", "trainer.max_epochs=2", "callbacks.test_figures=null",
            "trainer.log_every_n_steps=1"]  # fmt: skip
    stop = ["+callbacks.stop._target_=helpers.SignalAt", "+callbacks.stop.step=14"]
    assert run_cli("train", [*args, *stop], tmp_path).returncode == 143
    run = tmp_path / "run"
    proc = run_cli("train", [f"resume_dir={run}", "~callbacks.stop"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folders = sorted(_runs(run), key=lambda p: p.name)
    # one command uploads both folders of the resumed run
    assert f"wandb sync {folders[0]} {folders[1]}" in proc.stdout + proc.stderr
    first, second = (read_offline_run(d) for d in folders)
    assert first["run"].run_id == second["run"].run_id
    steps = [row["trainer/global_step"] for row in second["history"]
             if "trainer/global_step" in row]  # fmt: skip
    assert steps and min(steps) >= 14


def test_a_resumed_run_purges_the_tensorboard_steps_after_its_checkpoint(tmp_path):
    """TensorBoard hides events the stopped run logged after the checkpoint it resumes."""
    from omegaconf import OmegaConf

    from rnnlab.run.loggers import Continuation, build_loggers

    cfg = OmegaConf.create({"tensorboard": {
        "_target_": "lightning.pytorch.loggers.TensorBoardLogger", "save_dir": str(tmp_path),
        "name": "tensorboard", "version": ""}})  # fmt: skip
    (fresh,) = build_loggers(cfg)
    fresh.experiment.flush()
    (resumed,) = build_loggers(cfg, resume=Continuation(global_step=14))
    resumed.experiment.flush()
    assert resumed.log_dir == fresh.log_dir  # the same folder: one set of curves
    assert _session_starts(Path(fresh.log_dir)) == [14]  # only the resumed writer purges


def _session_starts(log_dir: Path) -> list[int]:
    """Steps of the 'session start' events TensorBoard purges later events from."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    return [
        event.step
        for path in sorted(log_dir.glob("events.out.tfevents.*"))
        for event in EventFileLoader(str(path)).Load()
        if event.HasField("session_log") and event.session_log.status == SessionLog.START
    ]


def test_tensorboard_keeps_the_last_weights_test_apart_and_shows_the_chosen_settings(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from rnnlab.run.job import train

    from helpers import make_config

    cfg = make_config(tmp_path, [*FAST, "logger=tensorboard", "test_last=true", "model=gru"])
    metrics = train(cfg, tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    # test/*: the best checkpoint's test (and the final numbers for the HPARAMS tab, at the
    # same last step: nothing at step 0); the last weights' test only under test_last/*
    last, best = events.Scalars("test_last/mse"), events.Scalars("test/mse")
    step = max(e.step for e in last)
    assert step > 0 and [e.step for e in last] == [e.step for e in best] == [step, step]
    assert min(e.step for e in events.Scalars("val/loss")) > 0
    assert [e.value for e in last] == pytest.approx([metrics["test_last/mse"]] * 2)
    assert [e.value for e in best] == pytest.approx([metrics["test/mse"]] * 2)
    assert "test_last/rollout_mse" in scalars
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    shown = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert {"model.cell", "optimizer.lr", "seed", "data._target_"} <= set(shown)
    assert shown["model.cell"].string_value == "gru"
    assert shown["data._target_"].string_value == "SineDataModule"
    assert len(shown) < 20  # not the 90-odd keys of the whole config
