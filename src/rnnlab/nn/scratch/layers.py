"""RNN, LSTM and GRU layers written from their equations.

Drop-in replacements for ``torch.nn.RNN/LSTM/GRU``: same constructor arguments, parameter
names, shapes, gate order and initialisation, so state_dicts load across implementations
and the same seed builds the same network. The default is ``batch_first=True``. Each
layer-direction runs one autograd function of ``functions.py``; layers and directions are
stacked by ``rnnlab.nn.stacking``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.scratch.functions import GRUScan, LSTMScan, RNNScan
from rnnlab.nn.stacking import StackedLayers, check_lengths, step_mask


class _ScratchBase(StackedLayers):
    """Parameter bookkeeping and state handling shared by all cells (constructor arguments
    as torch.nn's, plus ``device`` and ``dtype``)."""

    gate_multiplier = 1
    has_cell_state = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, **options)
        bias, num_dirs = self.bias, self.num_directions
        self.proj_size = 0
        gate_size = self.gate_multiplier * hidden_size
        kw = {"device": device, "dtype": dtype}
        # Registration order is torch.nn's: it fixes both state_dict order and init RNG order.
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * num_dirs
            for d in range(num_dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter(
                    "weight_ih" + sfx, nn.Parameter(torch.empty(gate_size, layer_in, **kw))
                )
                self.register_parameter(
                    "weight_hh" + sfx, nn.Parameter(torch.empty(gate_size, hidden_size, **kw))
                )
                if bias:
                    self.register_parameter(
                        "bias_ih" + sfx, nn.Parameter(torch.empty(gate_size, **kw))
                    )
                    self.register_parameter(
                        "bias_hh" + sfx, nn.Parameter(torch.empty(gate_size, **kw))
                    )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """No-op, for code that calls it on torch.nn recurrent layers."""

    def _params(self, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        if not self.bias:
            return getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx), None, None
        return tuple(
            getattr(self, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def _direction(
        self, x: Tensor, layer: int, d: int, h0: Tensor, c0: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Run one layer-direction on time-major x; returns (carried states, c_n or None).

        ``mask`` ``[T, B, 1]`` (or None: every step real) marks the real steps; at a padded
        step the states are carried unchanged (``functions.py``).
        """
        raise NotImplementedError

    def _check_state(self, h: Tensor, batch: int, name: str) -> None:
        num_dirs = 2 if self.bidirectional else 1
        expected = (self.num_layers * num_dirs, batch, self.hidden_size)
        if tuple(h.shape) != expected:
            raise RuntimeError(f"Expected {name} size {expected}, got {tuple(h.shape)}")

    def forward(
        self,
        x: Tensor,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
    ):
        """As torch.nn's, plus ``lengths`` [B]: each sequence's real steps, padding after
        them. A padded step leaves the state unchanged and outputs zeros, so the final state
        is each sequence's at its last real step."""
        unbatched = x.dim() == 2
        if unbatched and lengths is not None:
            raise ValueError("lengths needs a batched [B, T, F] input")
        if unbatched:  # [T, I], whatever batch_first says
            x = x.unsqueeze(1)
            if hx is not None:
                hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)
        elif x.dim() != 3:
            raise ValueError(f"expected a 2-D or 3-D input, got {x.dim()}-D")
        elif self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        num_dirs = 2 if self.bidirectional else 1
        if hx is None:
            h0 = x.new_zeros(self.num_layers * num_dirs, batch, self.hidden_size)
            c0 = torch.zeros_like(h0) if self.has_cell_state else None
        elif self.has_cell_state:
            h0, c0 = hx
            self._check_state(h0, batch, "h0")
            self._check_state(c0, batch, "c0")
        else:
            h0, c0 = hx, None
            self._check_state(h0, batch, "hx")

        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, batch, x.shape[0])
            mask = step_mask(lengths.to(x.device), x.shape[0], 0, x.dtype)

        def step(seq: Tensor, k: int) -> tuple[Tensor, tuple[Tensor, Tensor | None]]:
            layer, d = divmod(k, num_dirs)
            c0_k = None if c0 is None else c0[k]
            out, c_last = self._direction(seq, layer, d, h0[k], c0_k, mask)
            return (out if mask is None else out * mask), (out[-1], c_last)

        layer_in, finals = self.stack(x, step, time_dim=0, lengths=lengths)
        h_n = [h for h, _ in finals]
        c_n = [c for _, c in finals]
        output = layer_in
        h_n = torch.stack(h_n)
        state = (h_n, torch.stack(c_n)) if self.has_cell_state else h_n
        if unbatched:
            output = output.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if self.has_cell_state else h_n.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, state

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        s += f", bias={self.bias}, batch_first={self.batch_first}"
        s += f", dropout={self.dropout}, bidirectional={self.bidirectional}"
        return s


class ScratchRNN(_ScratchBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act in {tanh, relu}."""

    def __init__(self, *args: Any, nonlinearity: str = "tanh", **kwargs: Any) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}', use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(*args, **kwargs)

    def _direction(self, x, layer, d, h0, c0, mask):
        w_ih, w_hh, b_ih, b_hh = self._params(layer, d)
        # Both biases only ever appear summed, so fold them into the hoisted projection.
        xp = F.linear(x, w_ih, None if b_ih is None else b_ih + b_hh)
        return RNNScan.apply(xp, w_hh, h0, self.nonlinearity == "relu", mask), None


class ScratchLSTM(_ScratchBase):
    """LSTM with torch's gate order i, f, g, o and no projection (proj_size=0)."""

    gate_multiplier = 4
    has_cell_state = True

    def _direction(self, x, layer, d, h0, c0, mask):
        w_ih, w_hh, b_ih, b_hh = self._params(layer, d)
        b = None if b_ih is None else b_ih + b_hh
        return LSTMScan.apply(x, w_ih, b, w_hh, h0, c0, mask)


class ScratchGRU(_ScratchBase):
    """GRU in the cuDNN formulation (b_hn stays inside the reset gate product), gates r, z, n."""

    gate_multiplier = 3

    def _direction(self, x, layer, d, h0, c0, mask):
        w_ih, w_hh, b_ih, b_hh = self._params(layer, d)
        return GRUScan.apply(F.linear(x, w_ih, b_ih), w_hh, b_hh, h0, mask), None


SCRATCH: dict[str, type[_ScratchBase]] = {
    "rnn": ScratchRNN,
    "lstm": ScratchLSTM,
    "gru": ScratchGRU,
}
