"""The layer-by-direction loop every hand-written recurrent layer shares.

A stack of ``num_layers`` layers, each with one or two directions: the backward direction
reads the sequence reversed in time and its outputs are flipped back, the two directions'
outputs are concatenated feature-wise, and dropout is applied between layers (not after
the last), as torch.nn does. What one layer-direction computes is the caller's ``step``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


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
