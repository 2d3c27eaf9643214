"""S6, the selective state space layer of Mamba (Gu & Dao 2023, "Mamba: Linear-Time
Sequence Modeling with Selective State Spaces"), Algorithm 2.

Each layer-direction projects its input to H channels u_t (``in_proj``) and gives every
channel N states with a diagonal A = -exp(A_log) [H, N]. The step size Delta and the
matrices B, C depend on the input (that is the selection):

    Delta_t = softplus(dt_proj(x_proj_Delta(u_t))) [H],   B_t, C_t = x_proj_{B,C}(u_t) [N],
    A_bar = exp(Delta_t A),   B_bar u = Delta_t B_t u_t   (zero-order hold, B simplified as
    in the paper),   h_t = A_bar h_{t-1} + B_bar u,   y_t = C_t h_t + D u_t.

Initialisation as the paper's: S4D-real A_n = -(n + 1); Delta's bias the inverse softplus
of dt drawn log-uniformly in [dt_min, dt_max] (floored at 1e-4); dt_proj's weight uniform
in +-rank^-1/2 with rank = ceil(H / 16); D = 1. The recurrence is linear and diagonal in
(channel, state), so training runs the chunked scan of ``rnnlab.nn.scan`` over the H*N
pairs; ``parallel=False`` runs it step by step. The state per layer-direction is (y at the
last step [B, H], h [B, H*N]); only h is recurrent.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.lru import _loop
from rnnlab.nn.options import S6_D_STATE
from rnnlab.nn.scan import parallel_scan
from rnnlab.nn.stacking import StackedLayers, last_valid, valid_steps

DT_FLOOR = 1e-4  # the smallest Delta the initialisation may give


class S6Direction(nn.Module):
    """One layer-direction of S6 (see the module docstring)."""

    def __init__(self, n_in: int, hidden: int, n_state: int, dt_min: float,
                 dt_max: float) -> None:  # fmt: skip
        super().__init__()
        self.n_state, self.rank = n_state, math.ceil(hidden / 16)
        self.in_proj = nn.Linear(n_in, hidden)
        self.x_proj = nn.Linear(hidden, self.rank + 2 * n_state, bias=False)
        self.dt_proj = nn.Linear(self.rank, hidden)
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -(self.rank**-0.5), self.rank**-0.5)
            log_dt = torch.rand(hidden) * (math.log(dt_max) - math.log(dt_min))
            dt = (log_dt + math.log(dt_min)).exp().clamp(min=DT_FLOOR)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.arange(1, n_state + 1.0).log().repeat(hidden, 1))
        self.D = nn.Parameter(torch.ones(hidden))

    def forward(self, x: Tensor, h0: Tensor | None, lengths: Tensor | None,
                parallel: bool) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
        """x: [B, T, n_in]; h0: [B, H*N] or None -> y [B, T, H], (y_last [B, H], h_T [B, H*N])."""
        u = self.in_proj(x)
        dt_low, B_t, C_t = self.x_proj(u).split([self.rank, self.n_state, self.n_state], -1)
        delta = F.softplus(self.dt_proj(dt_low))  # [B, T, H]
        valid = valid_steps(lengths, x.shape[1], x.device)
        if valid is not None:  # Delta = 0 at padded steps: A_bar = 1 and B_bar = 0 exactly
            delta = delta * valid.unsqueeze(-1)
        a = torch.exp(delta.unsqueeze(-1) * -self.A_log.exp())  # [B, T, H, N]
        b = (delta * u).unsqueeze(-1) * B_t.unsqueeze(2)
        a, b = a.flatten(2), b.flatten(2)
        h = parallel_scan(a, b, h0) if parallel else _loop(a, b, h0)
        y = torch.einsum("bthn,btn->bth", h.unflatten(2, (-1, self.n_state)), C_t) + u * self.D
        if valid is not None:
            y = y * valid.unsqueeze(-1)
        # Padded steps kept the state, so the last step holds each sequence's final state.
        return y, (last_valid(y, lengths), h[:, -1])


class S6(StackedLayers):
    """Stacked, optionally bidirectional S6 layers (constructor arguments as torch.nn's
    recurrent layers, plus the cell's keys ``d_state``, ``dt_min``, ``dt_max``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 d_state: int | None = None, dt_min: float = 0.001, dt_max: float = 0.1,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        self.d_state = d_state or S6_D_STATE
        self.cells = nn.ModuleList(
            S6Direction(
                input_size if layer == 0 else hidden_size * self.num_directions,
                hidden_size,
                self.d_state,
                dt_min,
                dt_max,
            )  # fmt: skip
            for layer in range(num_layers)
            for _ in range(self.num_directions)
        )

    @property
    def state_size(self) -> int:
        """Real numbers of recurrent state per sequence: H*N per layer-direction."""
        return len(self.cells) * self.hidden_size * self.d_state

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None,
                lengths: Tensor | None = None, parallel: bool = True,
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
        """x: [B, T, I] -> (outputs [B, T, D*H], (y_last [L*D, B, H], h [L*D, B, H*N]))."""

        def direction(seq: Tensor, k: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
            return self.cells[k](seq, None if state is None else state[1][k], lengths, parallel)

        out, finals = self.stack(x, direction, time_dim=1)
        return out, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
