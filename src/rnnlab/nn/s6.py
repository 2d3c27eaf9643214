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
(channel, state), so training runs it as a scan over blocks of time (``SelectiveScan``)
that never stores the [T, B, H, N] states; ``parallel=False`` runs it step by step under
autograd. Layers run time-major inside. The state per layer-direction is (y at the last
step [B, H], h [B, H*N], channel-major); only h is recurrent.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import ConfigError
from rnnlab.nn import native
from rnnlab.nn.options import S6_D_STATE
from rnnlab.nn.stacking import StackedLayers, last_valid, valid_steps

DT_FLOOR = 1e-4  # the smallest Delta the initialisation may give
LOG2E = 1.0 / math.log(2.0)  # exp(z) = exp2(z log2 e): torch's exp2 is the faster kernel
# Steps per block of the selective scan. A block's [L, B, N, H] buffers (1 MiB each at
# B=8, H=64, N=16, L=32) stay in cache from one pass over them to the next; shorter blocks
# pay more per-operation overhead. Measured on one CPU thread (B=8, H=64, N=16, T=4096),
# a whole S6 training step: L = 8, 16, 32, 64 took 237, 209, 193, 197 ms of CPU.
SCAN_BLOCK = 32


class SelectiveScan(torch.autograd.Function):
    """y_t = C_t h_t with h_t = exp(Delta_t A) h_{t-1} + (Delta_t u_t) B_t, per channel and
    state, and the final h, for time-major inputs.

    Inputs: delta, u [T, B, H]; neg_a = A [H, N]; B, C [T, B, N]; D [H]; h0 [B, H*N]
    (channel-major, as the layer's state) or None. Returns y_t = C_t h_t + D u_t [T, B, H]
    and h_T [B, H*N]; the products Delta u and D u are taken here rather than by autograd
    (fewer passes over [T, B, H] and their gradients summed in place).

    The state [T, B, N, H] (16 times the outputs at N = 16) is never materialised: time is
    cut into blocks of ``SCAN_BLOCK`` steps and everything a block needs (exp(Delta A), the
    inputs Delta u B, the states, their contraction with C) is computed in a few block-sized
    buffers that stay in cache, the state carried from block to block. The forward pass
    keeps only the state entering each block; the backward pass runs the blocks last to
    first, recomputes each block's states from its entering state (as Mamba's fused kernel
    recomputes them) and runs the adjoint recurrence g_t = dL/dh_t + a_{t+1} g_{t+1}
    backwards through it. With z = Delta A and a = exp(z):

        dL/dz = g_t a_t h_{t-1},   dL/dDelta = sum_n A dL/dz,   dL/dA = sum_{b,t} Delta dL/dz,
        dL/d(du) = sum_n B g (du = Delta u),   dL/dB = sum_h du g,   dL/dC = sum_h h dL/dy,
        dL/dh_0 = a_1 g_1.

    The steps themselves are the recurrence, one multiply-add over [B, N, H] per step, in
    time order: every product is the paper's, nothing is divided and no exponent is
    accumulated over steps, so float32 keeps its accuracy at any length. Laid out [N, H]
    (channel innermost), the sums over n are matrix products or sums over an outer axis.
    """

    @staticmethod
    def forward(ctx, delta, u, neg_a, B, C, D, h0):
        steps, batch, hidden = delta.shape
        n_state = neg_a.shape[1]
        block = min(SCAN_BLOCK, steps)
        a2 = (neg_a * LOG2E).T.contiguous()  # [N, H]
        d4, du4 = delta.unsqueeze(2), (delta * u).unsqueeze(2)  # [T, B, 1, H]
        B4, C4 = B.contiguous().unsqueeze(3), C.contiguous().unsqueeze(2)  # [T,B,N,1], [T,B,1,N]
        starts = range(0, steps, block)
        entering = delta.new_empty(len(starts), batch, n_state, hidden)
        a = delta.new_empty(block, batch, n_state, hidden)
        h = delta.new_empty(block + 1, batch, n_state, hidden)  # h[0]: the state entering
        y = delta.new_empty(steps, batch, 1, hidden)
        h[0] = 0 if h0 is None else h0.view(batch, hidden, n_state).transpose(1, 2)
        a_steps, h_steps = a.unbind(0), h.unbind(0)
        for k, t0 in enumerate(starts):
            t1 = min(t0 + block, steps)
            n, rows = t1 - t0, (t1 - t0) * batch
            entering[k] = h[0]
            _block_states(d4[t0:t1], du4[t0:t1], B4[t0:t1], a2, a, h, a_steps, h_steps)
            torch.bmm(C4[t0:t1].view(rows, 1, n_state), h[1 : n + 1].view(rows, n_state, hidden),
                      out=y[t0:t1].view(rows, 1, hidden))  # fmt: skip
            h[0] = h[n]
        ctx.save_for_backward(d4, du4, u, neg_a, B4, C4, D, entering)
        ctx.block, ctx.has_h0 = block, h0 is not None
        return y.squeeze(2).addcmul_(u, D), h[0].transpose(1, 2).reshape(batch, -1)

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        d4, du4, u, neg_a, B4, C4, D, entering = ctx.saved_tensors
        steps, batch, _, hidden = d4.shape
        n_state, block = neg_a.shape[1], ctx.block
        a2, neg_a_t = (neg_a * LOG2E).T.contiguous(), neg_a.T.contiguous()
        gy4 = grad_y.unsqueeze(2)  # [T, B, 1, H]
        shape = (block, batch, n_state, hidden)
        a, g, tmp = (d4.new_empty(shape) for _ in range(3))
        h = d4.new_empty(block + 1, batch, n_state, hidden)
        grad_neg_a_acc = d4.new_zeros(shape)  # dL/dA summed over blocks, then over (t, b)
        grad_c, grad_b = (
            d4.new_empty(steps, batch, 1, n_state),
            d4.new_empty(steps, batch, 1, n_state),
        )
        grad_du, grad_delta = (
            d4.new_empty(steps, batch, 1, hidden),
            d4.new_empty(steps, batch, hidden),
        )
        a_steps, g_steps, h_steps = a.unbind(0), g.unbind(0), h.unbind(0)
        carry = grad_last.view(batch, hidden, n_state).transpose(1, 2)  # reaches h_T
        starts = list(range(0, steps, block))
        for k in range(len(starts) - 1, -1, -1):
            t0 = starts[k]
            t1 = min(t0 + block, steps)
            n = t1 - t0
            h[0] = entering[k]
            _block_states(d4[t0:t1], du4[t0:t1], B4[t0:t1], a2, a, h, a_steps, h_steps)
            g_ = g[:n]
            torch.mul(gy4[t0:t1], C4[t0:t1].transpose(2, 3), out=g_)  # dL/dh from y
            g_steps[n - 1].add_(carry)
            for j in range(n - 2, -1, -1):
                torch.addcmul(g_steps[j], a_steps[j + 1], g_steps[j + 1], out=g_steps[j])
            carry = a_steps[0] * g_steps[0]  # dL/dh entering the block, through a_{t0}
            rows = n * batch
            torch.bmm(gy4[t0:t1].reshape(rows, 1, hidden),
                      h[1 : n + 1].view(rows, n_state, hidden).transpose(1, 2),
                      out=grad_c[t0:t1].view(rows, 1, n_state))  # fmt: skip
            torch.bmm(du4[t0:t1].reshape(rows, 1, hidden), g_.view(rows, n_state, hidden).transpose(1, 2),
                      out=grad_b[t0:t1].view(rows, 1, n_state))  # fmt: skip
            torch.bmm(B4[t0:t1].view(rows, 1, n_state), g_.view(rows, n_state, hidden),
                      out=grad_du[t0:t1].view(rows, 1, hidden))  # fmt: skip
            torch.mul(g_, a[:n], out=g_).mul_(h[:n])  # dL/dz; g is not needed any more
            grad_neg_a_acc[:n].addcmul_(g_, d4[t0:t1])
            torch.sum(torch.mul(g_, neg_a_t, out=tmp[:n]), 2, out=grad_delta[t0:t1])
        grad_neg_a = grad_neg_a_acc.sum((0, 1)).T
        grad_h0 = carry.transpose(1, 2).reshape(batch, -1) if ctx.has_h0 else None
        grad_du = grad_du.squeeze(2)
        grad_delta.addcmul_(grad_du, u)
        grad_u = torch.mul(grad_du, d4.squeeze(2)).addcmul_(grad_y, D)
        grad_d = (grad_y * u).sum((0, 1))
        return (grad_delta, grad_u, grad_neg_a, grad_b.squeeze(2), grad_c.squeeze(2), grad_d,
                grad_h0)  # fmt: skip


class NativeSelectiveScan(torch.autograd.Function):
    """``SelectiveScan`` run by the C++ kernel (``rnnlab/nn/native/selective_scan.cpp``):
    the same inputs, outputs and products, each step fused into one pass (exp(Delta A)
    formed inline); float32 on the CPU."""

    @staticmethod
    def forward(ctx, delta, u, neg_a, B, C, D, h0):
        steps, batch, hidden = delta.shape
        n_state = neg_a.shape[1]
        inputs = [t.contiguous() for t in (delta, u, neg_a, B, C, D)]
        start = delta.new_zeros(batch, hidden, n_state) if h0 is None else h0
        y, last, entering = native.selective_scan().forward(
            *inputs, start.reshape(batch, hidden, n_state).contiguous()
        )
        ctx.save_for_backward(*inputs, entering)
        ctx.has_h0 = h0 is not None
        return y, last.view(batch, hidden * n_state)

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        *inputs, entering = ctx.saved_tensors
        batch, hidden = grad_y.shape[1], grad_y.shape[2]
        grads = native.selective_scan().backward(
            *inputs, entering, grad_y.contiguous(),
            grad_last.reshape(batch, hidden, -1).contiguous(),
        )  # fmt: skip
        grad_h0 = grads[6].view(batch, -1) if ctx.has_h0 else None
        return (*grads[:6], grad_h0)


def native_scan_usable(kernel: str, *tensors: Tensor) -> bool:
    """Whether ``kernel`` (``model.kernel``) runs this scan in C++: float32 on the CPU, the
    kernel built here (``auto`` falls back to torch's operations where it is not)."""
    if kernel == "torch" or any(t.device.type != "cpu" or t.dtype != torch.float32
                                for t in tensors):  # fmt: skip
        return False
    return native.selective_scan() is not None


def _block_states(d4: Tensor, du4: Tensor, B4: Tensor, a2: Tensor, a: Tensor, h: Tensor,
                  a_steps: tuple[Tensor, ...], h_steps: tuple[Tensor, ...]) -> None:  # fmt: skip
    """One block's a_t = exp(Delta_t A) into ``a`` and states h_t into ``h[1:]``, from the
    state in ``h[0]``: Delta, du [n, B, 1, H], B [n, B, N, 1], a2 = A log2 e [N, H];
    ``a_steps``, ``h_steps``: a and h unbound along time (made once, not per block)."""
    n = d4.shape[0]
    torch.mul(d4, a2, out=a[:n]).exp2_()
    torch.mul(du4, B4, out=h[1 : n + 1])  # Delta u B, overwritten by the states in place
    for j in range(n):
        torch.addcmul(h_steps[j + 1], a_steps[j], h_steps[j], out=h_steps[j + 1])


class S6Direction(nn.Module):
    """One layer-direction of S6 (see the module docstring)."""

    def __init__(self, n_in: int, hidden: int, n_state: int, dt_min: float,
                 dt_max: float, kernel: str = "auto") -> None:  # fmt: skip
        super().__init__()
        self.n_state, self.rank, self.kernel = n_state, math.ceil(hidden / 16), kernel
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
        """x: [T, B, n_in] (time-major); h0: [B, H*N] or None -> y [T, B, H],
        (y_last [B, H], h_T [B, H*N])."""
        u = self.in_proj(x)
        dt_low, B_t, C_t = self.x_proj(u).split([self.rank, self.n_state, self.n_state], -1)
        delta = F.softplus(self.dt_proj(dt_low))  # [T, B, H]
        valid = valid_steps(lengths, x.shape[0], x.device)
        if valid is not None:  # Delta = 0 at padded steps: A_bar = 1 and B_bar = 0 exactly
            valid = valid.T.unsqueeze(-1).to(delta.dtype)  # [T, B, 1]
            delta = delta * valid
        neg_a = -self.A_log.exp()
        if parallel:
            # One dtype for the hand-written passes, the step mode's: under autocast the
            # projections are bfloat16 and A float32, and the recurrence runs in float32.
            dtype = torch.promote_types(delta.dtype, neg_a.dtype)
            delta, u, B_t, C_t = (t.to(dtype) for t in (delta, u, B_t, C_t))
            scan = NativeSelectiveScan if native_scan_usable(self.kernel, delta) else SelectiveScan
            y, h_last = scan.apply(delta, u, neg_a, B_t, C_t, self.D.to(dtype), h0)
        else:
            y_ssm, h_last = _steps(delta, delta * u, neg_a, B_t, C_t, h0)
            y = y_ssm + u * self.D
        if valid is not None:
            y = y * valid
        # Padded steps kept the state, so the last step holds each sequence's final state.
        return y, (last_valid(y.transpose(0, 1), lengths), h_last)


def _steps(delta: Tensor, du: Tensor, neg_a: Tensor, B: Tensor, C: Tensor,
           h0: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The step mode, one step at a time under autograd: the same inputs and outputs as
    ``SelectiveScan``, the state [B, H, N]."""
    a = torch.exp(delta.unsqueeze(-1) * neg_a)  # [T, B, H, N]
    b = du.unsqueeze(-1) * B.unsqueeze(2)
    h = a.new_zeros(a.shape[1:]) if h0 is None else h0.view(a.shape[1:])
    ys = []
    # unbind, not a[t]: indexing's backward writes a whole-sequence gradient per step.
    for a_t, b_t, c_t in zip(a.unbind(0), b.unbind(0), C.unbind(0), strict=True):
        h = a_t * h + b_t
        ys.append((h @ c_t.unsqueeze(-1)).squeeze(-1))
    return torch.stack(ys), h.flatten(1)


class S6(StackedLayers):
    """Stacked, optionally bidirectional S6 layers (constructor arguments as torch.nn's
    recurrent layers, plus the cell's keys ``d_state``, ``dt_min``, ``dt_max`` and ``kernel``:
    ``auto`` runs the scan in C++ (``rnnlab.nn.native``) where it builds, ``native`` requires
    that, ``torch`` keeps torch's operations)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 d_state: int | None = None, dt_min: float = 0.001, dt_max: float = 0.1,
                 kernel: str = "auto", **options: Any) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        self.d_state = d_state or S6_D_STATE
        if kernel == "native" and native.selective_scan() is None:
            raise ConfigError("model.kernel", kernel, "auto or torch: the C++ scan could not "
                              f"be built here ({native.unavailable('selective_scan')})")  # fmt: skip
        self.cells = self.per_direction(
            lambda n_in: S6Direction(n_in, hidden_size, self.d_state, dt_min, dt_max, kernel)
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

        # Time-major inside: each step of the scan is then one contiguous piece of memory.
        out, finals = self.stack(x.transpose(0, 1), direction, time_dim=0, lengths=lengths)
        return out.transpose(0, 1), (
            torch.stack([f[0] for f in finals]),
            torch.stack([f[1] for f in finals]),
        )
