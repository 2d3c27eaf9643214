"""Each datamodule's arguments — their names, defaults and what they allow — defined once.

One dataclass per datamodule: its fields are the datamodule's arguments (the keys of its
``data`` config), and building it checks every value (``__post_init__``). The datamodule
is built from its options, so the checks run there; ``check_data`` builds the options of
a ``data`` config before anything heavy is imported, so a mistyped value is answered at
once. Checks that need the data itself (is the corpus long enough for the batch?) stay in
the datamodules. It is long (about 380 lines) because it holds every datamodule's
arguments side by side, so that their shared keys read, and are checked, the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rnnlab.errors import (
    ConfigError,
    check_choice,
    check_fraction,
    check_positive,
    check_range,
    did_you_mean,
)

SAMPLINGS = ("sequential", "random")


def _check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")


def _check_int(key: str, value: Any, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            key, value, "an integer" if minimum is None else f"an integer >= {minimum}"
        )
    if minimum is not None and value < minimum:
        raise ConfigError(key, value, f"an integer >= {minimum}")


def _check_optional_positive(key: str, value: Any) -> None:
    if value is not None:
        check_positive(key, value)


@dataclass(kw_only=True)
class DataOptions:
    """What every datamodule takes: training batch size and the seed of splits and order."""

    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        _check_int("seed", self.seed)

    @property
    def eval_size(self) -> int | None:
        """Examples per validation/test batch (None: the training batch size)."""
        return None


@dataclass(kw_only=True)
class EvalBatchOptions(DataOptions):
    """A datamodule that validates and tests in batches of their own size."""

    eval_batch_size: int | None = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_optional_positive("eval_batch_size", self.eval_batch_size)

    @property
    def eval_size(self) -> int | None:
        return self.eval_batch_size


@dataclass(kw_only=True)
class SineOptions(EvalBatchOptions):
    """``SineDataModule``: sizes, ranges, and at least one series in every split."""

    num_series: int = 256
    length: int = 160
    window: int = 32
    horizon: int = 16
    stride: int = 1
    sampling: str = "sequential"
    windows_per_epoch: int | None = None
    freq_range: tuple[float, float] = (0.02, 0.1)
    phase_range: tuple[float, float] = (0.0, 2 * math.pi)
    amplitude_range: tuple[float, float] = (0.5, 1.5)
    noise: float = 0.01
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    normalize: bool = True
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("num_series", "length", "window", "horizon", "stride"):
            check_positive(key, getattr(self, key))
        if self.window + self.horizon > self.length:
            raise ConfigError("window", self.window, f"window + horizon ({self.window} + "
                              f"{self.horizon}) at most length={self.length}")  # fmt: skip
        check_choice("sampling", self.sampling, SAMPLINGS)
        _check_optional_positive("windows_per_epoch", self.windows_per_epoch)
        for key in ("freq_range", "phase_range", "amplitude_range"):
            check_range(key, getattr(self, key))
            setattr(self, key, tuple(getattr(self, key)))
        noise = self.noise
        if not (isinstance(noise, (int, float)) and not isinstance(noise, bool)
                and math.isfinite(noise) and noise >= 0):  # fmt: skip
            raise ConfigError("noise", noise, "a finite number >= 0")
        check_fraction("val_fraction", self.val_fraction)
        check_fraction("test_fraction", self.test_fraction)
        _check_bool("normalize", self.normalize)
        n_val, n_test = self.split_counts()[1:]
        if min(n_val, n_test, self.num_series - n_val - n_test) < 1:
            raise ConfigError(
                "num_series", self.num_series, "enough series for at least one per split "
                f"(val_fraction={self.val_fraction}, test_fraction={self.test_fraction})",
            )  # fmt: skip

    def split_counts(self) -> tuple[int, int, int]:
        """Series in train, val and test."""
        n_val = round(self.num_series * self.val_fraction)
        n_test = round(self.num_series * self.test_fraction)
        return self.num_series - n_val - n_test, n_val, n_test


MNIST_MODES = ("row", "pixel", "permuted")
MNIST_PROTOCOLS = ("official", "test10k")


@dataclass(kw_only=True)
class MnistOptions(EvalBatchOptions):
    """``SequentialMNIST``."""

    data_dir: str | Path = "data/mnist"
    mode: str = "row"
    protocol: str = "official"
    val_size: int = 5000
    permutation_seed: int = 0
    download: bool = True
    verify: bool = True
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("mode", self.mode, MNIST_MODES)
        check_choice("protocol", self.protocol, MNIST_PROTOCOLS)
        check_positive("val_size", self.val_size)
        _check_bool("download", self.download)
        _check_bool("verify", self.verify)
        _check_int("permutation_seed", self.permutation_seed)
        self.data_dir = Path(self.data_dir)


CORPORA = ("tinyshakespeare", "ptb", "path", "stdlib")
TEXT_FORMATS = ("auto", "plain", "ptb")
TEST_TEXTS = ("test", "heldout")


@dataclass(kw_only=True)
class CharsOptions(DataOptions):
    """``CharDataModule``; ``eval_streams`` are the validation/test batch."""

    corpus: str = "tinyshakespeare"
    data_dir: str | Path = "data"
    path: str | None = None
    format: str = "auto"
    download: bool = True
    verify: bool = True
    max_chars: int | None = None
    sampling: str = "sequential"
    bptt: int = 128
    batch_size: int = 32
    eval_streams: int = 8
    windows_per_epoch: int | None = None
    test_text: str = "test"
    prompt_chars: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("corpus", self.corpus, CORPORA)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_choice("format", self.format, TEXT_FORMATS)
        check_choice("test_text", self.test_text, TEST_TEXTS)
        _check_bool("download", self.download)
        _check_bool("verify", self.verify)
        for key in ("bptt", "eval_streams", "prompt_chars"):
            check_positive(key, getattr(self, key))
        for key in ("max_chars", "windows_per_epoch"):
            _check_optional_positive(key, getattr(self, key))
        path = self.path
        if self.corpus == "path" and not (path and Path(path).expanduser().is_file()):
            raise ConfigError(
                "path", path, "an existing UTF-8 text file (data.corpus=path reads it)"
            )
        self.data_dir = Path(self.data_dir)

    @property
    def eval_size(self) -> int:
        return self.eval_streams


@dataclass(kw_only=True)
class GeneratedOptions(EvalBatchOptions):
    """What every generated sequence task takes: split sizes and the data's own seed."""

    train_size: int = 20_000
    val_size: int = 2_000
    test_size: int = 2_000
    data_seed: int | None = None
    eval_batch_size: int | None = 1_000

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("train_size", "val_size", "test_size"):
            check_positive(key, getattr(self, key))
        seed = self.data_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError("data_seed", seed, "an integer or null (use seed)")


@dataclass(kw_only=True)
class SyntheticOptions(GeneratedOptions):
    """A generated task of one sequence length, the same in every split."""

    length: int = 100
    min_length = 1  # the shortest sequence the task can lay out

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("length", self.length, self.min_length)


@dataclass(kw_only=True)
class AddingOptions(SyntheticOptions):
    """``AddingProblem``: a length of at least 2, one marker per half."""

    min_length = 2


@dataclass(kw_only=True)
class CopyOptions(SyntheticOptions):
    """``CopyMemory``: at least one blank between the symbols and the delimiter."""


MAX_SYMBOLS = 1 << 31  # the counter generator draws integers below 2**31


@dataclass(kw_only=True)
class SelectiveCopyOptions(SyntheticOptions):
    """``SelectiveCopy``: room for the tokens among the steps, at least two symbols."""

    num_tokens: int = 8
    num_symbols: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("num_tokens", self.num_tokens, 1)
        if self.num_tokens > self.length:
            raise ConfigError("num_tokens", self.num_tokens, f"at most length={self.length}")
        _check_int("num_symbols", self.num_symbols, 2)
        if self.num_symbols > MAX_SYMBOLS:
            raise ConfigError("num_symbols", self.num_symbols, f"at most {MAX_SYMBOLS}")


@dataclass(kw_only=True)
class MqarOptions(SyntheticOptions):
    """``MultiQueryRecall``: distinct keys and values from the vocabulary, room for queries."""

    length: int = 64  # steps per sequence (zoology's input_seq_len); at least 4 * num_kv_pairs
    vocab_size: int = 128  # V: keys 1..V/2-1, values V/2..V-1, fillers any; an integer >= 4
    num_kv_pairs: int = 8  # key-value pairs, each queried once; 1 .. vocab_size // 2 - 1
    power_a: float = 0.01  # query gaps drawn with p(gap i) ~ i^(power_a - 1); a number > 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("vocab_size", self.vocab_size, 4)
        if self.vocab_size > MAX_SYMBOLS:
            raise ConfigError("vocab_size", self.vocab_size, f"at most {MAX_SYMBOLS}")
        _check_int("num_kv_pairs", self.num_kv_pairs, 1)
        keys = self.vocab_size // 2 - 1
        if self.num_kv_pairs > keys:
            raise ConfigError("num_kv_pairs", self.num_kv_pairs, f"at most vocab_size // 2 - 1 "
                              f"= {keys} (distinct keys, from 1 .. {keys})")  # fmt: skip
        if self.length < 4 * self.num_kv_pairs:
            raise ConfigError("length", self.length, f"at least 4 * num_kv_pairs = "
                              f"{4 * self.num_kv_pairs} (the pairs, then two steps per query)")  # fmt: skip
        a = self.power_a
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < math.inf:
            raise ConfigError("power_a", a, "a finite number > 0 (1: uniform gaps)")


@dataclass(kw_only=True)
class LengthSplitOptions(GeneratedOptions):
    """A task trained on short sequences and evaluated on longer ones (a length split)."""

    train_max_length: int = 40  # training lengths are 1 .. this; an integer >= 1
    eval_max_length: int = 100  # val/test lengths: train_max_length + 1 .. this; > train_max_length
    bucket_size: int = 20  # val/test accuracy per bucket of this many lengths; an integer >= 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("train_max_length", self.train_max_length, 1)
        _check_int("eval_max_length", self.eval_max_length, self.train_max_length + 1)
        _check_int("bucket_size", self.bucket_size, 1)


@dataclass(kw_only=True)
class ParityOptions(LengthSplitOptions):
    """``Parity``: bit strings of any length."""


ARITHMETIC_OPERATORS = ("+", "+-")


@dataclass(kw_only=True)
class ModularArithmeticOptions(LengthSplitOptions):
    """``ModularArithmetic``: expressions have odd lengths, so every range must hold one."""

    modulus: int = 5  # numbers are 0 .. modulus - 1 and so is the answer; an integer >= 2
    operators: str = "+-"  # the operators drawn between numbers: + (sums) or +- (and differences)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("modulus", self.modulus, 2)
        if self.modulus > MAX_SYMBOLS:
            raise ConfigError("modulus", self.modulus, f"at most {MAX_SYMBOLS}")
        check_choice("operators", self.operators, ARITHMETIC_OPERATORS)
        shortest = self.train_max_length + 1 + self.train_max_length % 2  # the next odd length
        if self.eval_max_length < shortest:
            raise ConfigError("eval_max_length", self.eval_max_length, f"at least {shortest} "
                              "(an odd length above train_max_length: expressions are odd)")  # fmt: skip
        _check_int("bucket_size", self.bucket_size, 2)  # so that every bucket holds an odd length


# The options of each datamodule, by the ``_target_`` that names it in a data config.
OPTIONS: dict[str, type[DataOptions]] = {
    "rnnlab.data.sine.SineDataModule": SineOptions,
    "rnnlab.data.mnist.SequentialMNIST": MnistOptions,
    "rnnlab.data.chars.CharDataModule": CharsOptions,
    "rnnlab.data.synthetic.AddingProblem": AddingOptions,
    "rnnlab.data.synthetic.CopyMemory": CopyOptions,
    "rnnlab.data.synthetic.SelectiveCopy": SelectiveCopyOptions,
    "rnnlab.data.synthetic.MultiQueryRecall": MqarOptions,
    "rnnlab.data.synthetic.Parity": ParityOptions,
    "rnnlab.data.synthetic.ModularArithmetic": ModularArithmeticOptions,
}


def build_options(cls: type[DataOptions], values: Mapping[str, Any]) -> DataOptions:
    """``cls(**values)``, with a key it does not have named, with the keys it has."""
    known = [f.name for f in fields(cls)]
    unknown = [k for k in values if k not in known]
    if unknown:
        key = unknown[0]
        raise ConfigError(key, values[key], "not a key of this data" + did_you_mean(key, known)
                          + "; the keys are " + ", ".join(known))  # fmt: skip
    return cls(**values)


def check_data(cfg: Mapping[str, Any]) -> None:
    """Build the options of the datamodule a ``data`` config names (checking every value)."""
    cls = OPTIONS.get(cfg.get("_target_"))
    if cls is None:  # a datamodule of the user's own: its constructor checks itself
        return
    build_options(cls, {k: v for k, v in cfg.items() if not k.startswith("_")})
