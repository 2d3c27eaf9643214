"""``model.block``: the residual block for every cell, and the plain stack left as it was;
the modern cells' keys refused when wrong; parameter counts as the layers allocate them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.nn.options import CELLS, StackOptions
from rnnlab.nn.recurrent import TORCH_CELLS, RecurrentStack, count_parameters
from rnnlab.nn.scratch import SCRATCH

CELL_IMPLS = [(c, "torch") for c in CELLS] + [(c, "scratch") for c in ("rnn", "lstm", "gru")]
KEYS = {"lru": {"d_state": 3}, "s6": {"d_state": 3}, "slstm": {"num_heads": 2},
        "mlstm": {"num_heads": 2}}  # fmt: skip


@pytest.mark.parametrize("cell,impl", CELL_IMPLS)
def test_residual_block_trains_every_cell(cell, impl):
    torch.manual_seed(0)
    stack = RecurrentStack(5, cell=cell, impl=impl, hidden_size=8, num_layers=2,
                           bidirectional=True, block="residual", norm="rmsnorm", mlp_ratio=2,
                           dropout=0.1, **KEYS.get(cell, {}))  # fmt: skip
    assert isinstance(stack.blocks.norms[0], torch.nn.RMSNorm) and len(stack.blocks.mlps) == 2
    x = torch.randn(3, 7, 5)
    out, state = stack(x)
    features = stack.final_features(state)
    assert out.shape == (3, 7, 16) and features.shape == (3, 16)
    assert torch.equal(features, torch.cat([out[:, -1, :8], out[:, 0, 8:]], -1))
    (out.square().mean() + features.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in stack.parameters())


@pytest.mark.parametrize("cell", ["gru", "lstm", "lru", "mlstm"])
def test_residual_state_carries_every_layer(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(5, cell=cell, hidden_size=8, num_layers=3, block="residual",
                           mlp_ratio=1).double()  # fmt: skip
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    whole, _ = stack(x)
    first, state = stack(x[:, :12])
    second, _ = stack(x[:, 12:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_residual_lengths_pad_with_zeros_and_match_each_sequence_alone(bidirectional):
    """Outputs, features and every layer's state, as if the short sequence ran alone."""
    torch.manual_seed(0)
    stack = RecurrentStack(4, cell="s6", hidden_size=8, num_layers=2, block="residual",
                           bidirectional=bidirectional).double()  # fmt: skip
    x, lengths = torch.randn(2, 9, 4, dtype=torch.float64), torch.tensor([9, 4])
    out, state = stack(x, lengths=lengths)
    alone, alone_state = stack(x[1:, :4])
    torch.testing.assert_close(out[1:, :4], alone)
    assert torch.count_nonzero(out[1, 4:]) == 0
    torch.testing.assert_close(stack.final_features(state)[1:], stack.final_features(alone_state))
    for got, want in zip(state[1:], alone_state[1:], strict=True):  # the layers' own parts
        torch.testing.assert_close(got[:, 1:], want)


def test_residual_projects_the_input_only_when_sizes_differ():
    same = RecurrentStack(8, cell="gru", hidden_size=8, block="residual")
    other = RecurrentStack(5, cell="gru", hidden_size=8, block="residual")
    assert same.blocks.proj is None and other.blocks.proj.in_features == 5
    assert not same.blocks.mlps  # mlp_ratio 0: no MLP


@pytest.mark.parametrize("impl", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_plain_block_keeps_todays_names_and_a_seeds_weights(cell, impl):
    layer_class = (SCRATCH if impl == "scratch" else TORCH_CELLS)[cell]
    torch.manual_seed(3)
    ref = layer_class(5, 8, num_layers=2, batch_first=True, bidirectional=True)
    torch.manual_seed(3)
    stack = RecurrentStack(5, cell=cell, impl=impl, hidden_size=8, num_layers=2,
                           bidirectional=True)  # fmt: skip
    got = stack.state_dict()
    assert list(got) == [f"layers.{name}" for name in ref.state_dict()]
    assert all(torch.equal(got[f"layers.{k}"], v) for k, v in ref.state_dict().items())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("block", ["plain", "residual"])
def test_parameter_count_matches_the_built_stack(cell, block):
    for input_size, bidirectional, mlp_ratio in ((5, False, 1.5), (16, True, 1.5), (8, False, 0)):
        kw = {**KEYS.get(cell, {}), **({"mlp_ratio": mlp_ratio} if block == "residual" else {})}
        options = dict(cell=cell, hidden_size=8, num_layers=2, bidirectional=bidirectional,
                       block=block, **kw)  # fmt: skip
        stack = RecurrentStack(input_size, **options)
        assert StackOptions(**options).parameters(input_size) == count_parameters(stack)


BAD = {
    "block": ({"block": "dense"}, "block='dense' is not allowed: one of plain, residual"),
    "norm": ({"block": "residual", "norm": "batch"}, "norm='batch'"),
    "norm, plain": ({"norm": "rmsnorm"}, "norm='rmsnorm' is not allowed: layernorm unless"),
    "mlp_ratio": ({"block": "residual", "mlp_ratio": -1}, "mlp_ratio=-1"),
    "r_min for lstm": ({"r_min": 0.5}, "r_min=0.5 is not allowed: 0.0 .its default. unless cell is lru"),
    "r_min > r_max": ({"cell": "lru", "r_min": 0.9, "r_max": 0.5}, "r_min=0.9"),
    "r_max": ({"cell": "lru", "r_max": 1.5}, "r_max=1.5"),
    "d_state": ({"cell": "s6", "d_state": 0}, "d_state=0"),
    "d_state for slstm": ({"cell": "slstm", "d_state": 4}, "d_state=4 .* unless cell is lru or s6"),
    "dt_max": ({"cell": "s6", "dt_min": 0.1, "dt_max": 0.01}, "dt_max=0.01 .* >= dt_min=0.1"),
    "num_heads": ({"cell": "mlstm", "hidden_size": 6, "num_heads": 4}, "num_heads=4 .* divisor"),
    "max_phase": ({"cell": "lru", "max_phase": 0}, "max_phase=0"),
    "init": ({"cell": "lru", "init": "chrono", "chrono_t_max": 5}, "init='chrono'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_name_their_key_in_one_line(case):
    options, message = BAD[case]
    with pytest.raises(ConfigError, match=message) as caught:
        StackOptions.check({"cell": "lstm", "hidden_size": 8, **options})  # the config check
    assert "\n" not in str(caught.value)


def test_a_layer_that_outputs_zeros_passes_the_stream_through_the_residual_add():
    torch.manual_seed(0)
    stack = RecurrentStack(5, cell="lru", hidden_size=8, num_layers=2, block="residual")
    with torch.no_grad():
        for layer in stack.blocks.layers:
            for name in ("C_re", "C_im", "D"):
                getattr(layer.cells[0], name).zero_()
    x = torch.randn(2, 6, 5)
    out, _ = stack(x)
    torch.testing.assert_close(out, stack.blocks.final_norm(stack.blocks.proj(x)))


def residual_reference(blocks, x: torch.Tensor, training: bool) -> torch.Tensor:
    """The block's equations with its own parts: x = x + dropout(layer(norm(x))), then
    x = x + dropout((SiLU(x' W_g) * (x' W_v)) W_o) with x' = norm'(x), then the final norm."""
    x = x if blocks.proj is None else blocks.proj(x)
    for index, layer in enumerate(blocks.layers):
        y, _ = layer(blocks.norms[index](x))
        x = x + F.dropout(y, blocks.dropout, training=training)
        mlp, z = blocks.mlps[index], blocks.mlp_norms[index](x)
        width = mlp.out.in_features
        w, b = mlp.gate_value.weight, mlp.gate_value.bias
        gate, value = z @ w[:width].T + b[:width], z @ w[width:].T + b[width:]
        y = (F.silu(gate) * value) @ mlp.out.weight.T + mlp.out.bias
        x = x + F.dropout(y, blocks.dropout, training=training)
    return blocks.final_norm(x)


@pytest.mark.parametrize("training", [False, True])
def test_residual_block_equals_its_equations(training):
    """Evaluating: no dropout anywhere; training: dropout at rate ``dropout`` on each residual
    branch, the layer's and the MLP's, in every block (the same draws from the same seed)."""
    torch.manual_seed(0)
    stack = RecurrentStack(5, cell="gru", hidden_size=4, num_layers=2, bidirectional=True,
                           block="residual", mlp_ratio=1.5, dropout=0.25).double()  # fmt: skip
    stack.train(training)
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    torch.manual_seed(1)
    out, _ = stack(x)
    torch.manual_seed(1)
    torch.testing.assert_close(out, residual_reference(stack.blocks, x, training))
