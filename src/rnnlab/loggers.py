"""Experiment loggers: CSV, TensorBoard and Weights & Biases, from the ``logger`` config group."""

from __future__ import annotations

import logging
import netrc
import os
from typing import Any

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


def build_loggers(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every logger in the group; W&B is put offline when it cannot log in."""
    loggers = []
    for name, lcfg in (cfg or {}).items():
        if lcfg is None:
            continue
        kwargs = {}
        if "WandbLogger" in str(lcfg.get("_target_", "")):
            kwargs["offline"] = wandb_offline(lcfg.get("offline"))
            if kwargs["offline"]:
                log.info("W&B: no credentials or offline mode, logging offline to %s", lcfg.get("save_dir"))
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
