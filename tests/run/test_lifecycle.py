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


def _completed(tmp_path_factory, args) -> dict:
    """The metrics of a run of ``args`` through the command line, never stopped."""
    out = tmp_path_factory.mktemp("full")
    proc = run_cli("train", args, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return read_metrics(out / "run")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return _completed(tmp_path_factory, RUN)


# -- every phase x signal, then resume ------------------------------------------------------
PHASES = ["setup", "sanity_check", "train@3", "validate@2", "validate@4", "test_last", "test",
          "write"]  # fmt: skip


@pytest.mark.slow  # two processes each
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("where", PHASES)
def test_a_signal_in_any_phase_is_recorded_and_resumes(tmp_path, monkeypatch, uninterrupted,
                                                       where, signame):  # fmt: skip
    _stop_and_resume(tmp_path, monkeypatch, RUN, uninterrupted, where, signame)


EMA = [*RUN, "callbacks=ema", "callbacks.ema.decay=0.8"]


@pytest.fixture(scope="module")
def uninterrupted_ema(tmp_path_factory):
    return _completed(tmp_path_factory, EMA)


@pytest.mark.slow  # two processes each
@pytest.mark.parametrize("where", ["train@3", "validate@2", "validate@4", "test_last"])
def test_a_signal_with_weight_averaging_resumes_as_if_never_stopped(tmp_path, monkeypatch,
                                                                    uninterrupted_ema, where):  # fmt: skip
    """The model holds the average during validation: a stop there saves both sets of
    weights the right way round."""
    _stop_and_resume(tmp_path, monkeypatch, EMA, uninterrupted_ema, where, "SIGTERM")


def _stop_and_resume(tmp_path, monkeypatch, args, uninterrupted, where, signame):
    monkeypatch.setenv(lifecycle.SIGNAL_HOOK, f"{where}:{signame}")
    proc = run_cli("train", args, tmp_path)
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


# -- the way out, line by line (in this process) ------------------------------------------------
def test_a_signal_waits_for_the_step_only_while_training_and_validating(caplog):
    """Held signals: in train and validate (with a last.ckpt to save) a signal is a request
    for the next safe point; elsewhere, or as a second SIGINT, it stops the run at once."""
    run = lifecycle.begin()
    run.deferred, run.step = True, 7
    assert not lifecycle.holding()
    with lifecycle.StopSignals():
        assert lifecycle.holding()
        for phase in ("train", "validate"):
            run.enter(phase)
            run.request = None
            signal.raise_signal(signal.SIGTERM)
            assert (run.request, run.request_phase) == (signal.SIGTERM, phase)
            assert caplog.messages[-1] == "received SIGTERM: stopping after this step"
            signal.raise_signal(signal.SIGTERM)  # another SIGTERM is the same request
            assert run.request == signal.SIGTERM
        signal.raise_signal(signal.SIGINT)  # a first SIGINT waits too ...
        assert run.request == signal.SIGINT
        with pytest.raises(lifecycle.RunInterrupted) as second:  # ... a second does not
            signal.raise_signal(signal.SIGINT)
        assert (second.value.signum, second.value.step) == (signal.SIGINT, 7)
        run.request = None
        run.enter("test_last")
        with pytest.raises(lifecycle.RunInterrupted, match="^interrupted by SIGUSR1 at global"):
            signal.raise_signal(signal.SIGUSR1)
        run.enter("train")
        run.deferred = False  # no last.ckpt to save: at once, in train too
        with pytest.raises(lifecycle.RunInterrupted):
            signal.raise_signal(signal.SIGTERM)
    assert not lifecycle.holding()
    lifecycle.begin()


def test_ending_says_where_a_signal_stopped_the_run_and_how_to_go_on(tmp_path):
    run = lifecycle.begin()
    before = lifecycle.ending(lifecycle.RunInterrupted(signal.SIGTERM, None, None))
    assert (before.message, before.phase) == ("interrupted by SIGTERM during setup", "setup")
    run.enter("validate", 12)
    run.request_phase = "train"  # where the signal arrived: the run stopped after the step
    err = lifecycle.RunInterrupted(signal.SIGTERM, 12, None)
    assert lifecycle.ending(err).message == "interrupted by SIGTERM at global step 12 during train"
    assert lifecycle.ending(err).phase == "train"
    run.run_dir = tmp_path
    assert lifecycle.ending(err, "rnnlab-eval").message.endswith("during train")
    assert lifecycle.ending(err).message.endswith(
        "during train; nothing trained was saved: start the run again"
    )
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    saved = lifecycle.RunInterrupted(signal.SIGTERM, 12, "last.ckpt")
    assert lifecycle.ending(saved).message == (
        "interrupted by SIGTERM at global step 12 during train; last.ckpt saved; "
        f"continue with: rnnlab-train resume_dir={tmp_path}"
    )
    # eval and sample have no resume: interrupted in a run dir with last.ckpt, no such hint
    assert "resume_dir" not in lifecycle.ending(saved, "rnnlab-sample").message
    run.request_phase, run.run_dir = None, None
    assert str(lifecycle.RunInterrupted(signal.SIGINT, None, None)) == "interrupted by SIGINT"
    ctrl_c = lifecycle.ending(KeyboardInterrupt(), "rnnlab-sample")
    assert ctrl_c.message == "interrupted by SIGINT at global step 12 during validate"
    assert (ctrl_c.exit_code, ctrl_c.phase) == (130, "validate")
    lifecycle.begin()


def test_ending_names_the_failure_in_one_line():
    run = lifecycle.begin()
    run.enter("train", 5)
    overflow = RuntimeError("value cannot be converted to type float without overflow\nmore")
    end = lifecycle.ending(overflow)
    assert (end.exit_code, end.phase) == (3, "train")
    assert end.message == (
        "error: a number overflowed at global step 5 "
        "(value cannot be converted to type float without overflow)"
    )
    run.cause = "likely cause: the inputs hold NaN"
    assert lifecycle.ending(FloatingPointError(" val/loss is nan \n")).message == (
        "error: val/loss is nan; likely cause: the inputs hold NaN"
    )
    said = lifecycle.ending(FloatingPointError("x is nan; likely cause: the inputs hold NaN"))
    assert said.message.count("likely cause") == 1  # named once
    assert lifecycle.ending(OSError(28, "No space left on device", "/m.json")).message == (
        "error: /m.json: No space left on device"
    )
    assert lifecycle.ending(OSError("disk gone")).message == "error: disk gone"
    assert lifecycle.ending(ConfigError("data.noise", -1, "a number >= 0")).message == (
        "error: data.noise=-1 is not allowed: a number >= 0"
    )
    for err in (ConfigError("a", 1, "b"), OSError("disk gone"), KeyError()):
        assert lifecycle.ending(err).phase == "train"
    assert lifecycle.ending(KeyError()).message == "error: KeyError:  (in train)"
    assert lifecycle.ending(ValueError("bad\nworse")).message == (
        "error: ValueError: bad (in train)"
    )
    lifecycle.begin()


def test_record_writes_the_status_of_a_run_that_did_not_complete(tmp_path, monkeypatch, caplog):
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    run = lifecycle.begin()
    run.enter("train", 4)
    run.metrics.update({"val/loss": float("nan"), "val/mse": 0.5})
    end = lifecycle.ending(FloatingPointError("val/loss is nan"))
    lifecycle.record(end)  # the run dir does not hold the run yet: nothing is written
    assert not list(tmp_path.iterdir())
    run.run_dir = tmp_path
    lifecycle.record(end)
    assert read_metrics(tmp_path) == {
        "val/loss": None, "val/mse": 0.5, "status": "failed", "phase": "train", "step": 4,
        "error": "val/loss is nan", "non_finite": {"val/loss": "nan"},
    }  # fmt: skip
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    lifecycle.record(end, job_dir)  # a sweep's job
    assert read_metrics(job_dir)["status"] == "failed"
    monkeypatch.setenv("RANK", "1")  # another rank of a DDP job leaves it to rank 0
    (tmp_path / "metrics.json").unlink()
    lifecycle.record(end)
    assert not (tmp_path / "metrics.json").exists()
    monkeypatch.delenv("RANK")
    (tmp_path / "file").write_text("")
    run.run_dir = tmp_path / "file" / "run"  # a write that fails is logged, not raised
    with caplog.at_level("ERROR", logger="rnnlab.run.job"):
        lifecycle.record(end)
    assert caplog.messages == ["metrics.json not written: Not a directory"]

    def refused(path, body):
        raise OSError("the store refused it")  # an error with a message and no errno

    monkeypatch.setattr("rnnlab.io.atomic.write_json", refused)
    run.run_dir = tmp_path
    with caplog.at_level("ERROR", logger="rnnlab.run.job"):
        lifecycle.record(end)
    assert caplog.messages[-1] == "metrics.json not written: the store refused it"
    lifecycle.begin()


def test_likely_cause_in_full_and_at_its_edges():
    varied = (torch.linspace(-1, 1, 12).reshape(3, 4, 1), None)  # max + min == 0
    finite = "the inputs are finite and varied"
    assert likely_cause(varied, [], None) == finite
    assert likely_cause(None, [], None) == finite  # a fault before the first batch
    assert (
        likely_cause(varied, [], 0.5)
        == f"{finite}; the learning rate (optimizer.lr=0.5) may be too high"
    )
    assert likely_cause(varied, [], None, std=0.5) == finite  # standardised by a real std
    assert likely_cause(varied, [], None, std=0) == (
        "likely cause: the training data is constant (zero variance), so standardising it "
        "divides by 0: check the data's settings (amplitudes, noise)"
    )
    assert likely_cause((torch.full((2, 1, 1), 2.5), None), [], None) == (
        "likely cause: the inputs are constant (every value 2.5, zero variance): check the "
        "data's settings (amplitudes, noise, the corpus)"
    )
    assert likely_cause(torch.tensor([[[3.0]]]), [], None) == finite  # one value: no spread
    bare = torch.tensor([[1.0, 1.0], [2.0, 3.0]])  # a batch that is a tensor, not a tuple
    assert likely_cause(bare, [], None) == finite
    assert likely_cause((torch.tensor([[1.0, float("inf")]]), None), [], None) == (
        "likely cause: the input batch holds NaN or inf (check the data)"
    )
    float32_max = float(torch.finfo(torch.float32).max)
    assert "beyond" not in likely_cause(varied, [], float32_max)  # the largest float32 fits
    assert likely_cause(varied, [], 1e39) == (
        "likely cause: optimizer.lr=1e+39 is beyond float32's range (3.4e+38)"
    )
    assert likely_cause(varied, [0.5, 1.0, 2.0, 40.0], 0.5) == (
        "likely cause: the loss grew each step before (1 -> 40), a diverging run: try a lower "
        "optimizer.lr (now 0.5) or gradient clipping (trainer.gradient_clip_val)"
    )
    assert likely_cause(varied, [1.0, 2.0, float("nan"), 3.0], None) == (
        "likely cause: the loss grew each step before: a diverging run"
    )
    for losses in ([1.0, 1.0, 1.0], [1.0, 3.0, 2.0], [2.0, 3.0]):  # flat, up and down, short
        assert "grew" not in likely_cause(varied, losses, None), losses


def test_the_signal_hook_fires_once_at_its_phase_and_step(monkeypatch):
    seen = []
    previous = {s: signal.signal(s, lambda signum, frame: seen.append(signum))
                for s in (signal.SIGUSR1, signal.SIGTERM)}  # fmt: skip
    try:
        monkeypatch.setitem(lifecycle._hook_state, "fired", False)
        monkeypatch.setenv(lifecycle.SIGNAL_HOOK, "validate@3:SIGUSR1")
        run = lifecycle.begin()
        run.enter("train", 5)
        run.enter("validate", 2)
        run.enter("validate")  # the step stays 2
        assert seen == []
        run.enter("validate", 3)
        assert seen == [signal.SIGUSR1]  # at step 3 itself
        run.enter("validate", 4)  # once per process
        assert seen == [signal.SIGUSR1]
        monkeypatch.setitem(lifecycle._hook_state, "fired", False)
        monkeypatch.setenv(lifecycle.SIGNAL_HOOK, "test")  # no step, no signal: SIGTERM
        run.enter("test")
        assert seen == [signal.SIGUSR1, signal.SIGTERM]
        monkeypatch.setitem(lifecycle._hook_state, "fired", False)
        monkeypatch.setenv(lifecycle.SIGNAL_HOOK, "train@1:SIGUSR1")
        lifecycle.begin().enter("train")  # no step yet: step 0, before 1
        assert seen == [signal.SIGUSR1, signal.SIGTERM]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        lifecycle.begin()


def _cosine(epochs: int, done: int, interval: str = "epoch"):
    from types import SimpleNamespace

    weight = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([weight], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.01)
    for _ in range(done):
        opt.step()
        sched.step()
    return sched, [SimpleNamespace(scheduler=sched, interval=interval)]


def test_an_extended_run_replans_its_cosine_schedule_as_if_planned_so(caplog):
    from types import SimpleNamespace

    from rnnlab.run.phases import replan_schedule

    auto = SimpleNamespace(hparams=SimpleNamespace(scheduler={"T_max": "auto"}))
    sched, configs = _cosine(2, 2)  # a 2-epoch run, decayed to eta_min, extended to 5
    other = torch.optim.lr_scheduler.StepLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]),
                                            step_size=1)  # fmt: skip
    configs.insert(0, SimpleNamespace(scheduler=other, interval="epoch"))  # not a cosine
    with caplog.at_level("INFO", logger="rnnlab.run.job"):
        replan_schedule(SimpleNamespace(max_epochs=5, lr_scheduler_configs=configs), auto)
    assert caplog.messages == ["cosine schedule re-planned over 5 epochs (was 2)"]
    planned, _ = _cosine(5, 2)  # planned for 5 epochs from the start
    assert sched.T_max == 5
    for _ in range(3):
        assert sched.get_last_lr() == pytest.approx(planned.get_last_lr(), rel=1e-12)
        assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(planned.get_last_lr()[0])
        for s in (sched, planned):
            s.optimizer.step()
            s.step()
    fixed = SimpleNamespace(hparams=SimpleNamespace(scheduler={"T_max": 2}))
    unchanged = [
        (auto, 2, 2, "epoch"),  # the length it was planned for
        (auto, 1, 1, "epoch"),  # a one-epoch run
        (auto, 2, None, "epoch"),  # no epoch limit
        (auto, 2, -1, "epoch"),
        (auto, 2, 5, "step"),  # stepped per batch: the run's 2 steps, as planned
        (fixed, 2, 5, "epoch"),  # a T_max set in the config
        (SimpleNamespace(hparams=SimpleNamespace()), 2, 5, "epoch"),  # no scheduler
    ]
    for module, planned_for, max_epochs, interval in unchanged:
        sched, configs = _cosine(planned_for, 1, interval)
        before = sched.optimizer.param_groups[0]["lr"]
        trainer = SimpleNamespace(max_epochs=max_epochs, lr_scheduler_configs=configs,
                                  estimated_stepping_batches=2)  # fmt: skip
        replan_schedule(trainer, module)
        assert (sched.T_max, sched.optimizer.param_groups[0]["lr"]) == (planned_for, before)


def test_an_extended_run_replans_a_cosine_stepped_every_batch_over_its_steps(caplog):
    from types import SimpleNamespace

    from rnnlab.run.phases import replan_schedule

    auto = SimpleNamespace(hparams=SimpleNamespace(scheduler={"T_max": "auto"}))
    sched, configs = _cosine(12, 12, "step")  # 3 epochs of 4 steps, decayed, extended to 5
    trainer = SimpleNamespace(max_epochs=5, lr_scheduler_configs=configs,
                              estimated_stepping_batches=20)  # fmt: skip
    with caplog.at_level("INFO", logger="rnnlab.run.job"):
        replan_schedule(trainer, auto)
    assert caplog.messages == ["cosine schedule re-planned over 20 steps (was 12)"]
    planned, _ = _cosine(20, 12, "step")
    assert sched.T_max == 20
    assert sched.get_last_lr() == pytest.approx(planned.get_last_lr(), rel=1e-12)
    assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(planned.get_last_lr()[0])


def test_a_numerical_fault_names_its_likely_cause_and_nothing_else_does():
    from types import SimpleNamespace

    from rnnlab.run.phases import PhaseTracker

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e300)
    trainer = SimpleNamespace(optimizers=[opt], datamodule=SimpleNamespace(std=2.0))
    tracker = PhaseTracker()
    tracker._batch = (torch.linspace(0, 1, 8).reshape(2, 4, 1), None)
    run = lifecycle.begin()
    tracker.on_exception(trainer, None, RuntimeError("boom"))
    assert run.cause is None
    tracker.on_exception(trainer, None, FloatingPointError("loss is nan"))
    assert run.cause == likely_cause(tracker._batch, [], 1e300)
    assert "optimizer.lr=1e+300" in run.cause
    trainer.datamodule.std = 0.0
    tracker.on_exception(trainer, None, RuntimeError("a float without overflow"))
    assert "zero variance" in run.cause
    tracker.on_train_batch_start(_trainer(), None, (torch.zeros(2, 4, 1), None), 0)
    tracker.on_exception(trainer, None, FloatingPointError("loss is nan"))
    assert "zero variance" in run.cause  # now from the batch: every value 0
    trainer.datamodule.std = 2.0
    tracker.on_exception(trainer, None, FloatingPointError("loss is nan"))
    assert run.cause.startswith("likely cause: the inputs are constant (every value 0,")
    tracker._batch = None
    for odd in (SimpleNamespace(optimizers=[], datamodule=None), SimpleNamespace(datamodule=None)):
        tracker.on_exception(odd, None, FloatingPointError("loss is nan"))  # no optimizer
        assert run.cause == "the inputs are finite and varied"
    lifecycle.begin()


def _trainer(step=5, epoch=1, device="cpu", logs=False, fn="fit", sanity=False, precision="32"):
    from types import SimpleNamespace

    return SimpleNamespace(
        global_step=step, current_epoch=epoch, precision=precision, sanity_checking=sanity,
        strategy=SimpleNamespace(root_device=torch.device(device)),
        _logger_connector=SimpleNamespace(should_update_logs=logs), fast_dev_run=False,
        state=SimpleNamespace(fn=fn), callback_metrics={},
    )  # fmt: skip


def test_the_phase_tracker_follows_the_trainer():
    from rnnlab.run.phases import PhaseTracker

    tracker, run = PhaseTracker(), lifecycle.begin()
    tracker.on_sanity_check_start(_trainer(step=4), None)
    assert (run.phase, run.step) == ("sanity_check", 4)
    tracker.on_validation_start(_trainer(step=6, sanity=True), None)  # still the sanity check
    tracker.on_validation_end(_trainer(step=6, sanity=True), None)
    assert (run.phase, run.step) == ("sanity_check", 4)
    batch = (torch.ones(2, 3, 1), torch.zeros(2))
    tracker.on_train_batch_start(_trainer(step=5), None, batch, 0)
    assert (run.phase, run.step, tracker._batch) == ("train", 5, batch)
    tracker.on_train_batch_end(_trainer(step=6), None, {"loss": torch.tensor(2.0)}, batch, 0)
    assert run.step == 6  # the step just taken
    tracker.on_validation_start(_trainer(step=7), None)
    assert (run.phase, run.step) == ("validate", 7)
    trainer = _trainer(step=7, epoch=2)
    trainer.callback_metrics = {"val/loss": torch.tensor(0.5), "val/mse": torch.tensor(0.25)}
    tracker.on_validation_end(trainer, None)
    assert (run.phase, run.step, run.metrics) == ("train", 7, {"val/loss": 0.5, "val/mse": 0.25})
    trainer.callback_metrics = {"val/loss": torch.tensor(float("inf"))}
    with pytest.raises(
        lifecycle.NonFiniteError, match=r"^val/loss is inf at global step 7 \(epoch 2\)$"
    ):
        tracker.on_validation_end(trainer, None)
    for fn in ("validate", "test"):  # trainer.validate / test after the fit: not the fit's phases
        tracker.on_validation_start(_trainer(step=9, fn=fn), None)
        tracker.on_validation_end(_trainer(step=9, fn=fn), None)
        assert (run.phase, run.step) == ("train", 7), fn
    lifecycle.begin()


def test_the_phase_tracker_keeps_the_last_losses_where_reading_them_is_free():
    from rnnlab.run.phases import GROWING_STEPS, PhaseTracker

    tracker, batch = PhaseTracker(), (torch.ones(1), None)
    for k in range(6):  # a dict from training_step, or the loss itself
        outputs = {"loss": torch.tensor(float(k))} if k % 2 else torch.tensor(float(k))
        tracker.on_train_batch_end(_trainer(step=k), None, outputs, batch, 0)
    assert tracker._losses == [2.0, 3.0, 4.0, 5.0] and len(tracker._losses) == GROWING_STEPS + 1
    tracker.on_train_batch_end(_trainer(), None, {"loss": None}, batch, 0)  # nothing to keep
    tracker.on_train_batch_end(_trainer(device="meta"), None, torch.tensor(9.0), batch, 0)
    assert tracker._losses == [2.0, 3.0, 4.0, 5.0]  # on an accelerator: not read back ...
    tracker.on_train_batch_end(_trainer(device="meta", logs=True), None, torch.tensor(9.0), batch,
                               0)  # fmt: skip
    assert tracker._losses == [3.0, 4.0, 5.0, 9.0]  # ... unless the step is logged anyway
    lifecycle.begin()


def test_a_non_finite_gradient_names_the_parameters_unless_the_scaler_owns_them():
    from rnnlab.run.phases import PhaseTracker

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    tracker = PhaseTracker()
    tracker.on_before_optimizer_step(_trainer(), model, None)  # no gradients yet
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    tracker.on_before_optimizer_step(_trainer(), model, None)  # all finite
    model[0].bias.grad[1] = float("nan")
    with pytest.raises(lifecycle.NonFiniteError) as err:
        tracker.on_before_optimizer_step(_trainer(step=3, epoch=1), model, None)
    assert str(err.value) == "the gradient of 0.bias is not finite at global step 3 (epoch 1)"
    model[1].weight.grad[0, 0] = float("inf")
    with pytest.raises(lifecycle.NonFiniteError, match=r"^the gradient of 0.bias and 1 more is "):
        tracker.on_before_optimizer_step(_trainer(step=3), model, None)
    model[1].bias.grad[0] = float("inf")
    with pytest.raises(lifecycle.NonFiniteError, match=r"^the gradient of 0.bias and 2 more is "):
        tracker.on_before_optimizer_step(_trainer(step=3), model, None)
    tracker.on_before_optimizer_step(_trainer(precision="16-mixed"), model, None)  # the scaler's
    tracker.on_before_optimizer_step(_trainer(device="meta"), model, None)  # not read back
    with pytest.raises(lifecycle.NonFiniteError):  # ... unless the step is logged anyway
        tracker.on_before_optimizer_step(_trainer(device="meta", logs=True), model, None)


def test_check_finite_names_the_first_bad_value_and_the_others():
    values = {"val/b": float("inf"), "val/a": float("nan"), "val/c": -float("inf"),
              "train/x": float("nan"), "val/ok": 1.0}  # fmt: skip
    with pytest.raises(lifecycle.NonFiniteError) as err:
        lifecycle.check_finite(values, "val/", 5, 2)
    assert str(err.value) == "val/a is nan at global step 5 (epoch 2) (also val/b, val/c)"
    with pytest.raises(lifecycle.NonFiniteError) as err:
        lifecycle.check_finite({"test/loss": float("inf"), "val/a": float("nan")}, "test/", None,
                               None)  # fmt: skip
    assert str(err.value) == "test/loss is inf"
    with pytest.raises(lifecycle.NonFiniteError) as err:
        lifecycle.check_finite({"val/a": float("nan"), "val/b": float("inf")}, "val/", 1, None)
    assert str(err.value) == "val/a is nan at global step 1 (also val/b)"
    with pytest.raises(lifecycle.NonFiniteError) as err:
        lifecycle.check_finite({"test/loss": float("nan")}, "test/", None, 3)
    assert str(err.value) == "test/loss is nan (epoch 3)"
