"""W&B offline: one run per job, grouped by sweep, holding the config and metrics logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FAST, run_cli
from wandb_records import read_offline_run


def _runs(root: Path) -> list[Path]:
    return sorted(root.glob("**/wandb/offline-run-*"))


def test_offline_run_holds_config_metrics_and_figure(tmp_path):
    proc = run_cli("train", [*FAST, "logger=wandb", "tags=[smoke,sine]"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wandb sync" in proc.stdout + proc.stderr
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
    assert {r.display_name for r in runs} == {f"{runs[0].run_group}/{n}" for n in (0, 1)}


@pytest.mark.slow
def test_failed_job_is_a_failed_run_and_the_next_job_still_logs(tmp_path):
    args = ["-m", *FAST, "logger=wandb", "optimizer.lr=1e30,0.01", "trainer.max_epochs=1"]
    proc = run_cli("train", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = {d.parents[1].name: read_offline_run(d) for d in _runs(tmp_path / "sweep")}
    assert set(runs) == {"0", "1"}
    assert runs["0"]["exit_code"] == 1  # the diverging job
    assert runs["1"]["exit_code"] == 0
