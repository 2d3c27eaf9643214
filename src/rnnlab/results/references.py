"""Published numbers to put next to our own results.

Each entry matches a table group through a predicate on the group's flattened
config and a metric name. Matching is deliberately strict on the task and cell
type only: published setups differ in width, schedule and regularisation, so the
"published" column is a sanity anchor, not a like-for-like comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Config = Mapping[str, Any]

MNIST_TARGET = "rnnlab.data.mnist.SequentialMNIST"
CHARS_TARGET = "rnnlab.data.chars.CharDataModule"
SELECTIVE_COPY_TARGET = "rnnlab.data.synthetic.SelectiveCopy"


@dataclass(frozen=True)
class Reference:
    value: float
    metric: str
    source: str
    note: str
    matches: Callable[[Config], bool]

    def applies(self, config: Config, metric: str | None = None) -> bool:
        if metric is not None and metric != self.metric:
            return False
        try:
            return bool(self.matches(config))
        except Exception:
            # A predicate must never break table rendering on an odd config.
            return False


def _setting(**expected: Any) -> Callable[[Config], bool]:
    """Predicate: every dotted key equals the expected value. ``model.bidirectional``
    must be false when present, since all published entries are unidirectional."""

    def check(config: Config) -> bool:
        if config.get("model.bidirectional") not in (None, False):
            return False
        return all(config.get(k) == v for k, v in expected.items())

    return check


def _smnist(mode: str, cell: str) -> Callable[[Config], bool]:
    same = _setting(**{"data._target_": MNIST_TARGET, "data.mode": mode, "model.cell": cell})
    # Published numbers train on the 60k training images; data.protocol=test10k runs do not.
    return lambda config: same(config) and config.get("data.protocol", "official") == "official"


def _chars(corpus: str, cell: str | None = None) -> Callable[[Config], bool]:
    keys: dict[str, Any] = {"data._target_": CHARS_TARGET, "data.corpus": corpus}
    if cell is not None:
        keys["model.cell"] = cell
    return _setting(**keys)


def _selective_copy(cell: str, layers: int) -> Callable[[Config], bool]:
    # The published rows differ by depth, so depth is matched as well as the cell.
    return _setting(
        **{"data._target_": SELECTIVE_COPY_TARGET, "model.cell": cell, "model.num_layers": layers}
    )


COOIJMANS = "Cooijmans et al. 2016, Recurrent Batch Normalization (arXiv:1603.09025), Table 1"
BAI = (
    "Bai, Kolter & Koltun 2018, An Empirical Evaluation of Generic Convolutional "
    "and Recurrent Networks for Sequence Modeling (arXiv:1803.01271), Table 1"
)

FENG = (
    "Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, Were RNNs All We Needed? "
    "(arXiv:2410.01201), selective copying, accuracy by number of layers"
)
FENG_SETTING = (
    "the Mamba paper's selective copying (length 4096, 16 tokens to recall); each of "
    "their layers is a residual block (normalisation, optional causal convolution and "
    "feed-forward around the minRNN), not a bare cell as here"
)

REFERENCES: tuple[Reference, ...] = (
    Reference(
        0.9864,
        "test/acc",
        "Keras example mnist_hierarchical_rnn.py (keras-team/keras, examples/)",
        "hierarchical LSTM (row LSTM then column LSTM, 128 units), 5 epochs, RMSprop; "
        "the docstring's 'val acc 0.9864' is measured on the MNIST test set; "
        "a single run, not a plain row-wise LSTM",
        _smnist("row", "lstm"),
    ),
    Reference(
        0.989,
        "test/acc",
        COOIJMANS,
        "baseline LSTM, 100 units, pixel-by-pixel MNIST (784 steps)",
        _smnist("pixel", "lstm"),
    ),
    Reference(
        0.902,
        "test/acc",
        COOIJMANS,
        "baseline LSTM, 100 units, permuted pixel MNIST",
        _smnist("permuted", "lstm"),
    ),
    Reference(
        0.35,
        "test/acc",
        "Le, Jaitly & Hinton 2015, A Simple Way to Initialize Recurrent Networks "
        "of Rectified Linear Units (arXiv:1504.00941); 35.0 as quoted in " + COOIJMANS,
        "tanh RNN on pixel MNIST; a rounded figure, useful only as a weak-baseline anchor",
        _smnist("pixel", "rnn"),
    ),
    Reference(
        1.36, "test/bpc", BAI, "generic LSTM baseline, char-level PTB", _chars("ptb", "lstm")
    ),
    Reference(1.37, "test/bpc", BAI, "generic GRU baseline, char-level PTB", _chars("ptb", "gru")),
    Reference(
        1.48, "test/bpc", BAI, "generic vanilla RNN baseline, char-level PTB", _chars("ptb", "rnn")
    ),
    Reference(
        1.4697,
        "val/loss",
        "nanoGPT README (karpathy/nanoGPT), shakespeare_char quick start",
        "6-layer char-level Transformer (not an RNN), best val cross-entropy in nats, "
        "context 256; a target to beat, any cell",
        _chars("tinyshakespeare"),
    ),
    *(
        Reference(
            value,
            "test/acc",
            FENG,
            f"{cell}, {layers} layer(s): {text} (mean ± std); {FENG_SETTING}",
            _selective_copy(cell, layers),
        )
        for cell, layers, value, text in (
            ("minlstm", 1, 0.376, "37.6 ± 2.0%"),
            ("minlstm", 2, 0.857, "85.7 ± 5.8%"),
            ("minlstm", 3, 0.960, "96.0 ± 2.8%"),
            ("mingru", 1, 0.370, "37.0 ± 2.3%"),
            ("mingru", 2, 0.968, "96.8 ± 3.2%"),
            ("mingru", 3, 0.995, "99.5 ± 0.2%"),
        )
    ),
)


def matching(
    config: Config,
    metrics: list[str] | None = None,
    references: tuple[Reference, ...] = REFERENCES,
) -> list[Reference]:
    """References that apply to ``config``; restricted to ``metrics`` when given."""
    return [
        ref
        for ref in references
        if (metrics is None or ref.metric in metrics) and ref.applies(config)
    ]
