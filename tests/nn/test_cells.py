"""Scratch RNN/LSTM/GRU against torch.nn: weights, outputs, states and every gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab.nn.scratch import SCRATCH, ScratchGRU, ScratchLSTM, ScratchRNN

# (torch class, scratch class, extra constructor kwargs)
CELLS = {
    "rnn_tanh": (nn.RNN, ScratchRNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, ScratchRNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, ScratchLSTM, {}),
    "gru": (nn.GRU, ScratchGRU, {}),
}
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
IN, HID, BATCH, STEPS = 5, 6, 3, 7


def build_pair(cell: str, seed: int = 0, dtype=torch.float32, **kw) -> tuple[nn.Module, nn.Module]:
    torch_cls, scratch_cls, extra = CELLS[cell]
    kw = {"batch_first": True, **extra, **kw}
    torch.manual_seed(seed)
    ref = torch_cls(IN, HID, **kw).to(dtype)
    torch.manual_seed(seed)
    mine = scratch_cls(IN, HID, **kw).to(dtype)
    return ref, mine


def make_state(cell: str, n: int, dtype, batch: int = BATCH):
    h0 = torch.randn(n, batch, HID, dtype=dtype, requires_grad=True)
    if cell == "lstm":
        return (h0, torch.randn(n, batch, HID, dtype=dtype, requires_grad=True))
    return h0


def run(module: nn.Module, x: torch.Tensor, hx, seed: int = 123) -> list[torch.Tensor]:
    """Outputs, final states, and gradients of a random projection w.r.t. inputs and params."""
    out, state = module(x, hx)
    states = list(state) if isinstance(state, tuple) else [state]
    gen = torch.Generator().manual_seed(seed)
    loss = sum(
        (t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum() for t in [out, *states]
    )
    leaves = [x, *module.parameters()]
    if hx is not None:
        leaves += list(hx) if isinstance(hx, tuple) else [hx]
    grads = torch.autograd.grad(loss, leaves)
    return [out.detach(), *(s.detach() for s in states), *grads]


def assert_close_all(a: list[torch.Tensor], b: list[torch.Tensor], tol: float) -> None:
    assert len(a) == len(b)
    for k, (u, v) in enumerate(zip(a, b, strict=True)):
        assert u.shape == v.shape, k
        torch.testing.assert_close(u, v, rtol=tol, atol=tol, msg=f"tensor #{k} differs")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [False, True], ids=["h0=None", "h0"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_matches_torch(cell, num_layers, bidirectional, with_state, dtype):
    ref, mine = build_pair(cell, dtype=dtype, num_layers=num_layers, bidirectional=bidirectional)
    x = torch.randn(BATCH, STEPS, IN, dtype=dtype, requires_grad=True)
    n = num_layers * (2 if bidirectional else 1)
    hx = make_state(cell, n, dtype) if with_state else None
    assert_close_all(run(mine, x, hx), run(ref, x, hx), TOL[dtype])


@pytest.mark.parametrize("cell", list(CELLS))
def test_no_bias_and_time_major(cell):
    ref, mine = build_pair(cell, dtype=torch.float64, bias=False, batch_first=False, num_layers=2)
    assert not any("bias" in n for n, _ in mine.named_parameters())
    x = torch.randn(STEPS, BATCH, IN, dtype=torch.float64, requires_grad=True)
    assert_close_all(run(mine, x, None), run(ref, x, None), 1e-10)


@pytest.mark.parametrize("cell", list(CELLS))
def test_unbatched_input(cell):
    ref, mine = build_pair(cell, dtype=torch.float64, bidirectional=True)
    x = torch.randn(STEPS, IN, dtype=torch.float64)
    (o1, s1), (o2, s2) = ref(x), mine(x)
    torch.testing.assert_close(o2, o1)
    for a, b in zip(s2 if cell == "lstm" else [s2], s1 if cell == "lstm" else [s1], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", list(CELLS))
def test_unbatched_input_with_a_state(cell):
    ref, mine = build_pair(cell, dtype=torch.float64, num_layers=2)
    x = torch.randn(STEPS, IN, dtype=torch.float64)
    batched = make_state(cell, 2, torch.float64, batch=1)
    hx = tuple(h[:, 0] for h in batched) if cell == "lstm" else batched[:, 0]  # [layers, H]
    (o1, s1), (o2, s2) = ref(x, hx), mine(x, hx)
    torch.testing.assert_close(o2, o1)
    for a, b in zip(s2 if cell == "lstm" else [s2], s1 if cell == "lstm" else [s1], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", list(CELLS))
def test_built_like_torchs_layer(cell):
    """Parameters in the dtype asked for, torch's attributes and printed form."""
    torch_cls, scratch_cls, extra = CELLS[cell]
    kw = {**extra, "num_layers": 2, "dropout": 0.5, "bidirectional": True, "batch_first": True}
    mine = scratch_cls(IN, HID, dtype=torch.float64, **kw)
    assert {p.dtype for p in mine.parameters()} == {torch.float64}
    assert len(list(mine.parameters())) == len(list(torch_cls(IN, HID, **kw).parameters()))
    assert mine.proj_size == 0
    assert (
        repr(mine) == f"{type(mine).__name__}({IN}, {HID}, num_layers=2, bias=True, "
        "batch_first=True, dropout=0.5, bidirectional=True)"
    )


@pytest.mark.parametrize("cell", list(CELLS))
def test_same_seed_same_network(cell):
    ref, mine = build_pair(cell, seed=7, num_layers=2, bidirectional=True)
    ref_params, my_params = dict(ref.named_parameters()), dict(mine.named_parameters())
    assert list(my_params) == list(ref_params)  # same names in the same order
    for name, p in ref_params.items():
        assert torch.equal(my_params[name], p), name
    _, other = build_pair(cell, seed=8, num_layers=2, bidirectional=True)
    assert not torch.equal(other.weight_hh_l1_reverse, mine.weight_hh_l1_reverse)


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_dict_round_trip(cell):
    ref, _ = build_pair(cell, seed=1, num_layers=2, bidirectional=True)
    _, mine = build_pair(cell, seed=2, num_layers=2, bidirectional=True)
    x = torch.randn(BATCH, STEPS, IN)
    assert not torch.allclose(mine(x)[0], ref(x)[0])
    mine.load_state_dict(ref.state_dict(), strict=True)  # torch -> scratch
    torch.testing.assert_close(mine(x)[0], ref(x)[0], rtol=1e-5, atol=1e-5)

    ref2, _ = build_pair(cell, seed=3, num_layers=2, bidirectional=True)
    ref2.load_state_dict(mine.state_dict(), strict=True)  # scratch -> torch
    torch.testing.assert_close(ref2(x)[0], mine(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", list(CELLS))
def test_gradcheck(cell):
    _, mine = build_pair(cell, dtype=torch.float64, num_layers=2, bidirectional=True)
    names = [n for n, _ in mine.named_parameters()]
    x = torch.randn(2, 3, IN, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 2, HID, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 2, HID, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in mine.parameters()]

    def f(x, h0, c0, *ps):
        hx = (h0, c0) if cell == "lstm" else h0
        out, state = torch.func.functional_call(mine, dict(zip(names, ps, strict=True)), (x, hx))
        return (out, *state) if cell == "lstm" else (out, state)

    inputs = (x, h0, c0, *params)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7)


def test_gradcheck_catches_a_wrong_backward():
    """The gradcheck test can fail: a scan with a corrupted W_hh gradient is rejected."""
    from rnnlab.nn.scratch import functions as cells

    class Broken(cells.RNNScan):
        @staticmethod
        def backward(ctx, grad_out):
            dxp, dw, dh0, *rest = cells.RNNScan.backward(ctx, grad_out)
            return dxp, 1.01 * dw, dh0, *rest

    xp = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: cells.RNNScan.apply(a, b, c, False), (xp, w, h0)
    )
    assert not torch.autograd.gradcheck(
        lambda a, b, c: Broken.apply(a, b, c, False), (xp, w, h0), raise_exception=False
    )


@pytest.mark.parametrize("cell", list(CELLS))
def test_dropout_between_layers_only(cell):
    ref, mine = build_pair(cell, num_layers=2, dropout=0.5)
    x = torch.randn(BATCH, STEPS, IN)
    ref.eval()
    mine.eval()  # identity in eval: equal to torch
    torch.testing.assert_close(mine(x)[0], ref(x)[0], rtol=1e-5, atol=1e-5)
    evaluated = mine(x)[0]
    mine.train()
    torch.manual_seed(0)
    a = mine(x)[0]
    torch.manual_seed(1)
    b = mine(x)[0]
    assert not torch.allclose(a, evaluated) and not torch.allclose(a, b)

    # Not after the last layer: a single-layer net ignores dropout, even in training.
    with pytest.warns(UserWarning):
        _, single = build_pair(cell, num_layers=1, dropout=0.9)
    single.train()
    torch.testing.assert_close(single(x)[0], single.eval()(x)[0])


def test_zero_dropout_is_identity():
    _, mine = build_pair("lstm", num_layers=3, dropout=0.0)
    x = torch.randn(BATCH, STEPS, IN)
    torch.testing.assert_close(mine.train()(x)[0], mine.eval()(x)[0], rtol=0, atol=0)


def test_bad_state_shape_and_registry():
    _, mine = build_pair("gru", num_layers=2)
    with pytest.raises(RuntimeError) as err:
        mine(torch.randn(BATCH, STEPS, IN), torch.zeros(1, BATCH, HID))
    assert str(err.value) == f"Expected hx size (2, {BATCH}, {HID}), got (1, {BATCH}, {HID})"
    _, lstm = build_pair("lstm")
    with pytest.raises(RuntimeError, match=r"^Expected h0 size \(1, "):
        lstm(
            torch.randn(BATCH, STEPS, IN), (torch.zeros(2, BATCH, HID), torch.zeros(1, BATCH, HID))
        )
    with pytest.raises(RuntimeError, match=r"^Expected c0 size \(1, "):
        lstm(
            torch.randn(BATCH, STEPS, IN), (torch.zeros(1, BATCH, HID), torch.zeros(2, BATCH, HID))
        )
    with pytest.raises(ValueError) as err:
        mine(torch.randn(1, BATCH, STEPS, IN))
    assert str(err.value) == "expected a 2-D or 3-D input, got 4-D"
    assert {"rnn": ScratchRNN, "lstm": ScratchLSTM, "gru": ScratchGRU} == SCRATCH
    with pytest.raises(ValueError) as err:
        ScratchRNN(IN, HID, nonlinearity="sigmoid")
    assert str(err.value) == "Unknown nonlinearity 'sigmoid', use 'tanh' or 'relu'"
    assert ScratchRNN(IN, HID).nonlinearity == "tanh"
