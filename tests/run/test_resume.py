"""Crash safety, numerical faults, bad input that loses nothing, reproducibility."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys

import lightning.pytorch as pl
import pytest
import torch

import rnnlab.run.build as build
import rnnlab.run.job as experiment
from rnnlab.data.batching import IndexBatches
from rnnlab.errors import ConfigError
from rnnlab.io.atomic import write_json
from rnnlab.run.checkpoints import AtomicCheckpointIO, NonFiniteWeightsError, resolve_ckpt_path

from helpers import FAST, REPO, make_config, read_metrics, run_cli

# 11 training batches per epoch with FAST; deterministic; no figures (faster).
RESUMABLE = [*FAST, "trainer.deterministic=true", "callbacks.test_figures=null"]
COMPARED = (
    "train/loss",
    "train/mse",
    "val/loss",
    "val/mse",
    "test/mse",
    "test/rollout_mse",
    "epochs",
)


class Crash(RuntimeError):
    pass


class CrashAt(pl.Callback):
    """Fail at a given optimizer step, as a killed process would (nothing saved then)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise Crash(f"crash at step {self.step}")


def with_callback(monkeypatch, callback: pl.Callback) -> None:
    original = build.build_callbacks
    monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), callback])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short LSTM run, shared by the bad-checkpoint tests."""
    out = tmp_path_factory.mktemp("trained")
    short = [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_test_batches=1",
    ]
    experiment.train(make_config(out, [*RESUMABLE, *short]), out)
    return out


# -- resume -------------------------------------------------------------------------
def test_index_batches_resume_mid_epoch():
    make = lambda idx: idx  # noqa: E731
    full = list(IndexBatches(50, make, 8, shuffle=True, seed=3, epoch=lambda: 2))
    first = IndexBatches(50, make, 8, shuffle=True, seed=3, epoch=lambda: 2)
    it = iter(first)
    seen = [next(it) for _ in range(3)]
    state = first.state_dict()
    assert state == {"epoch": 2, "batches_done": 3}
    resumed = IndexBatches(50, make, 8, shuffle=True, seed=3, epoch=lambda: 2)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert [b.tolist() for b in seen + rest] == [b.tolist() for b in full]
    other_epoch = IndexBatches(50, make, 8, shuffle=True, seed=3, epoch=lambda: 3)
    other_epoch.load_state_dict(state)  # a state of another epoch is ignored
    assert len(list(other_epoch)) == len(full)


def test_mid_epoch_resume_matches_uninterrupted_run(tmp_path, monkeypatch):
    overrides = [*RESUMABLE, "callbacks.last_checkpoint.every_n_train_steps=4"]
    full = experiment.train(make_config(tmp_path / "full", overrides), tmp_path / "full")
    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        # Crash in epoch 0 (of 2) at batch 7; last.ckpt is from step 4. Epoch-mean train
        # metrics of an interrupted epoch cover only its resumed part, so crash before the last.
        with_callback(m, CrashAt(7))
        with pytest.raises(Crash):
            experiment.train(make_config(cut, overrides), cut)
    ckpt = torch.load(cut / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 4 and ckpt["epoch"] == 0
    resumed = experiment.train(make_config(cut, [*overrides, f"resume_dir={cut}"]), cut)
    for key in COMPARED:
        assert resumed[key] == full[key], key
    assert read_metrics(cut)["status"] == "completed"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_dir_cli(tmp_path, monkeypatch):
    """A real SIGKILL mid-epoch; ``resume_dir=`` continues in the same run dir."""
    monkeypatch.setenv(
        "PYTHONPATH",  # the child imports KillAt from this module, which imports helpers
        os.pathsep.join([str(REPO / "src"), str(REPO / "tests" / "run"), str(REPO / "tests")]),
    )
    args = [*RESUMABLE, "trainer.max_epochs=3", "callbacks.last_checkpoint.every_n_train_steps=3"]
    proc = run_cli("train", args, tmp_path / "full")
    assert proc.returncode == 0, proc.stderr[-2000:]
    killer = ["+callbacks.kill._target_=test_resume.KillAt", "+callbacks.kill.step=17"]
    proc = run_cli("train", [*args, *killer], tmp_path)
    assert proc.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    assert not (run / "metrics.json").exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 15
    proc = run_cli("train", [f"resume_dir={run}", "~callbacks.kill"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    full, resumed = read_metrics(tmp_path / "full" / "run"), read_metrics(run)
    for key in COMPARED:
        assert resumed[key] == full[key], key


class KillAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def test_ckpt_path_last_resolution(tmp_path):
    cfg = make_config(tmp_path, ["ckpt_path=last", f"paths.log_dir={tmp_path / 'logs'}"])
    with pytest.raises(ConfigError, match="ckpt_path='last'"):
        resolve_ckpt_path(cfg, tmp_path)
    runs = tmp_path / "logs" / "train" / "runs"
    for i, name in enumerate(["old", "new"]):
        (runs / name / "checkpoints").mkdir(parents=True)
        (runs / name / "checkpoints" / "last.ckpt").write_bytes(b"x")
        os.utime(runs / name / "checkpoints" / "last.ckpt", (i, i))
    assert resolve_ckpt_path(cfg, tmp_path) == str(runs / "new" / "checkpoints" / "last.ckpt")
    cfg = make_config(tmp_path, [f"resume_dir={runs / 'old'}"])
    assert resolve_ckpt_path(cfg, tmp_path).endswith("old/checkpoints/last.ckpt")
    with pytest.raises(ConfigError, match="resume_dir"):
        resolve_ckpt_path(make_config(tmp_path, [f"resume_dir={tmp_path}"]), tmp_path)


# -- atomic writes ------------------------------------------------------------------
def test_checkpoint_write_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "step": 1}, path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError) as info:
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "step": 2}, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=False)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_checkpoint_with_nan_weights_is_refused(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "global_step": 1}, path)
    with pytest.raises(NonFiniteWeightsError, match="global step 2"):
        io.save_checkpoint(
            {"state_dict": {"w": torch.tensor([1.0, float("nan")])}, "global_step": 2}, path
        )
    assert torch.load(path, weights_only=False)["global_step"] == 1


def test_metrics_json_full_disk_keeps_old_file(tmp_path, monkeypatch):
    path = write_json(tmp_path / "metrics.json", {"status": "completed", "x": 1})

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rnnlab.io.atomic.os.fsync", no_space)
    with pytest.raises(OSError) as info:
        write_json(path, {"status": "completed", "x": 2})
    assert info.value.filename == str(path)
    assert json.loads(path.read_text())["x"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_full_disk_during_training_is_one_line(tmp_path, monkeypatch, capsys):
    """The CLI reports a failed write as one line naming the file; exit status 1."""
    from rnnlab.cli import train as train_cli

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rnnlab.io.atomic.os.fsync", no_space)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "")  # the CLI's own one-line reporting
    run = tmp_path / "run"
    argv = ["rnnlab.cli.train", *FAST, "trainer.max_epochs=1", f"hydra.run.dir={run}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        train_cli.main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(run) in err
    assert "Traceback" not in err
    assert not list(run.rglob("*.ckpt"))  # the failed write left no checkpoint behind


def test_unwritable_run_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = run_cli("train", FAST, blocker)  # the run dir would be file/run
    assert proc.returncode == 1
    assert f"error: {blocker / 'run'}" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_run_dir_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    proc = run_cli("train", FAST, locked)
    assert proc.returncode == 1
    assert str(locked / "run") in proc.stderr and "Traceback" not in proc.stderr


# -- numerical faults ---------------------------------------------------------------
def test_diverging_run_fails_with_step_and_exit_3(tmp_path):
    proc = run_cli("train", [*FAST, "optimizer.lr=1e30"], tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "global step" in proc.stderr and "Traceback" not in proc.stderr
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "failed" and "global step" in metrics["error"]


def test_nan_weights_keep_last_good_checkpoint(tmp_path, monkeypatch):
    class Poison(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            if trainer.global_step == 8:
                with torch.no_grad():
                    next(pl_module.parameters()).fill_(float("nan"))

    with_callback(monkeypatch, Poison())
    overrides = [*RESUMABLE, "callbacks.last_checkpoint.every_n_train_steps=4"]
    with pytest.raises(NonFiniteWeightsError, match="global step 8"):
        experiment.train(make_config(tmp_path, overrides), tmp_path)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 4
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


# -- bad checkpoints ----------------------------------------------------------------
def test_truncated_checkpoint_eval_and_resume_fail_cleanly(tmp_path, trained):
    data = (trained / "checkpoints" / "last.ckpt").read_bytes()
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    proc = run_cli("evaluate", [f"ckpt_path={bad}", "trainer.accelerator=cpu"], tmp_path / "eval")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"ckpt_path='{bad}'" in proc.stderr and "readable checkpoint" in proc.stderr
    with pytest.raises(ConfigError, match="readable checkpoint"):
        experiment.train(
            make_config(tmp_path / "r", [*RESUMABLE, f"ckpt_path={bad}"]), tmp_path / "r"
        )


def test_checkpoint_of_another_model_names_the_mismatch(tmp_path, trained):
    ckpt = trained / "checkpoints" / "last.ckpt"
    cfg = make_config(tmp_path, [*RESUMABLE, "model=gru", f"ckpt_path={ckpt}"])
    with pytest.raises(ConfigError, match="model.cell='lstm' in the checkpoint, 'gru' here"):
        experiment.train(cfg, tmp_path)
    cfg = make_config(tmp_path, [*RESUMABLE, "model.hidden_size=8", f"ckpt_path={ckpt}"])
    with pytest.raises(ConfigError, match="model.hidden_size=16 in the checkpoint, 8 here"):
        experiment.train(cfg, tmp_path)
    assert not (tmp_path / "metrics.json").exists()


# -- reproducibility ----------------------------------------------------------------
def test_deterministic_runs_are_bit_identical(tmp_path):
    runs = []
    for name in ("a", "b"):
        short = [
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=4",
            "trainer.limit_test_batches=1",
        ]
        cfg = make_config(tmp_path / name, [*RESUMABLE, *short, "seed=3"])
        runs.append(experiment.train(cfg, tmp_path / name))
    for key in ("train/loss", "val/loss", "test/mse", "test/rollout_mse"):
        assert runs[0][key] == runs[1][key], key
