"""A job of a submitit sweep (``launcher=slurm``, ``slurm_local``) that never returned.

submitit hands a job's result back through a file the job writes as it returns. A job
killed by the scheduler (its time limit, ``scancel``), by the out-of-memory killer, or lost
with its node writes none, and Hydra's submitit launcher raised while it collected the
sweep's results: the sweep ended there, with a traceback and no summary. rnnlab's launcher
(``hydra_plugins.rnnlab_submitit``) answers for such a job with ``answer``: the job's
directory records it as failed, and why (``rnnlab.run.lifecycle.record``), and the sweep
collects the next job. A job that recorded its own end before it went (an interrupted job
writes ``metrics.json``, then exits with 130 / 143) keeps that record.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rnnlab.compat.submitit import job_log
from rnnlab.io.runs import read_metrics, sweep_jobs

log = logging.getLogger("rnnlab")

# SLURM's states for a job that ended without finishing, in words
SLURM_STATES = {
    "TIMEOUT": "killed at its time limit (launcher.timeout_min)",
    "OUT_OF_MEMORY": "killed by the out-of-memory killer (launcher.mem_gb)",
    "NODE_FAIL": "its node was lost",
    "CANCELLED": "cancelled (scancel, or the scheduler)",
    "PREEMPTED": "preempted and not requeued",
    "BOOT_FAIL": "its node failed to start",
    "DEADLINE": "past its deadline",
}
NO_RESULT = "the job's process ended without a result (killed by a signal, out of memory?)"


def answer(config: DictConfig, job: Any, num: int, overrides: list[str], err: Exception) -> Any:
    """Record job ``num`` as failed (unless it recorded its own end); the ``JobReturn``
    Hydra's sweepers get from a job that failed: completed, with no value."""
    from hydra.core.utils import JobReturn, JobStatus

    job_dir = _job_dir(config, num, overrides)
    state = _state(job)
    own = (read_metrics(job_dir)[0] or {}).get("status")
    if own:
        log.error("job %d never returned (state %s); it recorded its end: %s", num, state, own)
    else:
        _record(job_dir, reason(err, state), state, job_log(job))
    return JobReturn(overrides=overrides, working_dir=str(job_dir), status=JobStatus.COMPLETED,
                     _return_value=None)  # fmt: skip


def reason(err: Exception, state: str) -> str:
    """Why the job never returned, in a few words, from submitit's error and job state."""
    from rnnlab.compat.submitit import FailedJobError

    if isinstance(err, FailedJobError):  # the job's process raised outside the run's handling
        return f"its process raised: {_last_trace_line(str(err))}"
    return SLURM_STATES.get(state.split(" ")[0], NO_RESULT)


def _record(job_dir: Path, why: str, state: str, log_file: Path) -> None:
    from rnnlab.run import lifecycle

    error = f"the job never returned: {why} (submitit state {state}; its log: {log_file})"
    end = lifecycle.Ending("failed", lifecycle.EXIT_FAILED, error, phase=None)
    lifecycle.record(end, job_dir, run=lifecycle.Lifecycle(), submitit_state=state)
    log.error("job %s failed: %s", job_dir.name, error)


def _state(job: Any) -> str:
    try:
        return str(job.state)
    except Exception:  # sacct unreachable, say: the record says so
        return "UNKNOWN"


def _job_dir(config: DictConfig, num: int, overrides: list[str]) -> Path:
    """The job's directory; one Hydra would have made, with the job's number and overrides
    in ``.hydra/hydra.yaml``, for a job lost before it started (the summary lists it)."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    for record in sweep_jobs(sweep_dir):
        if record.job == num:
            return record.path
    try:
        cfg = copy.deepcopy(config)
        with open_dict(cfg):
            cfg.hydra.job.num = num
        job_dir = sweep_dir / str(cfg.hydra.sweep.subdir)
    except Exception:  # a subdir that needs the job's own runtime
        job_dir = sweep_dir / str(num)
    hydra = {"hydra": {"job": {"num": num}, "overrides": {"task": list(overrides)}}}
    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(hydra), job_dir / ".hydra" / "hydra.yaml")
    return job_dir


def _last_trace_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    trace = [line for line in lines if line and not line.startswith("---")]
    dashes = [i for i, line in enumerate(lines) if line.startswith("---")]
    if len(dashes) >= 2:  # submitit frames the trace with lines of dashes
        trace = [line for line in lines[dashes[0] + 1 : dashes[1]] if line]
    return trace[-1] if trace else text.strip()
