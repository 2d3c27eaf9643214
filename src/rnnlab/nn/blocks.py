"""The residual block (``model.block=residual``), for every cell.

The input is projected to the stream width W = hidden_size * directions when it differs;
then each of ``num_layers`` blocks is

    x = x + dropout(layer(norm(x))),   and, with mlp_ratio > 0,   x = x + dropout(mlp(norm'(x))),

where ``layer`` is one (optionally bidirectional) recurrent layer of the cell with hidden_size
units per direction, ``norm`` a LayerNorm or RMSNorm, and ``mlp`` a gated MLP
(SiLU(x W_g) * (x W_v)) W_o with round(mlp_ratio * W) hidden units. A final norm ends the
stack (the blocks are pre-norm). Dropout acts on each residual branch, in every block.

The state is (features, *the layers' state parts), each part concatenated over layers in
the plain stack's [layer * directions + direction] order. ``features`` [1, B, W] are what
``RecurrentStack.final_features`` returns: the output at the last step for the forward
half of the width and at the first step for the backward half (the step each direction
reads last); a state passed back in has them ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.options import mlp_width
from rnnlab.nn.stacking import last_valid, run_layer, valid_steps

NORMS: dict[str, type[nn.Module]] = {"layernorm": nn.LayerNorm, "rmsnorm": nn.RMSNorm}
# Cells whose layers hand back one tensor as their state rather than a tuple.
TENSOR_STATE_CELLS = ("rnn", "gru", "mingru", "minlstm")


class GatedMLP(nn.Module):
    """(SiLU(x W_g) * (x W_v)) W_o."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.gate_value = nn.Linear(width, 2 * hidden)
        self.out = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        gate, value = self.gate_value(x).chunk(2, dim=-1)
        return self.out(F.silu(gate) * value)


class ResidualLayers(nn.Module):
    """``num_layers`` residual blocks around one-layer recurrent layers made by ``make_layer``
    (``make_layer(input_size)`` returns a batch-first layer of ``hidden_size`` per direction)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, *,
                 make_layer: Callable[[int], nn.Module], cell: str, bidirectional: bool,
                 dropout: float, norm: str, mlp_ratio: float) -> None:  # fmt: skip
        super().__init__()
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size, self.cell, self.dropout = hidden_size, cell, dropout
        width = hidden_size * self.num_directions
        self.proj = nn.Linear(input_size, width) if input_size != width else None
        self.norms = nn.ModuleList(NORMS[norm](width) for _ in range(num_layers))
        self.layers = nn.ModuleList(make_layer(width) for _ in range(num_layers))
        mlp = mlp_width(mlp_ratio, width)
        self.mlp_norms = nn.ModuleList(NORMS[norm](width) for _ in range(num_layers if mlp else 0))
        self.mlps = nn.ModuleList(GatedMLP(width, mlp) for _ in range(num_layers if mlp else 0))
        self.final_norm = NORMS[norm](width)

    def _branch(self, y: Tensor) -> Tensor:
        return F.dropout(y, self.dropout, training=True) if self.dropout and self.training else y

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, ...]]:  # fmt: skip
        if self.proj is not None:
            x = self.proj(x)
        dirs, finals = self.num_directions, []
        for index, layer in enumerate(self.layers):
            mine: Any = None
            if state is not None:
                mine = tuple(s[index * dirs : (index + 1) * dirs] for s in state[1:])
                mine = mine[0] if self.cell in TENSOR_STATE_CELLS else mine
            y, final = run_layer(layer, self.norms[index](x), mine, lengths)
            finals.append(final if isinstance(final, tuple) else (final,))
            x = x + self._branch(y)
            if self.mlps:
                x = x + self._branch(self.mlps[index](self.mlp_norms[index](x)))
        out = self.final_norm(x)
        if lengths is not None:  # padded steps output zeros, as every layer's do
            out = out * valid_steps(lengths, out.shape[1], out.device).unsqueeze(-1)
        features = last_valid(out, lengths)
        if dirs == 2:
            features = torch.cat(
                [features[:, : self.hidden_size], out[:, 0, self.hidden_size :]], -1
            )
        return out, (
            features.unsqueeze(0),
            *(torch.cat(part) for part in zip(*finals, strict=True)),
        )
