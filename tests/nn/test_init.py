"""Initialisation schemes: each sets what it promises, identically in both implementations."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.errors import ConfigError, config_group
from rnnlab.nn.options import CELLS_FOR, INITS, StackOptions
from rnnlab.nn.recurrent import RecurrentStack, _layer_classes

IN, HID, T_MAX = 3, 8, 50
ALL_CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def options(init: str, cell: str) -> dict:
    """Keyword arguments that make ``init`` valid for ``cell``."""
    return {"init": init, "chrono_t_max": T_MAX} if init == "chrono" else {"init": init}


def build(cell: str, seed: int = 0, impl: str = "torch", **kw) -> RecurrentStack:
    torch.manual_seed(seed)
    return RecurrentStack(IN, cell=cell, hidden_size=HID, impl=impl, **kw)


def layer_directions(stack: RecurrentStack) -> list[str]:
    return [
        f"_l{layer}" + ("_reverse" if d else "")
        for layer in range(stack.num_layers)
        for d in range(stack.num_directions)
    ]


def gate_bias(stack: RecurrentStack, sfx: str, gate: int) -> torch.Tensor:
    """b_ih + b_hh of gate block ``gate`` of one layer-direction: what the cell adds."""
    p = dict(stack.layers.named_parameters())
    return (p["bias_ih" + sfx] + p["bias_hh" + sfx])[gate * HID : (gate + 1) * HID]


def kept_fraction(stack: RecurrentStack) -> torch.Tensor:
    """Per layer-direction and unit, the fraction of the previous state one step keeps at zero
    input, measured by running the layer: its recurrent and input weights are zeroed so the
    gates depend on the biases alone, and the state is run once from 1 and once from 0.
    The state is c for the LSTM and h for the others. Returns [layer-directions, HID]."""
    with torch.no_grad():
        for name, p in stack.layers.named_parameters():
            if "weight" in name:
                p.zero_()
        x = torch.zeros(1, 1, IN)
        n = stack.num_layers * stack.num_directions
        runs = []
        for value in (1.0, 0.0):
            h = torch.full((n, 1, HID), value)
            state = (torch.zeros_like(h), h) if stack.cell == "lstm" else h
            _, out = stack(x, state)
            runs.append(out[1] if stack.cell == "lstm" else out)
        return (runs[0] - runs[1])[:, 0]


# -- default -----------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_default_is_the_layers_own_init_and_draws_nothing_more(cell, impl):
    kwargs = dict(num_layers=2, batch_first=True, bidirectional=True, dropout=0.0)
    if cell == "rnn":
        kwargs["nonlinearity"] = "tanh"
    torch.manual_seed(4)
    plain = _layer_classes(impl)[cell](IN, HID, **kwargs).state_dict()
    after_plain = torch.rand(5)
    stack = build(cell, seed=4, impl=impl, num_layers=2, bidirectional=True, init="default")
    after_stack = torch.rand(5)
    mine = stack.layers.state_dict()
    assert mine.keys() == plain.keys()
    assert all(torch.equal(mine[k], plain[k]) for k in plain)
    assert torch.equal(after_stack, after_plain)  # a head built next gets the same weights


# -- torch and scratch are one network ---------------------------------------------------

COMBOS = [(cell, init) for init in INITS for cell in CELLS_FOR[init]]
COMBOS += [("lstm", "forget_bias"), ("lstm", "orthogonal+forget_bias"), ("minlstm", "forget_bias")]


def combo_options(cell: str, combo: str) -> dict:
    if combo == "forget_bias":
        return {"forget_bias": 1.0}
    if combo == "orthogonal+forget_bias":
        return {"init": "orthogonal", "forget_bias": 1.0}
    return options(combo, cell)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize(("cell", "combo"), COMBOS)
def test_same_seed_same_weights_in_both_impls(cell, combo, num_layers, bidirectional):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, **combo_options(cell, combo))
    sd, rng = {}, {}
    for impl in ("torch", "scratch"):
        sd[impl] = build(cell, seed=11, impl=impl, **kw).state_dict()
        rng[impl] = torch.rand(3)
    assert list(sd["torch"]) == list(sd["scratch"])
    for k in sd["torch"]:
        assert torch.equal(sd["torch"][k], sd["scratch"][k]), k
    assert torch.equal(rng["torch"], rng["scratch"])


# -- orthogonal --------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_orthogonal_makes_every_gate_block_of_w_hh_orthogonal(cell):
    stack = build(cell, num_layers=2, bidirectional=True, init="orthogonal")
    default = build(cell, num_layers=2, bidirectional=True).layers.state_dict()
    eye = torch.eye(HID)
    for name, w in stack.layers.state_dict().items():
        if name.startswith("weight_hh"):
            assert w.shape == (GATES[cell] * HID, HID)
            for block in w.split(HID):
                torch.testing.assert_close(block @ block.T, eye, atol=1e-5, rtol=0)
            assert not torch.equal(w, default[name])
        else:  # input weights and biases keep their default values for the seed
            assert torch.equal(w, default[name]), name


# -- identity ----------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_identity_is_irnn(nonlinearity):
    torch.manual_seed(0)
    stack = RecurrentStack(
        32,
        cell="rnn",
        hidden_size=64,
        num_layers=2,
        bidirectional=True,
        nonlinearity=nonlinearity,
        init="identity",
    )
    for name, w in stack.layers.state_dict().items():
        if name.startswith("weight_hh"):
            assert torch.equal(w, torch.eye(64)), name
        elif name.startswith("bias"):
            assert torch.equal(w, torch.zeros(64)), name
        else:  # Le et al.: non-recurrent weights ~ N(0, 0.001^2)
            assert 0.9e-3 < w.std().item() < 1.1e-3, (name, w.std())
            assert abs(w.mean().item()) < 1e-4, name


# -- chrono ------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm"])
def test_chrono_gives_each_unit_a_memory_between_2_and_t_max_steps(cell, impl):
    stack = build(cell, impl=impl, num_layers=2, bidirectional=True, **options("chrono", cell))
    keep = kept_fraction(stack)
    # sigmoid(log u) = u / (1 + u) with u ~ U(1, T_max - 1): forgetting time 1 / (1 - keep) = 1 + u
    timescale = 1 / (1 - keep)
    assert timescale.min() >= 2 - 1e-3
    assert timescale.max() <= T_MAX * (1 + 1e-3)
    assert timescale.max() > T_MAX / 2  # spread over the range, not clustered near 2
    assert len(set(timescale.flatten().tolist())) == timescale.numel()  # one draw per unit


def test_chrono_lstm_biases():
    stack = build("lstm", num_layers=2, bidirectional=True, **options("chrono", "lstm"))
    default = build("lstm", num_layers=2, bidirectional=True).layers.state_dict()
    for sfx in layer_directions(stack):
        forget, inp = gate_bias(stack, sfx, 1), gate_bias(stack, sfx, 0)
        assert forget.min() >= math.log(1) and forget.max() <= math.log(T_MAX - 1)
        assert torch.equal(inp, -forget)
        for name in ("bias_ih", "bias_hh"):  # g and o keep their default biases
            got = stack.layers.state_dict()[name + sfx][2 * HID :]
            assert torch.equal(got, default[name + sfx][2 * HID :])
    for name, w in stack.layers.state_dict().items():
        if name.startswith("weight"):
            assert torch.equal(w, default[name]), name


@pytest.mark.parametrize("cell", ["gru", "mingru", "minlstm"])
def test_chrono_bias_signs(cell):
    """The keeping gate's bias is log u in [0, log(T_max - 1)]; minGRU keeps with 1 - z."""
    stack = build(cell, num_layers=2, **options("chrono", cell))
    if cell == "gru":
        keep_biases = [gate_bias(stack, sfx, 1) for sfx in layer_directions(stack)]
    else:
        keep_biases = [p.bias[:HID] for p in stack.layers.proj]
        if cell == "mingru":
            keep_biases = [-b for b in keep_biases]
        else:
            assert all(torch.equal(p.bias[HID : 2 * HID], -p.bias[:HID]) for p in stack.layers.proj)
    for b in keep_biases:
        assert b.min() >= 0 and b.max() <= math.log(T_MAX - 1)


# -- forget_bias -------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["default", "orthogonal"])
def test_forget_bias_sets_the_lstm_forget_gate_sum(init):
    stack = build("lstm", num_layers=2, bidirectional=True, init=init, forget_bias=1.0)
    plain = build("lstm", num_layers=2, bidirectional=True, init=init).layers.state_dict()
    for sfx in layer_directions(stack):
        assert torch.equal(gate_bias(stack, sfx, 1), torch.full((HID,), 1.0))
    for name, w in stack.layers.state_dict().items():
        if name.startswith("weight"):
            assert torch.equal(w, plain[name]), name
        else:  # the i, g and o parts are untouched
            assert torch.equal(w[:HID], plain[name][:HID]), name
            assert torch.equal(w[2 * HID :], plain[name][2 * HID :]), name
    torch.testing.assert_close(
        kept_fraction(stack), torch.full((4, HID), torch.tensor(1.0).sigmoid().item())
    )


def test_forget_bias_sets_the_minlstm_forget_preactivation():
    stack = build("minlstm", num_layers=2, bidirectional=True, forget_bias=1.5)
    plain = build("minlstm", num_layers=2, bidirectional=True)
    for mine, ref in zip(stack.layers.proj, plain.layers.proj, strict=True):
        assert torch.equal(mine.bias[:HID], torch.full((HID,), 1.5))
        assert torch.equal(mine.bias[HID:], ref.bias[HID:])
        assert torch.equal(mine.weight, ref.weight)


# -- errors ------------------------------------------------------------------------------

BAD = {
    "unknown scheme": ("lstm", {"init": "xavier"}, "init"),
    "identity for lstm": ("lstm", {"init": "identity"}, "init"),
    "identity for gru": ("gru", {"init": "identity"}, "init"),
    "identity for mingru": ("mingru", {"init": "identity"}, "init"),
    "orthogonal for mingru": ("mingru", {"init": "orthogonal"}, "init"),
    "orthogonal for minlstm": ("minlstm", {"init": "orthogonal"}, "init"),
    "chrono for rnn": ("rnn", {"init": "chrono", "chrono_t_max": 10}, "init"),
    "chrono without t_max": ("lstm", {"init": "chrono"}, "chrono_t_max"),
    "chrono t_max 1": ("lstm", {"init": "chrono", "chrono_t_max": 1}, "chrono_t_max"),
    "chrono t_max negative": ("gru", {"init": "chrono", "chrono_t_max": -5}, "chrono_t_max"),
    "chrono t_max float": ("gru", {"init": "chrono", "chrono_t_max": 10.5}, "chrono_t_max"),
    "chrono t_max bool": ("gru", {"init": "chrono", "chrono_t_max": True}, "chrono_t_max"),
    "chrono t_max string": ("gru", {"init": "chrono", "chrono_t_max": "10"}, "chrono_t_max"),
    "t_max without chrono": ("lstm", {"chrono_t_max": 10}, "chrono_t_max"),
    "t_max with orthogonal": ("lstm", {"init": "orthogonal", "chrono_t_max": 10}, "chrono_t_max"),
    "forget_bias for rnn": ("rnn", {"forget_bias": 1.0}, "forget_bias"),
    "forget_bias for gru": ("gru", {"forget_bias": 1.0}, "forget_bias"),
    "forget_bias for mingru": ("mingru", {"forget_bias": 1.0}, "forget_bias"),
    "forget_bias with chrono": (
        "lstm",
        {"init": "chrono", "chrono_t_max": 10, "forget_bias": 1.0},
        "forget_bias",
    ),
    "forget_bias nan": ("lstm", {"forget_bias": float("nan")}, "forget_bias"),
    "forget_bias inf": ("lstm", {"forget_bias": float("inf")}, "forget_bias"),
    "forget_bias bool": ("lstm", {"forget_bias": True}, "forget_bias"),
    "forget_bias string": ("lstm", {"forget_bias": "1.0"}, "forget_bias"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_combinations_name_the_key(case):
    cell, kw, key = BAD[case]
    for impl in ("torch", "scratch"):
        with pytest.raises(ConfigError) as info:  # the declaration the config check reads
            StackOptions.check({"cell": cell, "impl": impl, **kw})
        err = info.value
        assert err.key == key
        assert err.value is kw[key] if key in kw else err.value is None
        assert err.allowed


def test_error_says_what_the_cell_allows():
    with pytest.raises(ConfigError) as info:
        StackOptions.check({"cell": "lstm", "init": "identity"})
    assert info.value.allowed == "one of default, orthogonal, chrono for cell=lstm"
    with pytest.raises(ConfigError) as info, config_group("model"):
        StackOptions.check({"cell": "minlstm", "init": "orthogonal"})
    assert str(info.value).startswith(
        "model.init='orthogonal' is not allowed: one of default, chrono"
    )


def test_integer_forget_bias_and_smallest_t_max_are_accepted():
    stack = build("lstm", forget_bias=1)
    assert torch.equal(gate_bias(stack, "_l0", 1), torch.ones(HID))
    stack = build("gru", init="chrono", chrono_t_max=2)  # U(1, 1): every unit keeps half
    assert torch.equal(gate_bias(stack, "_l0", 1), torch.zeros(HID))
