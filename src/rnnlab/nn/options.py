"""The keys of ``model`` (the recurrent stack): their one declaration, without torch.

``StackOptions`` declares every key (type, default, what it allows, meaning); the config
check (``rnnlab.schema``) reads it before any heavy import, and ``RecurrentStack`` takes
its defaults from it, so the command line and the Python API build the same network.
The initialisation schemes themselves are applied by ``rnnlab.nn.init``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, option

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


def check_init(cell: str, init: str, chrono_t_max: Any = None, forget_bias: Any = None) -> None:
    """The rules between ``init``, ``chrono_t_max``, ``forget_bias`` and ``cell`` (each value
    alone is checked by its declaration)."""
    if cell not in CELLS_FOR[init]:
        raise ConfigError("init", init, f"one of {', '.join(allowed_inits(cell))} for cell={cell}")
    if init == "chrono" and chrono_t_max is None:
        raise ConfigError(
            "chrono_t_max", None, "an integer >= 2 (the longest dependency, in steps) when init "
            "is chrono",
        )  # fmt: skip
    if init != "chrono" and chrono_t_max is not None:
        raise ConfigError("chrono_t_max", chrono_t_max, "null unless init is chrono")
    if forget_bias is None:
        return
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
class StackOptions(Options):
    """The keys of ``model``: the recurrent stack (``rnnlab.nn.recurrent.RecurrentStack``)."""

    group: ClassVar[str] = "model"

    cell: str = option("lstm", "the recurrent cell", choices=CELLS)
    hidden_size: int = option(64, "units per layer and direction", ge=1)
    num_layers: int = option(1, "stacked recurrent layers", ge=1)
    bidirectional: bool = option(False, "also read each sequence backwards and concatenate")
    dropout: float = option(0.0, "dropout between layers (num_layers > 1)", ge=0, lt=1)
    nonlinearity: str = option("tanh", "the vanilla RNN's activation (relu: cell=rnn only)",
                               choices=NONLINEARITIES)  # fmt: skip
    impl: str = option("torch", "torch: torch.nn's layers (cuDNN on a GPU); scratch: cells "
                       "written from the equations", choices=IMPLS)  # fmt: skip
    init: str = option("default", "initialisation scheme (rnnlab.nn.init)", choices=INITS)
    chrono_t_max: int | None = option(None, "longest dependency in steps, for init=chrono",
                                      ge=2)  # fmt: skip
    forget_bias: float | None = option(None, "forget-gate bias (lstm, minlstm), e.g. 1.0")

    def rules(self) -> None:
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ConfigError("nonlinearity", self.nonlinearity, "tanh unless cell is rnn")
        check_init(self.cell, self.init, self.chrono_t_max, self.forget_bias)
        self.check_memory(1)

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


MODEL_KEYS = tuple(StackOptions.key_names())


def stack_options(cfg: Mapping[str, Any]) -> StackOptions:
    """The options of a checked ``model`` config (the check is ``StackOptions.check``)."""
    return StackOptions(**{k: v for k, v in cfg.items() if not str(k).startswith("_")})
