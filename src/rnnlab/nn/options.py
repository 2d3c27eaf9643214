"""The keys of ``model`` (the recurrent stack) and what each allows, without importing torch.

``check_model`` runs before any heavy import, so a mistyped ``model.*`` value is answered
at once; ``RecurrentStack`` is built from the same ``StackOptions``, so the rules live here only.
The initialisation schemes themselves are applied by ``rnnlab.nn.init``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rnnlab.errors import (
    ConfigError,
    check_choice,
    check_fraction,
    check_positive,
    did_you_mean,
)

CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm")
MINIMAL_CELLS = ("mingru", "minlstm")
NONLINEARITIES = ("tanh", "relu")
IMPLS = ("torch", "scratch")
# Pre-activations per hidden unit of each layer's input map (gates times candidate).
GATES = {"rnn": 1, "lstm": 4, "gru": 3, "mingru": 2, "minlstm": 3}

INITS = ("default", "orthogonal", "identity", "chrono")
# Cells each scheme applies to; the minimal cells have no recurrent matrix.
CELLS_FOR: dict[str, tuple[str, ...]] = {
    "default": CELLS,
    "orthogonal": ("rnn", "lstm", "gru"),
    "identity": ("rnn",),
    "chrono": ("lstm", "gru", "mingru", "minlstm"),
}
FORGET_GATE_CELLS = ("lstm", "minlstm")


def allowed_inits(cell: str) -> list[str]:
    """The ``init`` values that apply to ``cell``."""
    return [name for name in INITS if cell in CELLS_FOR[name]]


def check_init(cell: str, init: Any, chrono_t_max: Any = None, forget_bias: Any = None) -> None:
    """Raise a ConfigError naming ``init``, ``chrono_t_max`` or ``forget_bias`` if the
    combination does not apply to ``cell``."""
    check_choice("init", init, INITS)
    if cell not in CELLS_FOR[init]:
        raise ConfigError("init", init, f"one of {', '.join(allowed_inits(cell))} for cell={cell}")
    if init == "chrono":
        ok = isinstance(chrono_t_max, int) and not isinstance(chrono_t_max, bool)
        if not ok or chrono_t_max < 2:
            raise ConfigError(
                "chrono_t_max",
                chrono_t_max,
                "an integer >= 2 (the longest dependency, in steps) when init is chrono",
            )
    elif chrono_t_max is not None:
        raise ConfigError("chrono_t_max", chrono_t_max, "null unless init is chrono")
    if forget_bias is None:
        return
    number = isinstance(forget_bias, (int, float)) and not isinstance(forget_bias, bool)
    if not number or not math.isfinite(forget_bias):
        raise ConfigError("forget_bias", forget_bias, "null or a finite number")
    if cell not in FORGET_GATE_CELLS:
        raise ConfigError(
            "forget_bias",
            forget_bias,
            f"null for cell={cell}, which has no forget gate "
            f"(only {' and '.join(FORGET_GATE_CELLS)} have one)",
        )
    if init == "chrono":
        raise ConfigError(
            "forget_bias", forget_bias, "null when init is chrono (chrono sets that bias)"
        )


def stack_parameters(cell: str, input_size: int, hidden_size: int, num_layers: int,
                     bidirectional: bool) -> int:  # fmt: skip
    """Parameters of the stack (with biases), as the layers will allocate them."""
    dirs = 2 if bidirectional else 1
    gates = GATES[cell]
    total = 0
    for layer in range(num_layers):
        layer_in = input_size if layer == 0 else hidden_size * dirs
        if cell in MINIMAL_CELLS:  # one Linear per layer-direction
            per_dir = gates * hidden_size * (layer_in + 1)
        else:  # W_ih, W_hh, b_ih, b_hh
            per_dir = gates * hidden_size * (layer_in + hidden_size + 2)
        total += dirs * per_dir
    return total


def available_memory() -> int | None:
    """Bytes of memory this machine can still give a process (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# Weights, gradients and two optimiser moments, float32: what training holds per parameter.
TRAINING_BYTES_PER_PARAMETER = 16


@dataclass(kw_only=True)
class StackOptions:
    """The keys of ``model``: building it checks every value and combination."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    nonlinearity: str = "tanh"
    impl: str = "torch"
    init: str = "default"
    chrono_t_max: int | None = None
    forget_bias: float | None = None

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        check_choice("impl", self.impl, IMPLS)
        check_positive("hidden_size", self.hidden_size)
        check_positive("num_layers", self.num_layers)
        check_fraction("dropout", self.dropout)
        check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        if not isinstance(self.bidirectional, bool):
            raise ConfigError("bidirectional", self.bidirectional, "true or false")
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ConfigError("nonlinearity", self.nonlinearity, "tanh unless cell is rnn")
        check_init(self.cell, self.init, self.chrono_t_max, self.forget_bias)

    def parameters(self, input_size: int) -> int:
        return stack_parameters(self.cell, input_size, self.hidden_size, self.num_layers,
                                self.bidirectional)  # fmt: skip

    def check_memory(self, input_size: int) -> None:
        """Training the stack fits in this machine's free memory."""
        params = self.parameters(input_size)
        needed, free = params * TRAINING_BYTES_PER_PARAMETER, available_memory()
        if free is not None and needed > free:
            raise ConfigError(
                "hidden_size", self.hidden_size, f"a size that fits in memory: {params:,} "
                f"parameters need about {needed / 2**30:.1f} GiB to train, "
                f"{free / 2**30:.1f} GiB are available",
            )  # fmt: skip


MODEL_KEYS = tuple(f.name for f in fields(StackOptions))


def stack_options(cfg: Mapping[str, Any], input_size: int = 1) -> StackOptions:
    """The options of a ``model`` config, checked (memory included); an unknown key is named
    with the keys there are."""
    unknown = [k for k in cfg if k not in MODEL_KEYS]
    if unknown:
        key = unknown[0]
        raise ConfigError(key, cfg[key], "not a model key" + did_you_mean(key, MODEL_KEYS)
                          + "; the keys are " + ", ".join(MODEL_KEYS))  # fmt: skip
    options = StackOptions(**cfg)
    options.check_memory(input_size)
    return options


def check_model(cfg: Mapping[str, Any], input_size: int = 1) -> None:
    """Every value of a ``model`` config (see ``stack_options``)."""
    stack_options(cfg, input_size)
