"""Hydra entry points: clear one-line errors for bad input, failures recorded in sweeps.

Exit codes: 2 bad config or data, 3 non-finite loss or weights, 1 a file that could not
be read or written (the message names it: a read-only or full disk, say).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
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
    def app(cfg: DictConfig) -> float | None:
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
        except OSError as err:
            return _fail(output_dir, OSError(describe_os_error(err)), multirun, exit_code=1)
        except Exception as err:
            if not multirun:
                raise
            # In a sweep any error of one job is recorded; the other jobs still run.
            log.exception("job failed")
            return _fail(output_dir, RuntimeError(f"{type(err).__name__}: {err}"), multirun, 1)
        objective = cfg.get("optimized_metric")
        return metrics.get(objective) if objective else None

    def main() -> Any:
        # Hydra reports errors raised outside the job (creating the run dir, say) with a
        # traceback; let them reach us so a file error is one line. HYDRA_FULL_ERROR set by
        # the user keeps Hydra's own reporting.
        if os.environ.get("HYDRA_FULL_ERROR"):
            return app()
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return app()
        except HydraException as err:  # an unknown override or config option
            # Hydra appends its config search path, which says nothing about the mistake.
            message = str(err).split("\nConfig search path:")[0].rstrip()
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
        except OSError as err:
            print(f"error: {describe_os_error(err)}", file=sys.stderr)
            sys.exit(1)
        finally:
            del os.environ["HYDRA_FULL_ERROR"]

    return main


def describe_os_error(err: OSError) -> str:
    """``cannot write /path: No space left on device`` rather than a traceback."""
    reason = err.strerror or str(err)
    return f"{err.filename}: {reason}" if err.filename else reason


def _fail(output_dir: Path, err: Exception, multirun: bool, exit_code: int) -> None:
    """Report the error in one line. In a sweep, record it and let the other jobs run."""
    log.error("%s", err)
    print(f"error: {err}", file=sys.stderr)
    # Ranks > 0 of a DDP job leave metrics.json to rank 0.
    if (multirun or isinstance(err, FloatingPointError)) and global_rank_from_env() == 0:
        try:
            write_json(output_dir / "metrics.json", {"status": "failed", "error": str(err)})
        except OSError as write_err:  # the disk that failed the run may fail this too
            print(f"error: {describe_os_error(write_err)}", file=sys.stderr)
    if not multirun:
        sys.exit(exit_code)
    return None
