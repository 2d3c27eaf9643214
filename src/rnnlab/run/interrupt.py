"""When ``last.ckpt`` is written, and how a run stops on Ctrl-C or SIGTERM.

``LastCheckpoint`` owns ``checkpoints/last.ckpt``: it is written every
``every_n_train_steps`` steps or ``every_n_seconds`` seconds (whichever is set), at the end
of training, and when the run is interrupted, always through the atomic checkpoint writer.
So one file, always the newest state, and no fsync on every epoch of a fast run.

``catch_signals()`` turns SIGINT (Ctrl-C) and SIGTERM (what SLURM sends before a time limit,
and before a preemption) into a request: the current training step finishes, ``last.ckpt``
is saved with the complete state, and ``RunInterrupted`` carries the signal and the step to
the job, which records ``"status": "interrupted"`` and exits 130 (SIGINT) or 143 (SIGTERM).
A second Ctrl-C stops at once. Under submitit the signal it uses for preemption and time
limits (SIGUSR2) is caught the same way and then handed on to submitit, which requeues the
job; the requeued job resumes from ``last.ckpt``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Checkpoint

from rnnlab.callbacks.options import LastCheckpointOptions as _DECLARED
from rnnlab.run.checkpoints import restore_training_state, training_state

log = logging.getLogger(__name__)

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class RunInterrupted(Exception):
    """Training stopped on a signal after saving ``last.ckpt``."""

    def __init__(self, signum: int, step: int | None, saved: str | None) -> None:
        self.signum, self.step, self.saved = signum, step, saved
        name = signal.Signals(signum).name
        where = f" at global step {step}" if step is not None else ""
        super().__init__(f"interrupted by {name}{where}")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)


class _Requests:
    """The signal received, if any (set from a handler, read at safe points)."""

    signum: int | None = None
    previous: dict[int, Any] = {}


requests = _Requests()


def _handler(signum: int, frame: Any) -> None:
    if requests.signum == signal.SIGINT and signum == signal.SIGINT:
        raise RunInterrupted(signum, None, None)  # the second Ctrl-C: stop now, unsaved
    requests.signum = signum
    log.warning("received %s: stopping after this step", signal.Signals(signum).name)


@contextlib.contextmanager
def catch_signals(active: bool = True) -> Iterator[_Requests]:
    """Catch SIGINT/SIGTERM (and submitit's SIGUSR2) for the duration of a job.

    ``active`` is False when no ``LastCheckpoint`` callback would act on the request:
    the signals then keep their usual effect.
    """
    requests.signum = None
    if not active or threading.current_thread() is not threading.main_thread():
        yield requests  # handlers can only be set from the main thread
        return
    signums = [signal.SIGINT, signal.SIGTERM]
    if _under_submitit():
        signums.append(signal.SIGUSR2)
    previous = {s: signal.signal(s, _handler) for s in signums}
    requests.previous = previous
    try:
        yield requests
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        requests.signum = None


def _under_submitit() -> bool:
    import os

    return "SUBMITIT_FOLDER" in os.environ or "SUBMITIT_EXECUTOR" in os.environ


def hand_on(signum: int) -> None:
    """Give a caught signal to the handler that was there before (submitit's requeue)."""
    previous = requests.previous.get(signum)
    if callable(previous):
        previous(signum, None)


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

    # What last.ckpt holds beyond Lightning's own state (see rnnlab.run.checkpoints).
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        return training_state(getattr(self, "_trainer", None))

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
        signum = requests.signum
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
        self.save(trainer)
        signum = self._interrupted(trainer)
        if signum is not None:
            raise RunInterrupted(signum, trainer.global_step, str(self.path))

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        signum = self._interrupted(trainer)
        if signum is not None:  # training is over and saved; the test is simply stopped
            raise RunInterrupted(signum, trainer.global_step, None)
