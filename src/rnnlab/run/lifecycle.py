"""A run as one state machine: the phase it is in, and every way out of every phase.

Phases, in order: ``setup`` (from the command's start until the trainer runs),
``sanity_check``, ``train`` and ``validate`` (alternating), ``test_last``, ``test``, and
``write`` (``metrics.json`` and the loggers' last records). ``current`` knows the phase, the
global step and the metrics gathered so far; ``ending`` is the ONE place where a way out
(a signal, an exception, a non-finite number, a failed write) becomes a status, a line on
stderr, an exit code and, once the run dir holds the run (``rundir.commit``), a
``metrics.json`` with ``status``, ``phase``, ``step`` and ``error`` beside what was measured.

Exit codes: 0 completed; 1 a failure (a file that could not be written, any exception);
2 bad config or data; 3 a non-finite number; 130 / 143 SIGINT / SIGTERM, 128 + n another
signal (SIGUSR1 138, SIGUSR2 140).

Signals: ``StopSignals`` holds SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 for the whole command.
Where the training step in progress can finish and be saved (``train`` and ``validate``
with ``last.ckpt`` written by ``rnnlab.run.interrupt.LastCheckpoint``), a signal is a
request honoured at the next safe point; anywhere else it stops the run at once
(``RunInterrupted``). A second SIGINT always stops at once.

Test hook: ``RNNLAB_SIGNAL_AT=PHASE[@STEP][:SIGNAL]`` (``validate@11:SIGTERM``) makes the
process send itself SIGNAL (default SIGTERM) the first time it enters PHASE at global step
STEP or later (once per process), so tests stop a run at a chosen moment without sleeping.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("rnnlab.run.job")

PHASES = ("setup", "sanity_check", "train", "validate", "test_last", "test", "write")
SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
EXIT_FAILED, EXIT_CONFIG, EXIT_NON_FINITE = 1, 2, 3
SIGNAL_HOOK = "RNNLAB_SIGNAL_AT"


class RunInterrupted(Exception):
    """The run stopped on a signal (after saving ``last.ckpt`` when ``saved`` names it)."""

    def __init__(self, signum: int, step: int | None, saved: str | None) -> None:
        self.signum, self.step, self.saved = signum, step, saved
        where = f" at global step {step}" if step is not None else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name}{where}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM


class NonFiniteError(FloatingPointError):
    """A gradient, a validation or a test metric became NaN or infinite."""


def numerical_fault(err: BaseException) -> bool:
    """A non-finite number, or torch's overflow of a value into float (a learning rate of
    1e300, say): both end the run as a numerical fault (exit 3)."""
    return isinstance(err, FloatingPointError) or (
        isinstance(err, RuntimeError) and "without overflow" in str(err)
    )


def check_finite(values: dict[str, float], prefix: str, step: int | None,
                 epoch: int | None) -> None:  # fmt: skip
    """Stop at the first of ``values`` under ``prefix`` that is NaN or infinite."""
    bad = [k for k in non_finite(values) if k.startswith(prefix)]
    if bad:
        more = f" (also {', '.join(bad[1:])})" if len(bad) > 1 else ""
        where = f" at global step {step}" if step is not None else ""
        where += f" (epoch {epoch})" if epoch is not None else ""
        raise NonFiniteError(f"{bad[0]} is {values[bad[0]]}{where}{more}")


@dataclass
class Lifecycle:
    """Where the run of this process is, and what it has measured so far."""

    phase: str = "setup"
    step: int | None = None
    run_dir: Path | None = None  # set once the run dir holds this run (rundir.commit)
    metrics: dict[str, Any] = field(default_factory=dict)
    deferred: bool = False  # a signal waits for the step to finish and be saved
    request: int | None = None  # the signal received and not yet acted on
    request_phase: str | None = None  # the phase it arrived in
    cause: str | None = None  # the likely cause of a numerical fault, when one was seen

    def enter(self, phase: str, step: int | None = None) -> None:
        self.phase = phase
        if step is not None:
            self.step = step
        _signal_hook(phase, self.step)


current = Lifecycle()


def begin() -> Lifecycle:
    """A new run in this process (a sweep runs several, one after another)."""
    global current
    current = Lifecycle()
    current.enter("setup")
    return current


# -- the test hook -----------------------------------------------------------------------
_hook_state: dict[str, Any] = {"fired": False}


def _signal_hook(phase: str, step: int | None) -> None:
    spec = os.environ.get(SIGNAL_HOOK)
    if not spec or _hook_state["fired"]:
        return
    where, _, name = spec.partition(":")
    want, _, at = where.partition("@")
    if want != phase or (at and (step or 0) < int(at)):
        return
    _hook_state["fired"] = True
    os.kill(os.getpid(), getattr(signal, name or "SIGTERM"))


# -- signals -----------------------------------------------------------------------------
class StopSignals:
    """Hold the stop signals for a command (main thread only; elsewhere a no-op)."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in SIGNALS:
                signum = getattr(signal, name)
                self.previous[signum] = signal.signal(signum, _handler)
            if not _held:  # the handlers from before rnnlab's, for hand_on after the job
                _before.clear()
                _before.update(self.previous)
            _held.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
        if self in _held:
            _held.remove(self)


_held: list[StopSignals] = []
_before: dict[int, Any] = {}


def holding() -> bool:
    return bool(_held)


def hand_on(signum: int) -> None:
    """Give a signal to the handler held before ours (submitit requeues on SIGUSR2)."""
    previous = _before.get(signum)
    if callable(previous):
        previous(signum, None)


def _handler(signum: int, frame: Any) -> None:
    run = current
    again = run.request == signal.SIGINT and signum == signal.SIGINT
    if run.deferred and run.phase in ("train", "validate") and not again:
        run.request, run.request_phase = signum, run.phase
        log.warning("received %s: stopping after this step", signal.Signals(signum).name)
        return
    raise RunInterrupted(signum, run.step, None)


# -- the way out -------------------------------------------------------------------------
@dataclass
class Ending:
    status: str  # "interrupted" or "failed"
    exit_code: int
    message: str  # the one line for stderr
    phase: str | None = "setup"  # where it happened (None: not known, another process ran it)


def ending(err: BaseException, command: str = "rnnlab-train") -> Ending:
    """What an exception that ended the run means: status, exit code, one line."""
    from rnnlab.errors import ConfigError, DataError

    run = current
    if isinstance(err, KeyboardInterrupt):
        err = RunInterrupted(signal.SIGINT, run.step, None)
    if isinstance(err, RunInterrupted):
        phase = run.request_phase or run.phase
        saved = "; last.ckpt saved" if err.saved else ""
        hint = ""
        trains = command == "rnnlab-train"  # only training resumes (eval and sample rerun)
        if (
            trains
            and run.run_dir is not None
            and (run.run_dir / "checkpoints" / "last.ckpt").is_file()
        ):
            hint = f"; continue with: {command} resume_dir={run.run_dir}"
        elif run.run_dir is not None and trains:
            hint = "; nothing trained was saved: start the run again"
        return Ending("interrupted", err.exit_code, f"{err} during {phase}{saved}{hint}", phase)
    if isinstance(err, (ConfigError, DataError)):
        return Ending("failed", EXIT_CONFIG, f"error: {err}", run.phase)
    if numerical_fault(err):
        text = str(err).strip().splitlines()[0]
        if not isinstance(err, FloatingPointError):
            text = f"a number overflowed at global step {run.step} ({text})"
        cause = f"; {run.cause}" if run.cause and run.cause not in text else ""
        return Ending("failed", EXIT_NON_FINITE, f"error: {text}{cause}", run.phase)
    if isinstance(err, OSError):
        reason = err.strerror or str(err)
        text = f"{err.filename}: {reason}" if err.filename else reason
        return Ending("failed", EXIT_FAILED, f"error: {text}", run.phase)
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    message = f"error: {type(err).__name__}: {text} (in {run.phase})"
    return Ending("failed", EXIT_FAILED, message, run.phase)


def complete(metrics: dict[str, Any], output_dir: Path, write: bool = True) -> None:
    """The ending of a run that completed: ``status`` in its metrics, and ``metrics.json``
    written strictly and atomically where ``write`` (rank 0 of a DDP job). ``record`` writes
    every other ending."""
    from rnnlab.io.atomic import write_json

    metrics["status"] = "completed"
    if write:
        write_json(Path(output_dir) / "metrics.json", strict(metrics))


def record(end: Ending, output_dir: Path | None = None, run: Lifecycle | None = None,
           **facts: Any) -> None:  # fmt: skip
    """Write ``metrics.json`` for a run that did not complete: what it measured, its status,
    phase, step and error. Only where the run dir holds the run (or ``output_dir`` is
    given: a sweep records every job).

    ``run`` is this process's run unless given: a sweep records a job that another process
    ran and that died without recording its own end (``Lifecycle()``: nothing measured is
    known here); ``facts`` are more keys for the record (the signal that killed it)."""
    from rnnlab.io.atomic import write_json
    from rnnlab.launch.ranks import global_rank_from_env

    run = current if run is None else run
    target = output_dir or run.run_dir
    if target is None or global_rank_from_env() != 0:  # rank 0 writes a DDP job's record
        return

    body = {**run.metrics, "status": end.status, "phase": end.phase, "step": run.step}
    body["error"] = end.message.removeprefix("error: ")
    body.update(facts)
    try:
        write_json(Path(target) / "metrics.json", strict(body))
    except OSError as write_err:  # the disk that failed the run may fail this too
        reason = write_err.strerror or str(write_err)
        log.error("metrics.json not written: %s", reason)


# -- numbers -----------------------------------------------------------------------------
def non_finite(metrics: dict[str, Any]) -> list[str]:
    """Keys of ``metrics`` whose value is a float NaN or infinity."""
    return sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))


def strict(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` as strict JSON allows it: NaN and infinities become null, and their keys
    are listed under ``non_finite`` (with the value each had)."""
    bad = non_finite(metrics)
    if not bad:
        return metrics
    out = {k: (None if k in bad else v) for k, v in metrics.items()}
    out["non_finite"] = {k: repr(metrics[k]) for k in bad}
    return out
