"""Sweeps: multirun summaries, failures, parallel/SLURM launchers, DDP in sweeps, Optuna."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from rnnlab.launch.resources import gpus_for, threads_for
from rnnlab.launch.summary import write_summary

from helpers import FAST, REPO, read_metrics

QUICK = [*FAST, "trainer.max_epochs=1", "callbacks.test_figures=null"]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def sweep_cmd(args: list[str], sweep_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rnnlab.cli.train",
        "-m",
        *QUICK,
        *args,
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run_sweep(args: list[str], tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``rnnlab-train -m ARGS`` with the sweep dir ``tmp_path/sweep``."""
    env = {**os.environ, "RNNLAB_DATA_DIR": str(tmp_path / "data"), "WANDB_MODE": "offline"}
    cmd = sweep_cmd(args, tmp_path / "sweep")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def summary(sweep_dir: Path) -> list[dict]:
    rows = json.loads((sweep_dir / "summary.json").read_text())
    with open(sweep_dir / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    return rows


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


# -- quick, in-process ----------------------------------------------------------------
def test_summary_rows_from_job_dirs(tmp_path):
    for num, metrics in enumerate([{"status": "completed", "val/loss": 0.5}, None]):
        job = tmp_path / str(num)
        (job / ".hydra").mkdir(parents=True)
        hydra = {"hydra": {"job": {"num": num}, "overrides": {"task": [f"seed={num}"]}}}
        OmegaConf.save(hydra, job / ".hydra" / "hydra.yaml")
        if metrics:
            (job / "metrics.json").write_text(json.dumps(metrics))
    rows = write_summary(tmp_path)
    assert [r["status"] for r in rows] == ["completed", "failed"]
    assert rows[0]["overrides"] == "seed=0" and rows[0]["val/loss"] == 0.5
    assert "did not finish" in rows[1]["error"]
    assert summary(tmp_path) == rows


def test_gpus_dealt_round_robin_and_threads_divided():
    assert [gpus_for(k, 1, 4) for k in range(5)] == [[0], [1], [2], [3], [0]]
    assert [gpus_for(k, 2, 4) for k in range(3)] == [[0, 1], [2, 3], [0, 1]]
    assert gpus_for(3, "auto", 2) == [1]
    launcher = OmegaConf.create({"n_jobs": 2, "threads_per_job": "auto"})
    cpu = OmegaConf.create({"accelerator": "cpu", "devices": 1})
    assert threads_for(launcher, cpu) == max(1, len(os.sched_getaffinity(0)) // 2)
    assert threads_for(OmegaConf.create({"n_jobs": 1, "threads_per_job": 3}), cpu) == 3


def test_search_space_from_hydra_syntax_and_dicts():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from hydra_plugins.rnnlab_optuna.space import distributions

    space = {
        "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
        "model.hidden_size": "choice(16, 32)",
        "model.num_layers": "range(1, 3)",
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    }
    d = distributions(space, config_loader=None)
    assert d["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["model.hidden_size"] == CategoricalDistribution([16, 32])
    assert d["model.num_layers"] == IntDistribution(1, 2)
    assert d["model.dropout"] == FloatDistribution(0.0, 0.3)


def test_pruning_callback_reports_and_stops_bad_trial(tmp_path):
    import optuna

    from rnnlab.launch.pruning import OptunaPruning

    storage = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name="s", storage=storage)
    study.set_user_attr("pruner", {"kind": "median", "warmup_epochs": 0, "startup_trials": 1})
    for value in (0.1, 0.2):  # two finished trials with low validation losses
        trial = study.ask()
        trial.report(value, step=0)
        study.tell(trial, value)
    bad = study.ask()
    trainer = SimpleNamespace(
        sanity_checking=False,
        is_global_zero=True,
        current_epoch=0,
        callback_metrics={"val/loss": 5.0},
        should_stop=False,
        strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
    )
    OptunaPruning("val/loss", bad.number, storage, "s").on_validation_end(trainer, None)
    assert trainer.should_stop
    stored = study._storage.get_trial(bad._trial_id)
    assert stored.intermediate_values == {0: 5.0} and stored.user_attrs["pruned_at_epoch"] == 0


def _compose_with_hydra(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from rnnlab.conf import conf_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    "override,key,expected",
    [
        ("launcher=local", "hydra.launcher.n_jobs", 2),
        ("launcher=slurm", "hydra.launcher.tasks_per_node", 1),
        ("launcher=slurm", "hydra.launcher.timeout_min", 240),
        ("launcher=slurm_local", "hydra.launcher.tasks_per_node", 1),
        # rnnlab's submitit launchers: a job that never returned does not end the sweep
        (
            "launcher=slurm",
            "hydra.launcher._target_",
            "hydra_plugins.rnnlab_submitit.launcher.RnnlabSlurmLauncher",
        ),
        (
            "launcher=slurm_local",
            "hydra.launcher._target_",
            "hydra_plugins.rnnlab_submitit.launcher.RnnlabLocalLauncher",
        ),
        ("hparams_search=sine_lstm", "hydra.sweeper.study_name", "sine_lstm"),
        ("trainer=ddp", "trainer.strategy._target_", "rnnlab.launch.ddp.HydraDDPStrategy"),
    ],
)
def test_sweep_configs_compose(override, key, expected):
    cfg = _compose_with_hydra([override])
    assert OmegaConf.select(cfg, key) == expected


def test_setuptools_finds_the_sweeper_and_launcher_plugins():
    from setuptools import find_namespace_packages

    found = find_namespace_packages(str(REPO / "src"), include=["rnnlab*", "hydra_plugins*"])
    assert {"hydra_plugins.rnnlab_optuna", "hydra_plugins.rnnlab_submitit"} <= set(found)


# -- one quick end-to-end sweep -------------------------------------------------------
def test_multirun_2x2_with_failing_jobs_writes_summary(tmp_path):
    """Two of four jobs combine values that do not fit (a window longer than the series):
    they are recorded as failed, the others complete, and the sweep exits 0."""
    proc = run_sweep(["seed=1,2", "data.window=12,46"], tmp_path)  # length 48, horizon 4
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    dirs = job_dirs(sweep)
    assert [d.name for d in dirs] == ["0", "1", "2", "3"]
    assert all((d / "metrics.json").is_file() for d in dirs)
    rows = summary(sweep)
    assert [r["job"] for r in rows] == [0, 1, 2, 3]
    window = {
        r["job"]: next(o for o in r["overrides"].split() if o.startswith("data.window="))
        for r in rows
    }
    assert {window[r["job"]]: r["status"] for r in rows} == {
        "data.window=12": "completed",
        "data.window=46": "failed",
    }
    failed = [r for r in rows if r["status"] == "failed"]
    assert all("data.window=46" in r["error"] for r in failed)
    assert all(r["test/mse"] > 0 for r in rows if r["status"] == "completed")


@pytest.mark.parametrize(
    ("swept", "line"),
    [
        ("model.hidden_size=16,0", "error: model.hidden_size=0 is not allowed: a positive integer"),
        ("model=gru,transformer", "error: model='transformer' is not allowed: one of gru, lru, "
                                  "lstm, mingru, minlstm, mlstm, rnn, s6, slstm"),
        # the sine data's keys (this test's small sizes) under a data option without them:
        # Hydra would stop the sweep at the first adding job
        ("data=sine,adding", "error: data.num_series=24 is not allowed: a key of data; the "
                             "keys are batch_size, seed, eval_batch_size, train_size, val_size, "
                             "test_size, data_seed, length, length_jitter"),
    ],
)  # fmt: skip
def test_value_invalid_for_every_job_is_refused_before_the_sweep_starts(tmp_path, swept, line):
    """A value wrong whatever it is combined with: one line, exit 2, and no sweep directory."""
    proc = run_sweep(["seed=1,2", swept], tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0] == line
    assert not (tmp_path / "sweep").exists()


# -- slow: launchers, DDP, Optuna ------------------------------------------------------
BOOM = """
import lightning.pytorch as pl

class Boom(pl.Callback):
    def __init__(self, fail):
        self.fail = fail

    def on_train_start(self, trainer, pl_module):
        if self.fail:
            raise KeyError("boom")
"""


@pytest.mark.slow
def test_unexpected_error_recorded_in_sweep(tmp_path, monkeypatch):
    (tmp_path / "boom_callback.py").write_text(BOOM)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    args = ["+callbacks.boom._target_=boom_callback.Boom", "+callbacks.boom.fail=false,true"]
    proc = run_sweep(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary(tmp_path / "sweep")
    assert [r["status"] for r in rows] == ["completed", "failed"]
    assert "KeyError" in rows[1]["error"] and "boom" in rows[1]["error"]


@pytest.mark.slow
def test_a_signal_stops_the_sweep_and_the_summary_records_the_job(tmp_path, monkeypatch):
    """SIGTERM during the second job: it saves and is recorded as interrupted, the first job
    stays completed, the sweep command exits 143 and says how to continue the job."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests", "tests/run"))
    )
    args = ["+callbacks.stop._target_=helpers.SignalAt", "+callbacks.stop.step=1000,5"]
    proc = run_sweep(args, tmp_path)
    assert proc.returncode == 143, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    assert f"resume_dir={sweep / '1'}" in proc.stderr
    rows = summary(sweep)
    assert [(r["job"], r["status"]) for r in rows] == [(0, "completed"), (1, "interrupted")]
    assert read_metrics(sweep / "1")["step"] == 5
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local", "slurm_local"])
def test_parallel_and_submitit_launchers(tmp_path, launcher):
    proc = run_sweep([f"launcher={launcher}", "seed=1,2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary(tmp_path / "sweep")
    assert [(r["job"], r["status"]) for r in rows] == [(0, "completed"), (1, "completed")]
    assert len(job_dirs(tmp_path / "sweep")) == 2
    if launcher == "local":  # 2 jobs at once share the cores
        threads = max(1, len(os.sched_getaffinity(0)) // 2)
        assert (
            f"job 1: {threads} torch threads"
            in (tmp_path / "sweep" / "1" / "train.log").read_text()
        )


@pytest.mark.slow  # two job processes, and submitit waits a while for the lost job's result
def test_a_submitit_job_that_never_returns_is_recorded_and_the_sweep_ends(tmp_path, monkeypatch):
    """Job 0 kills its own process (SIGKILL, as the out-of-memory killer would): submitit
    gets no result from it. It is recorded as failed, job 1 after it is collected, the
    summary lists both, and the sweep ends as one with a failed job does (exit 0, the
    failed job named in its last line)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(str(REPO / p) for p in ("src", "tests")))
    kill = ["+callbacks.kill._target_=helpers.SignalAt", "+callbacks.kill.step=1,1000",
            "+callbacks.kill.signum=SIGKILL"]  # fmt: skip
    proc = run_sweep(["launcher=slurm_local", "trainer.threads=1", *kill], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    rows = summary(sweep)
    assert [(r["job"], r["status"]) for r in rows] == [(0, "failed"), (1, "completed")]
    why = "the job never returned: the job's process ended without a result"
    assert rows[0]["error"].startswith(why) and "+callbacks.kill.step=1 " in rows[0]["overrides"]
    assert read_metrics(sweep / "0")["status"] == "failed"
    last = proc.stdout.strip().splitlines()[-1]
    assert last == f"not in the table: job 0 failed: {rows[0]['error']}"


def _assert_one_ddp_run(run_dir: Path) -> None:
    assert read_metrics(run_dir)["status"] == "completed"
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in run_dir.glob("*.log")) == ["train.log"]  # no per-rank logs
    assert list(run_dir.rglob("metrics.json")) == [run_dir / "metrics.json"]


@pytest.mark.slow
def test_ddp_two_cpu_processes_single_run(tmp_path):
    from helpers import run_cli

    proc = run_cli("train", [*QUICK, *DDP], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("Initializing distributed") == 2
    _assert_one_ddp_run(tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.slow
def test_ddp_job_opens_one_wandb_run(tmp_path):
    from helpers import run_cli

    proc = run_cli("train", [*QUICK, *DDP, "logger=wandb"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_one_ddp_run(tmp_path / "run")
    assert len(list((tmp_path / "run").glob("wandb/offline-run-*"))) == 1


@pytest.mark.slow
def test_ddp_inside_multirun_with_a_nan_job(tmp_path):
    """No re-launched sweep, one dir per job, a NaN job recorded and the next job runs."""
    proc = run_sweep([*DDP, "optimizer.lr=1e30,0.01"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    assert [d.name for d in job_dirs(sweep)] == ["0", "1"]
    assert proc.stderr.count("Launching 2 jobs") + proc.stdout.count("Launching 2 jobs") == 1
    rows = summary(sweep)
    assert rows[0]["status"] == "failed" and "is not finite at global step" in rows[0]["error"]
    _assert_one_ddp_run(sweep / "1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]


def _trials(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_optuna_study_resumes_after_kill(tmp_path):
    env = {**os.environ, "RNNLAB_DATA_DIR": str(tmp_path / "data"), "WANDB_MODE": "offline"}
    study = ["hparams_search=sine_lstm", f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db"]

    def start(n_trials: int, name: str, *extra: str) -> subprocess.Popen:
        cmd = sweep_cmd([*study, f"hydra.sweeper.n_trials={n_trials}", *extra], tmp_path / name)
        return subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    first = start(2, "a")
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    assert [t["state"] for t in _trials(tmp_path / "a")] == ["COMPLETE", "COMPLETE"]
    # Kill a second run while its first trial runs: that trial is failed on resume.
    second = start(4, "b", "trainer.max_epochs=500")  # long enough to be killed mid-trial
    deadline = time.monotonic() + 300
    while not (tmp_path / "b" / "0" / ".hydra").is_dir() and time.monotonic() < deadline:
        time.sleep(0.5)
    second.kill()
    second.wait()
    third = start(4, "c")
    assert third.wait(timeout=600) == 0, third.stderr.read()[-3000:]
    trials = _trials(tmp_path / "c")
    assert [t["number"] for t in trials] == ["0", "1", "2", "3", "4"]
    assert trials[2]["state"] == "FAIL" and trials[2]["interrupted"] == "True"
    assert sum(t["state"] in ("COMPLETE", "PRUNED") for t in trials) == 4
    best = OmegaConf.load(tmp_path / "c" / "best_params.yaml")
    assert set(best.params) == {
        "optimizer.lr",
        "model.hidden_size",
        "model.num_layers",
        "model.dropout",
    }
    assert len(summary(tmp_path / "c")) == 2
