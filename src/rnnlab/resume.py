"""Which checkpoint a run resumes from, and whether it fits the model being built.

``ckpt_path`` is a checkpoint file, or ``last``: the ``checkpoints/last.ckpt`` of the
run dir given as ``resume_dir``, else of the newest earlier run of the same task under
``paths.log_dir``. ``resume_dir=<run dir>`` alone means ``ckpt_path=last`` and also
makes Hydra write into that run dir again (see ``conf/hydra/default.yaml``), so its
metrics.json, CSV log and checkpoints continue in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rnnlab.errors import ConfigError

LAST = Path("checkpoints") / "last.ckpt"


def newest_last_checkpoint(
    log_dir: Path, task_name: str, exclude: Path | None = None
) -> Path | None:
    """The most recently written ``last.ckpt`` among the runs and sweeps of ``task_name``."""
    root = log_dir / task_name
    found = [*root.glob(f"runs/*/{LAST}"), *root.glob(f"multiruns/*/*/{LAST}")]
    if exclude is not None:
        found = [p for p in found if p.parents[1].resolve() != exclude.resolve()]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def resolve_ckpt_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint file this run starts from, or None for a fresh run."""
    ckpt_path, resume_dir = cfg.get("ckpt_path"), cfg.get("resume_dir")
    if resume_dir and ckpt_path in (None, "last"):
        path = Path(resume_dir) / LAST
        if not path.is_file():
            raise ConfigError("resume_dir", str(resume_dir), f"a run dir with a {LAST} file")
        return str(path)
    if ckpt_path != "last":
        return None if ckpt_path is None else str(ckpt_path)
    log_dir = Path(cfg.paths.log_dir)
    path = newest_last_checkpoint(log_dir, cfg.task_name, exclude=output_dir)
    if path is None:
        raise ConfigError(
            "ckpt_path",
            "last",
            f"a path, or 'last' with an earlier run under {log_dir / cfg.task_name}",
        )
    return str(path)


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
    saved_data = ((saved.get("run_config") or {}).get("data") or {}).get("_target_")
    data = ((hparams.get("run_config") or {}).get("data") or {}).get("_target_")
    if saved_data and data:
        diffs += _differences(saved_data, data, "data._target_")
    if diffs:
        raise ConfigError(
            "ckpt_path", path, "a checkpoint of the same model (" + "; ".join(diffs) + ")"
        )
