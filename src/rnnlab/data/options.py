"""Each datamodule's arguments — their names, defaults and what they allow — defined once.

One dataclass per datamodule: its fields are the datamodule's arguments (the keys of its
``data`` config), and building it checks every value (``__post_init__``). The datamodule
is built from its options, so the checks run there; ``check_data`` builds the options of
a ``data`` config before anything heavy is imported, so a mistyped value is answered at
once. Checks that need the data itself (is the corpus long enough for the batch?) stay in
the datamodules. It is long (about 370 lines) because it holds every datamodule's
arguments side by side, so that their shared keys read, and are checked, the same way.
"""

from __future__ import annotations

import math
import re
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
class SyntheticOptions(EvalBatchOptions):
    """What every generated long-memory task takes: split sizes and the data's own seed."""

    length: int = 100
    train_size: int = 20_000
    val_size: int = 2_000
    test_size: int = 2_000
    data_seed: int | None = None
    eval_batch_size: int | None = 1_000
    min_length = 1  # the shortest sequence the task can lay out

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("train_size", "val_size", "test_size"):
            check_positive(key, getattr(self, key))
        seed = self.data_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError("data_seed", seed, "an integer or null (use seed)")
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


SEQUENCE_TARGETS = ("class", "regression")
MISSING_POLICIES = ("refuse", "zero", "ffill")
SEQUENCE_SUFFIXES = (".ts", ".csv", ".npz")  # the readers of rnnlab.data.files


@dataclass(kw_only=True)
class SequenceOptions(EvalBatchOptions):
    """What every variable-length sequence datamodule takes (``SequenceDataModule``)."""

    target: str = "class"  # class: one label per sequence | regression: one number per sequence
    val_fraction: float = 0.1  # training cases held out for validation (seeded), in [0, 1)
    missing: str = "refuse"  # missing values (?, NaN): refuse | zero (0 once normalised) | ffill
    normalize: bool = True  # standardise each channel with the training split's mean and std
    bucket_by_length: bool = False  # training batches of similar lengths (less padding)
    batch_size: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("target", self.target, SEQUENCE_TARGETS)
        check_fraction("val_fraction", self.val_fraction)
        check_choice("missing", self.missing, MISSING_POLICIES)
        _check_bool("normalize", self.normalize)
        _check_bool("bucket_by_length", self.bucket_by_length)


def _check_sequence_file(key: str, path: Any, required: bool) -> None:
    if path is None and not required:
        return
    if path == "???":  # Hydra's mark of a value the config leaves to the command line
        raise ConfigError(key, path, "a value: it has no default (a .ts, .csv or .npz file)")
    ok = isinstance(path, (str, Path)) and Path(path).suffix.lower() in SEQUENCE_SUFFIXES
    if not (ok and Path(path).expanduser().is_file()):
        raise ConfigError(key, path, "an existing " + "/".join(SEQUENCE_SUFFIXES) + " file")


@dataclass(kw_only=True)
class SequenceFileOptions(SequenceOptions):
    """``SequenceDataModule``: a user's own files, and the columns of a long ``.csv``."""

    train_path: str | None = None  # training cases: a .ts, .csv or .npz file (required)
    test_path: str | None = None  # test cases, the same format (required)
    val_path: str | None = None  # validation cases; null: data.val_fraction of train_path
    id_column: str = "id"  # .csv: the column naming each row's sequence
    time_column: str = "time"  # .csv: the column ordering the rows of a sequence
    label_column: str = "label"  # .csv: the column of the sequence's label or target

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_sequence_file("train_path", self.train_path, True)
        _check_sequence_file("test_path", self.test_path, True)
        _check_sequence_file("val_path", self.val_path, False)
        for key in ("id_column", "time_column", "label_column"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(key, getattr(self, key), "a column name")
        columns = (self.id_column, self.time_column, self.label_column)
        if len(set(columns)) < 3:
            raise ConfigError("label_column", self.label_column,
                              "three different names for id_column, time_column and label_column")  # fmt: skip


@dataclass(kw_only=True)
class UeaOptions(SequenceOptions):
    """``UEADataModule``: one problem of the UEA/UCR archives, by name."""

    name: str | None = None  # the archive's problem name, e.g. JapaneseVowels (required)
    data_dir: str | Path = "data/uea"  # problems live in data_dir/<name>/<name>_TRAIN.ts, _TEST.ts
    download: bool = True  # fetch a missing problem; false: fail and say where to put the files
    verify: bool = True  # check files against the md5 sums recorded for the problem, if any

    def __post_init__(self) -> None:
        super().__post_init__()
        name = self.name
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]+", name)):
            missing = "a value: it has no default; " if name == "???" else ""
            raise ConfigError(
                "name", name, f"{missing}a problem of the archive, e.g. JapaneseVowels"
            )
        _check_bool("download", self.download)
        _check_bool("verify", self.verify)
        self.data_dir = Path(self.data_dir)


# The options of each datamodule, by the ``_target_`` that names it in a data config.
OPTIONS: dict[str, type[DataOptions]] = {
    "rnnlab.data.sine.SineDataModule": SineOptions,
    "rnnlab.data.mnist.SequentialMNIST": MnistOptions,
    "rnnlab.data.chars.CharDataModule": CharsOptions,
    "rnnlab.data.synthetic.AddingProblem": AddingOptions,
    "rnnlab.data.synthetic.CopyMemory": CopyOptions,
    "rnnlab.data.synthetic.SelectiveCopy": SelectiveCopyOptions,
    "rnnlab.data.sequences.SequenceDataModule": SequenceFileOptions,
    "rnnlab.data.uea.UEADataModule": UeaOptions,
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
