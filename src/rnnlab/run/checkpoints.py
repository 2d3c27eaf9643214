"""Checkpoints: what they hold, how they are written and read, which one a run resumes from.

- Writing: ``AtomicCheckpointIO`` (the default ``trainer.plugins`` entry) writes through
  ``rnnlab.io.atomic`` (a kill during a save leaves the previous file) and refuses weights
  that are NaN or infinite, so the last good checkpoint survives a diverging run. When
  ``last.ckpt`` is written is ``rnnlab.run.interrupt``'s business.
- Content beyond Lightning's own: ``training_state`` (saved by the callback that writes
  ``last.ckpt``) adds every RNG stream and how far each logger got, so that a resumed run
  continues bit for bit; the task adds its carried state
  (``on_save_checkpoint``); the datamodule its vocabulary or permutation; the training
  iterable its position in the epoch (Lightning's loop state).
- Integrity: the writer adds ``rnnlab_checksum`` (sha256 over every tensor), and
  ``load_checkpoint`` refuses a file whose tensors no longer match it.
- Reading: ``load_checkpoint`` gives one-line errors for a missing, damaged or foreign file;
  ``check_same_model`` names every key where a checkpoint's model differs from the run's;
  ``restore_data`` hands the datamodule its saved state before it sets up.
- Locating: ``resolve_ckpt_path`` turns ``ckpt_path``/``resume_dir`` into a file.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnnlab.errors import ConfigError
from rnnlab.io.atomic import atomic_write

LAST = Path("checkpoints") / "last.ckpt"
STATE_KEY = "rnnlab"  # where TrainingState's part lives in a checkpoint


class NonFiniteWeightsError(FloatingPointError):
    """Model weights became NaN or infinite; they are not saved."""


PARAMETER_KEYS = "parameter_keys"  # the state_dict keys that are weights (set by the task)


def non_finite_keys(state_dict: dict[str, Any], keys: list[str] | None = None) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` (only ``keys``, when given) holding
    NaN or inf. Metric states are not weights: a running minimum starts at +inf."""
    return [
        k
        for k, v in state_dict.items()
        if (keys is None or k in keys)
        and torch.is_tensor(v)
        and v.is_floating_point()
        and not bool(torch.isfinite(v).all())
    ]


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic local writes and a finite-weights guard.

    Args:
        check_finite: refuse to save weights with NaN or inf (raises NonFiniteWeightsError).
    """

    def __init__(self, check_finite: bool = True) -> None:
        super().__init__()
        self.check_finite = check_finite

    def save_checkpoint(
        self,
        checkpoint: dict[str, Any],
        path: str | os.PathLike,
        storage_options: Any | None = None,
    ) -> None:
        if "://" in str(path):  # remote storage: keep Lightning's own writer
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        weights = checkpoint.get(PARAMETER_KEYS)
        if self.check_finite and (
            bad := non_finite_keys(checkpoint.get("state_dict", {}), weights)
        ):
            raise NonFiniteWeightsError(
                f"weights became non-finite at global step {checkpoint.get('global_step')} "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); not saving {path}, "
                "the previous checkpoint is kept"
            )
        checkpoint[CHECKSUM] = tensor_checksum(checkpoint)
        atomic_write(path, lambda f: torch.save(checkpoint, f))


CHECKSUM = "rnnlab_checksum"  # sha256 over every tensor of the checkpoint, written with it


def tensor_checksum(tree: Any) -> str:
    """sha256 over the bytes, dtypes and shapes of every tensor in ``tree`` (nested dicts,
    lists and tuples, walked in a fixed order; the checksum field itself left out)."""
    digest = hashlib.sha256()

    def walk(node: Any, where: str) -> None:
        if torch.is_tensor(node):
            t = node.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{where}:{t.dtype}:{tuple(node.shape)};".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(node, dict):
            for key in sorted(node, key=str):
                if key != CHECKSUM:
                    walk(node[key], f"{where}/{key}")
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f"{where}/{i}")

    walk(tree, "")
    return digest.hexdigest()


# -- what a checkpoint holds beyond Lightning's own ------------------------------------------
def rng_state() -> dict[str, Any]:
    """Every RNG stream, in types a weights-only ``torch.load`` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


STATE_OWNER = "LastCheckpoint"  # the callback whose state holds the parts below
FINISHED = "finished"  # in that state, once training is over (see interrupt.finished_record)


def training_state(trainer: pl.Trainer | None) -> dict[str, Any]:
    """What a checkpoint needs beyond Lightning's own to continue bit for bit: every RNG
    stream (dropout masks, random sampling) and how far each logger had written (loggers
    that can continue a run expose ``position()``)."""
    loggers = trainer.loggers if trainer is not None else []
    positions = {type(lg).__name__: lg.position() for lg in loggers if hasattr(lg, "position")}
    return {"rng": rng_state(), "loggers": positions}


def restore_training_state(state: dict[str, Any]) -> None:
    if "rng" in state:
        set_rng_state(state["rng"])


def _training_state(ckpt: dict[str, Any]) -> dict[str, Any]:
    return (ckpt.get("callbacks") or {}).get(STATE_OWNER, {})


def finished_training(ckpt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record a checkpoint saved at the end of training holds, else None."""
    return _training_state(ckpt).get(FINISHED) if ckpt else None


def logger_positions(ckpt: dict[str, Any] | None) -> dict[str, Any]:
    """How far each logger had written when ``ckpt`` was saved (empty for a fresh run)."""
    return dict(_training_state(ckpt).get("loggers", {})) if ckpt else {}


def train_position(ckpt: dict[str, Any]) -> dict[str, int] | None:
    """The training iterable's state saved with Lightning's fit loop (mid-epoch position)."""
    loop = ckpt.get("loops", {}).get("fit_loop", {}).get("state_dict", {})
    states = loop.get("combined_loader") or []
    return states[0] if states else None


def restore_data(dm: pl.LightningDataModule, ckpt: dict[str, Any]) -> None:
    """Give a datamodule its saved state (vocabulary, permutation) before it sets up, and the
    position in the interrupted epoch. Lightning restores the datamodule only after ``setup``
    and the iterable only into a loader created later than a scheduler may create one."""
    state = ckpt.get(type(dm).__qualname__)
    if state:
        dm.load_state_dict(state)
    if hasattr(dm, "continue_from"):
        dm.continue_from(train_position(ckpt))


# -- reading ---------------------------------------------------------------------------------
def load_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """Read a checkpoint file, with a clear error when it is missing, damaged or foreign."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(key, str(path), "an existing checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for damaged files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(
            key, str(path), f"a readable checkpoint (loading failed: {reason})"
        ) from None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hparams, dict) or "state_dict" not in ckpt or "run_config" not in hparams:
        raise ConfigError(key, str(path), "a checkpoint written by rnnlab-train")
    if CHECKSUM in ckpt and ckpt[CHECKSUM] != tensor_checksum(ckpt):  # older files have none
        raise ConfigError(
            key, str(path), "an intact checkpoint: its tensors do not match the checksum "
            "written with them (the file was altered or damaged)",
        )  # fmt: skip
    return ckpt


def _differences(saved: Any, current: Any, prefix: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current)):
            out += _differences(saved.get(key), current.get(key), f"{prefix}.{key}")
        return out
    return [] if saved == current else [f"{prefix}={saved!r} in the checkpoint, {current!r} here"]


def check_same_model(ckpt: dict[str, Any], hparams: dict[str, Any], path: str) -> None:
    """Fail with the differing keys when a checkpoint holds another model than this run's."""
    saved = ckpt["hyper_parameters"]
    diffs = _differences(saved.get("model"), dict(hparams["model"]), "model")
    for key in ("input_size", "num_outputs"):
        diffs += _differences(saved.get(key), hparams[key], key)
    for group in ("data", "task"):
        saved_target = ((saved.get("run_config") or {}).get(group) or {}).get("_target_")
        target = ((hparams.get("run_config") or {}).get(group) or {}).get("_target_")
        if saved_target and target:
            diffs += _differences(saved_target, target, f"{group}._target_")
    if diffs:
        raise ConfigError(
            "ckpt_path", path, "a checkpoint of the same model (" + "; ".join(diffs) + ")"
        )


# -- locating --------------------------------------------------------------------------------
def newest_last_checkpoint(
    log_dir: Path, task_name: str, exclude: Path | None = None
) -> Path | None:
    """The most recently written ``last.ckpt`` among the runs and sweeps of ``task_name``."""
    root = log_dir / task_name
    found = [*root.glob(f"runs/*/{LAST}"), *root.glob(f"multiruns/*/*/{LAST}")]
    if exclude is not None:
        found = [p for p in found if p.parents[1].resolve() != exclude.resolve()]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def resolve_ckpt_path(cfg: Any, output_dir: Path) -> str | None:
    """The checkpoint file a run starts from, or None for a fresh run.

    ``ckpt_path`` is a file, or ``last``: the ``checkpoints/last.ckpt`` of ``resume_dir``,
    else of the newest earlier run of the same ``task_name`` under ``paths.log_dir``.
    ``resume_dir`` alone means its own ``last.ckpt``.
    """
    ckpt_path, resume_dir = cfg.get("ckpt_path"), cfg.get("resume_dir")
    if resume_dir and ckpt_path in (None, "last"):
        path = Path(resume_dir) / LAST
        if not path.is_file():
            raise ConfigError("resume_dir", str(resume_dir), f"a run dir with a {LAST} file")
        return str(path)
    if ckpt_path != "last":
        return None if ckpt_path is None else str(ckpt_path)
    return str(earlier_last_checkpoint(Path(cfg.paths.log_dir), cfg.task_name, output_dir))


def earlier_last_checkpoint(log_dir: Path, task_name: str, exclude: Path | None = None) -> Path:
    """What ``ckpt_path=last`` names: the newest ``last.ckpt`` of an earlier run of
    ``task_name``; refused when there is none."""
    path = newest_last_checkpoint(log_dir, task_name, exclude=exclude)
    if path is None:
        raise ConfigError(
            "ckpt_path",
            "last",
            f"a path, or 'last' with an earlier run under {log_dir / task_name}",
        )
    return path
