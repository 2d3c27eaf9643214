"""The keys of ``launcher`` (how sweep jobs run), declared once, per launcher option.

``launcher=local`` runs jobs in worker processes here (joblib), ``launcher=slurm`` hands
each to SLURM (submitit), ``launcher=slurm_local`` runs SLURM's path as local processes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, ClassVar

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, option

SLURM_COMMANDS = ("sbatch", "srun")


def _auto_or_positive(value: Any) -> bool:
    return value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


@dataclass(kw_only=True)
class LauncherOptions(Options):
    group: ClassVar[str] = "launcher"

    n_jobs: int = option(1, "jobs running at once", ge=1)
    threads_per_job: Any = option("auto", "torch threads per job (auto: cores // processes)",
                                  check=_auto_or_positive,
                                  allowed="auto or a positive integer")  # fmt: skip
    split_gpus: bool = option(False, "job k trains on GPU k mod (visible GPUs)")


@dataclass(kw_only=True)
class LocalLauncherOptions(LauncherOptions):
    n_jobs: int = option(2, "jobs running at once", ge=1)
    split_gpus: bool = option(True, "job k trains on GPU k mod (visible GPUs)")


@dataclass(kw_only=True)
class SlurmLauncherOptions(LauncherOptions):
    partition: str | None = option(None, "the SLURM partition")
    account: str | None = option(None, "the SLURM account")
    gpus_per_job: int = option(1, "GPUs (and tasks) per job", ge=0)
    cpus_per_gpu: int = option(8, "CPU cores per task", ge=1)
    mem_gb: int = option(32, "memory per node, GB", ge=1)
    timeout_min: int = option(240, "the job's time limit, minutes", ge=1)
    max_parallel: int = option(32, "jobs of the array running at once", ge=1)

    def rules(self) -> None:
        missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
        if missing:
            raise ConfigError(
                "", "slurm", f"a launcher this machine can use: SLURM's {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not on PATH; run the sweep here with "
                "launcher=local (or without launcher=)",
            )  # fmt: skip


@dataclass(kw_only=True)
class SlurmLocalLauncherOptions(LauncherOptions):
    gpus_per_job: int = option(0, "GPUs per job", ge=0)
    cpus_per_job: int = option(1, "CPU cores per job", ge=1)
    timeout_min: int = option(30, "the job's time limit, minutes", ge=1)


LAUNCHERS = {"local": LocalLauncherOptions, "slurm": SlurmLauncherOptions,
             "slurm_local": SlurmLocalLauncherOptions}  # fmt: skip
