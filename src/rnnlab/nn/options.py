"""The keys of ``model`` (the recurrent stack): their one declaration, without torch.

``StackOptions`` declares every key (type, default, what it allows, meaning); the config
check (``rnnlab.schema``) reads it before any heavy import, and ``RecurrentStack`` takes
its defaults from it, so the command line and the Python API build the same network.
The keys only some cells read (``KEY_USERS``) are refused for the others. The
initialisation schemes themselves are applied by ``rnnlab.nn.init``; parameter counts
(``stack_parameters``) serve the memory check and the thread choice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, default_of, option

CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm", "lru", "s6", "slstm", "mlstm")
MINIMAL_CELLS = ("mingru", "minlstm")
MODERN_CELLS = ("lru", "s6", "slstm", "mlstm")
BLOCKS = ("plain", "residual")
NORMS = ("layernorm", "rmsnorm")
# The keys only some cells (or the residual block) read, and who reads them: any other
# cell must leave them at their defaults, so a key that would be ignored is refused.
KEY_USERS: dict[str, tuple[str, ...]] = {
    "d_state": ("lru", "s6"),
    "r_min": ("lru",),
    "r_max": ("lru",),
    "max_phase": ("lru",),
    "dt_min": ("s6",),
    "dt_max": ("s6",),
    "kernel": ("s6",),
    "num_heads": ("slstm", "mlstm"),
}
S6_D_STATE = 16  # Mamba's default states per channel
NONLINEARITIES = ("tanh", "relu")
KERNELS = ("auto", "native", "torch")
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


def direction_parameters(cell: str, n_in: int, hidden: int, d_state: int | None = None,
                         num_heads: int = 1) -> int:  # fmt: skip
    """Parameters of one layer-direction reading ``n_in`` features, as its layer allocates them."""
    if cell == "lru":  # nu_log, theta_log, gamma_log; complex B, C; D (a vector if square)
        n = d_state or hidden
        return 3 * n + 2 * n * n_in + 2 * hidden * n + (hidden if n_in == hidden else hidden * n_in)
    if cell == "s6":  # in_proj, x_proj (Delta rank, B, C), dt_proj, A_log, D
        n, rank = d_state or S6_D_STATE, -(-hidden // 16)
        return (
            hidden * (n_in + 1) + hidden * (rank + 2 * n) + hidden * (rank + 1) + hidden * (n + 1)
        )
    if cell == "slstm":  # input map of z, i, f, o with bias; block-diagonal recurrent map
        return 4 * hidden * (n_in + 1) + 4 * hidden * (hidden // num_heads)
    if cell == "mlstm":  # q, k, v, o maps; scalar input and forget gates per head
        return 4 * hidden * (n_in + 1) + 2 * num_heads * (n_in + 1)
    if cell in MINIMAL_CELLS:  # one Linear per layer-direction
        return GATES[cell] * hidden * (n_in + 1)
    return GATES[cell] * hidden * (n_in + hidden + 2)  # W_ih, W_hh, b_ih, b_hh


def stack_parameters(cell: str, input_size: int, hidden_size: int, num_layers: int,
                     bidirectional: bool, *, block: str = "plain", norm: str = "layernorm",
                     mlp_ratio: float = 0.0, d_state: int | None = None,
                     num_heads: int = 1) -> int:  # fmt: skip
    """Parameters of the stack (with biases), as the layers will allocate them."""
    dirs = 2 if bidirectional else 1
    width = hidden_size * dirs
    if block == "plain":
        return sum(
            dirs
            * direction_parameters(
                cell, input_size if layer == 0 else width, hidden_size, d_state, num_heads
            )  # fmt: skip
            for layer in range(num_layers)
        )
    norm_params = 2 * width if norm == "layernorm" else width
    mlp = mlp_width(mlp_ratio, width)
    per_layer = norm_params + dirs * direction_parameters(cell, width, hidden_size, d_state,
                                                          num_heads)  # fmt: skip
    if mlp:  # its pre-norm, the gate-and-value map and the map back
        per_layer += norm_params + 2 * mlp * (width + 1) + width * (mlp + 1)
    projection = 0 if input_size == width else width * (input_size + 1)
    return projection + num_layers * per_layer + norm_params  # the last: the final norm


def mlp_width(mlp_ratio: float, width: int) -> int:
    """Hidden units of the residual block's gated MLP (0: none)."""
    return max(1, round(mlp_ratio * width)) if mlp_ratio > 0 else 0


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
    block: str = option("plain", "how layers connect: plain (stacked as torch.nn does) or "
                        "residual (pre-norm, residual add, optional gated MLP)", choices=BLOCKS)  # fmt: skip
    norm: str = option("layernorm", "the residual block's pre-norms", choices=NORMS)
    mlp_ratio: float = option(0.0, "the residual block's gated MLP width over the layer width "
                              "(0: no MLP)", ge=0)  # fmt: skip
    d_state: int | None = option(None, "lru: complex states per layer (null: hidden_size); s6: "
                                 "states per channel (null: 16)", ge=1)  # fmt: skip
    r_min: float = option(0.0, "lru: smallest eigenvalue modulus of the ring init", ge=0, lt=1)
    r_max: float = option(1.0, "lru: largest eigenvalue modulus of the ring init", gt=0, le=1)
    max_phase: float = option(2 * math.pi, "lru: eigenvalue phases uniform in [0, max_phase]",
                              gt=0)  # fmt: skip
    dt_min: float = option(0.001, "s6: smallest step Delta at initialisation", gt=0)
    dt_max: float = option(0.1, "s6: largest step Delta at initialisation", gt=0)
    kernel: str = option("auto", "s6: the scan's kernel: native (C++, compiled for this CPU "
                         "at first use), torch (torch's operations), auto (native where it "
                         "builds)", choices=KERNELS)  # fmt: skip
    num_heads: int = option(1, "slstm, mlstm: heads (a divisor of hidden_size)", ge=1)

    def rules(self) -> None:
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ConfigError("nonlinearity", self.nonlinearity, "tanh unless cell is rnn")
        check_init(self.cell, self.init, self.chrono_t_max, self.forget_bias)
        defaults = {f.name: default_of(f) for f in self.declared()}
        for key in ("norm", "mlp_ratio"):
            if self.block != "residual" and getattr(self, key) != defaults[key]:
                raise ConfigError(key, getattr(self, key),
                                  f"{defaults[key]} unless block is residual")  # fmt: skip
        for key, users in KEY_USERS.items():
            value = getattr(self, key)
            if self.cell not in users and value != defaults[key]:
                raise ConfigError(key, value, f"{defaults[key]} (its default) unless cell is "
                                  + " or ".join(users))  # fmt: skip
        if self.r_min >= self.r_max:
            raise ConfigError("r_min", self.r_min, f"a number in [0, r_max={self.r_max})")
        if self.dt_max < self.dt_min:
            raise ConfigError("dt_max", self.dt_max, f"a number >= dt_min={self.dt_min}")
        if self.hidden_size % self.num_heads:
            raise ConfigError("num_heads", self.num_heads,
                              f"a divisor of hidden_size={self.hidden_size}")  # fmt: skip
        self.check_memory(1)

    def cell_options(self) -> dict[str, Any]:
        """The keys this cell's layer takes, by name (``KEY_USERS``)."""
        return {k: getattr(self, k) for k, users in KEY_USERS.items() if self.cell in users}

    def parameters(self, input_size: int) -> int:
        return stack_parameters(self.cell, input_size, self.hidden_size, self.num_layers,
                                self.bidirectional, block=self.block, norm=self.norm,
                                mlp_ratio=self.mlp_ratio, d_state=self.d_state,
                                num_heads=self.num_heads)  # fmt: skip

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
