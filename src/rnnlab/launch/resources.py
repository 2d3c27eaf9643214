"""Share one machine between the parallel jobs of a sweep: threads and GPUs per job.

The ``launcher`` config group (``launcher=local``) states how many jobs run at once.
Job k then trains on GPU k mod (visible GPUs) (a block of GPUs when it asks for
several devices) and, on CPU, with ``cores // n_jobs`` torch threads, so parallel
jobs do not oversubscribe the cores. Everything a job changes in the process
environment (DDP variables, threads) is undone when it ends: the next job of the
sweep may run in the same process.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig

from rnnlab.errors import ConfigError
from rnnlab.launch.ranks import is_ddp_child
from rnnlab.run.threads import available_cores

log = logging.getLogger(__name__)


def job_number(hydra_cfg: Any) -> int:
    """``hydra.job.num`` in a sweep (set in every launcher's worker), 0 in a single run."""
    try:
        return int(hydra_cfg.job.num)
    except Exception:  # missing in single runs
        return 0


def _devices_per_job(devices: Any) -> int:
    return devices if isinstance(devices, int) and devices > 0 else 1


def threads_for(launcher: DictConfig, trainer: DictConfig) -> int:
    """Torch threads per process: the cores divided by the processes that run at once."""
    requested = launcher.get("threads_per_job", "auto")
    if requested != "auto":
        return int(requested)
    n_jobs = launcher.get("n_jobs", 1)
    on_cpu = trainer.get("accelerator") == "cpu" or not _cuda_available()
    procs = _devices_per_job(trainer.get("devices")) if on_cpu else 1
    return max(1, available_cores() // (n_jobs * procs))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def gpus_for(job: int, devices: Any, n_gpus: int) -> list[int]:
    """The GPU indices of job ``job``: blocks of ``devices`` GPUs, dealt round-robin."""
    per_job = min(_devices_per_job(devices), n_gpus)
    slots = max(1, n_gpus // per_job)
    start = (job % slots) * per_job
    return list(range(start, start + per_job))


def assign(cfg: DictConfig, hydra_cfg: Any) -> None:
    """Apply the ``launcher`` config's share of the machine to this job (threads, GPUs)."""
    launcher = cfg.get("launcher")
    if not launcher or is_ddp_child():
        return  # DDP children get both from their parent (environment and overrides)
    from rnnlab.launch import ddp

    trainer = cfg.trainer
    threads = threads_for(launcher, trainer)
    # trainer.threads=auto keeps this choice; DDP children inherit it
    os.environ["OMP_NUM_THREADS"] = str(threads)
    job = job_number(hydra_cfg)
    wants_gpu = trainer.get("accelerator") in ("auto", "gpu", "cuda")
    if launcher.get("split_gpus", True) and wants_gpu and _cuda_available():
        import torch

        if trainer.get("devices") in (-1, "-1"):
            raise ConfigError(
                "trainer.devices", -1, "a number of GPUs per job when jobs share GPUs"
            )
        ids = gpus_for(job, trainer.get("devices"), torch.cuda.device_count())
        trainer.devices = ids
        ddp.job_overrides[:] = [f"trainer.devices=[{','.join(map(str, ids))}]"]
    log.info("job %d: %d torch threads, devices %s", job, threads, trainer.get("devices"))


@contextmanager
def job_environment(cfg: DictConfig, hydra_cfg: Any) -> Iterator[None]:
    """Run one job with its share of the machine; leave the process as it found it."""
    saved_env = dict(os.environ)
    torch = sys.modules.get("torch")  # a job imports it; the process had it or not before
    saved_threads = torch.get_num_threads() if torch is not None else None
    try:
        assign(cfg, hydra_cfg)
        yield
    finally:
        if "rnnlab.launch.ddp" in sys.modules:
            sys.modules["rnnlab.launch.ddp"].release_children()
        os.environ.clear()
        os.environ.update(saved_env)
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)
