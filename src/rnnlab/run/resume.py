"""What a resume does with a run whose training had finished.

The final ``last.ckpt`` records that training finished, the length it was planned for and
what fitting reported (``rnnlab.run.interrupt.finished_record``). ``plan`` decides from that
record and the run's ``metrics.json``: a run stopped during test, or killed after its final
``last.ckpt``, is tested again with its training metrics; a run extended by
``trainer.max_epochs`` / ``max_steps`` trains on (a cosine schedule is re-planned over the
new length by ``rnnlab.run.phases.replan_schedule``; a one-cycle schedule is refused); a
completed run with nothing to add is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rnnlab.errors import ConfigError


def plan(cfg: DictConfig, run_dir: Path, finished: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a resume of a run whose training had finished does: None when training goes
    on (the run was stopped in training, or ``trainer.max_epochs`` / ``max_steps`` extend
    it), else the finished-training record (the run is tested again). A completed run
    with nothing to add is refused."""
    if finished is None:
        return None
    epochs, steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps")
    longer = (epochs not in (None, -1) and epochs > (finished["max_epochs"] or 0)) or (
        steps not in (None, -1) and steps > (finished["max_steps"] or 0)
    )
    if longer:
        check_extension(cfg)
        return None
    if status(run_dir) == "completed":
        done = finished["results"].get("epochs")
        raise ConfigError(
            "resume_dir", str(run_dir), f"a run with something left to do: it completed "
            f"its {done} epochs; extend it with trainer.max_epochs=N (N > {done})",
        )  # fmt: skip
    return finished


def check_extension(cfg: DictConfig) -> None:
    """Extending a run re-plans a cosine schedule over the new length (``rnnlab.tasks.base``);
    a one-cycle schedule cannot be stretched: refused."""
    target = str((cfg.get("scheduler") or {}).get("_target_", ""))
    if target.endswith("OneCycleLR"):
        raise ConfigError(
            "trainer.max_epochs", cfg.trainer.get("max_epochs"), "unchanged for a run with "
            "scheduler=onecycle: its single cycle was planned over the run's length and has "
            "ended; start a new run to train longer",
        )  # fmt: skip


def status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def existing(path: str, run_dir: Path) -> str | None:
    """A checkpoint path recorded in a run, or the same file in the run dir if it moved."""
    if path and Path(path).is_file():
        return path
    moved = run_dir / "checkpoints" / Path(path).name if path else None
    return str(moved) if moved is not None and moved.is_file() else None
