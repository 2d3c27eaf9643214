"""Hydra entry points: clear one-line errors for bad input, failures recorded in sweeps."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rnnlab.config import conf_dir, register_resolvers
from rnnlab.distributed import global_rank_from_env
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import write_json
from rnnlab.sweeps.resources import job_environment

log = logging.getLogger("rnnlab")

Job = Callable[[DictConfig, Path], dict[str, Any]]


def hydra_main(config_name: str, job: Job) -> Callable[[], Any]:
    """Wrap ``job(cfg, output_dir)`` as a Hydra app reading ``conf/<config_name>.yaml``."""
    register_resolvers()

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name=config_name)
    def main(cfg: DictConfig) -> float | None:
        hcfg = HydraConfig.get()
        output_dir = Path(hcfg.runtime.output_dir)
        multirun = hcfg.mode == RunMode.MULTIRUN
        try:
            with job_environment(cfg, hcfg):
                metrics = job(cfg, output_dir)
        except (ConfigError, DataError) as err:
            return _fail(output_dir, err, multirun, exit_code=2)
        except FloatingPointError as err:
            return _fail(output_dir, err, multirun, exit_code=3)
        except Exception as err:
            if not multirun:
                raise
            # In a sweep any error of one job is recorded; the other jobs still run.
            log.exception("job failed")
            return _fail(output_dir, RuntimeError(f"{type(err).__name__}: {err}"), multirun, 1)
        objective = cfg.get("optimized_metric")
        return metrics.get(objective) if objective else None

    return main


def _fail(output_dir: Path, err: Exception, multirun: bool, exit_code: int) -> None:
    """Report the error in one line. In a sweep, record it and let the other jobs run."""
    log.error("%s", err)
    print(f"error: {err}", file=sys.stderr)
    # Ranks > 0 of a DDP job leave metrics.json to rank 0.
    if (multirun or isinstance(err, FloatingPointError)) and global_rank_from_env() == 0:
        write_json(output_dir / "metrics.json", {"status": "failed", "error": str(err)})
    if not multirun:
        sys.exit(exit_code)
    return None
