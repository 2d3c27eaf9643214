"""The layer-by-direction loop every hand-written recurrent layer shares.

A stack of ``num_layers`` layers, each with one or two directions: the backward direction
reads the sequence reversed in time and its outputs are flipped back, the two directions'
outputs are concatenated feature-wise, and dropout is applied between layers (not after
the last), as torch.nn does. What one layer-direction computes is the caller's ``step``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def run_stack(
    x: Tensor,
    step: Callable[[Tensor, int], tuple[Tensor, Any]],
    num_layers: int,
    num_directions: int,
    *,
    time_dim: int,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, list[Any]]:
    """The top layer's outputs and each layer-direction's final state, in index order.

    ``step(seq, k)`` runs layer-direction ``k = layer * num_directions + direction`` on
    ``seq`` (already in that direction's time order) and returns its per-step outputs and
    whatever the caller keeps as its final state.
    """
    finals: list[Any] = []
    layer_in = x
    for layer in range(num_layers):
        outs = []
        for d in range(num_directions):
            seq = layer_in.flip(time_dim) if d else layer_in
            out, final = step(seq, layer * num_directions + d)
            finals.append(final)
            outs.append(out.flip(time_dim) if d else out)
        layer_in = torch.cat(outs, -1) if num_directions == 2 else outs[0]
        if dropout > 0 and training and layer < num_layers - 1:
            layer_in = F.dropout(layer_in, dropout, training=True)
    return layer_in, finals


class StackedLayers(nn.Module):
    """What the hand-written recurrent layers share with torch.nn's: the constructor's
    arguments (``input_size, hidden_size, num_layers`` and the keywords ``bias``,
    ``batch_first``, ``dropout``, ``bidirectional``), their checks, and ``stack``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError("input_size, hidden_size and num_layers must be positive")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout is applied between recurrent layers only, so it has no effect with "
                f"num_layers=1 (got dropout={dropout})",
                stacklevel=3,
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1

    def stack(
        self, x: Tensor, step: Callable[[Tensor, int], tuple[Tensor, Any]], time_dim: int
    ) -> tuple[Tensor, list[Any]]:
        """``run_stack`` over this module's layers and directions."""
        return run_stack(x, step, self.num_layers, self.num_directions, time_dim=time_dim,
                         dropout=self.dropout, training=self.training)  # fmt: skip


def valid_steps(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """``[B, steps]`` booleans, true at each sequence's real steps (they come first), or None
    when ``lengths`` is None (every step real)."""
    if lengths is None:
        return None
    return torch.arange(steps, device=device) < lengths.to(device).unsqueeze(1)


def last_valid(seq: Tensor, lengths: Tensor | None) -> Tensor:
    """``seq[:, t]`` at each sequence's last real step: ``[B, ...]`` from ``[B, T, ...]``."""
    if lengths is None:
        return seq[:, -1]
    return seq[torch.arange(seq.shape[0], device=seq.device), lengths.to(seq.device) - 1]
