"""When ``last.ckpt`` is written, and how a run stops on Ctrl-C or SIGTERM.

``LastCheckpoint`` owns ``checkpoints/last.ckpt``: it is written every
``every_n_train_steps`` steps or ``every_n_seconds`` seconds (whichever is set), at the end
of training, and when the run is interrupted, always through the atomic checkpoint writer.
So one file, always the newest state, and no fsync on every epoch of a fast run.

``catch_signals()`` turns SIGINT (Ctrl-C), SIGTERM (what SLURM sends before a time limit,
and before a preemption) and SIGUSR1/2 into a request during training: the current step
finishes, ``last.ckpt`` is saved with the complete state, and ``RunInterrupted`` carries the
signal and the step to the job's ending (``rnnlab.run.lifecycle``, which owns the signals and
what every ending records). A second Ctrl-C stops at once. Under submitit the signal it uses
for preemption and time limits (SIGUSR2) is then handed on to submitit, which requeues the
job; the requeued job resumes from ``last.ckpt``. The final ``last.ckpt`` records that
training finished and what it reported (``finished_record``), so a run stopped afterwards
resumes by testing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Checkpoint

from rnnlab.callbacks.options import LastCheckpointOptions as _DECLARED
from rnnlab.run import lifecycle
from rnnlab.run.checkpoints import FINISHED, restore_training_state, training_state
from rnnlab.run.lifecycle import RunInterrupted
from rnnlab.run.metrics import training_results

log = logging.getLogger(__name__)


@contextlib.contextmanager
def catch_signals(active: bool = True) -> Iterator[lifecycle.Lifecycle]:
    """Turn a stop signal during training into a request honoured at the next safe point
    (``active``: a ``LastCheckpoint`` callback acts on it). The signals themselves are
    held by ``lifecycle.StopSignals`` for the whole command; outside the command line
    (the Python API) they are held here for the job's duration."""
    run = lifecycle.current
    run.deferred, run.request = active, None
    own = None if lifecycle.holding() else lifecycle.StopSignals().__enter__()
    try:
        yield run
    finally:
        run.deferred = False
        if own is not None:
            own.__exit__()


def _planned_end(trainer: pl.Trainer) -> bool:
    """Whether training reached the length it was planned for (a signal that arrived
    during the last validation did not shorten it)."""
    epochs, steps = trainer.max_epochs, trainer.max_steps
    return (epochs not in (None, -1) and trainer.current_epoch >= epochs) or (
        steps not in (None, -1) and trainer.global_step >= steps
    )


def finished_record(trainer: pl.Trainer) -> dict[str, Any]:
    """What the final ``last.ckpt`` says about the finished training: the length it was
    planned for, what fitting reported, and the best checkpoint, so that a run stopped
    afterwards (during test, or killed) resumes by testing, with its training metrics."""
    results, better = training_results(trainer)
    best = next((c for c in trainer.checkpoint_callbacks if hasattr(c, "best_model_path")), None)
    return {
        "max_epochs": trainer.max_epochs,
        "max_steps": trainer.max_steps,
        "results": results,
        "better": better,
        "best_path": getattr(best, "best_model_path", "") or "",
    }


class LastCheckpoint(Checkpoint):
    """Writes ``<dirpath>/last.ckpt``: on a cadence, at the end of training, on a signal.

    A ``Checkpoint`` callback, so Lightning runs it after the others of each hook: what it
    saves includes what they changed.

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: also save every this many optimizer steps (null: by time only).
        every_n_seconds: also save when this long has passed since the last save (null: off).
    """

    def __init__(
        self,
        dirpath: str,
        every_n_train_steps: int | None = _DECLARED.every_n_train_steps,
        every_n_seconds: float | None = _DECLARED.every_n_seconds,
    ) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_train_steps, self.every_n_seconds = every_n_train_steps, every_n_seconds
        self._saved_at, self._saved_step = time.monotonic(), 0
        self._finished: dict[str, Any] | None = None

    # What last.ckpt holds beyond Lightning's own state (see rnnlab.run.checkpoints).
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        state = training_state(getattr(self, "_trainer", None))
        if self._finished is not None:
            state[FINISHED] = self._finished
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_training_state(state)

    def save(self, trainer: pl.Trainer) -> None:
        trainer.save_checkpoint(self.path)
        self._saved_at, self._saved_step = time.monotonic(), trainer.global_step

    def _due(self, trainer: pl.Trainer) -> bool:
        step = trainer.global_step
        n = self.every_n_train_steps
        if n and step // n > self._saved_step // n:  # a multiple of n since the last save
            return True
        if self.every_n_seconds is None:
            return False
        due = time.monotonic() - self._saved_at >= self.every_n_seconds
        if trainer.world_size > 1:  # every rank must take part in a save: rank 0 decides
            if step % max(1, trainer.log_every_n_steps):
                return False
            due = bool(trainer.strategy.broadcast(due, src=0))
        return due

    def _interrupted(self, trainer: pl.Trainer) -> int | None:
        signum = lifecycle.current.request
        if trainer.world_size > 1:  # every rank stops at the same step
            signum = trainer.strategy.broadcast(signum, src=0)
        return signum

    # Inside an epoch, a checkpoint is taken after an optimizer step and continues from
    # the next batch. At an epoch's last batch the epoch is not over: validation and the
    # epoch-end bookkeeping (epoch means, schedulers) follow, and a checkpoint taken there
    # would resume without them. So a save due at a last batch waits for the next step,
    # and a stop asked for there or during validation lets the epoch end, then stops
    # training; the end of training saves.
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking:
            return
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        signum = self._interrupted(trainer)
        if signum is not None:
            if last_batch:
                trainer.should_stop = True
                return
            self.save(trainer)
            raise RunInterrupted(signum, trainer.global_step, str(self.path))
        if not last_batch and self._due(trainer):
            self.save(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if self._interrupted(trainer) is not None:
            trainer.should_stop = True  # end this epoch as usual, then stop

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._interrupted(trainer) is not None:
            trainer.should_stop = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._saved_at, self._saved_step = time.monotonic(), trainer.global_step  # or restored

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        signum = self._interrupted(trainer)
        if signum is None or _planned_end(trainer):  # over: the file says so, with results
            self._finished = finished_record(trainer)
        self.save(trainer)
        if signum is not None:
            raise RunInterrupted(signum, trainer.global_step, str(self.path))

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        signum = self._interrupted(trainer)
        if signum is not None:  # training is over and saved; the test is simply stopped
            raise RunInterrupted(signum, trainer.global_step, None)
