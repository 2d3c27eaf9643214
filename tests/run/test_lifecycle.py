"""A run survives every phase: signals, resumes of finished runs, numerical faults, damaged
checkpoints (``rnnlab.run.lifecycle``).

Signals are sent at a chosen moment by the run itself (``RNNLAB_SIGNAL_AT=PHASE[@STEP]:SIG``),
through the command line; each stopped run is then resumed and must end with the
metrics.json of an uninterrupted deterministic run, key for key.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal

import pytest
import torch

import rnnlab.run.job as job
from rnnlab.errors import ConfigError
from rnnlab.run import lifecycle
from rnnlab.run.checkpoints import CHECKSUM, load_checkpoint
from rnnlab.run.phases import likely_cause

from helpers import FAST, make_config, read_metrics, run_cli

# 1 batch an epoch would hide mid-epoch states: FAST has several; test_last covers both tests.
RUN = [*FAST, "trainer.deterministic=true", "callbacks.test_figures=null", "test_last=true",
       "trainer.num_sanity_val_steps=1"]  # fmt: skip
NOT_COMPARED = ("time/total_s", "time/process_s", "test/ckpt")
CODES = {"SIGINT": 130, "SIGTERM": 143}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _same(full: dict, resumed: dict) -> None:
    keys = (set(full) | set(resumed)) - set(NOT_COMPARED)
    differ = {k: (full.get(k), resumed.get(k)) for k in keys if full.get(k) != resumed.get(k)}
    assert not differ, differ


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    proc = run_cli("train", RUN, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return read_metrics(out / "run")


# -- every phase x signal, then resume ------------------------------------------------------
PHASES = ["setup", "sanity_check", "train@3", "validate@2", "validate@4", "test_last", "test",
          "write"]  # fmt: skip


@pytest.mark.slow  # two processes each
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("where", PHASES)
def test_a_signal_in_any_phase_is_recorded_and_resumes(tmp_path, monkeypatch, uninterrupted,
                                                       where, signame):  # fmt: skip
    monkeypatch.setenv(lifecycle.SIGNAL_HOOK, f"{where}:{signame}")
    proc = run_cli("train", RUN, tmp_path)
    monkeypatch.delenv(lifecycle.SIGNAL_HOOK)
    run, phase = tmp_path / "run", where.split("@")[0]
    assert proc.returncode == CODES[signame], proc.stderr[-2000:]
    lines = _lines(proc.stderr)
    assert len(lines) == 1 and f"interrupted by {signame}" in lines[0], proc.stderr[-2000:]
    assert f"during {phase}" in lines[0]
    if phase == "setup":  # before the run dir held the run: nothing is left
        assert not run.exists()
        return
    stopped = read_metrics(run)
    assert stopped["status"] == "interrupted" and stopped["phase"] == phase
    assert isinstance(stopped["step"], int)
    if not (run / "checkpoints" / "last.ckpt").is_file():  # stopped before training began
        assert phase == "sanity_check" and "start the run again" in lines[0]
        return
    proc = run_cli("train", [f"resume_dir={run}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _same(uninterrupted, read_metrics(run))


@pytest.mark.slow  # three processes
def test_a_completed_run_is_refused_and_extending_replans_the_schedule(tmp_path, uninterrupted):
    proc = run_cli("train", RUN, tmp_path)
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = run_cli("train", [f"resume_dir={run}"], tmp_path)
    assert proc.returncode == 2 and len(_lines(proc.stderr)) == 1, proc.stderr[-2000:]
    assert "trainer.max_epochs=N" in proc.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    proc = run_cli("train", [f"resume_dir={run}", "trainer.max_epochs=4"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    extended = read_metrics(run)
    assert extended["epochs"] == 4 and extended["status"] == "completed"
    # Cosine over 2 epochs had decayed to 0 and would stay there. Re-planned over 4, each
    # epoch logs the rate of the next one as a 4-epoch plan has it: epoch 2 logs epoch 3's.
    with open(run / "csv" / "metrics.csv", newline="") as f:
        lrs = {int(r["epoch"]): float(r["train/lr"]) for r in csv.DictReader(f) if r["train/lr"]}
    lr0 = 0.01  # conf/optimizer/adam.yaml
    assert lrs[2] == pytest.approx(lr0 * (1 + math.cos(math.pi * 3 / 4)) / 2)


# -- a run killed after its final last.ckpt resumes by testing --------------------------------
def test_killed_after_training_resumes_by_testing(tmp_path, monkeypatch):
    full = job.train(make_config(tmp_path / "full", RUN), tmp_path / "full")
    cut = tmp_path / "cut"

    def killed(*args, **kwargs):
        raise SystemExit(-9)  # as a kill during test would leave the run

    with monkeypatch.context() as m:
        m.setattr("lightning.pytorch.Trainer.test", killed)
        with pytest.raises(SystemExit):
            job.train(make_config(cut, RUN), cut)
    assert not (cut / "metrics.json").exists() or read_metrics(cut)["status"] != "completed"
    resumed = job.train(make_config(cut, [*RUN, f"resume_dir={cut}"]), cut)
    _same(full, resumed)
    _same(full, read_metrics(cut))


def test_test_last_without_a_last_checkpoint_tests_the_last_weights(tmp_path):
    cfg = make_config(tmp_path, [*RUN, "callbacks.last_checkpoint=null"])
    metrics = job.train(cfg, tmp_path)
    assert metrics["status"] == "completed" and "test_last/mse" in metrics


# -- numbers -----------------------------------------------------------------------------------
def test_metrics_json_is_strict_and_says_which_values_were_not_finite(tmp_path):
    body = lifecycle.strict({"test/loss": float("inf"), "val/loss": float("nan"), "a": 1.0})
    text = json.dumps(body, allow_nan=False)  # raises on NaN/Infinity
    assert json.loads(text)["test/loss"] is None
    assert body["non_finite"] == {"test/loss": "inf", "val/loss": "nan"}
    with pytest.raises(lifecycle.NonFiniteError, match="test/loss is inf at global step 5"):
        lifecycle.check_finite({"test/loss": float("inf")}, "test/", 5, 1)
    lifecycle.check_finite({"val/loss": float("inf")}, "test/", 5, 1)  # another stage


def test_likely_cause_names_what_was_seen():
    varied = (torch.linspace(0, 1, 12).reshape(3, 4, 1), None)
    assert "zero variance" in likely_cause(varied, [], 1e-3, std=0.0)
    assert "constant" in likely_cause((torch.zeros(3, 4, 1), None), [], 1e-3)
    nan = torch.tensor([[1.0, float("nan")]])
    assert "NaN or inf" in likely_cause((nan, None), [], 1e-3)
    assert "beyond float32" in likely_cause(varied, [], 1e300)
    assert "grew each step" in likely_cause(varied, [1.0, 2.0, 5.0, 40.0], 0.5)
    falling = likely_cause(varied, [4.0, 2.0, 1.0], 0.5)
    assert "grew" not in falling and "optimizer.lr=0.5" in falling


def test_constant_data_is_named_as_the_cause(tmp_path):
    overrides = [*RUN, "data.amplitude_range=[0,0]", "data.noise=0"]
    proc = run_cli("train", overrides, tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = _lines(proc.stderr)
    assert len(lines) == 1 and "zero variance" in lines[0] and "optimizer.lr" not in lines[0]
    metrics = read_metrics(tmp_path / "run")
    assert (metrics["status"], metrics["phase"], metrics["step"]) == ("failed", "train", 0)


def test_a_huge_learning_rate_without_clipping_is_a_numerical_fault(tmp_path):
    proc = run_cli("train", [*RUN, "optimizer.lr=1e300", "trainer.gradient_clip_val=null"],
                   tmp_path)  # fmt: skip
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(_lines(proc.stderr)) == 1 and "optimizer.lr=1e+300" in proc.stderr
    assert read_metrics(tmp_path / "run")["status"] == "failed"


# -- checkpoints carry a checksum -------------------------------------------------------------
def test_a_checkpoint_with_altered_tensor_bytes_is_refused(tmp_path):
    cfg = make_config(tmp_path, [*RUN, "trainer.max_epochs=1", "test_last=false"])
    job.train(cfg, tmp_path)
    path = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = load_checkpoint(path)
    assert len(ckpt[CHECKSUM]) == 64
    weight = next(v for v in ckpt["state_dict"].values() if v.numel() >= 16)
    data = path.read_bytes()
    at = data.find(weight.numpy().tobytes())
    assert at > 0
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :])
    with pytest.raises(ConfigError, match="do not match the checksum"):
        load_checkpoint(damaged)
    proc = run_cli("evaluate", [f"ckpt_path={damaged}", "trainer.accelerator=cpu"], tmp_path)
    assert proc.returncode == 2 and len(_lines(proc.stderr)) == 1, proc.stderr[-2000:]
    assert str(damaged) in proc.stderr and "checksum" in proc.stderr


def test_ending_maps_every_way_out():
    lifecycle.begin()
    cases = [
        (lifecycle.RunInterrupted(signal.SIGTERM, 3, None), "interrupted", 143),
        (lifecycle.RunInterrupted(signal.SIGUSR1, 3, None), "interrupted", 138),
        (KeyboardInterrupt(), "interrupted", 130),
        (ConfigError("x", 1, "2"), "failed", 2),
        (FloatingPointError("loss"), "failed", 3),
        (OSError(28, "No space left on device", "/m.json"), "failed", 1),
        (RuntimeError("boom"), "failed", 1),
    ]
    for err, status, code in cases:
        end = lifecycle.ending(err)
        assert (end.status, end.exit_code) == (status, code), err
        assert "\n" not in end.message
    assert os.environ.get(lifecycle.SIGNAL_HOOK) is None


# -- sweeps ------------------------------------------------------------------------------------
@pytest.mark.slow  # a sweep of four jobs in two worker processes
def test_a_killed_sweep_job_is_recorded_and_the_others_run_on(tmp_path, monkeypatch):
    from helpers import REPO

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests")))
    kill = ["+callbacks.kill._target_=helpers.SignalAt", "+callbacks.kill.step=3,1000",
            "+callbacks.kill.signum=SIGKILL"]  # fmt: skip
    args = ["-m", "launcher=local", "launcher.n_jobs=2", *FAST, *kill, "seed=1,2"]
    proc = run_cli("train", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    status = {r["job"]: (r["status"], r["error"]) for r in rows}
    assert [s for s, _ in status.values()] == ["failed", "failed", "completed", "completed"]
    assert all("SIGKILL" in status[j][1] for j in (0, 1))


# -- numbers reached in validation and in a gradient -------------------------------------------
def test_a_non_finite_validation_loss_fails_naming_it_and_writes_strict_json(tmp_path, monkeypatch):
    """One NaN batch makes val/loss NaN (torchmetrics would drop it by default)."""
    from rnnlab.tasks.regress import RegressionTask

    step = RegressionTask.validation_step

    def one_nan_batch(self, batch, batch_idx):
        if batch_idx > 0:
            return step(self, batch, batch_idx)
        self._record("val", torch.tensor(float("nan")), batch)

    monkeypatch.setattr(RegressionTask, "validation_step", one_nan_batch)
    cfg = make_config(tmp_path, [*RUN, "data.eval_batch_size=4"])
    with pytest.raises(lifecycle.NonFiniteError, match="val/loss is nan at global step"):
        job.train(cfg, tmp_path)
    text = (tmp_path / "metrics.json").read_text()
    metrics = json.loads(text)
    assert "NaN" not in text and metrics["val/loss"] is None
    assert metrics["non_finite"]["val/loss"] == "nan"
    assert (metrics["status"], metrics["phase"]) == ("failed", "validate")


def test_a_non_finite_gradient_fails_before_the_optimizer_step(tmp_path, monkeypatch):
    import lightning.pytorch as pl

    import rnnlab.run.build as build

    class Poison(pl.Callback):
        def on_after_backward(self, trainer, pl_module):
            if trainer.global_step == 3:
                next(pl_module.parameters()).grad.fill_(float("nan"))

    original = build.build_callbacks
    monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), Poison()])
    cfg = make_config(tmp_path, [*RUN, "trainer.gradient_clip_val=null"])
    with pytest.raises(lifecycle.NonFiniteError, match="gradient of .* global step 3"):
        job.train(cfg, tmp_path)
    metrics = read_metrics(tmp_path)
    assert (metrics["status"], metrics["phase"], metrics["step"]) == ("failed", "train", 3)


# -- samples ------------------------------------------------------------------------------------
def test_a_sample_streams_what_it_draws(tmp_path):
    from rnnlab.run.job import _load_task

    from helpers import chars_overrides

    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 40)
    cfg = make_config(tmp_path, chars_overrides(text, "trainer.max_epochs=1", "test=false"))
    job.train(cfg, tmp_path)
    path = str(tmp_path / "checkpoints" / "last.ckpt")
    task = _load_task(load_checkpoint(path), path)
    stream = task.stream("to", 1_000_000, 1.0, None, torch.Generator().manual_seed(0))
    first = [next(stream) for _ in range(20)]  # a million are not drawn first
    again = task.generate("to", 20, 1.0, None, torch.Generator().manual_seed(0))
    assert "".join(first) == again


def test_the_handler_from_before_gets_a_handed_on_signal_after_the_job():
    """Under submitit SIGUSR2 is submitit's: after the job has ended and given the signals
    back, ``hand_on`` still reaches submitit's handler (which requeues the job)."""
    seen = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        with lifecycle.StopSignals():
            assert signal.getsignal(signal.SIGUSR2) is not previous
        lifecycle.hand_on(signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [signal.SIGUSR2]
