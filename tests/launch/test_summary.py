"""The sweep summary: one row per job directory, its overrides, status, error and metrics,
as JSON and CSV; written by the Hydra callback when a multirun ends."""

from __future__ import annotations

import csv
import json
import logging

from omegaconf import OmegaConf

from rnnlab.launch.summary import SweepSummary, collect_jobs, offline_wandb_runs, write_summary


def job_dir(sweep, num: int, overrides: list[str], metrics: dict | None):
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    hydra = {"hydra": {"job": {"num": num}, "overrides": {"task": overrides}}}
    OmegaConf.save(hydra, job / ".hydra" / "hydra.yaml")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


def make_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    done = {
        "status": "completed",
        "val/loss": 0.5,
        "test/mse": 0.25,
        "better": {"val/loss": "lower"},
    }
    job_dir(sweep, 0, ["model=gru", "seed=1"], done)
    job_dir(sweep, 1, ["model=rnn", "seed=1"], {"status": "failed", "error": "boom"})
    job_dir(sweep, 2, ["model=lstm", "seed=1"], None)  # killed before metrics.json
    (sweep / "not_a_job").mkdir()  # no .hydra: not a job
    return sweep


def test_rows_hold_each_jobs_overrides_status_error_and_flat_metrics(tmp_path):
    sweep = make_sweep(tmp_path)
    rows = collect_jobs(sweep)
    assert rows == [
        {"job": 0, "overrides": "model=gru seed=1", "status": "completed", "error": "",
         "dir": f"{sweep}/0", "val/loss": 0.5, "test/mse": 0.25},
        {"job": 1, "overrides": "model=rnn seed=1", "status": "failed", "error": "boom",
         "dir": f"{sweep}/1"},
        {"job": 2, "overrides": "model=lstm seed=1", "status": "failed",
         "error": "no metrics.json: the run did not finish", "dir": f"{sweep}/2"},
    ]  # fmt: skip


def test_json_and_csv_hold_the_same_rows(tmp_path):
    sweep = make_sweep(tmp_path)
    rows = write_summary(sweep)
    assert json.loads((sweep / "summary.json").read_text()) == rows
    with open(sweep / "summary.csv", newline="") as f:
        reader = csv.DictReader(f)
        header, table = reader.fieldnames, list(reader)
    assert header == ["job", "overrides", "status", "error", "dir", "test/mse", "val/loss"]
    assert table[0] == {"job": "0", "overrides": "model=gru seed=1", "status": "completed",
                        "error": "", "dir": f"{sweep}/0", "test/mse": "0.25", "val/loss": "0.5"}  # fmt: skip
    assert table[1]["test/mse"] == "" and table[2]["val/loss"] == ""  # missing: an empty cell
    assert sorted(p.name for p in sweep.iterdir()) == [
        "0", "1", "2", "not_a_job", "summary.csv", "summary.json",
    ]  # fmt: skip


def end_sweep(sweep) -> None:
    SweepSummary().on_multirun_end(
        config=OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    )


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rnnlab.launch.summary"]


def test_callback_writes_the_summary_and_the_upload_command(tmp_path, caplog):
    sweep = make_sweep(tmp_path)
    (sweep / "0" / "wandb" / "offline-run-20260101_000000-abc").mkdir(parents=True)
    (sweep / "1" / "wandb" / "offline-run-20260101_000001-def").mkdir(parents=True)
    (sweep / "1" / "wandb" / "offline-run-20260101_000002-xyz.wandb").write_text("")  # a file
    assert [p.parents[1].name for p in offline_wandb_runs(sweep)] == ["0", "1"]
    caplog.set_level(logging.INFO, logger="rnnlab.launch.summary")
    end_sweep(sweep)
    assert len(json.loads((sweep / "summary.json").read_text())) == 3
    assert messages(caplog) == [
        f"sweep: 3 jobs, 2 not completed {{1: 'failed', 2: 'failed'}}; summary in {sweep}/summary.csv",
        f"W&B runs saved offline; upload them all with: wandb sync {sweep}/*/wandb/offline-run-*",
    ]


def test_callback_without_a_sweep_dir_writes_nothing(tmp_path):
    missing = tmp_path / "never_created"
    end_sweep(missing)
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_all_completed_and_no_offline_runs(tmp_path, caplog):
    sweep = tmp_path / "sweep"
    job_dir(sweep, 0, ["seed=1"], {"status": "completed", "val/loss": 0.5})
    caplog.set_level(logging.INFO, logger="rnnlab.launch.summary")
    end_sweep(sweep)
    assert messages(caplog) == [f"sweep: 1 jobs, 0 not completed ; summary in {sweep}/summary.csv"]


def test_rows_follow_the_job_number_and_an_interrupted_job_says_so(tmp_path):
    sweep = tmp_path / "sweep"
    for num in (10, 2, 0):  # "10" sorts before "2" as text
        job_dir(sweep, num, [f"seed={num}"], {"status": "completed", "val/loss": 0.5})
    job_dir(sweep, 1, ["seed=1"], {"status": "interrupted", "step": 7, "error": "SIGTERM"})
    rows = collect_jobs(sweep)
    assert [r["job"] for r in rows] == [0, 1, 2, 10]
    assert (rows[1]["status"], rows[1]["error"]) == ("interrupted", "SIGTERM")


def search_job(sweep, num: int, lr: float, loss: float, pruned: bool = False):
    metrics = {"status": "completed", "val/loss_best": loss, "test/loss": loss,
               "better": {"val/loss_best": "lower", "test/loss": "lower"}}  # fmt: skip
    if pruned:
        metrics["pruned_at_epoch"] = 1
    job = job_dir(sweep, num, [f"optimizer.lr={lr}"], metrics)
    config = {"optimizer": {"lr": lr}, "seed": 1, "optuna": {"trial": num}}
    OmegaConf.save(config, job / ".hydra" / "config.yaml")


def test_a_search_ends_with_its_table_best_trial_first(tmp_path, caplog):
    sweep = tmp_path / "sweep"
    search_job(sweep, 0, 0.012345678901234567, 0.5)
    search_job(sweep, 1, 0.05, 0.25)
    search_job(sweep, 2, 0.1, 0.75, pruned=True)
    job_dir(sweep, 3, ["optimizer.lr=0.3"], {"status": "interrupted", "error": "SIGTERM"})
    best = {"direction": "minimize", "best_trial": 1, "best_value": 0.25,
            "params": {"optimizer.lr": 0.05}}  # fmt: skip
    OmegaConf.save(best, sweep / "best_params.yaml")
    caplog.set_level(logging.INFO, logger="rnnlab.launch.summary")
    SweepSummary().on_multirun_end(
        config=OmegaConf.create(
            {"hydra": {"sweep": {"dir": str(sweep)}}, "optimized_metric": "val/loss_best"}
        )
    )
    lines = messages(caplog)[1].splitlines()
    assert lines[0] == "results:"
    assert lines[1] == (
        f"best trial 1: val/loss_best = 0.25 (optimizer.lr=0.05); {sweep}/best_params.yaml"
    )
    rows = [line for line in lines if line.startswith("| 0.")]
    assert [r.split(" | ")[0] for r in rows] == ["| 0.05", "| 0.01235", "| 0.1"]  # best first
    assert " | 1 (1 pruned) | " in rows[2]  # the pruned trial is marked
    assert lines[-1] == "not in the table: job 3 interrupted: SIGTERM"
    assert "summary.csv" in messages(caplog)[0] and "pruned" not in messages(caplog)[0]
