"""A sweep records any failing job and runs the others; a single run exits in one line.

In-process: ``rnnlab.cli.app.hydra_main`` wraps a stand-in job, so the test runs Hydra's
real multirun (basic launcher, the sweep-summary callback) in about a second.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from rnnlab.cli.app import hydra_main
from rnnlab.errors import ConfigError
from rnnlab.io.atomic import write_json

FAILURES = {
    2: KeyError("boom"),
    3: ConfigError("model.hidden_size", 0, "a positive integer"),
    4: FloatingPointError("train/loss is not finite at global step 3"),
}


def job(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Fails by seed (``FAILURES``); otherwise writes its metrics as a run does."""
    if cfg.seed in FAILURES:
        raise FAILURES[cfg.seed]
    metrics = {"status": "completed", "test/mse": 0.1 * cfg.seed}
    write_json(output_dir / "metrics.json", metrics)
    return metrics


def run_main(monkeypatch, args: list[str]) -> Any:
    monkeypatch.setattr(sys, "argv", ["rnnlab-train", *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    return hydra_main("train", f"{__name__}:job")()


def test_sweep_records_every_kind_of_failure_and_runs_the_rest(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    run_main(monkeypatch, ["-m", "seed=1,2,3,4,5", f"hydra.sweep.dir={sweep}"])
    rows = json.loads((sweep / "summary.json").read_text())
    assert [(r["job"], r["status"]) for r in rows] == [
        (0, "completed"), (1, "failed"), (2, "failed"), (3, "failed"), (4, "completed"),
    ]  # fmt: skip
    errors = {r["job"]: r["error"] for r in rows}
    assert "KeyError" in errors[1] and "boom" in errors[1]  # an unexpected error, by type
    assert "model.hidden_size=0" in errors[2]
    assert "not finite" in errors[3]
    for num in (1, 2, 3):  # each failed job wrote its own metrics.json
        written = json.loads((sweep / str(num) / "metrics.json").read_text())
        assert written["status"] == "failed" and written["error"] == errors[num]
    assert rows[4]["test/mse"] == pytest.approx(0.5)


def test_single_run_reports_an_unexpected_error_in_one_line(tmp_path, monkeypatch, capsys):
    """Exit 1 and the error by type on one line (its traceback goes to the log file);
    a job that never reached its run dir leaves none."""
    with pytest.raises(SystemExit) as info:
        run_main(monkeypatch, ["seed=2", f"hydra.run.dir={tmp_path / 'run'}"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: KeyError: 'boom' (in setup)", err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seed,code", [(3, 2), (4, 3)])
def test_single_run_exits_with_the_documented_status(tmp_path, monkeypatch, capsys, seed, code):
    with pytest.raises(SystemExit) as info:
        run_main(monkeypatch, [f"seed={seed}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert info.value.code == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
