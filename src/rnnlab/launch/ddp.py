"""DDP that is safe inside Hydra runs and sweeps.

Lightning's ``ddp`` strategy starts ranks > 0 by re-running the command line. Under
Hydra that command is ``sys.argv`` plus ``hydra.run.dir=<run dir pattern>``; in a sweep
``sys.argv`` holds ``-m`` and the comma lists, so every child re-launches the whole
sweep, and the run-dir pattern (``${now:...}``) gives each child a new directory. A
child that exits non-zero (also when rank 0 kills it after an error) makes Lightning
SIGKILL the main process, which ends the sweep.

``HydraDDPStrategy`` starts each child as a single run of this job only: the job's own
overrides, ``hydra.run.dir=<this job's output dir>``, no ``.hydra`` dir and no log file.
Errors on rank 0 stop the children without killing the sweep; ``release_children``
(called after every job) waits for them, closes the process group and lets the next
job of the sweep start a fresh one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy

from rnnlab.compat.lightning import (
    SubprocessLauncher,
    set_threads_for_processes,
    subprocess_command,
)

log = logging.getLogger(__name__)

# Hydra config name -> the module that runs it, for the children's command line.
ENTRY_MODULES = {"train": "rnnlab.cli.train", "eval": "rnnlab.cli.eval"}
# Hydra overrides a child must not inherit: they would make it a sweep or move its outputs.
_PARENT_ONLY = (
    "hydra.mode",
    "hydra.run.",
    "hydra.sweep.",
    "hydra.output_subdir",
    "hydra.job.name",
    "hydra/launcher",
    "hydra.launcher",
    "hydra/sweeper",
    "hydra.sweeper",
    "hydra/job_logging",
    "hydra/hydra_logging",
    "hydra.callbacks",
)
# Extra overrides decided by the running job (its GPUs), which the children must share.
job_overrides: list[str] = []
_launchers: list[_JobLauncher] = []


def _hydra_arg(key: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


def child_command(local_rank: int) -> tuple[list[str], str | None]:
    """The command line and cwd that run local rank ``local_rank`` of the current job."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return subprocess_command(), None
    hcfg = HydraConfig.get()
    module = ENTRY_MODULES.get(hcfg.job.config_name, "rnnlab.cli.train")
    hydra_args = [o for o in hcfg.overrides.hydra if not o.lstrip("+~").startswith(_PARENT_ONLY)]
    command = [sys.executable, "-m", module, *hcfg.overrides.task, *hydra_args, *job_overrides]
    command += [
        _hydra_arg("hydra.run.dir", hcfg.runtime.output_dir),
        "hydra.output_subdir=null",
        f"hydra.job.name={hcfg.job.name}_rank{local_rank}",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
        "hydra.callbacks={}",
    ]
    return command, hcfg.runtime.cwd


class _JobLauncher(SubprocessLauncher):
    """Starts ranks > 0 as single runs of this job and watches them without killing sweeps."""

    def launch(self, function: Any, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.cluster_environment.validate_settings(
            num_devices=self.num_processes, num_nodes=self.num_nodes
        )
        if not self.cluster_environment.creates_processes_externally:
            self._start_children()
            _launchers.append(self)
            threading.Thread(target=self._watch, daemon=True, name="rnnlab-ddp-watch").start()
        set_threads_for_processes(self.num_processes)
        return function(*args, **kwargs)

    def _start_children(self) -> None:
        self._check_can_spawn_children()
        self.procs, self.stopping, self.done = [], False, False
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        for local_rank in range(1, self.num_processes):
            command, cwd = child_command(local_rank)
            child_env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            self.procs.append(subprocess.Popen(command, env=child_env, cwd=cwd))

    def kill(self, signum: Any) -> None:
        # Rank 0 is handling an error itself: children dying now is expected.
        self.stopping = True
        super().kill(signum)

    def _watch(self, period: float = 1.0, grace: float = 15.0) -> None:
        """A child that fails alone leaves rank 0 stuck in a collective: end the job then."""
        while not self.done:
            time.sleep(period)
            codes = [p.poll() for p in self.procs]
            if all(c == 0 for c in codes):
                return
            if not any(codes) or self.stopping:
                continue
            deadline = time.monotonic() + grace  # rank 0 usually fails the same way: let it
            while time.monotonic() < deadline and not (self.stopping or self.done):
                time.sleep(period)
            if self.stopping or self.done:
                return
            log.error("a DDP child exited with %s while rank 0 runs; stopping this process", codes)
            for p in self.procs:
                p.kill()
            os.kill(os.getpid(), signal.SIGKILL)

    def release(self, timeout: float = 120.0) -> None:
        self.done = True
        for p in self.procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class HydraDDPStrategy(DDPStrategy):
    """``ddp`` whose child processes run this Hydra job only (see the module docstring)."""

    def _configure_launcher(self) -> None:
        if self._start_method == "popen":
            assert self.cluster_environment is not None
            self._launcher = _JobLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )
        else:
            super()._configure_launcher()


def release_children() -> None:
    """After a job: wait for its DDP children and close the process group for the next job."""
    while _launchers:
        _launchers.pop().release()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    job_overrides.clear()
