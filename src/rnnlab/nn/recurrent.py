"""One builder for every recurrent stack.

``RecurrentStack`` wraps a multi-layer, optionally bidirectional recurrent layer and
gives every task the same two views of it: per-step outputs (for language models)
and the final state of the top layer (for sequence classification and forecasting).
The ``impl`` switch picks cuDNN/ATen layers from torch.nn or the cells written
from the equations; both share parameter names, shapes and initialisation.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnlab.nn.init import apply_init
from rnnlab.nn.options import CELLS, stack_options
from rnnlab.nn.stacking import run_layer

TORCH_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

State = Tensor | tuple[Tensor, Tensor]


def _layer_classes(impl: str) -> dict[str, type[nn.Module]]:
    """Layer classes per cell name for an implementation; imported lazily."""
    from rnnlab.nn.lru import LRU
    from rnnlab.nn.minimal import MINIMAL
    from rnnlab.nn.s6 import S6
    from rnnlab.nn.scratch import SCRATCH
    from rnnlab.nn.xlstm import MLSTM, SLSTM

    modern = {"lru": LRU, "s6": S6, "slstm": SLSTM, "mlstm": MLSTM}
    return {**(SCRATCH if impl == "scratch" else TORCH_CELLS), **MINIMAL, **modern}


def cell_names() -> list[str]:
    return list(CELLS)


class RecurrentStack(nn.Module):
    """``num_layers`` recurrent layers of one cell type, batch-first.

    Args (``model`` config keys: ``rnnlab.nn.options.StackOptions``):
        input_size: features per time step.
        cell: ``rnn``, ``lstm``, ``gru``, the minimal ``mingru``/``minlstm``, or the modern
            ``lru`` (``nn/lru.py``), ``s6`` (``nn/s6.py``), ``slstm``/``mlstm`` (``nn/xlstm.py``).
        hidden_size: units per layer and direction.
        num_layers: stacked layers.
        bidirectional: run a second stack backwards in time and concatenate.
        dropout: dropout between layers (not after the last), as torch.nn does.
        nonlinearity: ``tanh`` or ``relu``; vanilla RNN only.
        impl: ``torch`` (cuDNN on GPU) or ``scratch`` (cells written from the equations).
        init: ``default`` (torch's own), ``orthogonal``, ``identity`` (IRNN) or ``chrono``;
            see ``rnnlab.nn.init`` for what each sets and which cells it applies to. A seed
            builds the same weights in both implementations for every scheme.
        chrono_t_max: the longest dependency in steps (an integer >= 2) for ``chrono``;
            null otherwise.
        forget_bias: null, or the forget-gate bias (``lstm``, ``minlstm``), e.g. 1.0.
        block: ``plain`` (layers stacked as torch.nn does) or ``residual`` (``nn/blocks.py``),
            with ``norm`` and ``mlp_ratio``; the cells' own keys: ``StackOptions``.
    """

    def __init__(self, input_size: int, **model: Any) -> None:
        super().__init__()
        opts = stack_options(model)  # declared in rnnlab.nn.options, checked by the config check
        opts.check_memory(input_size)  # the one rule that needs the data's input size
        self.cell, self.impl = opts.cell, opts.impl
        self.hidden_size, self.num_layers = opts.hidden_size, opts.num_layers
        self.num_directions = 2 if opts.bidirectional else 1
        self.block = opts.block
        kwargs: dict[str, Any] = dict(
            num_layers=opts.num_layers,
            batch_first=True,
            bidirectional=opts.bidirectional,
            dropout=opts.dropout if opts.num_layers > 1 else 0.0,
            **opts.cell_options(),
        )
        if opts.cell == "rnn":
            kwargs["nonlinearity"] = opts.nonlinearity
        layer_class = _layer_classes(opts.impl)[opts.cell]

        def make_layer(layer_input: int, **options: Any) -> nn.Module:
            layer = layer_class(layer_input, opts.hidden_size, **{**kwargs, **options})
            apply_init(layer, opts.cell, opts.init, opts.chrono_t_max, opts.forget_bias)
            return layer

        if opts.block == "plain":
            self.layers = make_layer(input_size)
        else:
            from rnnlab.nn.blocks import ResidualLayers

            self.blocks = ResidualLayers(
                input_size, opts.hidden_size, opts.num_layers, cell=opts.cell,
                make_layer=lambda width: make_layer(width, num_layers=1, dropout=0.0),
                bidirectional=opts.bidirectional, dropout=opts.dropout, norm=opts.norm,
                mlp_ratio=opts.mlp_ratio,
            )  # fmt: skip

    @property
    def output_size(self) -> int:
        """Features of each per-step output and of ``final_features``."""
        return self.hidden_size * self.num_directions

    @property
    def state_size(self) -> int:
        """Floats of recurrent state per sequence, all layers and directions: H per
        layer-direction for rnn, gru and the minimal cells, 2H for lstm, and what each
        modern layer reports (its ``state_size``)."""
        layers = self.layers if self.block == "plain" else self.blocks.layers
        total = 0
        for layer in [layers] if self.block == "plain" else layers:
            if hasattr(layer, "state_size"):
                total += layer.state_size
            else:
                per = 2 if self.cell == "lstm" else 1
                total += per * self.hidden_size * layer.num_layers * (1 + layer.bidirectional)
        return total

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """``x``: ``[batch, time, features]`` -> outputs ``[batch, time, output_size]``, state.

        ``lengths`` (int ``[batch]``, any device; None: every sequence is ``time`` long): each
        sequence's real steps come first, padding after. Outputs at padded steps are zeros
        and the state is each sequence's at its last real step; the backward direction of a
        bidirectional stack starts at that step. torch.nn layers run packed (cuDNN reads the
        real steps only); the others mask the padded steps (``rnnlab.nn.stacking.run_layer``).
        """
        if self.block == "plain":
            return run_layer(self.layers, x, state, lengths)
        return self.blocks(x, state, lengths)

    def final_features(self, state: State) -> Tensor:
        """Top layer's final hidden state, both directions concatenated: ``[batch, output_size]``.

        For the backward direction this is its state after reading the whole sequence
        from the end, i.e. at t=0, which the per-step outputs at t=-1 do not hold. With
        ``block=residual`` these are the block's features (``rnnlab.nn.blocks``).
        """
        if self.block == "residual":
            return state[0][0]
        h = state[0] if isinstance(state, tuple) else state
        top = h[-self.num_directions :]  # [directions, batch, hidden]
        return top.transpose(0, 1).reshape(h.shape[1], self.output_size)

    def encode(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Read each whole sequence (to its length, if given) and return ``final_features``."""
        _, state = self(x, lengths=lengths)
        return self.final_features(state)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def detach_state(state: State | None) -> State | None:
    """Cut the graph between consecutive batches (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()
