"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Both drop the hidden state from their gates, so every step is the linear recurrence

    h_t = a_t * h_{t-1} + b_t,    a_t, b_t > 0 computed from x_t alone,

    minGRU:  z_t = sigmoid(k_t),  a_t = 1 - z_t,  b_t = z_t g(h~_t)
    minLSTM: f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),  a_t = f'_t,  b_t = i'_t g(h~_t)

with g(x) = x + 1/2 for x >= 0 and sigmoid(x) otherwise (positive, so b_t > 0). Training
evaluates all steps at once with a parallel scan (``nn/scan.py``), chosen by ``scan``:

- ``linear`` (default): a chunked scan on a_t, b_t themselves with a hand-written backward
  pass; several times faster on a CPU, and its float32 error does not grow with T.
- ``log``: Heinsen's log-space scan on log a_t, log b_t; with A_t = sum_{s<=t} log a_s,

    h_t = exp(A_t) * (h_0 + sum_{s<=t} exp(log b_s - A_s))
        = exp(A_t + logcumsumexp_s(log b_s - A_s)) + exp(A_t) * h_0.

  The h_0 term is kept outside the log domain, so any real initial state is accepted. It
  is the reference; on a CPU it is slower and its float32 error grows with T.

The sequential mode (``step`` / ``parallel=False``) runs the same recurrence one step at a time.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import ConfigError
from rnnlab.nn.scan import SCANS, parallel_scan, parallel_scan_log
from rnnlab.nn.stacking import StackedLayers, check_lengths, step_mask


def g(x: Tensor) -> Tensor:
    """Positive, continuous replacement for tanh on the candidate state.

    Written as x + r + sigmoid(-r) with r = relu(-x) (r = 0 for x >= 0, x + r = 0 exactly
    otherwise) rather than with torch.where: the same values and gradients (at 0, those of
    the x >= 0 branch), but where and its backward are slow on a CPU: they took a third of
    a minGRU training step with the linear scan.
    """
    r = F.relu(-x)
    return x + r + torch.sigmoid(-r)


def log_g(x: Tensor) -> Tensor:
    """log g(x), computed without forming g; relu keeps the unused branch finite for x < 0."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


class _MinimalRNN(StackedLayers):
    """Stacked, optionally bidirectional layers of a gate-only-from-input linear recurrence.

    Constructor arguments as torch.nn's recurrent layers, plus ``scan``: ``linear`` (the
    chunked scan, default) or ``log`` (the log-space reference), see ``rnnlab.nn.scan``.
    """

    n_proj = 2  # pre-activations per hidden unit produced by each layer's linear map

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, *, scan: str = "linear",
        **options: Any,
    ) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        if scan not in SCANS:
            raise ConfigError("scan", scan, "one of " + ", ".join(SCANS))
        self.scan = scan
        # One Linear per layer-direction, index layer * num_directions + direction.
        self.proj = self.per_direction(
            lambda n_in: nn.Linear(n_in, self.n_proj * hidden_size, bias=self.bias)
        )

    def log_coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        """(log a_t, log b_t) from the projected input."""
        raise NotImplementedError

    def coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        """(a_t, b_t) from the projected input, in the direct (non-log) form."""
        raise NotImplementedError

    def _coeffs(self, pre: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(a_t, b_t), with a = 1 and b = 0 at padded steps (``mask`` 0): the state is kept."""
        a, b = self.coeffs(pre)
        if mask is None:
            return a, b
        return a * mask + (1 - mask), b * mask

    def _parallel(self, pre: Tensor, h0: Tensor | None, mask: Tensor | None) -> Tensor:
        if self.scan == "log":
            log_a, log_b = self.log_coeffs(pre)
            if mask is not None:  # log 1 = 0 and log 0 = -inf at padded steps
                log_a, log_b = log_a * mask, log_b.masked_fill(mask == 0, float("-inf"))
            return parallel_scan_log(log_a, log_b, h0)
        return parallel_scan(*self._coeffs(pre, mask), h0)

    def _sequential(self, pre: Tensor, h0: Tensor | None, mask: Tensor | None) -> Tensor:
        a, b = self._coeffs(pre, mask)
        h = torch.zeros_like(b[:, 0]) if h0 is None else h0
        hs = []
        for t in range(pre.shape[1]):
            h = a[:, t] * h + b[:, t]
            hs.append(h)
        return torch.stack(hs, dim=1)

    def forward(
        self,
        x: Tensor,
        hx: Tensor | None = None,
        parallel: bool = True,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """x: [B, T, I] (batch_first) -> (output [B, T, D*H], h_n [num_layers*D, B, H]).

        hx is the initial state [num_layers*D, B, H] (zeros if None), as in torch.nn.GRU.
        ``lengths`` [B]: each sequence's real steps, padding after them; a padded step keeps
        the state (a = 1, b = 0) and outputs zeros, so h_n is taken at the last real step.
        """
        if not self.batch_first:
            x = x.transpose(0, 1)
        n_states = self.num_layers * self.num_directions
        if hx is not None and tuple(hx.shape) != (n_states, x.shape[0], self.hidden_size):
            raise RuntimeError(f"Expected hx of shape {(n_states, x.shape[0], self.hidden_size)}")

        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, x.shape[0], x.shape[1])
            mask = step_mask(lengths.to(x.device), x.shape[1], 1, x.dtype)

        def direction(seq: Tensor, k: int) -> tuple[Tensor, Tensor]:
            pre, state = self.proj[k](seq), None if hx is None else hx[k]
            run = self._parallel if parallel else self._sequential
            h = run(pre, state, mask)
            return (h if mask is None else h * mask), h[:, -1]

        layer_in, h_n = self.stack(x, direction, time_dim=1, lengths=lengths)
        out = layer_in if self.batch_first else layer_in.transpose(0, 1)
        return out, torch.stack(h_n)

    def step(self, x_t: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One generation step: x_t [B, I], h [num_layers, B, H] -> (y_t [B, H], new h)."""
        if self.bidirectional:
            raise RuntimeError("step() needs the future for a bidirectional layer")
        new_h = []
        layer_in = x_t
        for layer in range(self.num_layers):
            a, b = self.coeffs(self.proj[layer](layer_in))
            layer_in = b if h is None else a * h[layer] + b
            new_h.append(layer_in)
            # Dropout applies between layers exactly as in forward, so training-mode
            # sequential and parallel runs differ only by their random masks.
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        return new_h[-1], torch.stack(new_h)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"dropout={self.dropout}, bidirectional={self.bidirectional}, scan={self.scan!r}"
        )


class MinGRU(_MinimalRNN):
    """h_t = (1 - z_t) h_{t-1} + z_t g(h~_t),  [k_t, h~_t] = Linear(x_t),  z_t = sigmoid(k_t)."""

    n_proj = 2

    def log_coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        k, h_tilde = pre.chunk(2, dim=-1)
        # log(1 - sigmoid(k)) = -softplus(k);  log sigmoid(k) = -softplus(-k)
        return -F.softplus(k), -F.softplus(-k) + log_g(h_tilde)

    def coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        k, h_tilde = pre.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z * g(h_tilde)


class MinLSTM(_MinimalRNN):
    """h_t = f'_t h_{t-1} + i'_t g(h~_t) with f', i' = f, i normalised to sum to one."""

    n_proj = 3

    def log_coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, h_tilde = pre.chunk(3, dim=-1)
        # diff = log i - log f, so log f' = -softplus(diff) and log i' = -softplus(-diff).
        diff = F.softplus(-kf) - F.softplus(-ki)
        return -F.softplus(diff), -F.softplus(-diff) + log_g(h_tilde)

    def coeffs(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, h_tilde = pre.chunk(3, dim=-1)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        # One reciprocal and products train about 7% faster than two divisions on a CPU.
        inv = (f + i).reciprocal()
        return f * inv, i * inv * g(h_tilde)


MINIMAL: dict[str, type[_MinimalRNN]] = {"mingru": MinGRU, "minlstm": MinLSTM}
