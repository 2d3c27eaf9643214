"""The run directory of a job: one process at a time, and nothing changed before it is safe.

- ``RunDirLock``: a run dir in use is locked (``flock`` on the directory itself, so no
  file is created for it); a second run into it is refused in one line.
- ``commit``: the job's log file is buffered in memory until every check of the run has
  passed, then written; a resumed run's ``.hydra/config.yaml`` and ``overrides.yaml``
  are rewritten then too. A refused command leaves the run dir as it found it.
- Resume: ``resume_overrides`` turns ``resume_dir=RUN`` plus the command line into the
  run's own saved overrides plus those that cannot change the model or the data
  (extending ``trainer.max_epochs``, say); any other change is refused in one line.
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError
from rnnlab.io.atomic import atomic_write_text
from rnnlab.io.runs import EVALUATED_CONFIG_FILE

# Overrides that a resumed run may change: none of them changes what is trained or how.
RESUMABLE_KEYS = (
    "trainer.max_epochs", "trainer.max_steps", "trainer.threads", "trainer.accelerator",
    "trainer.devices", "trainer.enable_progress_bar", "trainer.log_every_n_steps",
    "trainer.limit_test_batches", "trainer.num_sanity_val_steps", "callbacks", "logger",
    "test", "paths", "hydra", "launcher", "task_name", "tags", "resume_dir", "ckpt_path",
)  # fmt: skip


class RunDirBusy(ConfigError):
    """Another process is running in this run dir."""


class RunDirLock:
    """An exclusive, non-blocking lock on a directory, held while a job runs in it."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None

    def acquire(self, key: str = "hydra.run.dir") -> None:
        self._fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise RunDirBusy(
                key, str(self.directory), "a run dir no other rnnlab process is running in"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


# -- the log file, written once the run is safe to start -------------------------------------
def _buffers() -> list[logging.handlers.MemoryHandler]:
    return [
        h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.MemoryHandler)
    ]


def commit(output_dir: Path, cfg: Any = None) -> None:
    """Every check has passed: write the buffered log, and a resumed run's new config."""
    for handler in _buffers():
        handler.capacity = 0  # from now on every record goes straight to the file
        handler.flush()
    if cfg is not None and cfg.get("resume_dir"):
        _record_resumed_config(Path(output_dir), cfg)


def _record_resumed_config(run_dir: Path, cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    atomic_write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
    if HydraConfig.initialized():
        overrides = list(HydraConfig.get().overrides.task)
        atomic_write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(overrides))


def record_evaluated_config(run_dir: Path, run_config: Any) -> None:
    """An evaluation's own config names only the checkpoint: keep the evaluated run's config
    beside it (``rnnlab.io.runs`` reads it as the run's config, so tables group by model)."""
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(run_config, resolve=True)
    atomic_write_text(Path(run_dir) / EVALUATED_CONFIG_FILE, text)


# -- resume ------------------------------------------------------------------------------------
def override_key(override: str) -> str:
    """``model.hidden_size`` of ``+model.hidden_size=8``; ``model`` of ``model=gru``."""
    return override.lstrip("+~").split("=", 1)[0].strip()


def _allowed(key: str) -> bool:
    return any(
        key == k or key.startswith(k + ".") or key.startswith(k + "/") for k in RESUMABLE_KEYS
    )


def saved_overrides(run_dir: Path) -> list[str]:
    """The overrides a run was started with (``.hydra/overrides.yaml``)."""
    import yaml

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        raise ConfigError("resume_dir", str(run_dir), "a run dir with .hydra/overrides.yaml")
    try:
        loaded = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(
            "resume_dir", str(run_dir), f"a run dir whose {path} is readable ({err})"
        ) from None
    return [str(o) for o in loaded]


def resume_overrides(run_dir: Path, given: list[str]) -> list[str]:
    """The run's saved overrides, updated by the ``given`` ones a resume may change."""
    saved = [o for o in saved_overrides(run_dir) if override_key(o) != "resume_dir"]
    by_key = {override_key(o): o for o in saved}
    for override in given:
        key = override_key(override)
        if by_key.get(key) == override:
            continue  # repeating the run's own value changes nothing
        if not _allowed(key):
            value = override.split("=", 1)[1] if "=" in override else override
            raise ConfigError(
                key, value, "unchanged when resuming a run (its model, data and training "
                f"stay as they were; a resume may change {', '.join(RESUMABLE_KEYS[:-6])})",
            )  # fmt: skip
        by_key[key] = override
    return [*by_key.values(), f"resume_dir={run_dir}"]


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Keys (dotted) where today's composed config differs from the run's saved one,
    except keys a resume may change."""
    from rnnlab.io.runs import flatten

    a, b = flatten(saved), flatten(now)
    return [
        f"{k}={a.get(k)!r} in the run, {b.get(k)!r} now"
        for k in sorted(set(a) | set(b))
        if not _allowed(k) and a.get(k) != b.get(k)
    ]
