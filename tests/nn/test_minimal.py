"""minGRU / minLSTM: the linear and log-space parallel scans against the step-by-step recurrence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.nn.minimal import MINIMAL, MinGRU, MinLSTM, g, log_g, parallel_scan_log
from rnnlab.nn.scan import DEFAULT_CHUNK

IN, HID, BATCH, STEPS = 4, 5, 3, 16
LONG = 2 * DEFAULT_CHUNK + 22  # whole chunks and a remainder: the chunked path


def build(name: str, dtype=torch.float32, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return MINIMAL[name](IN, HID, **kw).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [False, True], ids=["h0=None", "h0"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize(("scan", "steps"), [("linear", STEPS), ("linear", LONG), ("log", STEPS)])
@pytest.mark.parametrize("name", list(MINIMAL))
def test_parallel_equals_sequential(
    name, scan, steps, num_layers, bidirectional, with_state, dtype
):
    m = build(name, dtype, num_layers=num_layers, bidirectional=bidirectional, scan=scan)
    x = torch.randn(BATCH, steps, IN, dtype=dtype, requires_grad=True)
    n = num_layers * (2 if bidirectional else 1)
    # Signed initial state: the log scan keeps the h0 term outside the log domain.
    hx = torch.randn(n, BATCH, HID, dtype=dtype) if with_state else None
    out_p, hn_p = m(x, hx, parallel=True)
    out_s, hn_s = m(x, hx, parallel=False)
    assert out_p.shape == (BATCH, steps, HID * (2 if bidirectional else 1))
    assert hn_p.shape == (n, BATCH, HID)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(out_p, out_s, rtol=tol, atol=tol)
    torch.testing.assert_close(hn_p, hn_s, rtol=tol, atol=tol)
    gp = torch.autograd.grad(out_p.sum() + hn_p.sum(), [x, *m.parameters()])
    gs = torch.autograd.grad(out_s.sum() + hn_s.sum(), [x, *m.parameters()])
    for a, b in zip(gp, gs, strict=True):
        torch.testing.assert_close(a, b, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize(
    ("dtype", "steps", "tol"),
    [(torch.float32, STEPS, 1e-5), (torch.float64, LONG, 1e-10)],
    ids=["f32", "f64"],
)
@pytest.mark.parametrize("name", list(MINIMAL))
def test_linear_scan_equals_log_scan(name, dtype, steps, tol):
    """Same weights, both scans: outputs, final states and every gradient agree.

    float32 stays at 16 steps, where the log scan itself is accurate to 1e-5 (its error
    grows with T; see test_long_sequence_is_stable and tests/nn/test_scan.py).
    """
    kw = {"num_layers": 2, "bidirectional": True}
    lin, log = build(name, dtype, **kw), build(name, dtype, scan="log", **kw)
    x = torch.randn(BATCH, steps, IN, dtype=dtype, requires_grad=True)
    hx = torch.randn(4, BATCH, HID, dtype=dtype, requires_grad=True)
    results = []
    for m in (lin, log):
        out, h_n = m(x, hx)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=dtype)).sum() + h_n.square().sum()
        results.append((out, h_n, *torch.autograd.grad(loss, [x, hx, *m.parameters()])))
    for i, (a, b) in enumerate(zip(*results, strict=True)):
        # Gradients sum over batch and time, as in test_parallel_equals_sequential.
        scale = 1 if i < 2 else 10
        torch.testing.assert_close(a, b, rtol=scale * tol, atol=scale * tol)


def test_scan_choice_is_checked_and_shown():
    with pytest.raises(ConfigError, match="scan='fast'.*linear, log"):
        build("mingru", scan="fast")
    assert "scan='log'" in repr(build("minlstm", scan="log"))
    assert build("mingru").scan == "linear"


def test_one_direction_returns_the_scan_without_a_copy():
    """With one direction the layer's output is the scan's own tensor (no torch.cat)."""
    x = torch.randn(BATCH, STEPS, IN, requires_grad=True)
    for scan, node in (("linear", "LinearScanBackward"), ("log", "AddBackward")):
        out, _ = build("mingru", scan=scan)(x, torch.zeros(1, BATCH, HID))
        assert type(out.grad_fn).__name__.startswith(node), out.grad_fn
    out, _ = build("mingru", bidirectional=True)(x)
    assert type(out.grad_fn).__name__.startswith("Cat")


def _reference_recurrence(name: str, m, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The paper's equations written out directly, independently of the module's coeffs()."""
    w, bias = m.proj[0].weight, m.proj[0].bias
    outs = []
    for t in range(x.shape[1]):
        pre = x[:, t] @ w.t() + bias
        if name == "mingru":
            z = torch.sigmoid(pre[:, :HID])
            h = (1 - z) * h + z * g(pre[:, HID:])
        else:
            f, i = torch.sigmoid(pre[:, :HID]), torch.sigmoid(pre[:, HID : 2 * HID])
            h = f / (f + i) * h + i / (f + i) * g(pre[:, 2 * HID :])
        outs.append(h)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("name", list(MINIMAL))
def test_matches_paper_equations(name):
    m = build(name, torch.float64)
    x = torch.randn(BATCH, STEPS, IN, dtype=torch.float64)
    h0 = torch.randn(1, BATCH, HID, dtype=torch.float64)
    expected = _reference_recurrence(name, m, x, h0[0])
    out, h_n = m(x, h0)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h_n[0], expected[:, -1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", list(MINIMAL))
def test_step_generation_matches_parallel(name):
    m = build(name, num_layers=2)
    x = torch.randn(BATCH, STEPS, IN)
    hx = torch.rand(2, BATCH, HID)
    out, h_n = m(x, hx)
    h, ys = hx, []
    for t in range(STEPS):
        y, h = m.step(x[:, t], h)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, h_n, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError):
        build(name, bidirectional=True).step(x[:, 0])


def test_initial_state_is_used_and_continues_a_sequence():
    m = build("mingru", num_layers=2)
    x = torch.randn(BATCH, 2 * STEPS, IN)
    full, _ = m(x)
    first, h_mid = m(x[:, :STEPS])
    second, _ = m(x[:, STEPS:], h_mid)
    torch.testing.assert_close(torch.cat([first, second], 1), full, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(m(x[:, STEPS:])[0], second)


def test_mingru_gradient_flows_to_every_parameter_and_early_inputs():
    m = build("mingru", num_layers=2, bidirectional=True, dropout=0.1)
    x = torch.randn(BATCH, 64, IN, requires_grad=True)
    out, h_n = m(x)
    (out[:, -1].sum() + h_n.sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0


@pytest.mark.parametrize(("scan", "tol"), [("linear", 1e-5), ("log", 1e-3)])
def test_long_sequence_is_stable(scan, tol):
    """T=2048 in float32 stays close to a float64 step-by-step run (no exp overflow).

    In the log scan the cumulative log-gate grows like T, so float32 rounding in the log
    domain costs about T * 1e-7 relative error: ~2e-4 here, hence its looser tolerance.
    Each step of the linear scan contracts (0 < a < 1), so its error does not grow with T.
    """
    m = build("mingru", torch.float64, scan=scan)
    x = 3 * torch.randn(2, 2048, IN, dtype=torch.float64)
    ref, _ = m(x, parallel=False)
    out, _ = m.float()(x.float())
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol)


def test_scan_primitive_and_activations():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    x = torch.cat([x, torch.zeros(1, dtype=torch.float64)]).requires_grad_()
    torch.testing.assert_close(log_g(x), g(x).log())
    assert (g(x) > 0).all()
    # g against its piecewise definition, gradient included; at 0 the x >= 0 branch's.
    piecewise = torch.where(x >= 0, x + 0.5, torch.sigmoid(x))
    assert torch.equal(g(x), piecewise)
    grad, ref = (torch.autograd.grad(y.sum(), [x])[0] for y in (g(x), piecewise))
    torch.testing.assert_close(grad, ref, rtol=1e-12, atol=0)
    log_a = F.logsigmoid(torch.randn(2, 9, 3, dtype=torch.float64))
    b = torch.rand(2, 9, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    h, hs = h0, []
    for t in range(9):
        h = log_a[:, t].exp() * h + b[:, t]
        hs.append(h)
    torch.testing.assert_close(parallel_scan_log(log_a, b.log(), h0), torch.stack(hs, 1))


def test_registry_and_shapes():
    assert {"mingru": MinGRU, "minlstm": MinLSTM} == MINIMAL
    m = MinLSTM(IN, HID, num_layers=3, bidirectional=True, batch_first=False)
    out, h_n = m(torch.randn(STEPS, BATCH, IN))
    assert out.shape == (STEPS, BATCH, 2 * HID) and h_n.shape == (6, BATCH, HID)
    with pytest.raises(RuntimeError):
        m(torch.randn(STEPS, BATCH, IN), torch.zeros(1, BATCH, HID))
