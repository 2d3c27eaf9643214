"""The modern cells (LRU, S6, sLSTM, mLSTM): each mode against the other and against a plain
float64 loop written here from the papers' equations (unstabilised for the xLSTM cells, so
the stabiliser is checked too), variable lengths, carried state, initialisation, state size."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from rnnlab.nn.lru import LRU
from rnnlab.nn.recurrent import RecurrentStack
from rnnlab.nn.s6 import S6, SCAN_BLOCK, SelectiveScan
from rnnlab.nn.xlstm import MLSTM, SLSTM, _mlstm_chunked, _mlstm_steps

LAYERS = {"lru": LRU, "s6": S6, "slstm": SLSTM, "mlstm": MLSTM}
OPTIONS = {"lru": {"r_min": 0.5, "r_max": 0.999}, "s6": {"d_state": 4},
           "slstm": {"num_heads": 2}, "mlstm": {"num_heads": 2}}  # fmt: skip
PARALLEL = ["lru", "s6", "mlstm"]  # the cells with a parallel mode


def build(cell: str, input_size: int = 3, hidden: int = 8, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    return LAYERS[cell](input_size, hidden, **{**OPTIONS[cell], **kw}).to(dtype)


# -- reference loops, one sequence batch [B, T, I] -> outputs [B, T, H] -----------------
def lru_reference(cell, u):
    lam = torch.exp(-cell.nu_log.exp() + 1j * cell.theta_log.exp())
    B = torch.complex(cell.B_re, cell.B_im) * cell.gamma_log.exp()[:, None]
    C = torch.complex(cell.C_re, cell.C_im)
    x, ys = torch.zeros(u.shape[0], lam.shape[0], dtype=lam.dtype), []
    for t in range(u.shape[1]):
        x = lam * x + u[:, t].to(lam.dtype) @ B.T
        skip = u[:, t] * cell.D if cell.D.dim() == 1 else u[:, t] @ cell.D.T
        ys.append((x @ C.T).real + skip)
    return torch.stack(ys, 1)


def s6_reference(cell, x):
    n, r = cell.n_state, cell.rank
    h, ys = torch.zeros(x.shape[0], cell.D.shape[0], n, dtype=x.dtype), []
    for t in range(x.shape[1]):
        u = x[:, t] @ cell.in_proj.weight.T + cell.in_proj.bias
        proj = u @ cell.x_proj.weight.T
        dt = F.softplus(proj[:, :r] @ cell.dt_proj.weight.T + cell.dt_proj.bias)
        b, c = proj[:, r : r + n], proj[:, r + n :]
        h = torch.exp(dt[..., None] * -cell.A_log.exp()) * h + (dt * u)[..., None] * b[:, None]
        ys.append((h * c[:, None]).sum(-1) + cell.D * u)
    return torch.stack(ys, 1)


def slstm_reference(cell, x):
    """Unstabilised: i = exp(i~), f = sigmoid(f~)."""
    batch, hidden = x.shape[0], cell.W.out_features // 4
    h = c = n = torch.zeros(batch, hidden, dtype=x.dtype)
    block = torch.block_diag(*cell.R)  # [H, 4H] as heads of [d, 4d]
    ys = []
    for t in range(x.shape[1]):
        rec = (h @ block).view(batch, cell.heads, 4, cell.d).transpose(1, 2).reshape(batch, -1)
        z, i, f, o = (x[:, t] @ cell.W.weight.T + cell.W.bias + rec).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.exp(i) * torch.tanh(z)
        n = torch.sigmoid(f) * n + torch.exp(i)
        h = torch.sigmoid(o) * c / n
        ys.append(h)
    return torch.stack(ys, 1)


def mlstm_reference(cell, x):
    """Unstabilised: h~ = C^T q / max(|n . q|, 1)."""
    batch, heads, d = x.shape[0], cell.heads, cell.d
    C, n, ys = torch.zeros(batch, heads, d, d, dtype=x.dtype), torch.zeros(batch, heads, d), []
    for t in range(x.shape[1]):
        q, k, v, o = (
            (x[:, t] @ cell.qkvo.weight.T + cell.qkvo.bias).view(batch, 4, heads, d).unbind(1)
        )
        k = k / math.sqrt(d)
        i, f = (x[:, t] @ cell.gates.weight.T + cell.gates.bias).view(batch, 2, heads).unbind(1)
        i, f = torch.exp(i)[..., None], torch.sigmoid(f)[..., None]
        C = f[..., None] * C + i[..., None] * k[..., :, None] * v[..., None, :]
        n = f * n + i * k
        den = torch.clamp((n * q).sum(-1).abs(), min=1.0)[..., None]
        ys.append((torch.sigmoid(o) * (q[..., None, :] @ C).squeeze(-2) / den).flatten(1))
    return torch.stack(ys, 1)


REFERENCES = {"lru": lru_reference, "s6": s6_reference, "slstm": slstm_reference,
              "mlstm": mlstm_reference}  # fmt: skip


@pytest.mark.parametrize("cell,input_size", [*((c, 3) for c in LAYERS), ("lru", 8)])
def test_each_cell_equals_its_equations_in_float64(cell, input_size):
    layer = build(cell, input_size)  # input_size 8 = hidden: the LRU's D is a vector
    x = torch.randn(2, 1024 if cell != "slstm" else 300, input_size, dtype=torch.float64)
    out, _ = layer(x)
    expected = REFERENCES[cell](layer.cells[0], x)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cell", PARALLEL)
def test_parallel_mode_equals_the_step_mode_over_1024_steps(cell, dtype):
    """To 1e-5 of the outputs' scale in float32 (1e-11 in float64). The mLSTM's normaliser
    max(|n . q|, 1) lets its outputs reach about 50 with these weights, and its float32 step
    recurrence drifts about 1e-5 of that over 1024 steps (its parallel form stays closer to
    float64), so it is held to 2e-5 and to one layer."""
    layer = build(cell, dtype=dtype, num_layers=1 if cell == "mlstm" else 2)
    x = torch.randn(2, 1024, 3, dtype=dtype)
    (out, state), (ref, ref_state) = layer(x), layer(x, parallel=False)
    tol = (2e-5 if cell == "mlstm" else 1e-5) if dtype == torch.float32 else 1e-11
    assert (out - ref).abs().max() <= tol * max(1.0, ref.abs().max().item())
    for got, want in zip(state, ref_state, strict=True):
        assert (got - want).abs().max() <= tol * max(1.0, want.abs().max().item())


def test_mlstm_chunks_carry_the_stabiliser_when_input_gates_swing():
    """Chunks of 16 steps, input gates +8 for 40 steps then -8: the state entering the later
    chunks outweighs their own steps, so its weight must enter each row's maximum m."""
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 2, 100, 4, dtype=torch.float64).unbind(0)
    i_tilde = torch.where(torch.arange(100) < 40, 8.0, -8.0).double().expand(2, 2, 100)
    log_f = F.logsigmoid(torch.randn(2, 2, 100, dtype=torch.float64) + 4)
    got, got_mem = _mlstm_chunked(q, k, v, i_tilde, log_f, None, chunk=16)
    want, want_mem = _mlstm_steps(q, k, v, i_tilde, log_f, None)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    for g, w in zip(got_mem, want_mem, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", PARALLEL)
def test_parallel_mode_gradients_equal_the_step_mode_ones(cell):
    layer = build(cell, num_layers=2, bidirectional=True)
    x = torch.randn(2, 300, 3, dtype=torch.float64, requires_grad=True)
    grads = [
        torch.autograd.grad(layer(x, parallel=parallel)[0].square().sum(), [x, *layer.parameters()])
        for parallel in (True, False)
    ]
    for got, want in zip(*grads, strict=True):
        assert (got - want).abs().max() <= 1e-10 * max(1.0, want.abs().max().item())


def _graph_nodes(out: torch.Tensor) -> int:
    """The autograd nodes behind ``out``: what a backward pass keeps and walks."""
    seen, todo = set(), [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in seen:
            seen.add(node)
            todo.extend(n for n, _ in node.next_functions)
    return len(seen)


@pytest.mark.parametrize("cell", PARALLEL)
def test_the_parallel_mode_is_the_default_and_records_no_graph_per_step(cell):
    """The stack calls its layers with no mode given, so the default is what trains: the
    parallel mode, whose autograd graph is a few nodes per block of steps (a custom backward
    for the LRU and S6 scans, a few dozen per chunk of 64 steps for the mLSTM), where the
    step mode records nodes at every step (at 256 steps: 42, 30, 282 against 556, 2602,
    8993)."""
    layer = build(cell, dtype=torch.float32)
    x = torch.randn(2, 256, 3, requires_grad=True)
    default, parallel, steps = (_graph_nodes(layer(x, **mode)[0])
                                for mode in ({}, {"parallel": True}, {"parallel": False}))  # fmt: skip
    assert default == parallel and 4 * parallel < steps


@pytest.mark.parametrize("steps", [150, 96, 7])
@pytest.mark.parametrize("with_state", [False, True])
def test_s6_selective_scan_backward_is_the_gradient(with_state, steps):
    """Its hand-written backward against finite differences, through an initial state and
    the final state too: over blocks of 32 steps with a shorter last one (150), whole blocks
    only (96) and one block shorter than the block length (7)."""
    assert SCAN_BLOCK == 32
    torch.manual_seed(0)
    batch, hidden, n = 2, 3, 2
    delta = torch.rand(steps, batch, hidden, dtype=torch.float64) * 0.5
    args = [delta, torch.randn(steps, batch, hidden, dtype=torch.float64),
            -torch.rand(hidden, n, dtype=torch.float64) - 0.1,
            *torch.randn(2, steps, batch, n, dtype=torch.float64),
            torch.randn(hidden, dtype=torch.float64),
            torch.randn(batch, hidden * n, dtype=torch.float64) if with_state else None]  # fmt: skip
    args = [a.requires_grad_() if a is not None else None for a in args]

    def scan(*inputs):
        y, last = SelectiveScan.apply(*inputs)
        return y, last.square()

    assert torch.autograd.gradcheck(scan, args, fast_mode=True)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_gradients_are_finite_and_reach_every_parameter(cell):
    layer = build(cell, dtype=torch.float32)
    x = torch.randn(2, 1024 if cell != "slstm" else 200, 3, requires_grad=True)
    out, _ = layer(x)
    grads = torch.autograd.grad(out.square().mean(), [x, *layer.parameters()])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_padded_batch_equals_each_sequence_alone(cell, parallel, bidirectional):
    """Bidirectional too: the backward direction starts at each sequence's own last step."""
    layer = build(cell, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(3, 40, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([40, 23, 1])
    out, state = layer(x, lengths=lengths, parallel=parallel)
    for b, length in enumerate(lengths.tolist()):
        alone, alone_state = layer(x[b : b + 1, :length], parallel=parallel)
        torch.testing.assert_close(out[b : b + 1, :length], alone, rtol=0, atol=1e-6)
        assert torch.count_nonzero(out[b, length:]) == 0
        for got, want in zip(state, alone_state, strict=True):
            torch.testing.assert_close(got[:, b], want[:, 0], rtol=0, atol=1e-6)
    loss = out.square().sum() + sum(s.square().sum() for s in state)
    (grad,) = torch.autograd.grad(loss, [x])
    assert grad[1, 23:].abs().max() == 0 and grad[2, 1:].abs().max() == 0
    assert grad[1, :23].abs().max() > 0


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("cell", list(LAYERS))
def test_a_carried_state_continues_the_sequence(cell, parallel):
    layer = build(cell, num_layers=2, bidirectional=False)
    x = torch.randn(2, 150, 3, dtype=torch.float64)
    whole, whole_state = layer(x, parallel=parallel)
    first, state = layer(x[:, :70], parallel=parallel)
    second, end_state = layer(x[:, 70:], state, parallel=parallel)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-9, atol=1e-9)
    for got, want in zip(end_state, whole_state, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_bidirectional_stacks_give_every_shape(cell):
    stack = RecurrentStack(5, cell=cell, hidden_size=8, num_layers=3, bidirectional=True,
                           **OPTIONS[cell])  # fmt: skip
    x = torch.randn(4, 11, 5)
    out, state = stack(x)
    assert out.shape == (4, 11, 16) and stack.final_features(state).shape == (4, 16)
    assert all(s.shape[:2] == (6, 4) for s in state)
    assert torch.equal(stack.final_features(state)[:, 8:], out[:, 0, 8:])  # backward: t = 0
    assert torch.equal(stack.encode(x), stack.final_features(state))


def test_lru_ring_initialisation():
    layer = LRU(3, 8, d_state=4096, r_min=0.4, r_max=0.9, max_phase=math.pi / 10)
    cell = layer.cells[0]
    lam = cell.eigenvalues()
    modulus = lam.abs()
    assert modulus.min() >= 0.4 - 1e-6 and modulus.max() <= 0.9 + 1e-6
    assert modulus.min() < 0.41 and modulus.max() > 0.89  # the whole ring, not a circle
    # |lambda|^2 uniform on [r_min^2, r_max^2] (uniform by area on the ring)
    assert abs(modulus.square().mean().item() - (0.16 + 0.81) / 2) < 0.01
    phase = cell.theta_log.exp()
    assert phase.min() >= 0 and phase.max() <= math.pi / 10 and phase.max() > 0.3
    torch.testing.assert_close(cell.gamma_log.exp(), (1 - modulus.square()).sqrt())


def test_s6_initialisation():
    layer = S6(3, 64, d_state=16, dt_min=0.002, dt_max=0.05)
    cell = layer.cells[0]
    A = -cell.A_log.exp()
    torch.testing.assert_close(A, -torch.arange(1.0, 17.0).expand(64, 16))
    dt = F.softplus(cell.dt_proj.bias)
    assert dt.min() >= 0.002 * (1 - 1e-4) and dt.max() <= 0.05 * (1 + 1e-4)
    assert dt.max() / dt.min() > 5  # spread log-uniformly
    assert torch.equal(cell.D, torch.ones(64)) and cell.rank == 4
    assert _uniform_in(cell.dt_proj.weight, cell.rank**-0.5)  # +-rank^-1/2
    assert S6(3, 33).cells[0].rank == 3  # ceil(H / 16)


def test_xlstm_gate_initialisation():
    m = MLSTM(3, 8, num_heads=4).cells[0]
    torch.testing.assert_close(m.gates.bias[4:], torch.linspace(3, 6, 4))
    assert torch.equal(m.gates.weight, torch.zeros(8, 3))
    s = SLSTM(3, 8, num_heads=2).cells[0]
    torch.testing.assert_close(s.W.bias[16:24], torch.linspace(3, 6, 4).repeat(2))


def _uniform_in(w: torch.Tensor, bound: float) -> bool:
    """Within +-bound and reaching near both ends: uniform on that interval."""
    return bool(w.abs().max() <= bound and w.min() < -0.9 * bound and w.max() > 0.9 * bound)


def test_lru_input_output_and_skip_scales():
    """B ~ N(0, 1/(2 n_in)) per real and imaginary part, C ~ N(0, 1/N), and D ~ N(0, 1/n_in)
    as a matrix (n_in != H): each standard deviation within 10% (4096, 8192 and 512 draws)."""
    torch.manual_seed(0)
    cell = LRU(16, 32, d_state=256).cells[0]
    expected = {"B_re": 32**-0.5, "B_im": 32**-0.5, "C_re": 1 / 16, "C_im": 1 / 16, "D": 1 / 4}
    for name, std in expected.items():
        assert abs(getattr(cell, name).std().item() / std - 1) < 0.1, name


def test_xlstm_weights_and_input_gate_biases():
    """sLSTM: W, R and the biases other than the forget gate's uniform in +-1/sqrt(H), as
    torch.nn's LSTM; mLSTM: input-gate biases N(0, 0.1) (256 heads: std within 20%)."""
    torch.manual_seed(0)
    s = SLSTM(3, 64, num_heads=4).cells[0]
    not_forget = torch.ones(256, dtype=torch.bool)
    not_forget[128:192] = False
    for w in (s.W.weight, s.R, s.W.bias[not_forget]):
        assert _uniform_in(w, 1 / 8)
    m = MLSTM(3, 256, num_heads=256).cells[0]
    assert 0.08 < m.gates.bias[:256].std().item() < 0.12


@pytest.mark.parametrize("cell", list(LAYERS))
def test_a_layer_built_with_its_own_defaults_is_the_configs_default(cell):
    """``LRU(3, 8)`` and the others, built directly, are what ``model.cell`` builds with every
    other key at its default: the same weights from the same seed, in the same shapes."""
    torch.manual_seed(0)
    got = LAYERS[cell](3, 8).state_dict()
    torch.manual_seed(0)
    want = RecurrentStack(3, cell=cell, hidden_size=8).layers.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)


def test_xlstm_layers_refuse_a_head_count_that_does_not_divide_the_width():
    for layer in (SLSTM, MLSTM):
        with pytest.raises(ValueError, match=r"^num_heads=3 must divide hidden_size=8$"):
            layer(3, 8, num_heads=3)


def _state_floats(cell: str, hidden: int, layer_dirs: int, d_state: int, heads: int) -> int:
    d = hidden // heads
    per = {"rnn": hidden, "gru": hidden, "mingru": hidden, "minlstm": hidden,
           "lstm": 2 * hidden, "lru": 2 * d_state, "s6": hidden * d_state,
           "slstm": 4 * hidden, "mlstm": heads * (d * d + d + 1)}[cell]  # fmt: skip
    return per * layer_dirs


@pytest.mark.parametrize("block", ["plain", "residual"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru", "minlstm", *LAYERS])
def test_state_size_counts_the_recurrent_floats(cell, block):
    kw = {"d_state": 3} if cell in ("lru", "s6") else {}
    kw |= {"num_heads": 2} if cell in ("slstm", "mlstm") else {}
    stack = RecurrentStack(5, cell=cell, hidden_size=8, num_layers=2, bidirectional=True,
                           block=block, **kw)  # fmt: skip
    expected = _state_floats(cell, 8, 4, 3, 2)
    assert stack.state_size == expected
    _, state = stack(torch.randn(1, 4, 5))
    parts = state if isinstance(state, tuple) else (state,)
    parts = parts[1:] if block == "residual" else parts  # the block's features come first
    if cell in ("lru", "s6", "mlstm"):  # their first part is the last output, not recurrent
        parts = parts[1:]
    assert sum(p.numel() for p in parts) == expected


def test_s6_lengths_ending_inside_later_blocks():
    """Sequences of 150, 70 and 33 steps in one batch: the scan's blocks of 32 steps end at
    32, 64, ..., so 70 ends inside the third block and 33 one step into the second; the
    parallel mode's outputs, final states and gradients equal the step mode's, and nothing
    reaches the padded steps."""
    layer = build("s6", num_layers=1)
    x = torch.randn(3, 150, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([150, 70, 33])
    results = []
    for parallel in (True, False):
        out, state = layer(x, lengths=lengths, parallel=parallel)
        loss = out.square().sum() + state[1].square().sum()
        results.append((out, *state, *torch.autograd.grad(loss, [x, *layer.parameters()])))
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    grad_x = results[0][3]
    assert grad_x[1, 70:].abs().max() == 0 and grad_x[2, 33:].abs().max() == 0
    assert grad_x[1, 69].abs().max() > 0 and grad_x[2, 32].abs().max() > 0


def test_s6_under_bfloat16_autocast_both_modes_agree():
    """Under autocast the projections run in bfloat16 and both modes run the recurrence in
    float32: the same dtypes, outputs and states within bfloat16's precision."""
    layer = build("s6", dtype=torch.float32)
    x = torch.randn(2, 70, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (out, state), (ref, ref_state) = layer(x), layer(x, parallel=False)
    assert out.dtype == ref.dtype == torch.float32
    assert [s.dtype for s in state] == [s.dtype for s in ref_state]
    assert (out - ref).abs().max() <= 0.05 * ref.abs().max()
    assert (state[1] - ref_state[1]).abs().max() <= 0.05 * ref_state[1].abs().max()


def test_s6_float32_stays_near_float64_over_4096_steps():
    """The blocked scan in float32 against the same layer in float64 over 128 blocks:
    outputs and final state within 1e-5 of their scale, parameter gradients within 1e-4
    (measured with 64 channels and 32 inputs: 2.6e-7, 5.1e-7 and 1.5e-6)."""
    torch.manual_seed(0)
    layer64 = S6(3, 8, d_state=16).double()
    layer32 = S6(3, 8, d_state=16)
    layer32.load_state_dict(layer64.state_dict())
    x = torch.randn(2, 4096, 3, dtype=torch.float64)
    results = []
    for layer, inputs in ((layer32, x.float()), (layer64, x)):
        out, state = layer(inputs)
        grads = torch.autograd.grad(out.square().mean(), list(layer.parameters()))
        results.append((out, state[1], *grads))
    for i, (got, want) in enumerate(zip(*results, strict=True)):
        tol = 1e-5 if i < 2 else 1e-4
        assert (got.double() - want).abs().max() <= tol * want.abs().max()


def test_s6_with_one_channel_and_one_state():
    """hidden_size 1 and d_state 1: the scan's unit axes stay apart from the channel and state
    axes, so both modes agree on outputs, final states and gradients."""
    layer = build("s6", hidden=1, d_state=1)
    x = torch.randn(2, 40, 3, dtype=torch.float64, requires_grad=True)
    results = []
    for parallel in (True, False):
        out, state = layer(x, parallel=parallel)
        loss = out.square().sum() + state[1].square().sum()
        results.append((out, *state, *torch.autograd.grad(loss, [x, *layer.parameters()])))
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel", ["torch", "auto"])
def test_s6_scan_runs_without_warnings(kernel):
    """Forward and backward from a carried state, with lengths and a last block shorter than
    the others (40 steps: 32 + 8): every buffer the scan writes into already has the shape
    written (torch resizes a wrongly shaped output with a warning, and means to stop)."""
    layer = build("s6", dtype=torch.float32, kernel=kernel)
    x = torch.randn(2, 40, 3, requires_grad=True)
    _, state = layer(x[:, :5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, end = layer(x, state, lengths=torch.tensor([40, 33]))
        (out.square().sum() + end[1].square().sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# -- S6's C++ scan (rnnlab/nn/native/selective_scan.cpp) ------------------------------------
def _native_or_skip():
    from rnnlab.nn import native

    if native.selective_scan() is None:
        pytest.skip(f"the C++ scan does not build here: {native.unavailable('selective_scan')}")


@pytest.mark.parametrize(("steps", "hidden", "with_state", "threads"),
                         [(1, 3, False, 1), (64, 16, True, 1), (65, 17, False, 1),
                          (200, 40, True, 1), (1000, 64, True, 1), (200, 40, True, 2)])  # fmt: skip
def test_s6_native_scan_equals_the_float64_scan_with_its_gradients(
    steps, hidden, with_state, threads
):
    """The C++ kernel in float32 against the torch scan in float64, outputs, final state and
    every input's gradient within 1e-5 of their scale: one step, one whole block of 64
    steps, a block and one step, channels that fill no group of 16 or several; and on two
    threads, which share the batch's sequences between them."""
    from rnnlab.nn.s6 import NativeSelectiveScan

    _native_or_skip()
    torch.manual_seed(steps)
    batch, n = 3, 5
    args = [F.softplus(torch.randn(steps, batch, hidden) - 2), torch.randn(steps, batch, hidden),
            -torch.rand(hidden, n) * 4 - 0.05, *torch.randn(2, steps, batch, n),
            torch.randn(hidden), torch.randn(batch, hidden * n) if with_state else None]  # fmt: skip
    results = []
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for scan, dtype in ((NativeSelectiveScan, torch.float32), (SelectiveScan, torch.float64)):
            inputs = [a.to(dtype).requires_grad_() if a is not None else None for a in args]
            y, last = scan.apply(*inputs)
            loss = (y * torch.linspace(-1, 1, hidden, dtype=dtype)).sum() + last.square().sum()
            grads = torch.autograd.grad(loss, [a for a in inputs if a is not None])
            results.append((y, last, *grads))
    finally:
        torch.set_num_threads(before)
    for got, want in zip(*results, strict=True):
        assert (got.double() - want).abs().max() <= 1e-5 * max(1.0, want.abs().max().item())


def test_s6_kernel_key_chooses_the_scan(monkeypatch):
    """``kernel=torch`` never runs the C++ scan, ``auto`` runs it where it builds and falls
    back to torch's scan where it does not; ``native`` there is refused, naming the key."""
    from rnnlab.errors import ConfigError
    from rnnlab.nn import native
    from rnnlab.nn import s6 as s6_module

    _native_or_skip()
    used = []
    for name in ("NativeSelectiveScan", "SelectiveScan"):
        original = getattr(s6_module, name).apply
        monkeypatch.setattr(getattr(s6_module, name), "apply",
                            lambda *a, _f=original, _n=name: used.append(_n) or _f(*a))  # fmt: skip
    x = torch.randn(2, 20, 3)
    outs = {}
    for kernel in ("auto", "torch"):
        used.clear()
        outs[kernel] = build("s6", dtype=torch.float32, kernel=kernel)(x)[0]
        assert used == (["NativeSelectiveScan"] if kernel == "auto" else ["SelectiveScan"])
    torch.testing.assert_close(outs["auto"], outs["torch"], rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(native, "selective_scan", lambda: None)
    used.clear()
    build("s6", dtype=torch.float32)(x)
    assert used == ["SelectiveScan"]
    monkeypatch.setattr(native, "unavailable", lambda name: f"no compiler for {name}")
    with pytest.raises(ConfigError) as refused:
        build("s6", dtype=torch.float32, kernel="native")
    assert str(refused.value) == (
        "model.kernel='native' is not allowed: auto or torch: the C++ scan could not be built "
        "here (no compiler for selective_scan)"
    )
