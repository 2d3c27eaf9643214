"""Variable-length batches: a padded batch gives every sequence what it gets alone.

For every cell, implementation, direction and depth: per-step outputs on the real steps
and the final features equal those of the sequence run alone (float64, 1e-6), outputs at
padded steps are zeros, the input gradient at padded steps is exactly zero, and parameter
gradients equal the sum of the sequences' own. The padding holds random values, not
zeros, so that anything read from it shows.
"""

from __future__ import annotations

import pytest
import torch

from rnnlab.nn.recurrent import RecurrentStack
from rnnlab.nn.stacking import check_lengths, reverse_within

IN, HID = 3, 4
LENGTHS = [5, 2, 7, 1]  # unsorted, one full, one of a single step
STEPS = max(LENGTHS)

# (cell, impl, extra stack options)
RECURRENT = [
    ("rnn", impl, {"nonlinearity": act})
    for impl in ("torch", "scratch")
    for act in ("tanh", "relu")
] + [(cell, impl, {}) for cell in ("lstm", "gru") for impl in ("torch", "scratch")]


def _stack(cell, impl, num_layers, bidirectional, **extra):
    torch.manual_seed(0)
    stack = RecurrentStack(IN, cell=cell, hidden_size=HID, num_layers=num_layers,
                           bidirectional=bidirectional, impl=impl, **extra)  # fmt: skip
    return stack.double()


def _batch(lengths, steps, seed=1):
    torch.manual_seed(seed)
    x = torch.randn(len(lengths), steps, IN, dtype=torch.float64)
    return x, torch.tensor(lengths)


def _states(state):
    """Every state tensor, ``[layers * directions, B, H]`` each (h, and c for an LSTM)."""
    return list(state) if isinstance(state, tuple) else [state]


def _loss(out, state, weights_out, weights_state):
    """A loss that reads every output step and every final state with random weights."""
    loss = (out * weights_out).sum()
    return loss + sum((s * w).sum() for s, w in zip(_states(state), weights_state, strict=True))


def _check_against_alone(stack, run, lengths, steps):
    """``run(stack, x, lengths)`` -> (outputs, state) on the padded batch and on each sequence
    alone: outputs, final features and the whole final state (c too), zeros at padding,
    input and parameter gradients."""
    x, lens = _batch(lengths, steps)
    x.requires_grad_(True)
    torch.manual_seed(2)
    w_out = torch.randn(len(lengths), steps, stack.output_size, dtype=torch.float64)
    out, state = run(stack, x, lens)
    w_state = [torch.randn_like(s) for s in _states(state)]
    assert out.shape == (len(lengths), steps, stack.output_size)
    feats = stack.final_features(state)
    stack.zero_grad()
    _loss(out, state, w_out, w_state).backward()
    grads = {n: p.grad.clone() for n, p in stack.named_parameters()}
    summed = {n: torch.zeros_like(p) for n, p in stack.named_parameters()}
    for b, n in enumerate(lengths):
        alone = x[b : b + 1, :n].detach()
        out_b, state_b = run(stack, alone, None)
        torch.testing.assert_close(out[b, :n], out_b[0], atol=1e-6, rtol=0)
        feat_b = stack.final_features(state_b)
        torch.testing.assert_close(feats[b], feat_b[0], atol=1e-6, rtol=0)
        for s, s_b in zip(_states(state), _states(state_b), strict=True):
            torch.testing.assert_close(s[:, b], s_b[:, 0], atol=1e-6, rtol=0)
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))
        assert torch.equal(x.grad[b, n:], torch.zeros_like(x.grad[b, n:]))
        stack.zero_grad()
        w_state_b = [w[:, b : b + 1] for w in w_state]
        _loss(out_b, state_b, w_out[b : b + 1, :n], w_state_b).backward()
        for name, p in stack.named_parameters():
            summed[name] += p.grad
    for name in grads:
        torch.testing.assert_close(grads[name], summed[name], atol=1e-6, rtol=0, msg=name)


def _through_stack(stack, x, lengths):
    return stack(x, lengths=lengths)


# Padded to the longest sequence, and past it (no sequence fills the batch).
@pytest.mark.parametrize("steps", [STEPS, STEPS + 2])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize(("cell", "impl", "extra"), RECURRENT,
                         ids=[f"{c}-{i}-{e.get('nonlinearity', '')}" for c, i, e in RECURRENT])  # fmt: skip
def test_padded_batch_matches_each_sequence_alone(
    cell, impl, extra, bidirectional, num_layers, steps
):
    stack = _stack(cell, impl, num_layers, bidirectional, **extra)
    _check_against_alone(stack, _through_stack, LENGTHS, steps)


# (scan, parallel, lengths): the log and linear scans, the chunked linear scan (T over two
# chunks of 64 with a remainder), and the step-by-step path.
MINIMAL_PATHS = [
    ("linear", True, LENGTHS),
    ("linear", True, [150, 70, 133, 1]),
    ("log", True, LENGTHS),
    ("linear", False, LENGTHS),
]


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize(("scan", "parallel", "lengths"), MINIMAL_PATHS,
                         ids=["linear", "linear-chunked", "log", "sequential"])  # fmt: skip
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_cells_padded_batch_matches_each_sequence_alone(
    cell, scan, parallel, lengths, bidirectional, num_layers
):
    stack = _stack(cell, "torch", num_layers, bidirectional)
    stack.layers.scan = scan

    def run(stack, x, lens):
        return stack.layers(x, parallel=parallel, lengths=lens)

    _check_against_alone(stack, run, lengths, max(lengths))


@pytest.mark.parametrize("impl", ["torch", "scratch"])
def test_full_lengths_equal_no_lengths(impl):
    stack = _stack("lstm", impl, 2, True)
    x, _ = _batch([STEPS] * 3, STEPS)
    out, (h, c) = stack(x)
    out_l, (h_l, c_l) = stack(x, lengths=torch.full((3,), STEPS))
    torch.testing.assert_close(out_l, out, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_l, h, atol=1e-12, rtol=0)
    torch.testing.assert_close(c_l, c, atol=1e-12, rtol=0)


def test_encode_reads_each_sequence_to_its_length():
    stack = _stack("gru", "scratch", 1, True)
    x, lens = _batch(LENGTHS, STEPS)
    features = stack.encode(x, lens)
    for b, n in enumerate(LENGTHS):
        torch.testing.assert_close(features[b], stack.encode(x[b : b + 1, :n])[0])


@pytest.mark.parametrize("time_dim", [0, 1])
def test_reverse_within_reverses_real_steps_and_keeps_padding(time_dim):
    x = torch.arange(2 * 4).view(2, 4).float().unsqueeze(-1)  # [B, T, 1]
    lens = torch.tensor([3, 4])
    seq = x if time_dim == 1 else x.transpose(0, 1)
    rev = reverse_within(seq, lens, time_dim)
    rev = rev if time_dim == 1 else rev.transpose(0, 1)
    assert rev[..., 0].tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]
    back = reverse_within(reverse_within(seq, lens, time_dim), lens, time_dim)
    assert torch.equal(back, seq)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([3, 0]), r"lengths must lie in \[1, 4\].*\[0, 3\]"),
        (torch.tensor([5, 2]), r"lengths must lie in \[1, 4\].*\[2, 5\]"),
        (torch.tensor([3]), "1-d tensor of 2 lengths"),
        (torch.tensor([3.0, 2.0]), "must be integers"),
    ],
)
def test_bad_lengths_are_refused(lengths, message):
    with pytest.raises(ValueError, match=message):
        check_lengths(lengths, 2, 4)
    stack = _stack("gru", "scratch", 1, False)
    with pytest.raises(ValueError, match=message):
        stack(torch.zeros(2, 4, IN, dtype=torch.float64), lengths=lengths)


# The modern cells and the residual block, both directions: what a task reads of the stack
# (per-step outputs and final features) and the gradients; their states have other shapes.
MODERN = [(cell, "torch", {}) for cell in ("lru", "s6", "slstm", "mlstm")]
RESIDUAL = [(c, i, {"block": "residual", "mlp_ratio": 1.0}) for c, i, _ in MODERN] + [
    (cell, impl, {"block": "residual"}) for cell in ("lstm", "gru", "mingru")
    for impl in ("torch", "scratch") if cell != "mingru" or impl == "torch"
]  # fmt: skip


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("cell", "impl", "extra"), MODERN + RESIDUAL,
                         ids=lambda v: v if isinstance(v, str) else v.get("block", ""))  # fmt: skip
def test_modern_and_residual_stacks_read_each_sequence_to_its_own_end(cell, impl, extra,
                                                                      bidirectional):  # fmt: skip
    extra = {**extra, "num_heads": 2} if cell in ("slstm", "mlstm") else extra
    stack = _stack(cell, impl, 2, bidirectional, **extra)
    x, lens = _batch(LENGTHS, STEPS)
    x.requires_grad_(True)
    torch.manual_seed(2)
    w_out = torch.randn(len(LENGTHS), STEPS, stack.output_size, dtype=torch.float64)
    w_feat = torch.randn(len(LENGTHS), stack.output_size, dtype=torch.float64)
    out, state = stack(x, lengths=lens)
    feats = stack.final_features(state)
    stack.zero_grad()
    ((out * w_out).sum() + (feats * w_feat).sum()).backward()
    grads = {n: p.grad.clone() for n, p in stack.named_parameters()}
    summed = {n: torch.zeros_like(p) for n, p in stack.named_parameters()}
    for b, n in enumerate(LENGTHS):
        out_b, state_b = stack(x[b : b + 1, :n].detach())
        feat_b = stack.final_features(state_b)
        torch.testing.assert_close(out[b, :n], out_b[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(feats[b], feat_b[0], atol=1e-6, rtol=0)
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))
        assert torch.equal(x.grad[b, n:], torch.zeros_like(x.grad[b, n:]))
        stack.zero_grad()
        ((out_b[0] * w_out[b, :n]).sum() + (feat_b[0] * w_feat[b]).sum()).backward()
        for name, p in stack.named_parameters():
            summed[name] += p.grad
    for name in grads:
        torch.testing.assert_close(grads[name], summed[name], atol=1e-6, rtol=1e-6)
