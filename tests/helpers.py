"""Test helpers: compose run configs in-process and run the command-line tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rnnlab.conf import conf_dir, register_resolvers

REPO = Path(__file__).resolve().parents[1]
# the real datasets beside the checkout (RNNLAB_SHARED_DATA: elsewhere, e.g. from a worktree)
SHARED_DATA = Path(os.environ.get("RNNLAB_SHARED_DATA") or REPO.parent / "shared" / "data")

# Small and quick: every test run of the default experiment uses these on top.
FAST = [
    "data.num_series=24",
    "data.length=48",
    "data.window=12",
    "data.horizon=4",
    "data.batch_size=32",
    "model.hidden_size=16",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
]


def make_config(tmp_path: Path, overrides: list[str] = (), name: str = "train") -> DictConfig:
    """The composed config of ``rnnlab-<name>`` with outputs and data under ``tmp_path``."""
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.data_dir = str(tmp_path / "data")
    return cfg


def run_cli(
    tool: str, args: list[str], tmp_path: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m rnnlab.<tool> ARGS`` with its run dir in ``tmp_path/run``.

    With ``-m`` in ``args`` the sweep dir is ``tmp_path/sweep`` (jobs in ``sweep/<num>``).
    """
    env = {**os.environ, "RNNLAB_DATA_DIR": str(tmp_path / "data"), "WANDB_MODE": "offline",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    out = (
        f"hydra.sweep.dir={tmp_path / 'sweep'}"
        if "-m" in args
        else f"hydra.run.dir={tmp_path / 'run'}"
    )
    module = {"train": "rnnlab.cli.train", "evaluate": "rnnlab.cli.eval",
              "sample": "rnnlab.cli.sample", "bench": "rnnlab.benchmarks.cli"}[tool]  # fmt: skip
    cmd = [sys.executable, "-m", module, *args, out]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


# -- callbacks that stop a run where a test wants it (``+callbacks.x._target_=helpers.X``) --
class Crash(RuntimeError):
    """Raised by ``CrashAt``."""


class CrashAt(pl.Callback):
    """Fail after the optimizer step ``step``, before anything saves it (as a kill would)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise Crash(f"crash at step {self.step}")


class SignalAt(pl.Callback):
    """Send this process a signal after the optimizer step ``step`` (as a user or SLURM would)."""

    def __init__(self, step: int, signum: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signum)

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


PHRASE = "to be or not to be, that is the question. "


def chars_overrides(path, *extra: str) -> list[str]:
    """A tiny char-LM run on the text file ``path``: 4 streams of 16 steps, 2 epochs."""
    return [
        "data=chars", "data.corpus=path", f"data.path={path}", "data.bptt=16", "data.batch_size=4",
        "data.eval_streams=2", "task.embedding_dim=8", "model.hidden_size=16", "trainer.max_epochs=2",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
        "callbacks.model_summary=null", "~scheduler", *extra,
    ]  # fmt: skip


def check_config(tmp_path: Path, overrides: list[str] = (), name: str = "train") -> None:
    """The one check of ``rnnlab-<name>``'s composed config (``rnnlab.schema``), as the
    command runs it before anything else."""
    from rnnlab.schema.validate import validate
    from rnnlab.schema.values import plain_config

    validate(plain_config(make_config(tmp_path, overrides, name)), name)
