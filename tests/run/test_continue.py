"""A run stopped any number of times, at any step, ends as if never stopped.

In-process: a callback raises at chosen steps (as a kill would leave the run: nothing
saved beyond the last ``last.ckpt``), and ``resume_dir`` continues it; the final
metrics.json and the CSV learning curves must equal an uninterrupted run's, for every
task: sine, MNIST, chars with both samplings, and a long-memory task. Through the command
line: SIGTERM and SIGINT stop a run cleanly (``last.ckpt`` saved, ``status:
interrupted``, exit 143 / 130, one line saying how to resume), and the resumed run ends
with the same metrics.
"""

from __future__ import annotations

import csv
import json
import os
import sys

import pytest
import torch

import rnnlab.run.build as build
import rnnlab.run.job as job

from helpers import FAST, REPO, Crash, CrashAt, make_config, read_metrics, run_cli

NOT_COMPARED = ("time/total_s", "time/process_s", "test/ckpt")
BASE = ["trainer.deterministic=true", "callbacks.test_figures=null", "trainer.max_epochs=3",
        "callbacks.last_checkpoint.every_n_train_steps=3"]  # fmt: skip
SINE = [*FAST, *BASE]
CHARS = [
    "data=chars", "data.corpus=stdlib", "data.max_chars=12000", "data.bptt=16",
    "data.batch_size=4", "data.eval_streams=2", "task.embedding_dim=8", "model.hidden_size=16",
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
    "callbacks.model_summary=null", *BASE,
]  # fmt: skip
ADDING = [
    "data=adding", "data.length=12", "data.train_size=192", "data.val_size=64",
    "data.test_size=64", "data.batch_size=16", "model.hidden_size=16", "model.dropout=0.3",
    "model.num_layers=2", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null", "callbacks.model_summary=null", *BASE,
]  # fmt: skip


def _train(out, overrides, crash=None, resume=False, monkeypatch=None):
    if crash is not None:
        original = build.build_callbacks
        monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), CrashAt(crash)])  # fmt: skip
    try:
        cfg = make_config(out, [*overrides, *([f"resume_dir={out}"] if resume else [])])
        return job.train(cfg, out)
    except Crash:
        return None
    finally:
        monkeypatch.undo()


def _compare(full_dir, cut_dir, full, resumed):
    assert resumed is not None and resumed["status"] == "completed"
    differ = {
        k
        for k in set(full) | set(resumed)
        if k not in NOT_COMPARED and full.get(k) != resumed.get(k)
    }
    assert not differ, {k: (full.get(k), resumed.get(k)) for k in differ}
    assert read_metrics(cut_dir) == json.loads(json.dumps(resumed))

    def rows(run):
        with open(run / "csv" / "metrics.csv", newline="") as f:
            return list(csv.DictReader(f))

    assert rows(cut_dir) == rows(full_dir)  # the learning curves read as one run
    assert not list(cut_dir.rglob("*.tmp"))


def _kill_and_resume(tmp_path, monkeypatch, overrides, crashes):
    full = _train(tmp_path / "full", overrides, monkeypatch=monkeypatch)
    cut = tmp_path / "cut"
    resumed = _train(cut, overrides, crash=crashes[0], monkeypatch=monkeypatch)
    for step in crashes[1:]:
        assert resumed is None
        resumed = _train(cut, overrides, crash=step, resume=True, monkeypatch=monkeypatch)
    resumed = _train(cut, overrides, resume=True, monkeypatch=monkeypatch)
    _compare(tmp_path / "full", cut, full, resumed)
    return full


def test_sine_killed_many_times_mid_epoch_and_at_epoch_ends(tmp_path, monkeypatch):
    # 11 batches an epoch: kills inside epochs, on the last batch and right after an epoch
    full = _kill_and_resume(tmp_path, monkeypatch, SINE, [4, 7, 11, 13, 19, 22, 25, 31])
    assert full["epochs"] == 3 and {"train/loss", "train/mse", "val/loss"} <= set(full)


def test_chars_sequential_carries_its_state_across_a_resume(tmp_path, monkeypatch):
    _kill_and_resume(tmp_path, monkeypatch, CHARS, [4, 13])


def test_chars_random_sampling_resumes_its_draws(tmp_path, monkeypatch):
    overrides = [*CHARS, "data.sampling=random", "data.windows_per_epoch=120"]
    _kill_and_resume(tmp_path, monkeypatch, overrides, [5, 13])


def test_dropout_masks_continue_after_a_resume(tmp_path, monkeypatch):
    """A long-memory task with dropout between layers: the RNG travels in last.ckpt."""
    _kill_and_resume(tmp_path, monkeypatch, ADDING, [5, 17, 25])


def test_mnist_resumes(tmp_path, monkeypatch, mnist_dir):
    overrides = [
        "data=smnist", f"data.data_dir={mnist_dir}", "data.protocol=test10k",
        "data.download=false", "data.verify=false", "data.batch_size=16", "model.hidden_size=8",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null", "callbacks.model_summary=null", *BASE,
    ]  # fmt: skip
    _kill_and_resume(tmp_path, monkeypatch, overrides, [4, 10])


def test_the_weight_average_continues_after_a_resume(tmp_path, monkeypatch):
    """callbacks=ema: the checkpoint's model is the average; training resumes from the
    optimizer's weights and goes on averaging as if never stopped."""
    overrides = [*SINE, "callbacks=ema", "callbacks.ema.decay=0.8", "test_last=true"]
    _kill_and_resume(tmp_path, monkeypatch, overrides, [4, 13, 22])


@pytest.fixture
def mnist_dir(tmp_path):
    """A tiny MNIST in the official file format, written by the MNIST tests' helper."""
    sys.path.insert(0, str(REPO / "tests" / "data"))
    from test_mnist import write_fake_mnist

    return write_fake_mnist(tmp_path / "mnist", n_train=100, n_test=200)


def test_a_kill_during_a_save_leaves_the_previous_last_ckpt(tmp_path, monkeypatch):
    """A save interrupted halfway leaves its temporary file; the resume removes it."""
    _train(tmp_path, SINE, crash=7, monkeypatch=monkeypatch)
    ckpts = tmp_path / "checkpoints"
    (ckpts / ".last.ckpt.abc123.tmp").write_bytes(b"PK half a checkpoint")
    assert torch.load(ckpts / "last.ckpt", weights_only=False)["global_step"] == 6
    resumed = _train(tmp_path, SINE, resume=True, monkeypatch=monkeypatch)
    assert resumed["status"] == "completed" and not list(ckpts.glob("*.tmp"))
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]


# -- signals through the command line ------------------------------------------------------
@pytest.mark.slow  # three processes each
@pytest.mark.parametrize(("signum", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_saves_records_and_resumes(tmp_path, monkeypatch, signum, code):
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests", "tests/run"))
    )
    args = [
        *FAST,
        "trainer.deterministic=true",
        "callbacks.test_figures=null",
        "trainer.max_epochs=2",
    ]
    full = run_cli("train", args, tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    stop = ["+callbacks.stop._target_=helpers.SignalAt", "+callbacks.stop.step=14",
            f"+callbacks.stop.signum={signum}"]  # fmt: skip
    proc = run_cli("train", [*args, *stop], tmp_path)
    run = tmp_path / "run"
    assert proc.returncode == code, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert f"interrupted by {signum} at global step 14" in lines[0]
    assert "last.ckpt saved" in lines[0] and f"resume_dir={run}" in lines[0]
    stopped = read_metrics(run)
    assert stopped["status"] == "interrupted" and stopped["step"] == 14
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 14
    proc = run_cli("train", [f"resume_dir={run}", "~callbacks.stop"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = read_metrics(tmp_path / "full" / "run"), read_metrics(run)
    assert {k: v for k, v in a.items() if k not in NOT_COMPARED} == {
        k: v for k, v in b.items() if k not in NOT_COMPARED
    }


@pytest.mark.slow  # two processes
def test_resume_takes_the_runs_own_config_and_extends_it(tmp_path):
    """``resume_dir`` keeps the run's overrides (seed, epochs, model) and may extend training."""
    args = [*FAST, "seed=7", "trainer.max_epochs=1", "callbacks.test_figures=null"]
    assert run_cli("train", args, tmp_path).returncode == 0
    run = tmp_path / "run"
    proc = run_cli("train", [f"resume_dir={run}", "trainer.max_epochs=2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = read_metrics(run)
    assert metrics["epochs"] == 2
    config = (run / ".hydra" / "config.yaml").read_text()
    assert "seed: 7" in config and "max_epochs: 2" in config and "hidden_size: 16" in config


@pytest.mark.slow  # three processes
def test_a_refused_resume_changes_nothing(tmp_path):
    args = [*FAST, "trainer.max_epochs=1", "callbacks.test_figures=null"]
    assert run_cli("train", args, tmp_path).returncode == 0
    run = tmp_path / "run"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}
    proc = run_cli("train", [f"resume_dir={run}", "model=gru"], tmp_path)
    assert proc.returncode == 2 and "model" in proc.stderr and "Traceback" not in proc.stderr
    (run / "checkpoints" / "last.ckpt").write_bytes(b"damaged")
    before[run / "checkpoints" / "last.ckpt"] = (
        b"damaged",
        (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns,
    )
    proc = run_cli("train", [f"resume_dir={run}"], tmp_path)
    assert proc.returncode == 2 and "last.ckpt" in proc.stderr and "Traceback" not in proc.stderr
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow  # three processes
def test_a_requeued_slurm_job_continues_from_its_last_ckpt(tmp_path, monkeypatch):
    """SLURM runs a requeued job's command again in the same dir with SLURM_RESTART_COUNT
    set; the job continues from last.ckpt instead of starting over (the requeue itself
    needs a cluster: here the second command stands in for it)."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests", "tests/run"))
    )
    args = [*FAST, "trainer.deterministic=true", "callbacks.test_figures=null",
            "trainer.max_epochs=2"]  # fmt: skip
    full = run_cli("train", args, tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    stop = ["+callbacks.stop._target_=helpers.SignalAt", "+callbacks.stop.step=14"]
    assert run_cli("train", [*args, *stop], tmp_path).returncode == 143
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    proc = run_cli("train", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    assert (
        f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'last.ckpt'}"
        in (run / "train.log").read_text()
    )
    a, b = read_metrics(tmp_path / "full" / "run"), read_metrics(run)
    assert b["status"] == "completed"
    assert {k: v for k, v in a.items() if k not in NOT_COMPARED} == {
        k: v for k, v in b.items() if k not in NOT_COMPARED
    }
