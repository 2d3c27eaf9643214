"""Experiment loggers (CSV, TensorBoard, Weights & Biases) that continue a resumed run.

- CSV: rnnlab's own ``CSVLogger`` appends one row per logging call to ``csv/metrics.csv``
  as it happens. Its position (rows written) travels in every checkpoint; a resumed run
  keeps the rows up to that position and continues the file, so the learning curves of a
  run killed any number of times read as one.
- TensorBoard: a resumed run writes into the same folder with ``purge_step`` at the
  checkpoint's step, so TensorBoard drops the events the lost steps had written.
- W&B: a resumed run reopens the same run id with ``resume="allow"``; W&B is put offline
  when there are no credentials, and the command that uploads the run is printed.
The hyper-parameters (the whole config, flattened) go to every logger at the start; TensorBoard's
HPARAMS tab gets the key settings and the overridden keys with the final metrics at the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import netrc
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from rnnlab.io.atomic import atomic_write_text

log = logging.getLogger(__name__)


class CSVLogger(Logger):
    """Learning curves in ``<save_dir>/<name>/metrics.csv``: a row per logging call.

    Columns are ``epoch``, ``step`` and every metric seen so far (sorted); a metric seen for
    the first time rewrites the file with the wider header, atomically.

    Args:
        save_dir: the run dir.
        name: sub-folder of the run dir.
        keep_rows: resume: keep this many rows of an existing file and continue after them
            (None: a fresh file).
    """

    FILE = "metrics.csv"

    def __init__(self, save_dir: str, name: str = "csv", keep_rows: int | None = None) -> None:
        super().__init__()
        self._save_dir, self._name = str(save_dir), name
        self.path = Path(self.log_dir) / self.FILE
        self.columns: list[str] = []
        self.rows = 0
        if keep_rows is not None and self.path.is_file():
            self._truncate(keep_rows)
        elif self.path.exists():
            self.path.unlink()

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def log_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)

    def position(self) -> dict[str, int]:
        return {"rows": self.rows}

    def _truncate(self, keep: int) -> None:
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            self.columns = list(reader.fieldnames or [])
            rows = [row for _, row in zip(range(keep), reader, strict=False)]
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())
        self.rows = len(rows)

    def _read_rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        row["step"] = step if step is not None else self.rows
        new = sorted(set(row) - set(self.columns))
        if new or not self.path.is_file():
            fixed = [c for c in ("epoch", "step") if c in set(self.columns) | set(row)]
            rest = sorted((set(self.columns) | set(row)) - set(fixed))
            self.columns = fixed + rest
            self._rewrite([*self._read_rows(), row])
            return
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns, restval="").writerow(row)
        self.rows += 1

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The config is already in ``.hydra/config.yaml``; nothing to repeat here."""


@dataclass
class Continuation:
    """Where the loggers of a resumed run pick up: the checkpoint's step and positions."""

    global_step: int = 0
    positions: dict[str, Any] = field(default_factory=dict)


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


_WANDB_RUN_DIR = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[a-z0-9]+)$")


def existing_wandb_id(save_dir: str | Path) -> str | None:
    """The id of the newest W&B run logged in ``<save_dir>/wandb`` (to resume it)."""
    runs = [p for p in Path(save_dir, "wandb").glob("*run-*") if _WANDB_RUN_DIR.match(p.name)]
    if not runs:
        return None
    newest = max(runs, key=lambda p: p.stat().st_mtime)
    return _WANDB_RUN_DIR.match(newest.name)["id"]


# Overrides that name what was chosen (not where outputs go or how the run is shown).
_NAMING = ("model.", "optimizer.", "scheduler.", "data.length", "data.corpus", "data.mode")
_NOT_NAMING = ("seed", "model", "hydra", "paths", "logger", "callbacks", "trainer", "launcher",
               "debug", "tags", "resume_dir", "ckpt_path", "optuna", "print_config")  # fmt: skip


def run_name(cfg: Any, overrides: list[str]) -> str:
    """``gru optimizer.lr=0.001 seed=1``: the cell, the chosen overrides and the seed."""
    words = [str(OmegaConf.select(cfg, "model.cell", default="") or cfg.get("task_name", ""))]
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        group_choice = "." not in key and key not in _NOT_NAMING
        if key.startswith(_NAMING) or group_choice:
            words.append(override.lstrip("+"))
    words.append(f"seed={cfg.get('seed')}")
    return " ".join(words)[:128]


def run_identity(task_name: str, job_type: str, cfg: Any = None) -> dict[str, str]:
    """W&B group, name and job type: a sweep's jobs share a group named after the sweep;
    a run's name says its model, chosen overrides and seed (and its job number)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        hcfg = HydraConfig.get()
    except ValueError:  # not under Hydra (tests, notebooks)
        name = run_name(cfg, []) if cfg is not None else task_name
        return {"group": task_name, "name": name, "job_type": job_type}
    name = run_name(cfg, list(hcfg.overrides.task)) if cfg is not None else task_name
    if hcfg.mode == RunMode.MULTIRUN:
        group = f"{task_name}/{Path(hcfg.sweep.dir).name}"
        return {"group": group, "name": f"{name} #{hcfg.job.num}", "job_type": job_type}
    return {"group": task_name, "name": name, "job_type": job_type}


def build_loggers(
    cfg: DictConfig | None,
    identity: dict[str, str] | None = None,
    resume: Continuation | None = None,
) -> list[Any]:
    """Instantiate every logger in the group, continuing a resumed run's curves."""
    from hydra.utils import instantiate

    loggers = []
    for name, lcfg in (cfg or {}).items():
        if lcfg is None:
            continue
        target = str(lcfg.get("_target_", ""))
        kwargs: dict[str, Any] = {}
        if target.endswith("rnnlab.run.loggers.CSVLogger") and resume is not None:
            kwargs["keep_rows"] = resume.positions.get("CSVLogger", {}).get("rows", 0)
        elif target.endswith("TensorBoardLogger") and resume is not None:
            kwargs["purge_step"] = resume.global_step
        elif target.endswith("WandbLogger"):
            kwargs["offline"] = wandb_offline(lcfg.get("offline"))
            kwargs.update({k: v for k, v in (identity or {}).items() if lcfg.get(k) is None})
            previous = existing_wandb_id(lcfg.get("save_dir", ".")) if resume is not None else None
            if previous:
                kwargs.update(id=previous, resume="allow")
            if kwargs["offline"]:
                log.info("W&B: no credentials or offline mode, logging offline to %s",
                         lcfg.get("save_dir"))  # fmt: skip
        loggers.append(instantiate(lcfg, **kwargs))
        if target.endswith("WandbLogger"):
            from rnnlab.compat.lightning import drop_wandb_anonymous

            drop_wandb_anonymous(loggers[-1])
        log.debug("logger %s: %s", name, type(loggers[-1]).__name__)
    return loggers


@contextlib.contextmanager
def detached(trainer: Any) -> Iterator[None]:
    """No logger sees what runs inside (the last weights' test, which would otherwise log
    its numbers under the test/* tags of the best checkpoint's test)."""
    attached = trainer.loggers
    trainer.loggers = []
    try:
        yield
    finally:
        trainer.loggers = attached


def log_metrics(trainer: Any, metrics: dict[str, float]) -> None:
    """Numbers computed outside a logging hook, at the trainer's step (rank 0 only)."""
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


# What TensorBoard's HPARAMS tab shows besides the keys of the command's overrides: the
# settings a reader compares runs by (the whole config has 90 or more keys, mostly paths).
KEY_SETTINGS = ("task_name", "seed", "data._target_", "model.cell", "model.hidden_size",
                "model.num_layers", "model.bidirectional", "model.init", "optimizer._target_",
                "optimizer.lr", "scheduler._target_", "trainer.max_epochs", "data.batch_size",
                "model/params", "model/state_size")  # fmt: skip


def chosen_hparams(params: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The key settings and every overridden key, a class path as its class name."""
    keys = [*KEY_SETTINGS, *(o.lstrip("+~").split("=", 1)[0] for o in overrides)]
    chosen = {}
    for key in dict.fromkeys(keys):
        if key in params:
            value = params[key]
            chosen[key] = (
                value.rsplit(".", 1)[-1]
                if key.endswith("_target_") and isinstance(value, str)
                else value
            )
    return chosen


def _write_hparams(logger: Any, shown: dict[str, Any], metrics: dict[str, float]) -> None:
    """TensorBoard's HPARAMS tab: the settings shown, with the final metrics' tags."""
    from torch.utils.tensorboard.summary import hparams

    plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in shown.items()}
    for summary in hparams(plain, metrics):
        logger.experiment.file_writer.add_summary(summary)


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not under Hydra
        return []


def log_final(
    loggers: list[Any],
    params: dict[str, Any],
    metrics: dict[str, float],
    better: dict[str, str],
    step: int = 0,
) -> None:
    """The run's final numbers: TensorBoard's HPARAMS tab gets the hyper-parameters with
    them; the W&B summary gets them with which way each metric is better (for tables)."""
    for logger in loggers:
        name = type(logger).__name__
        if name == "TensorBoardLogger":
            # the numbers at the run's last step (Lightning's log_hyperparams would put them
            # at step 0, where curves read from the events would start with the final value)
            logger.log_metrics(metrics, step=step)
            _write_hparams(logger, chosen_hparams(params, _task_overrides()), metrics)
            logger.experiment.flush()  # on disk when the run returns, not at process exit
        elif name == "WandbLogger":
            logger.experiment.summary.update({**metrics, "better": better})


def finish_loggers(loggers: list[Any], failed: bool = False, announce: bool = True) -> None:
    """Close the W&B run of this job, so each job of a sweep is its own run."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        import wandb

        run = wandb.run
        if run is None:
            continue
        offline = run.settings.mode in ("offline", "dryrun") or getattr(run, "offline", False)
        directory = Path(run.dir).parent
        # a resumed run adds a folder with the same id: one command uploads them all
        folders = sorted(directory.parent.glob(f"offline-run-*-{run.id}")) or [directory]
        wandb.finish(exit_code=1 if failed else 0)
        if offline and announce:
            log.info("W&B run saved offline; upload it with: wandb sync %s",
                     " ".join(str(f) for f in folders))  # fmt: skip
