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
from rnnlab.nn.scan import DEFAULT_CHUNK, scan_into
from rnnlab.nn.stacking import StackedLayers, last_valid, valid_steps

DT_FLOOR = 1e-4  # the smallest Delta the initialisation may give


class SelectiveScan(torch.autograd.Function):
    """y_t = C_t h_t with h_t = exp(Delta_t A) h_{t-1} + (Delta_t u_t) B_t, per channel and
    state, and the final h; the backward pass written out, so that each of its passes over
    the [B, T, H, N] tensors is one operation (autograd's broadcast products and their
    reductions took about half of a training step).

    Inputs: delta, du = Delta u [B, T, H]; neg_a = A [H, N]; B, C [B, T, N]; h0 [B, H*N] or
    None. With g the reverse scan of dL/dh (``rnnlab.nn.scan``) and z = Delta A:
    dL/dz = g h_{t-1} exp(z), dL/dDelta = sum_n dL/dz A + ..., dL/dA = sum_{b,t} dL/dz Delta,
    dL/d(du) = g . B, dL/dB = du . g, dL/dC = h . dL/dy.
    """

    @staticmethod
    def forward(ctx, delta, du, neg_a, B, C, h0):
        # Contiguous [B, T, H, N] buffers: a broadcast product may pick other strides, and
        # flatten(2) would then copy, so that the scan would write into the copy.
        shape = (*delta.shape, neg_a.shape[1])
        a = torch.mul(delta.unsqueeze(-1), neg_a, out=delta.new_empty(shape)).exp_()
        b = torch.mul(du.unsqueeze(-1), B.unsqueeze(2), out=delta.new_empty(shape))
        h = delta.new_empty(shape)
        scan_into(a.flatten(2), b.flatten(2), h0, h.flatten(2), DEFAULT_CHUNK)
        y = (h @ C.unsqueeze(-1)).squeeze(-1)
        ctx.save_for_backward(delta, du, neg_a, B, C, h0, a, h)
        return y, h[:, -1].flatten(1)

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        delta, du, neg_a, B, C, h0, a, h = ctx.saved_tensors
        grad_h = torch.mul(grad_y.unsqueeze(-1), C.unsqueeze(2), out=h.new_empty(h.shape))
        grad_h[:, -1] += grad_last.view_as(grad_h[:, -1])
        g = h.new_empty(h.shape)
        g[:, -1] = grad_h[:, -1]
        a_next, grad_rest, g_rest = (x.flatten(2) for x in (a[:, 1:], grad_h[:, :-1], g[:, :-1]))
        scan_into(a_next, grad_rest, grad_h[:, -1].flatten(1), g_rest, DEFAULT_CHUNK, reverse=True)
        grad_c = (grad_y.unsqueeze(-2) @ h).squeeze(-2)
        grad_du = (g @ B.unsqueeze(-1)).squeeze(-1)
        grad_b = (du.unsqueeze(-2) @ g).squeeze(-2)
        grad_z = h.new_empty(h.shape)  # dL/dz = g h_{t-1} a
        torch.mul(g[:, 1:], h[:, :-1], out=grad_z[:, 1:])
        if h0 is None:
            grad_z[:, 0] = 0
        else:
            torch.mul(g[:, 0], h0.view_as(g[:, 0]), out=grad_z[:, 0])
        grad_z.mul_(a)
        grad_h0 = None if h0 is None else (a[:, 0] * g[:, 0]).flatten(1)
        # dL/dA = sum_{b,t} dL/dz Delta, one matmul per channel
        grad_neg_a = delta.flatten(0, 1).T.unsqueeze(1) @ grad_z.flatten(0, 1).transpose(0, 1)
        grad_delta = grad_z.mul_(neg_a).sum(-1)
        return grad_delta, grad_du, grad_neg_a.squeeze(1), grad_b, grad_c, grad_h0


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
        neg_a = -self.A_log.exp()
        if parallel:
            # One dtype for the hand-written passes (autocast leaves B, C in bfloat16).
            B_t, C_t = B_t.to(delta.dtype), C_t.to(delta.dtype)
            y_ssm, h_last = SelectiveScan.apply(delta, delta * u, neg_a, B_t, C_t, h0)
        else:
            a = torch.exp(delta.unsqueeze(-1) * neg_a).flatten(2)  # [B, T, H*N]
            b = ((delta * u).unsqueeze(-1) * B_t.unsqueeze(2)).flatten(2)
            h = _loop(a, b, h0).unflatten(2, (-1, self.n_state))
            y_ssm, h_last = torch.einsum("bthn,btn->bth", h, C_t), h[:, -1].flatten(1)
        y = y_ssm + u * self.D
        if valid is not None:
            y = y * valid.unsqueeze(-1)
        # Padded steps kept the state, so the last step holds each sequence's final state.
        return y, (last_valid(y, lengths), h_last)


class S6(StackedLayers):
    """Stacked, optionally bidirectional S6 layers (constructor arguments as torch.nn's
    recurrent layers, plus the cell's keys ``d_state``, ``dt_min``, ``dt_max``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 d_state: int | None = None, dt_min: float = 0.001, dt_max: float = 0.1,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        self.d_state = d_state or S6_D_STATE
        self.cells = self.per_direction(
            lambda n_in: S6Direction(n_in, hidden_size, self.d_state, dt_min, dt_max)
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

        out, finals = self.stack(x, direction, time_dim=1, lengths=lengths)
        return out, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
