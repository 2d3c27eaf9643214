"""The chunked linear scan against a plain loop, the log-space scan and finite differences."""

from __future__ import annotations

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.nn.scan import DEFAULT_CHUNK, parallel_scan, parallel_scan_log, scan_into

B, H = 2, 3
F64 = torch.float64


def loop(a, b, h0=None, reverse=False):
    """h_t = a_t h_{t-1} + b_t one step at a time (h_{t+1} when reverse), with autograd."""
    steps = range(a.shape[1] - 1, -1, -1) if reverse else range(a.shape[1])
    h, out = h0, [None] * a.shape[1]
    for t in steps:
        h = b[:, t] if h is None else a[:, t] * h + b[:, t]
        out[t] = h
    return torch.stack(out, 1)


def coeffs(steps, dtype=F64, seed=0, requires_grad=False):
    """Gates in (0, 1) as a sigmoid gives them, b > 0, and a signed initial state."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.sigmoid(torch.randn(B, steps, H, generator=gen, dtype=dtype))
    b = torch.rand(B, steps, H, generator=gen, dtype=dtype) + 0.01
    h0 = torch.randn(B, H, generator=gen, dtype=dtype)
    return (x.requires_grad_(requires_grad) for x in (a, b, h0))


# Lengths below, at and around multiples of the chunk, several chunks with a remainder,
# and enough chunks that the carry between chunks is itself chunked (recursion).
CASES = [(1, 4), (3, 4), (4, 4), (5, 4), (8, 4), (9, 4), (23, 4), (70, 3), (64, 8), (16, 1)]


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["h0=None", "h0"])
@pytest.mark.parametrize(("steps", "chunk"), CASES)
def test_scan_into_equals_loop(steps, chunk, with_h0, reverse):
    a, b, h0 = coeffs(steps)
    h0 = h0 if with_h0 else None
    out = torch.full_like(a, float("nan"))  # every step must be written
    scan_into(a, b, h0, out, chunk, reverse)
    torch.testing.assert_close(out, loop(a, b, h0, reverse), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize(("steps", "chunk"), [(1, 4), (3, 4), (9, 4), (23, 4), (12, 3)])
def test_gradcheck_and_double_backward(steps, chunk, reverse):
    a, b, h0 = coeffs(steps, requires_grad=True)

    def fn(a, b, h0=None):
        return parallel_scan(a, b, h0, chunk=chunk, reverse=reverse)

    assert torch.autograd.gradcheck(fn, (a, b, h0))
    assert torch.autograd.gradcheck(fn, (a, b))
    # Under create_graph the backward takes another route; gradgradcheck differentiates
    # that route against itself, so check its first derivatives against the plain one.
    weight = torch.randn_like(a)
    plain = torch.autograd.grad((fn(a, b, h0) * weight).sum(), [a, b, h0])
    graph = torch.autograd.grad((fn(a, b, h0) * weight).sum(), [a, b, h0], create_graph=True)
    for p, q in zip(plain, graph, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradgradcheck(fn, (a, b, h0))


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradients_equal_loop_with_partial_requires_grad(reverse):
    """Only b needs a gradient (the other inputs skip theirs), then only a and h0."""
    a, b, h0 = coeffs(41)
    weight = torch.randn_like(a)
    for wanted in ([b], [a, h0]):
        for x in (a, b, h0):
            x.requires_grad_(any(x is w for w in wanted))
        fast = torch.autograd.grad((parallel_scan(a, b, h0, 8, reverse) * weight).sum(), wanted)
        ref = torch.autograd.grad((loop(a, b, h0, reverse) * weight).sum(), wanted)
        for f, r in zip(fast, ref, strict=True):
            torch.testing.assert_close(f, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "steps", "tol"),
    [(torch.float32, 1, 1e-5), (torch.float32, 13, 1e-5), (torch.float32, 20, 1e-5)]
    + [(F64, 1, 1e-12), (F64, 37, 1e-12), (F64, 300, 1e-10)],
    ids=["f32-1", "f32-13", "f32-20", "f64-1", "f64-37", "f64-300"],
)
def test_equals_log_scan(dtype, steps, tol):
    """Values and gradients (with respect to log a, log b, h0, where the log scan takes
    them) agree with Heinsen's log-space scan, at chunk 4 and at the default chunk.

    float32 stops at 20 steps: the log scan's own float32 error grows with T (against
    float64, its gradients are off by about 1e-5 at T = 37 and 2e-5 at T = 64) while the
    linear scan's stays near 2e-7 at every length (see the next test).
    """
    a, b, h0 = coeffs(steps, dtype)
    log_a, log_b = (x.log().requires_grad_() for x in (a, b))
    h0.requires_grad_()
    weight = torch.randn(a.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    log = parallel_scan_log(log_a, log_b, h0)
    g_log = torch.autograd.grad((log * weight).sum(), [log_a, log_b, h0])
    for chunk in (4, DEFAULT_CHUNK):
        lin = parallel_scan(log_a.exp(), log_b.exp(), h0, chunk)
        torch.testing.assert_close(lin, log, rtol=tol, atol=tol)
        g_lin = torch.autograd.grad((lin * weight).sum(), [log_a, log_b, h0])
        for x, y in zip(g_lin, g_log, strict=True):
            torch.testing.assert_close(x, y, rtol=tol, atol=tol)


def test_float32_error_does_not_grow_with_length():
    """Over 4096 steps float32 stays within 1e-5 of float64: no cumulative sum of logs."""
    a, b, h0 = coeffs(4096, seed=1)
    ref = loop(a, b, h0)
    out = parallel_scan(a.float(), b.float(), h0.float())
    assert (out.double() - ref).abs().max() < 1e-5


def test_zero_gates_and_underflowing_products_are_exact():
    """a_t = 0 forgets the state exactly, and products of many a < 1 underflow to 0
    harmlessly: nothing is divided by them. (log a = -inf would make the log scan NaN.)"""
    a, b, h0 = coeffs(600, torch.float32)
    a[:, ::7] = 0.0
    a[:, 300:] = 1e-3  # products reach 1e-45 within a chunk
    a.requires_grad_()
    b.requires_grad_()
    out = parallel_scan(a, b, h0)
    ref = loop(a.double(), b.double(), h0.double())
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-6)
    grads = torch.autograd.grad(out.sum(), [a, b])
    refs = torch.autograd.grad(ref.sum(), [a, b])
    for g, r in zip(grads, refs, strict=True):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g.double(), r.double(), rtol=1e-5, atol=1e-5)


def test_strided_inputs_and_expanded_gradient():
    """Views with gaps (a chunk of a projection, a time-major transpose) and the
    stride-0 gradient of a sum are read in place."""
    gen = torch.Generator().manual_seed(3)
    pre = torch.randn(B, 75, 2 * H, generator=gen, dtype=F64, requires_grad=True)
    a = torch.sigmoid(pre[..., :H])
    b = pre[..., H:].exp().transpose(0, 1).contiguous().transpose(0, 1)
    out = parallel_scan(a, b, chunk=8)
    torch.testing.assert_close(out, loop(a, b), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(out.sum(), [pre], retain_graph=True)
    (ref,) = torch.autograd.grad(loop(a, b).sum(), [pre])
    torch.testing.assert_close(grad, ref, rtol=1e-12, atol=1e-12)


def test_device_agnostic_on_meta_tensors():
    """Forward and backward use only tensor operations (no host reads of values), so the
    same code runs on any device; meta tensors carry shapes without data."""
    a, b = (torch.empty(B, 200, H, device="meta", requires_grad=True) for _ in range(2))
    h0 = torch.empty(B, H, device="meta", requires_grad=True)
    out = parallel_scan(a, b, h0)
    grads = torch.autograd.grad(out.sum(), [a, b, h0])
    assert out.device.type == "meta" and [g.shape for g in grads] == [a.shape, b.shape, h0.shape]


def test_low_precision_keeps_dtype():
    a, b, h0 = coeffs(150)
    out = parallel_scan(a.bfloat16(), b.bfloat16(), h0.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.double(), loop(a, b, h0), rtol=0.05, atol=0.05)


def test_bad_arguments():
    a, b, h0 = coeffs(5)
    for chunk in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="chunk"):
            parallel_scan(a, b, chunk=chunk)
    with pytest.raises(ValueError, match="one shape"):
        parallel_scan(a, b[:, :4])
    with pytest.raises(ValueError, match="h0"):
        parallel_scan(a, b, h0[:1])
    assert DEFAULT_CHUNK >= 2
