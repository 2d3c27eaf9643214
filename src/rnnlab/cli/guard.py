"""The run dir of a single command: locked while it runs, left as it was if refused.

``lock_run_dir`` creates (if new) and locks the run dir named by ``resume_dir`` or
``hydra.run.dir`` before Hydra creates it (``rnnlab.cli.boundary``). ``Guard`` remembers
whether this command created it, and what Hydra may write into an existing one before the job's checks have run
(``.hydra/``, the log file, which ``hydra/job_logging/rnnlab.yaml`` buffers in memory): a
command refused after Hydra started (a check that needs built objects, a checkpoint that
does not fit) removes the dir it created, or puts those files back.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from rnnlab.errors import ConfigError
from rnnlab.launch.task import slurm_requeued
from rnnlab.run.rundir import RunDirLock

# What Hydra writes into a run dir before the job runs (the log file is buffered: see
# hydra/job_logging/rnnlab.yaml), relative to the run dir; ``{config}`` is the config name.
HYDRA_WRITES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "{config}.log")


@dataclass
class Guard:
    """The lock held on the run dir, the folders this command created (if any), and the
    files Hydra may rewrite in a run dir that existed: what a refused command undoes."""

    lock: RunDirLock | None = None
    created: Path | None = None
    created_parents: list[Path] = field(default_factory=list)
    run_dir: Path | None = None
    saved: dict[Path, tuple[bytes, int, int] | None] = field(default_factory=dict)
    buffers: list[logging.handlers.MemoryHandler] | None = None

    def watch_log(self) -> None:
        """Note the job's log buffers (set up by Hydra for this job)."""
        root = logging.getLogger()
        self.buffers = [h for h in root.handlers if isinstance(h, logging.handlers.MemoryHandler)]

    def started(self) -> bool:
        """Whether the job passed its checks and writes its run dir: ``rundir.commit`` lets
        the log buffer through (capacity 0) at that moment. A job that never started has
        not; a job without the buffer (another ``hydra/job_logging``) cannot tell, and
        counts as started: its run dir is kept."""
        if self.buffers is None:
            return False
        return not self.buffers or any(h.capacity == 0 for h in self.buffers)

    def undo_unless_started(self) -> None:
        """The command failed before its run started: leave the run dir as it was."""
        if self.started():
            return
        for handler in self.buffers or []:
            handler.acquire()
            try:
                handler.buffer.clear()  # never written: the file would land in a dir now gone
            finally:
                handler.release()
        self.undo()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def snapshot(self, run_dir: Path, config_name: str) -> None:
        """Remember the bytes and times of the files Hydra may write into ``run_dir``."""
        self.run_dir = run_dir
        for rel in HYDRA_WRITES:
            path = run_dir / rel.format(config=config_name)
            try:
                st = path.stat()
                self.saved[path] = (path.read_bytes(), st.st_atime_ns, st.st_mtime_ns)
            except OSError:  # absent (or unreadable: then it cannot be written either)
                self.saved[path] = None

    def undo(self) -> None:
        """The command was refused: remove the run dir it created, or restore what Hydra
        rewrote in an existing one. Best effort: a failure here must not hide the error."""
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            for parent in self.created_parents:  # deepest first; only if left empty
                try:
                    parent.rmdir()
                except OSError:
                    break
            return
        for path, before in self.saved.items():
            try:
                if before is None:
                    path.unlink(missing_ok=True)
                    continue
                data, atime, mtime = before
                if not path.is_file() or path.read_bytes() != data:
                    path.write_bytes(data)
                os.utime(path, ns=(atime, mtime))
            except OSError:
                pass
        hydra_dir = self.run_dir / ".hydra" if self.run_dir is not None else None
        if hydra_dir is not None and all(
            before is None for p, before in self.saved.items() if p.parent == hydra_dir
        ):
            with contextlib.suppress(OSError):
                hydra_dir.rmdir()  # created by Hydra for this command, and empty again


def lock_run_dir(cfg: DictConfig, run_dir: str, config_name: str = "train") -> Guard:
    """Create (if new) and lock the run dir (``resume_dir`` or ``hydra.run.dir``, resolved);
    remember what a refusal must undo in it. A new training run into a dir that holds a run
    is refused (it would mix two runs' files), except when SLURM runs a requeued job again."""
    path = Path(str(cfg.get("resume_dir") or run_dir)).expanduser().resolve()
    guard = Guard()
    if not path.exists():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True)
        guard.created, guard.created_parents = path, missing[1:]
    else:
        guard.snapshot(path, config_name)
    guard.lock = RunDirLock(path)
    key = "resume_dir" if cfg.get("resume_dir") else "hydra.run.dir"
    try:
        guard.lock.acquire(key)
    except ConfigError:
        guard.lock = None
        raise
    fresh = config_name == "train" and key == "hydra.run.dir"
    if fresh and holds_a_run(path) and not slurm_requeued():
        guard.release()
        raise ConfigError(
            "hydra.run.dir",
            str(path),
            f"a folder without a run: it holds one; continue it with resume_dir={path}, "
            "or choose another dir",
        )
    return guard


def holds_a_run(run_dir: Path) -> bool:
    """Whether a training run has written results into ``run_dir``."""
    return (run_dir / "metrics.json").exists() or (run_dir / "checkpoints").exists()
