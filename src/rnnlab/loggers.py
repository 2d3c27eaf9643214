"""Experiment loggers: CSV, TensorBoard and Weights & Biases, from the ``logger`` config group."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def wandb_has_credentials() -> bool:
    """An API key in the environment or a ``wandb login`` entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_offline(requested: bool | None) -> bool:
    """Offline when asked, when WANDB_MODE says so, or when there is nothing to log in with."""
    if requested is not None:
        return bool(requested)
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        return True
    if mode == "online":
        return False
    return not wandb_has_credentials()


def run_identity(task_name: str, job_type: str) -> dict[str, str]:
    """W&B group, name and job type: a sweep's jobs share a group named after the sweep."""
    try:
        hcfg = HydraConfig.get()
    except ValueError:  # not under Hydra (tests, notebooks)
        return {"group": task_name, "name": task_name, "job_type": job_type}
    if hcfg.mode == RunMode.MULTIRUN:
        group = f"{task_name}/{Path(hcfg.sweep.dir).name}"
        return {"group": group, "name": f"{group}/{hcfg.job.num}", "job_type": job_type}
    return {"group": task_name, "name": Path(hcfg.runtime.output_dir).name, "job_type": job_type}


def build_loggers(cfg: DictConfig | None, identity: dict[str, str] | None = None) -> list[Any]:
    """Instantiate every logger in the group; W&B is put offline when it cannot log in.

    ``identity`` fills the W&B ``group``, ``name`` and ``job_type`` left null in the config.
    """
    loggers = []
    for name, lcfg in (cfg or {}).items():
        if lcfg is None:
            continue
        kwargs: dict[str, Any] = {}
        if "WandbLogger" in str(lcfg.get("_target_", "")):
            kwargs["offline"] = wandb_offline(lcfg.get("offline"))
            kwargs.update({k: v for k, v in (identity or {}).items() if lcfg.get(k) is None})
            if kwargs["offline"]:
                log.info(
                    "W&B: no credentials or offline mode, logging offline to %s",
                    lcfg.get("save_dir"),
                )
        loggers.append(instantiate(lcfg, **kwargs))
        log.debug("logger %s: %s", name, type(loggers[-1]).__name__)
    return loggers


def finish_loggers(loggers: list[Any], failed: bool = False) -> None:
    """Close the W&B run of this job, so each job of a sweep is its own run."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        import wandb

        run = wandb.run
        if run is None:
            continue
        offline = run.settings.mode in ("offline", "dryrun") or getattr(run, "offline", False)
        directory = os.path.dirname(run.dir)
        wandb.finish(exit_code=1 if failed else 0)
        if offline:
            print(f"W&B run saved offline; upload it with: wandb sync {directory}")
