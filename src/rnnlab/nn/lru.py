"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks
for Long Sequences").

Each layer-direction keeps N complex states x_t and reads inputs u_t (``n_in`` features):

    x_t = lambda * x_{t-1} + gamma * (B u_t),    y_t = Re(C x_t) + D u_t,

with a diagonal lambda in the exponential parameterisation
lambda = exp(-exp(nu_log) + i exp(theta_log)) (|lambda| < 1 for any nu_log), the
normalisation gamma = sqrt(1 - |lambda|^2) (stored as gamma_log, trained), complex B [N, n_in]
and C [H, N], and the real skip D (a vector as in the paper when n_in = H, else an [H, n_in]
matrix). Ring initialisation: |lambda| uniform on the ring r_min <= |lambda| <= r_max (by
area), phases uniform in [0, max_phase]; B ~ N(0, 1/(2 n_in)), C ~ N(0, 1/N) per real and
imaginary part, D ~ N(0, 1).

The recurrence is linear with a time-constant lambda, so training evaluates all steps with
the chunked scan of ``rnnlab.nn.scan`` on complex tensors; ``parallel=False`` runs it step
by step. The state handed back per layer-direction is (y at the last step [B, H], x as
[Re x, Im x] [B, 2N]); only x is recurrent.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.nn.scan import parallel_scan
from rnnlab.nn.stacking import StackedLayers, last_valid, valid_steps


class LRUDirection(nn.Module):
    """One layer-direction of the LRU (see the module docstring)."""

    def __init__(self, n_in: int, hidden: int, n_state: int, r_min: float, r_max: float,
                 max_phase: float) -> None:  # fmt: skip
        super().__init__()
        u1, u2 = torch.rand(n_state), torch.rand(n_state)
        # |lambda|^2 uniform in [r_min^2, r_max^2]: nu = -log|lambda| = -log(|lambda|^2) / 2.
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
        self.nu_log = nn.Parameter(nu.log())
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        self.gamma_log = nn.Parameter(0.5 * torch.log1p(-torch.exp(-2 * nu)))
        self.B_re = nn.Parameter(torch.randn(n_state, n_in) / math.sqrt(2 * n_in))
        self.B_im = nn.Parameter(torch.randn(n_state, n_in) / math.sqrt(2 * n_in))
        self.C_re = nn.Parameter(torch.randn(hidden, n_state) / math.sqrt(n_state))
        self.C_im = nn.Parameter(torch.randn(hidden, n_state) / math.sqrt(n_state))
        self.D = nn.Parameter(torch.randn(hidden) if n_in == hidden else
                              torch.randn(hidden, n_in) / math.sqrt(n_in))  # fmt: skip

    def eigenvalues(self) -> Tensor:
        """lambda, complex [N]."""
        return torch.polar(torch.exp(-self.nu_log.exp()), self.theta_log.exp())

    def forward(self, u: Tensor, x0: Tensor | None, lengths: Tensor | None,
                parallel: bool) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
        """u: [B, T, n_in]; x0: [B, 2N] or None -> y [B, T, H], (y_last [B, H], x_T [B, 2N])."""
        lam = self.eigenvalues()
        ctype = lam.dtype
        # B u and Re(C x) as real matmuls on interleaved (re, im) pairs (a complex matmul
        # took 40% of a training step on a CPU): rows (gamma B_re, gamma B_im) per state
        # give B u as [..., N, 2], and x as [..., N, 2] meets columns (C_re, -C_im).
        gamma = self.gamma_log.exp().unsqueeze(1)
        weight_b = torch.stack([self.B_re * gamma, self.B_im * gamma], 1).flatten(0, 1)
        b = torch.view_as_complex((u @ weight_b.T).unflatten(-1, (-1, 2)))  # [B, T, N]
        a = lam.expand_as(b)
        valid = valid_steps(lengths, u.shape[1], u.device)
        if valid is not None:  # padded steps: decay 1, input 0, so the state stays put
            a = torch.where(valid.unsqueeze(-1), a, torch.ones_like(a))
            b = b * valid.unsqueeze(-1)
        h0 = None if x0 is None else torch.complex(*x0.chunk(2, dim=-1)).to(ctype)
        x = parallel_scan(a, b, h0) if parallel else _loop(a, b, h0)
        skip = u * self.D if self.D.dim() == 1 else u @ self.D.T
        weight_c = torch.stack([self.C_re, -self.C_im], -1).flatten(1)  # [H, 2N]
        y = torch.view_as_real(x).flatten(-2) @ weight_c.T + skip
        if valid is not None:
            y = y * valid.unsqueeze(-1)
        # Padded steps kept the state, so the last step holds each sequence's final state.
        x_last = x[:, -1]
        return y, (last_valid(y, lengths), torch.cat([x_last.real, x_last.imag], dim=-1))


def _loop(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    """The recurrence h_t = a_t h_{t-1} + b_t one step at a time."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    hs = []
    # unbind, not a[:, t]: indexing's backward writes a whole-sequence gradient per step.
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
        h = a_t * h + b_t
        hs.append(h)
    return torch.stack(hs, dim=1)


class LRU(StackedLayers):
    """Stacked, optionally bidirectional LRU layers (constructor arguments as torch.nn's
    recurrent layers, plus the cell's keys ``d_state``, ``r_min``, ``r_max``, ``max_phase``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 d_state: int | None = None, r_min: float = 0.0, r_max: float = 1.0,
                 max_phase: float = 2 * math.pi, **options: Any) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        self.d_state = d_state or hidden_size
        self.cells = self.per_direction(
            lambda n_in: LRUDirection(n_in, hidden_size, self.d_state, r_min, r_max, max_phase)
        )

    @property
    def state_size(self) -> int:
        """Real numbers of recurrent state per sequence: 2N per layer-direction."""
        return len(self.cells) * 2 * self.d_state

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None,
                lengths: Tensor | None = None, parallel: bool = True,
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
        """x: [B, T, I] -> (outputs [B, T, D*H], (y_last [L*D, B, H], x [L*D, B, 2N]))."""

        def direction(seq: Tensor, k: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
            return self.cells[k](seq, None if state is None else state[1][k], lengths, parallel)

        out, finals = self.stack(x, direction, time_dim=1, lengths=lengths)
        return out, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
