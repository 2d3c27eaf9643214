"""A submitit sweep's job that never returned is recorded as failed and the sweep goes on.

In-process: rnnlab's submitit launcher runs the plugin's own ``launch`` over a stand-in
executor whose jobs answer as submitit's do (a ``JobReturn``, or ``UncompletedJobError`` /
``FailedJobError`` for a job that left no result), so no job process is started.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import submitit
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from submitit.core.utils import FailedJobError, UncompletedJobError

from hydra_plugins.rnnlab_submitit.launcher import RnnlabLocalLauncher, RnnlabSlurmLauncher
from rnnlab.launch.summary import write_summary

TRACE = ("Job (task=0) failed during processing with trace:\n----------------------\n"
         "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'hydra'\n"
         "----------------------\nYou can check full logs with ...")  # fmt: skip


def job_dir(sweep: Path, num: int, overrides: list[str], metrics: dict | None) -> None:
    """A job's directory as Hydra leaves it, with ``metrics.json`` when given."""
    (sweep / str(num) / ".hydra").mkdir(parents=True)
    hydra = {"hydra": {"job": {"num": num}, "overrides": {"task": overrides}}}
    OmegaConf.save(hydra, sweep / str(num) / ".hydra" / "hydra.yaml")
    if metrics is not None:
        (sweep / str(num) / "metrics.json").write_text(json.dumps(metrics))


class FakeJob:
    """A submitted job: ``outcome`` is its ``JobReturn`` or what submitit raises for it."""

    def __init__(self, outcome, state: str, folder: Path) -> None:
        self.outcome, self.state, self.job_id = outcome, state, "77"
        self.paths = SimpleNamespace(stderr=folder / "77_0_log.err")

    def results(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return [self.outcome]


def fake_executor(outcomes: dict[int, object], state: str, folder: Path) -> type:
    class FakeExecutor:
        def __init__(self, folder, cluster=None, **kwargs) -> None:
            pass

        def update_parameters(self, **kwargs) -> None:
            pass

        def map_array(self, fn, *iterables):
            nums = iterables[2]
            return [FakeJob(outcomes[n], state, folder) for n in nums]

    return FakeExecutor


def launch(tmp_path, monkeypatch, outcomes, state="FINISHED", cls=RnnlabLocalLauncher):
    sweep = tmp_path / "sweep"
    monkeypatch.setattr(submitit, "AutoExecutor", fake_executor(outcomes, state, tmp_path))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep), "subdir": "${hydra.job.num}"},
                                         "job": {"num": 0}}})  # fmt: skip
    launcher = cls(submitit_folder=str(sweep / ".submitit"))
    launcher.setup(hydra_context=None, task_function=None, config=config)
    overrides = [[f"seed={n}"] for n in sorted(outcomes)]
    return sweep, launcher.launch(overrides, initial_job_idx=0)


def done(num: int) -> JobReturn:
    return JobReturn(overrides=[f"seed={num}"], status=JobStatus.COMPLETED, _return_value=0.5)


def metrics(sweep: Path, num: int) -> dict:
    return json.loads((sweep / str(num) / "metrics.json").read_text())


def test_a_job_killed_before_returning_is_recorded_and_the_next_collected(tmp_path, monkeypatch):
    lost = UncompletedJobError("Job 77 (task: 0) has not produced any output (state: FINISHED)")
    sweep = tmp_path / "sweep"
    for num in (0, 1, 2):
        job_dir(sweep, num, [f"seed={num}"], {"status": "completed"} if num != 1 else None)
    sweep, results = launch(tmp_path, monkeypatch, {0: done(0), 1: lost, 2: done(2)})
    assert [r.return_value for r in results] == [0.5, None, 0.5]  # Hydra's sweeper reads these
    assert results[1].status == JobStatus.COMPLETED and results[1].overrides == ["seed=1"]
    record = metrics(sweep, 1)
    assert record["status"] == "failed" and record["submitit_state"] == "FINISHED"
    assert record["error"].startswith("the job never returned: the job's process ended without "
                                      "a result (killed by a signal, out of memory?)")  # fmt: skip
    assert str(tmp_path / "77_0_log.err") in record["error"]
    assert submitit.AutoExecutor.__name__ == "FakeExecutor"  # put back after the launch
    assert [r["status"] for r in write_summary(sweep)] == ["completed", "failed", "completed"]


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("TIMEOUT", "killed at its time limit (launcher.timeout_min)"),
        ("OUT_OF_MEMORY", "killed by the out-of-memory killer (launcher.mem_gb)"),
        ("NODE_FAIL", "its node was lost"),
        ("CANCELLED by 1234", "cancelled (scancel, or the scheduler)"),
    ],
)
def test_slurm_says_why_and_a_job_lost_before_it_started_gets_its_dir(tmp_path, monkeypatch,
                                                                      state, why):  # fmt: skip
    lost = UncompletedJobError("has not produced any output")
    sweep, results = launch(tmp_path, monkeypatch, {0: lost}, state, RnnlabSlurmLauncher)
    assert results[0].return_value is None
    record = metrics(sweep, 0)
    assert record["error"].startswith(f"the job never returned: {why} (submitit state {state};")
    rows = write_summary(sweep)  # the job never made its dir: the summary still lists it
    assert [(r["job"], r["overrides"], r["status"]) for r in rows] == [(0, "seed=0", "failed")]


def test_a_job_that_raised_outside_the_run_names_the_error(tmp_path, monkeypatch):
    sweep, _ = launch(tmp_path, monkeypatch, {0: done(0), 1: FailedJobError(TRACE)})
    assert metrics(sweep, 1)["error"].startswith(
        "the job never returned: its process raised: KeyError: 'hydra' (submitit state"
    )


def test_a_job_that_recorded_its_own_end_keeps_it(tmp_path, monkeypatch):
    """An interrupted job writes metrics.json, then exits 143: submitit has no result."""
    own = {"status": "interrupted", "error": "interrupted by SIGTERM at global step 5"}
    job_dir(tmp_path / "sweep", 0, ["seed=0"], own)
    sweep, results = launch(tmp_path, monkeypatch, {0: UncompletedJobError("no output")})
    assert results[0].return_value is None and metrics(sweep, 0) == own
