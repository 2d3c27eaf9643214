"""Checkpoints that are written atomically and never hold non-finite weights.

Lightning's default writer streams into the final path, so a kill during a save
leaves a truncated ``last.ckpt`` and the run cannot be resumed. ``AtomicCheckpointIO``
writes through ``rnnlab.io.atomic_write`` instead (temp file, fsync, ``os.replace``),
and refuses to write weights that are NaN or infinite, so the last good checkpoint
survives a diverging run. It is the default ``trainer.plugins`` entry.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnnlab.io import atomic_write


class NonFiniteWeightsError(FloatingPointError):
    """Model weights became NaN or infinite; they are not saved."""


def non_finite_keys(state_dict: dict[str, Any]) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` holding NaN or inf."""
    return [
        k
        for k, v in state_dict.items()
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
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
        if self.check_finite and (bad := non_finite_keys(checkpoint.get("state_dict", {}))):
            raise NonFiniteWeightsError(
                f"weights became non-finite at global step {checkpoint.get('global_step')} "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); not saving {path}, "
                "the previous checkpoint is kept; try a lower optimizer.lr"
            )
        atomic_write(path, lambda f: torch.save(checkpoint, f))
