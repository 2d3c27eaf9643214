"""Initialisation schemes for recurrent stacks, the ones long-memory results depend on.

Every scheme starts from the layer's own initialisation (torch's ``U(-1/sqrt(H), 1/sqrt(H))``
for every parameter) and then overwrites what it is about, walking the layer-directions in
parameter order (layer, then direction; ``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``) and drawing from torch's global RNG. Two consequences:

* ``default`` draws nothing beyond what the layer itself draws, so a seed builds the very
  weights it built before these schemes existed, and leaves the RNG where it was.
* The torch and scratch layers share names, shapes, gate order and their own
  initialisation, so a seed gives identical weights in both for every scheme. Parameters a
  scheme does not mention keep their default values for that seed.

Schemes (``init``):

``orthogonal``
    Each gate block of every ``W_hh`` (the whole matrix for ``rnn``; each of i, f, g, o for
    ``lstm``; each of r, z, n for ``gru``) is a random orthogonal ``H x H`` matrix
    (Saxe et al. 2014), so ``W W^T = I`` per block. Input weights and biases stay default.
``identity``
    IRNN (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
    Rectified Linear Units"), ``cell=rnn`` only: ``W_hh = I``, every bias zero, and, as the
    paper does for the non-recurrent weights, every ``W_ih`` drawn from ``N(0, 0.001^2)``.
    The paper's IRNN uses ReLU units (``nonlinearity=relu``); with ``tanh`` the same
    initialisation is allowed. The paper's hidden-to-output weights belong to the task's
    head, which this module does not touch.
``chrono``
    Tallec & Ollivier 2018, "Can recurrent neural networks warp time?": with
    ``u ~ U(1, T_max - 1)`` per unit, the bias of the gate that keeps ``h_{t-1}`` (or
    ``c_{t-1}``) is ``log u``, so that at zero input the kept fraction is
    ``sigmoid(log u) = u / (1 + u)`` and the unit forgets on a time scale ``1 + u`` in
    ``[2, T_max]``. Per cell, in the formulas these layers compute:

    * ``lstm`` (``c = f c_prev + i g``): ``b_f = log u`` and ``b_i = -log u``.
    * ``gru`` (torch: ``h = (1 - z) n + z h_prev``, so ``z`` keeps): ``b_z = log u``.
    * ``mingru`` (``h = (1 - z) h_prev + z g(h~)``, so ``1 - z`` keeps): ``b_z = -log u``.
    * ``minlstm`` (``f' = f / (f + i)`` keeps): ``b_f = log u`` and ``b_i = -log u``; since
      ``sigmoid(b) + sigmoid(-b) = 1`` this makes ``f' = u / (1 + u)`` exactly.

    Other biases and all weights stay default.

torch.nn's recurrent layers carry two biases that only ever act as their sum (for the GRU's
r and z gates too; only its n gate keeps ``b_hn`` apart, and no scheme sets it), so a gate
bias ``b`` is written as ``bias_ih = b``, ``bias_hh = 0``.

``forget_bias`` (Jozefowicz, Zaremba & Sutskever 2015 use 1.0) sets the LSTM forget-gate
bias sum, after ``default`` or ``orthogonal``. For ``minlstm`` it sets the bias of the
forget pre-activation ``k_f``; the kept fraction there is ``f / (f + i)`` and so also
depends on the input gate, whose bias stays default (about 0): 1.0 keeps about
``0.73 / (0.73 + 0.5) = 0.59`` at zero input rather than 0.5. Cells without a forget gate
(``rnn``, ``gru``, ``mingru``) reject it, and so does ``chrono``, which sets that bias itself.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

IRNN_INPUT_STD = 1e-3  # Le et al. 2015: non-recurrent weights ~ N(0, 0.001^2)

# Gate blocks per cell, in the row order of W_ih, W_hh and the biases.
_GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
_MIN_GATES = {"mingru": ("z", "h~"), "minlstm": ("f", "i", "h~")}


def _gate(t: Tensor, gates: tuple[str, ...], name: str) -> Tensor:
    """The rows of gate ``name`` in a stacked weight or bias (a view)."""
    h = t.shape[0] // len(gates)
    k = gates.index(name)
    return t[k * h : (k + 1) * h]


def _set_gate_bias(
    b_ih: Tensor, b_hh: Tensor, gates: tuple[str, ...], name: str, value: Tensor | float
) -> None:
    """Make the sum b_ih + b_hh of one gate equal ``value`` (per unit, or one number)."""
    _gate(b_ih, gates, name).copy_(torch.as_tensor(value, dtype=b_ih.dtype))
    _gate(b_hh, gates, name).zero_()


def _chrono_log_u(like: Tensor, t_max: int) -> Tensor:
    """log u with u ~ U(1, T_max - 1), one per unit."""
    return torch.empty_like(like).uniform_(1.0, t_max - 1.0).log_()


def _init_rnn_layer(
    layers: nn.Module, cell: str, init: str, chrono_t_max: int | None, forget_bias: float | None
) -> None:
    gates = _GATES[cell]
    num_dirs = 2 if layers.bidirectional else 1
    for layer in range(layers.num_layers):
        for d in range(num_dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh, b_ih, b_hh = (
                getattr(layers, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            if init == "orthogonal":
                for g in gates:
                    nn.init.orthogonal_(_gate(w_hh, gates, g))
            elif init == "identity":
                nn.init.normal_(w_ih, 0.0, IRNN_INPUT_STD)
                nn.init.eye_(w_hh)
                nn.init.zeros_(b_ih)
                nn.init.zeros_(b_hh)
            elif init == "chrono":
                keep = "f" if cell == "lstm" else "z"
                log_u = _chrono_log_u(_gate(b_ih, gates, keep), chrono_t_max)
                _set_gate_bias(b_ih, b_hh, gates, keep, log_u)
                if cell == "lstm":
                    _set_gate_bias(b_ih, b_hh, gates, "i", -log_u)
            if forget_bias is not None:
                _set_gate_bias(b_ih, b_hh, gates, "f", float(forget_bias))


def _init_minimal(
    layers: nn.Module, cell: str, init: str, chrono_t_max: int | None, forget_bias: float | None
) -> None:
    gates = _MIN_GATES[cell]
    for proj in layers.proj:  # index layer * num_directions + direction: parameter order
        bias = proj.bias
        if init == "chrono":
            if cell == "mingru":  # 1 - z keeps h_prev
                _gate(bias, gates, "z").copy_(-_chrono_log_u(_gate(bias, gates, "z"), chrono_t_max))
            else:
                log_u = _chrono_log_u(_gate(bias, gates, "f"), chrono_t_max)
                _gate(bias, gates, "f").copy_(log_u)
                _gate(bias, gates, "i").copy_(-log_u)
        if forget_bias is not None:
            _gate(bias, gates, "f").fill_(float(forget_bias))


def apply_init(
    layers: nn.Module,
    cell: str,
    init: str = "default",
    chrono_t_max: int | None = None,
    forget_bias: float | None = None,
) -> None:
    """Re-initialise a freshly built recurrent layer in place (see the module docstring).

    ``layers`` is a torch.nn RNN/LSTM/GRU, its scratch counterpart, or a minimal layer,
    built with biases. The combination was checked with the config (``StackOptions``).
    """
    if init == "default" and forget_bias is None:
        return
    with torch.no_grad():
        if cell in _MIN_GATES:
            _init_minimal(layers, cell, init, chrono_t_max, forget_bias)
        else:
            _init_rnn_layer(layers, cell, init, chrono_t_max, forget_bias)
