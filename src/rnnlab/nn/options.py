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
    "num_heads": ("slstm", "mlstm"),
}
S6_D_STATE = 16  # Mamba's default states per channel
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


def _check_number(key: str, value: Any, low: float, high: float, allowed: str, *,
                  low_open: bool = False, high_open: bool = False) -> None:  # fmt: skip
    """A finite real in [low, high], either end open as asked."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        raise ConfigError(key, value, allowed)


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
    # How layers connect: plain (stacked as torch.nn does) | residual (pre-norm, residual add).
    block: str = "plain"
    # The residual block's pre-norms: layernorm | rmsnorm (block=residual only).
    norm: str = "layernorm"
    # The residual block's gated MLP width over the layer width: 0 (no MLP) or > 0.
    mlp_ratio: float = 0.0
    # lru: complex states per layer (null: hidden_size); s6: states per channel (null: 16).
    d_state: int | None = None
    # lru: smallest eigenvalue modulus of the ring initialisation, in [0, r_max).
    r_min: float = 0.0
    # lru: largest eigenvalue modulus of the ring initialisation, in (r_min, 1].
    r_max: float = 1.0
    # lru: eigenvalue phases are drawn uniformly in [0, max_phase]; a positive number.
    max_phase: float = 2 * math.pi
    # s6: smallest step Delta at initialisation; a positive number.
    dt_min: float = 0.001
    # s6: largest step Delta at initialisation; a number >= dt_min.
    dt_max: float = 0.1
    # slstm, mlstm: heads, a divisor of hidden_size.
    num_heads: int = 1

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
        self._check_modern()

    def _check_modern(self) -> None:
        """The residual block's and the modern cells' keys (``rnnlab.nn.lru`` and others)."""
        check_choice("block", self.block, BLOCKS)
        check_choice("norm", self.norm, NORMS)
        ok = isinstance(self.mlp_ratio, (int, float)) and not isinstance(self.mlp_ratio, bool)
        if not ok or not math.isfinite(self.mlp_ratio) or self.mlp_ratio < 0:
            raise ConfigError("mlp_ratio", self.mlp_ratio, "a number >= 0 (0: no MLP)")
        for key, default in (("norm", "layernorm"), ("mlp_ratio", 0.0)):
            if self.block != "residual" and getattr(self, key) != default:
                raise ConfigError(key, getattr(self, key), f"{default} unless block is residual")
        defaults = {f.name: f.default for f in fields(self)}
        for key, users in KEY_USERS.items():
            value = getattr(self, key)
            if self.cell not in users and value != defaults[key]:
                raise ConfigError(key, value, f"{defaults[key]} (its default) unless cell is "
                                  + " or ".join(users))  # fmt: skip
        if self.d_state is not None:
            check_positive("d_state", self.d_state)
        _check_number("r_max", self.r_max, 0.0, 1.0, "a number in (0, 1]", low_open=True)
        _check_number("r_min", self.r_min, 0.0, self.r_max, f"a number in [0, r_max={self.r_max})",
                      high_open=True)  # fmt: skip
        _check_number("max_phase", self.max_phase, 0.0, math.inf, "a positive number",
                      low_open=True)  # fmt: skip
        _check_number("dt_min", self.dt_min, 0.0, math.inf, "a positive number", low_open=True)
        _check_number("dt_max", self.dt_max, self.dt_min, math.inf,
                      f"a number >= dt_min={self.dt_min}")  # fmt: skip
        check_positive("num_heads", self.num_heads)
        if self.hidden_size % self.num_heads:
            raise ConfigError("num_heads", self.num_heads,
                              f"a divisor of hidden_size={self.hidden_size}")  # fmt: skip

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
