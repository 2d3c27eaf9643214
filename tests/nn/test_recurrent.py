"""The one builder of recurrent stacks: defaults, the implementation switch, dropout and
nonlinearity passed through, the final features of every direction, detached states."""

from __future__ import annotations

import warnings

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.nn.lru import LRU
from rnnlab.nn.minimal import MINIMAL
from rnnlab.nn.options import CELLS, StackOptions
from rnnlab.nn.recurrent import TORCH_CELLS, RecurrentStack, cell_names, detach_state
from rnnlab.nn.s6 import S6
from rnnlab.nn.scratch import SCRATCH
from rnnlab.nn.xlstm import MLSTM, SLSTM


def test_defaults_are_one_unidirectional_lstm_layer_of_64():
    stack = RecurrentStack(3)  # the declared defaults (rnnlab.nn.options), as rnnlab-train has
    assert (stack.cell, stack.impl, stack.hidden_size, stack.num_layers) == (
        "lstm",
        "torch",
        64,
        1,
    )
    assert stack.num_directions == 1 and stack.output_size == 64
    assert type(stack.layers) is torch.nn.LSTM and not stack.layers.bidirectional
    assert cell_names() == list(CELLS)


@pytest.mark.parametrize("impl", ["torch", "scratch"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_impl_picks_the_layer_class(cell, impl):
    layers = RecurrentStack(2, cell=cell, hidden_size=4, impl=impl).layers
    modern = {"lru": LRU, "s6": S6, "slstm": SLSTM, "mlstm": MLSTM}
    expected = {**(SCRATCH if impl == "scratch" else TORCH_CELLS), **MINIMAL, **modern}
    assert type(layers) is expected[cell]


def test_forget_bias_and_memory_name_their_key():
    with pytest.raises(ConfigError, match="forget_bias"):  # only lstm and minlstm have one
        StackOptions.check({"cell": "gru", "hidden_size": 4, "forget_bias": 1.0})
    with pytest.raises(ConfigError, match="fits in memory"):
        RecurrentStack(
            10**11, cell="rnn", hidden_size=1
        )  # the estimate counts the input weights too


def test_dropout_only_between_layers():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about dropout on a single layer
        single = RecurrentStack(2, cell="gru", hidden_size=4, num_layers=1, dropout=0.5)
    assert single.layers.dropout == 0.0
    assert (
        RecurrentStack(2, cell="gru", hidden_size=4, num_layers=2, dropout=0.5).layers.dropout
        == 0.5
    )
    assert RecurrentStack(2, cell="gru", hidden_size=4, num_layers=2).layers.dropout == 0.0


def test_nonlinearity_reaches_the_rnn():
    assert (
        RecurrentStack(2, cell="rnn", hidden_size=4, nonlinearity="relu").layers.nonlinearity
        == "relu"
    )
    assert RecurrentStack(2, cell="rnn", hidden_size=4).layers.nonlinearity == "tanh"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_final_features_are_each_directions_last_hidden_state(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(3, cell=cell, hidden_size=5, num_layers=2, bidirectional=True)
    x = torch.randn(4, 7, 3)
    out, state = stack(x)
    features = stack.final_features(state)
    assert features.shape == (4, 10)
    # forward: its state after the last step; backward: after reading back to step 0
    torch.testing.assert_close(features[:, :5], out[:, -1, :5])
    torch.testing.assert_close(features[:, 5:], out[:, 0, 5:])
    torch.testing.assert_close(stack.encode(x), features)


def test_final_features_of_one_direction():
    stack = RecurrentStack(3, cell="lstm", hidden_size=5)
    x = torch.randn(4, 7, 3)
    out, _ = stack(x)
    torch.testing.assert_close(stack.encode(x), out[:, -1])


def test_detach_state_keeps_values_and_cuts_the_graph():
    assert detach_state(None) is None
    h = torch.randn(1, 2, 3, requires_grad=True) * 2
    c = torch.randn(1, 2, 3, requires_grad=True) * 2
    pair = detach_state((h, c))
    assert isinstance(pair, tuple) and len(pair) == 2
    assert all(torch.equal(a, b) and not a.requires_grad for a, b in zip(pair, (h, c), strict=True))
    single = detach_state(h)
    assert torch.equal(single, h) and not single.requires_grad
