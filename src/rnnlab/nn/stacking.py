"""The layer-by-direction loop every hand-written recurrent layer shares.

A stack of ``num_layers`` layers, each with one or two directions: the backward direction
reads the sequence reversed in time and its outputs are flipped back, the two directions'
outputs are concatenated feature-wise, and dropout is applied between layers (not after
the last), as torch.nn does. What one layer-direction computes is the caller's ``step``.

Variable-length batches carry ``lengths`` [B]: each sequence's real steps come first and
padding after. The backward direction then reverses each sequence within its own length
(``reverse_within``), so it starts at that sequence's last real step and the padding stays
at the end for both directions; the caller's ``step`` masks the padded steps
(``step_mask``) so that they leave its state unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def step_mask(lengths: Tensor, steps: int, time_dim: int, dtype: torch.dtype) -> Tensor:
    """1 at each sequence's real steps and 0 at its padding: ``[T, B, 1]`` when ``time_dim``
    is 0, ``[B, T, 1]`` when it is 1, in ``dtype`` so that it multiplies and lerps."""
    t = torch.arange(steps, device=lengths.device)
    real = t[:, None] < lengths[None, :] if time_dim == 0 else t[None, :] < lengths[:, None]
    return real.to(dtype).unsqueeze(-1)


def check_lengths(lengths: Tensor, batch: int, steps: int) -> Tensor:
    """``lengths`` as an int64 tensor of ``batch`` values; the range 1..steps is checked
    where reading the values is free (a CPU tensor), not at the cost of a device sync."""
    if not torch.is_tensor(lengths) or lengths.dim() != 1 or len(lengths) != batch:
        shape = tuple(lengths.shape) if torch.is_tensor(lengths) else type(lengths).__name__
        raise ValueError(f"lengths must be a 1-d tensor of {batch} lengths, got {shape}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got {lengths.dtype}")
    if lengths.device.type == "cpu" and len(lengths):
        low, high = int(lengths.min()), int(lengths.max())
        if low < 1 or high > steps:
            raise ValueError(f"lengths must lie in [1, {steps}] (the padded length), "
                             f"got values in [{low}, {high}]")  # fmt: skip
    return lengths.long()


def reverse_index(lengths: Tensor, steps: int, time_dim: int) -> Tensor:
    """Where step t of each sequence reads from when reversed within its length L: L - 1 - t
    for t < L, t itself in the padding; ``[T, B]`` when ``time_dim`` is 0, else ``[B, T]``."""
    t = torch.arange(steps, device=lengths.device)
    t, length = (t[:, None], lengths[None, :]) if time_dim == 0 else (t[None, :], lengths[:, None])
    return torch.where(t < length, length - 1 - t, t)


def reverse_within(
    x: Tensor, lengths: Tensor, time_dim: int, index: Tensor | None = None
) -> Tensor:
    """Each sequence of ``x`` reversed in time within its own length, padding left in place
    (``index``: ``reverse_index`` of these lengths, when the caller has it already).

    Applying it twice gives ``x`` back, so the same call reverses the outputs back.
    """
    if index is None:
        index = reverse_index(lengths.to(x.device), x.shape[time_dim], time_dim)
    index = index.unsqueeze(-1).expand(*index.shape, *x.shape[2:]) if x.dim() == 3 else index
    return x.gather(time_dim, index)


def run_stack(
    x: Tensor,
    step: Callable[[Tensor, int], tuple[Tensor, Any]],
    num_layers: int,
    num_directions: int,
    *,
    time_dim: int,
    dropout: float = 0.0,
    training: bool = False,
    lengths: Tensor | None = None,
) -> tuple[Tensor, list[Any]]:
    """The top layer's outputs and each layer-direction's final state, in index order.

    ``step(seq, k)`` runs layer-direction ``k = layer * num_directions + direction`` on
    ``seq`` (already in that direction's time order) and returns its per-step outputs and
    whatever the caller keeps as its final state. With ``lengths`` the backward direction
    reads each sequence reversed within its length (the step still masks the padding).
    """

    index = None
    if lengths is not None and num_directions == 2:  # one index for every layer
        index = reverse_index(lengths.to(x.device), x.shape[time_dim], time_dim)

    def reverse(seq: Tensor) -> Tensor:
        return (
            seq.flip(time_dim) if index is None else reverse_within(seq, lengths, time_dim, index)
        )

    finals: list[Any] = []
    layer_in = x
    for layer in range(num_layers):
        outs = []
        for d in range(num_directions):
            seq = reverse(layer_in) if d else layer_in
            out, final = step(seq, layer * num_directions + d)
            finals.append(final)
            outs.append(reverse(out) if d else out)
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

    def per_direction(self, make: Callable[[int], nn.Module]) -> nn.ModuleList:
        """One module per layer-direction, in index order ``layer * num_directions +
        direction``, each made by ``make(its layer's input size)``."""
        width = self.hidden_size * self.num_directions
        return nn.ModuleList(
            make(self.input_size if layer == 0 else width)
            for layer in range(self.num_layers)
            for _ in range(self.num_directions)
        )

    def stack(
        self,
        x: Tensor,
        step: Callable[[Tensor, int], tuple[Tensor, Any]],
        time_dim: int,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, list[Any]]:
        """``run_stack`` over this module's layers and directions."""
        return run_stack(x, step, self.num_layers, self.num_directions, time_dim=time_dim,
                         dropout=self.dropout, training=self.training,
                         lengths=lengths)  # fmt: skip


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


def run_layer(layer: nn.Module, x: Tensor, state: Any = None, lengths: Tensor | None = None):
    """``layer(x, state)`` with each sequence read to its own end: a torch.nn RNN layer runs
    packed (cuDNN reads the real steps only), every other layer takes ``lengths`` itself."""
    if lengths is None:
        return layer(x, state)
    if not isinstance(layer, nn.RNNBase):
        return layer(x, state, lengths=lengths)
    # pack_padded_sequence wants the lengths on the CPU; reading them is the only sync.
    lengths = check_lengths(lengths.cpu(), x.shape[0], x.shape[1])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = layer(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state
