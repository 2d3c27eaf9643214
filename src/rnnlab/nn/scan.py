"""Scans over time for the linear recurrence h_t = a_t h_{t-1} + b_t, tensors [B, T, H].

Two ways to evaluate every h_t at once:

``linear`` (``parallel_scan``, the default of the minimal RNNs): a chunked scan in the
recurrence's own space. T is cut into chunks of ``chunk`` steps; one pass runs the
recurrence inside every chunk at once from a zero state, which gives each chunk's end value
and, with the product of its a's, the map from the state entering the chunk to the state
leaving it; a scan of length T/chunk (the same function, recursively) carries the state
across chunks; a second pass reruns each chunk from its true entering state. Each step is
one fused multiply-add over all chunks, so about 2 * chunk kernels plus the carry's (2 *
T/chunk while that is below 2 * chunk) and no transcendental function. Nothing is divided
by a product of a's, so products that underflow to 0, or a_t = 0 exactly, are exact: they
mean the state is forgotten. The backward pass is the same scan run backwards in time,

    g_t = dL/dh_t + a_{t+1} g_{t+1},   dL/db_t = g_t,   dL/da_t = g_t h_{t-1},
    dL/dh_0 = a_1 g_1,

so ``LinearScan`` stores only a and h, instead of the graph of a few hundred small ops
that autograd would record for the loops. Complex a, b (the LRU's diagonal recurrence) take
the same passes; their backward uses the conjugates of a and h, as torch's complex
gradients are conjugate Wirtinger derivatives. It uses only elementwise torch operations on
slices, so it runs unchanged on a GPU (each step is then a kernel launch).

``log`` (``parallel_scan_log``): Heinsen's scan in log space, three whole-sequence
operations (cumsum, logcumsumexp, exp) on log a and log b. It is the reference the linear
scan is tested against, and the alternative to measure on a GPU, where its three kernels
may beat the linear scan's many small ones at moderate T. On a CPU it is far slower (its
time goes to exp, log and logcumsumexp's backward) and less accurate: the cumulative sum
of log a grows like T, so float32 loses about T * 1e-7 relative accuracy, while each step
of the linear scan contracts (0 < a <= 1) and its error stays near 1e-7 at any T. It also
needs a_t > 0: a gate that reaches 0 in float32 gives log a = -inf and NaN, where the
linear scan is exact. (Gates computed in log form, as the minimal RNNs' ``log_coeffs``
do, never reach -inf; in the direct form 1 - sigmoid(k) is 0 for k > 17, which the linear
scan takes in its stride: the true a is below 5e-8 there.)
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.errors import ConfigError

SCANS = ("linear", "log")
# Steps per chunk. A forward pass launches about 2 * chunk + T/chunk kernels, fewest near
# chunk = sqrt(T/2); longer sequences recurse rather than needing a larger chunk. Measured
# on one CPU thread (B=8, H=128), forward + backward of the scan alone: T=512 took 2.5 ms
# at chunk 16-32, 3.0-3.3 at 64, 5.0 at 128; T=4096 took 16-19 ms from 32 to 96 (16.2-16.8
# at 64) and 20-21 at 256. In a whole MinGRU/MinLSTM training step 16 to 64 are within
# the noise and 128 is slower, so one fixed value serves both lengths.
DEFAULT_CHUNK = 64


def parallel_scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None) -> Tensor:
    """All h_t of h_t = a_t h_{t-1} + b_t from log a, log b of shape [B, T, H]; h0 is [B, H]."""
    a_star = log_a.cumsum(dim=1)
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    if h0 is not None:
        h = h + a_star.exp() * h0.unsqueeze(1)
    return h


def _run(a: Tensor, b: Tensor, s: Tensor | None, out: Tensor, reverse: bool) -> None:
    """The plain recurrence along dim 1 (any leading/trailing dims), into ``out``."""
    steps = range(a.shape[1] - 1, -1, -1) if reverse else range(a.shape[1])
    for t in steps:
        if s is None:
            out[:, t] = b[:, t]
        else:
            torch.addcmul(b[:, t], a[:, t], s, out=out[:, t])
        s = out[:, t]


def scan_into(
    a: Tensor, b: Tensor, h0: Tensor | None, out: Tensor, chunk: int, reverse: bool = False
) -> None:
    """Write every h_t of h_t = a_t h_{t-1} + b_t into ``out`` [B, T, H]; no autograd.

    ``reverse`` runs backwards in time, h_t = a_t h_{t+1} + b_t with h0 entering at the
    end. a, b and out may be any strided views (no copies are made of them); out must not
    overlap a or b.
    """
    T = a.shape[1]
    n = T // chunk
    if chunk < 2 or n < 2:
        _run(a, b, h0, out, reverse)
        return
    body = slice(T - n * chunk, T) if reverse else slice(0, n * chunk)
    a_c, b_c, out_c = (x[:, body].unflatten(1, (n, chunk)) for x in (a, b, out))
    # Pass 1: each chunk from a zero state; its end value and the product of its a's.
    steps = list(range(chunk - 1, -1, -1) if reverse else range(chunk))
    end = b_c[:, :, steps[0]].clone()
    for c in steps[1:]:
        torch.addcmul(b_c[:, :, c], a_c[:, :, c], end, out=end)
    gain = a_c.prod(dim=2).to(a.dtype)
    # Carry: the state leaving each chunk, then the state entering it.
    leave = torch.empty_like(end)
    scan_into(gain, end, h0, leave, chunk, reverse)
    enter = torch.empty_like(end)
    first = -1 if reverse else 0
    if reverse:
        enter[:, :-1] = leave[:, 1:]
    else:
        enter[:, 1:] = leave[:, :-1]
    if h0 is None:
        enter[:, first] = 0
    else:
        enter[:, first] = h0
    # Pass 2: rerun each chunk from its entering state, writing every step.
    _run(a_c.transpose(1, 2), b_c.transpose(1, 2), enter, out_c.transpose(1, 2), reverse)
    # The steps outside the whole chunks continue from the adjacent state.
    tail = slice(0, T - n * chunk) if reverse else slice(n * chunk, T)
    if tail.start != tail.stop:
        edge = out[:, T - n * chunk] if reverse else out[:, n * chunk - 1]
        _run(a[:, tail], b[:, tail], edge, out[:, tail], reverse)


class LinearScan(torch.autograd.Function):
    """h = scan(a, b, h0) with the backward pass as a reverse scan (see the module docstring).

    A plain backward writes g and dL/da straight into two new tensors. Under
    ``create_graph`` the backward is built from this Function and differentiable tensor
    operations instead (a few more copies), so double backward works too.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor | None, chunk: int, reverse: bool) -> Tensor:
        h = torch.empty(a.shape, dtype=torch.result_type(a, b), device=a.device)
        scan_into(a, b, h0, h, chunk, reverse)
        ctx.save_for_backward(a, h, h0)
        ctx.chunk, ctx.reverse = chunk, reverse
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, h, h0 = ctx.saved_tensors
        if a.is_complex():  # only complex tensors pay for the conjugates
            a, h = a.conj().resolve_conj(), h.conj().resolve_conj()
            h0 = None if h0 is None else h0.conj().resolve_conj()
        # A state's gradient reaches the state before it (after it, when reverse) through
        # the next step's a, so g is a scan the other way in time with a shifted by a step.
        # first: the step h0 enters; rest, rest_prev: the other steps and their previous
        # states; last: the step g starts from; body, a_next: the steps g is scanned over
        # and the a's that carry g into them.
        if ctx.reverse:
            first, rest, rest_prev = -1, slice(None, -1), slice(1, None)
            last, body, a_next = 0, slice(1, None), a[:, :-1]
        else:
            first, rest, rest_prev = 0, slice(1, None), slice(None, -1)
            last, body, a_next = -1, slice(None, -1), a[:, 1:]
        if torch.is_grad_enabled():
            g, grad_a = _backward_graph(a, h, h0, grad_h, ctx.chunk, ctx.reverse)
        else:
            g = torch.empty_like(h)
            g[:, last] = grad_h[:, last]
            scan_into(
                a_next, grad_h[:, body], grad_h[:, last], g[:, body], ctx.chunk, not ctx.reverse
            )
            grad_a = None
            if ctx.needs_input_grad[0]:
                grad_a = torch.empty_like(a)
                torch.mul(g[:, rest], h[:, rest_prev], out=grad_a[:, rest])
                if h0 is None:
                    grad_a[:, first] = 0
                else:
                    torch.mul(g[:, first], h0, out=grad_a[:, first])
        grad_b = g if ctx.needs_input_grad[1] else None
        grad_h0 = a[:, first] * g[:, first] if ctx.needs_input_grad[2] else None
        return grad_a, grad_b, grad_h0, None, None


def _backward_graph(
    a: Tensor, h: Tensor, h0: Tensor | None, grad_h: Tensor, chunk: int, reverse: bool
) -> tuple[Tensor, Tensor]:
    """(g, dL/da) from differentiable operations, for a backward pass under create_graph;
    a, h and h0 arrive conjugated when complex."""
    if reverse:
        a_next = torch.nn.functional.pad(a[:, :-1], (0, 0, 1, 0))
    else:
        a_next = torch.nn.functional.pad(a[:, 1:], (0, 0, 0, 1))
    g = LinearScan.apply(a_next, grad_h, None, chunk, not reverse)
    start = h.new_zeros(h[:, :1].shape) if h0 is None else h0.unsqueeze(1)
    h_prev = torch.cat([h[:, 1:], start] if reverse else [start, h[:, :-1]], dim=1)
    return g, g * h_prev


def parallel_scan(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
    reverse: bool = False,
) -> Tensor:
    """All h_t of h_t = a_t h_{t-1} + b_t from a, b of shape [B, T, H]; h0 is [B, H].

    Differentiable in a, b and h0. ``reverse`` scans from the last step to the first.
    """
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"a and b must be [B, T, H] of one shape, got {a.shape} and {b.shape}")
    if h0 is not None and h0.shape != (a.shape[0], a.shape[2]):
        raise ValueError(f"h0 must be [B, H] = {(a.shape[0], a.shape[2])}, got {h0.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ConfigError("chunk", chunk, "a positive integer")
    return LinearScan.apply(a, b, h0, chunk, reverse)
