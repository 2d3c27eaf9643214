"""Each datamodule's keys — name, type, default, what it allows, meaning — declared once.

One dataclass per datamodule (``rnnlab.schema.declare.Options``): its fields are the keys
of its ``data`` config and its constructor's arguments, so ``SineDataModule()`` in Python
and ``rnnlab-train data=sine`` build the same data. The config check (``rnnlab.schema``)
reads these declarations before anything heavy is imported; ``rules`` holds the rules that
span keys. Checks that need the data itself (is the corpus long enough for the batch?)
stay in the datamodules. It is long because it holds every datamodule's keys side by side,
so that their shared keys read the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, option

SAMPLINGS = ("sequential", "random")


@dataclass(kw_only=True)
class DataOptions(Options):
    """What every datamodule takes: training batch size and the seed of splits and order."""

    group: ClassVar[str] = "data"

    batch_size: int = option(64, "examples per training batch (per rank)", ge=1)
    seed: int = option(0, "seed of the splits and the batch order (the run's seed)", ge=0,
                       le=2**32 - 1)  # fmt: skip

    @property
    def eval_size(self) -> int | None:
        """Examples per validation/test batch (None: the training batch size)."""
        return None

    def train_examples(self) -> int | None:
        """Examples in the training split, where the options alone tell (else None)."""
        return None

    def rules(self) -> None:
        n = self.train_examples()
        if n is not None and self.batch_size > n:
            raise ConfigError("batch_size", self.batch_size,
                              f"at most the {n:,} training examples")  # fmt: skip


@dataclass(kw_only=True)
class EvalBatchOptions(DataOptions):
    """A datamodule that validates and tests in batches of their own size."""

    eval_batch_size: int | None = option(
        1024, "examples per validation/test batch (null: batch_size)", ge=1
    )

    @property
    def eval_size(self) -> int | None:
        return self.eval_batch_size


@dataclass(kw_only=True)
class SineOptions(EvalBatchOptions):
    """``SineDataModule``: noisy sine waves, split by series."""

    declares: ClassVar[str] = "rnnlab.data.sine.SineDataModule"

    num_series: int = option(128, "series generated in all, split by the fractions", ge=1)
    length: int = option(128, "steps per series", ge=1)
    window: int = option(24, "input steps per example", ge=1)
    horizon: int = option(12, "target steps after each window (the rollout's length)", ge=1)
    stride: int = option(2, "steps between consecutive windows (sequential sampling)", ge=1)
    sampling: str = option("sequential", "sequential: every sliding window; random: "
                           "windows_per_epoch at random offsets", choices=SAMPLINGS)  # fmt: skip
    windows_per_epoch: int | None = option(None, "random sampling: windows per epoch "
                                           "(null: as many as sequential gives)", ge=1)  # fmt: skip
    freq_range: list[float] = option([0.02, 0.1], "frequency per series, cycles per step",
                                     pair=True)  # fmt: skip
    phase_range: list[float] = option([0.0, 2 * math.pi], "phase per series", pair=True)
    amplitude_range: list[float] = option([0.5, 1.5], "amplitude per series", pair=True)
    noise: float = option(0.01, "standard deviation of the added Gaussian noise", ge=0)
    val_fraction: float = option(0.1, "share of the series for validation", ge=0, lt=1)
    test_fraction: float = option(0.1, "share of the series for testing", ge=0, lt=1)
    normalize: bool = option(True, "standardise with the training split's mean and std")
    batch_size: int = option(256, "windows per training batch (per rank)", ge=1)

    def rules(self) -> None:
        if self.window + self.horizon > self.length:
            raise ConfigError("window", self.window, f"window + horizon ({self.window} + "
                              f"{self.horizon}) at most length={self.length}")  # fmt: skip
        n_train, n_val, n_test = self.split_counts()
        if min(n_val, n_test, n_train) < 1:
            raise ConfigError(
                "num_series", self.num_series, "enough series for at least one per split "
                f"(val_fraction={self.val_fraction}, test_fraction={self.test_fraction})",
            )  # fmt: skip
        if self.sampling == "sequential":
            super().rules()

    def split_counts(self) -> tuple[int, int, int]:
        """Series in train, val and test."""
        n_val = round(self.num_series * self.val_fraction)
        n_test = round(self.num_series * self.test_fraction)
        return self.num_series - n_val - n_test, n_val, n_test

    def train_examples(self) -> int:
        per_series = (self.length - self.window - self.horizon) // self.stride + 1
        return self.split_counts()[0] * per_series


MNIST_MODES = ("row", "pixel", "permuted")
MNIST_PROTOCOLS = ("official", "test10k")
MNIST_TRAIN = {"official": 60_000, "test10k": 8_000}


@dataclass(kw_only=True)
class MnistOptions(EvalBatchOptions):
    """``SequentialMNIST``."""

    declares: ClassVar[str] = "rnnlab.data.mnist.SequentialMNIST"

    data_dir: str = option("data/mnist", "folder of the four MNIST files")
    mode: str = option("row", "row: 28 steps of 28 pixels; pixel: 784 x 1; permuted: 784 x 1 "
                       "in one fixed random order", choices=MNIST_MODES)  # fmt: skip
    protocol: str = option("official", "official: 60k train less val_size, the 10k test set; "
                           "test10k: the test file split 8000/1000/1000",
                           choices=MNIST_PROTOCOLS)  # fmt: skip
    val_size: int = option(5000, "training images held out for validation (official)", ge=1,
                           lt=60_000)  # fmt: skip
    permutation_seed: int = option(0, "pixel order of mode=permuted (not the run seed)", ge=0)
    download: bool = option(True, "fetch missing files; false: fail and say where to put them")
    verify: bool = option(True, "check the files against the official md5 sums")
    batch_size: int = option(128, "images per training batch (per rank)", ge=1)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    def train_examples(self) -> int:
        total = MNIST_TRAIN[self.protocol]
        return total - self.val_size if self.protocol == "official" else total


CORPORA = ("tinyshakespeare", "ptb", "path", "stdlib")
TEXT_FORMATS = ("auto", "plain", "ptb")
TEST_TEXTS = ("test", "heldout")


@dataclass(kw_only=True)
class CharsOptions(DataOptions):
    """``CharDataModule``; ``eval_streams`` are the validation/test batch."""

    declares: ClassVar[str] = "rnnlab.data.chars.CharDataModule"

    corpus: str = option("tinyshakespeare", "the text: tinyshakespeare and ptb are downloaded, "
                         "path reads data.path, stdlib is offline", choices=CORPORA)  # fmt: skip
    data_dir: str = option("data", "folder of the downloaded corpora")
    path: str | None = option(None, "the UTF-8 text file of corpus=path (split 90/5/5)")
    format: str = option("auto", "corpus=path: plain, ptb (the PTB character format) or auto",
                         choices=TEXT_FORMATS)  # fmt: skip
    download: bool = option(True, "fetch a missing corpus")
    verify: bool = option(True, "checksums and sanity checks of downloaded files")
    max_chars: int | None = option(None, "truncate the corpus, for quick runs", ge=1)
    sampling: str = option("sequential", "sequential: contiguous streams, state carried; "
                           "random: windows with a fresh state", choices=SAMPLINGS)  # fmt: skip
    bptt: int = option(128, "steps per training window (truncated BPTT)", ge=1)
    batch_size: int = option(32, "parallel streams (sequential) or windows (random) per rank",
                             ge=1)  # fmt: skip
    eval_streams: int = option(8, "contiguous streams walked by validation and test", ge=1)
    windows_per_epoch: int | None = option(None, "random sampling: windows per epoch (null: "
                                           "one pass worth of characters)", ge=1)  # fmt: skip
    test_text: str = option("test", "test, or heldout (val + test: the last 10% of the corpus)",
                            choices=TEST_TEXTS)  # fmt: skip
    prompt_chars: int = option(32, "default sampling prompt: the first characters of the val "
                               "split", ge=1)  # fmt: skip

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    def rules(self) -> None:
        path = self.path
        if self.corpus == "path" and not (path and Path(path).expanduser().is_file()):
            raise ConfigError(
                "path", path, "an existing UTF-8 text file (data.corpus=path reads it)"
            )

    @property
    def eval_size(self) -> int:
        return self.eval_streams


@dataclass(kw_only=True)
class GeneratedOptions(EvalBatchOptions):
    """What every generated sequence task takes: split sizes and the data's own seed."""

    train_size: int = option(20_000, "training examples (a fixed set)", ge=1)
    val_size: int = option(2_000, "validation examples", ge=1)
    test_size: int = option(2_000, "test examples", ge=1)
    data_seed: int | None = option(None, "seed of the examples (null: the run's seed); fix it "
                                   "to give every run the same examples", ge=0)  # fmt: skip
    eval_batch_size: int | None = option(1_000, "examples per validation/test batch", ge=1)

    def train_examples(self) -> int:
        return self.train_size


@dataclass(kw_only=True)
class SyntheticOptions(GeneratedOptions):
    """A generated task of one sequence length, the same in every split."""

    length: int = option(100, "the sequence length the task is about", ge=1)
    min_length: ClassVar[int] = 1  # the shortest sequence the task can lay out

    def rules(self) -> None:
        if self.length < self.min_length:
            raise ConfigError("length", self.length, f"an integer >= {self.min_length}")
        super().rules()


@dataclass(kw_only=True)
class AddingOptions(SyntheticOptions):
    """``AddingProblem``: a length of at least 2, one marker per half."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.AddingProblem"
    min_length: ClassVar[int] = 2

    length_jitter: float = option(0.0, "each sequence has length..floor(length * (1 + "
                                  "length_jitter)) steps, padded at the end (0.1: the original "
                                  "T to 1.1T)", ge=0, le=1)  # fmt: skip

    @property
    def max_length(self) -> int:
        """The longest sequence, floor(length * (1 + length_jitter)): the padded length.
        (The small epsilon keeps 100 * 0.29 = 28.999999999999996 at 29.)"""
        return self.length + math.floor(self.length * self.length_jitter + 1e-9)


@dataclass(kw_only=True)
class CopyOptions(SyntheticOptions):
    """``CopyMemory``: at least one blank between the symbols and the delimiter."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.CopyMemory"


MAX_SYMBOLS = 1 << 31  # the counter generator draws integers below 2**31


@dataclass(kw_only=True)
class SelectiveCopyOptions(SyntheticOptions):
    """``SelectiveCopy``: room for the tokens among the steps, at least two symbols."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.SelectiveCopy"

    num_tokens: int = option(8, "data tokens to recall", ge=1)
    num_symbols: int = option(8, "symbols the tokens are drawn from", ge=2, le=MAX_SYMBOLS)

    def rules(self) -> None:
        super().rules()
        if self.num_tokens > self.length:
            raise ConfigError("num_tokens", self.num_tokens, f"at most length={self.length}")


@dataclass(kw_only=True)
class MqarOptions(SyntheticOptions):
    """``MultiQueryRecall``: distinct keys and values from the vocabulary, room for queries."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.MultiQueryRecall"

    length: int = option(64, "steps per sequence (zoology's input_seq_len)", ge=4)
    vocab_size: int = option(128, "V: keys 1..V/2-1, values V/2..V-1, fillers any", ge=4,
                             le=MAX_SYMBOLS)  # fmt: skip
    num_kv_pairs: int = option(8, "key-value pairs, each queried once", ge=1)
    power_a: float = option(0.01, "query gaps drawn with p(gap i) ~ i^(power_a - 1) (1: uniform)",
                            gt=0)  # fmt: skip

    def rules(self) -> None:
        super().rules()
        keys = self.vocab_size // 2 - 1
        if self.num_kv_pairs > keys:
            raise ConfigError("num_kv_pairs", self.num_kv_pairs, f"at most vocab_size // 2 - 1 "
                              f"= {keys} (distinct keys, from 1 .. {keys})")  # fmt: skip
        if self.length < 4 * self.num_kv_pairs:
            raise ConfigError("length", self.length, f"at least 4 * num_kv_pairs = "
                              f"{4 * self.num_kv_pairs} (the pairs, then two steps per query)")  # fmt: skip


@dataclass(kw_only=True)
class LengthSplitOptions(GeneratedOptions):
    """A task trained on short sequences and evaluated on longer ones (a length split)."""

    train_max_length: int = option(40, "training lengths are 1 .. this", ge=1)
    eval_max_length: int = option(100, "val/test lengths: train_max_length + 1 .. this", ge=2)
    bucket_size: int = option(20, "val/test accuracy per bucket of this many lengths", ge=1)

    def rules(self) -> None:
        super().rules()
        if self.eval_max_length <= self.train_max_length:
            raise ConfigError("eval_max_length", self.eval_max_length,
                              f"an integer > train_max_length={self.train_max_length}")  # fmt: skip


@dataclass(kw_only=True)
class ParityOptions(LengthSplitOptions):
    """``Parity``: bit strings of any length."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.Parity"


ARITHMETIC_OPERATORS = ("+", "+-")


@dataclass(kw_only=True)
class ModularArithmeticOptions(LengthSplitOptions):
    """``ModularArithmetic``: expressions have odd lengths, so every range must hold one."""

    declares: ClassVar[str] = "rnnlab.data.synthetic.ModularArithmetic"

    modulus: int = option(5, "numbers are 0 .. modulus - 1 and so is the answer", ge=2,
                          le=MAX_SYMBOLS)  # fmt: skip
    operators: str = option("+-", "the operators drawn between numbers: + (sums) or +- (and "
                            "differences)", choices=ARITHMETIC_OPERATORS)  # fmt: skip
    bucket_size: int = option(20, "val/test accuracy per bucket of this many lengths (>= 2: "
                              "every bucket holds an odd length)", ge=2)  # fmt: skip

    def rules(self) -> None:
        super().rules()
        shortest = self.train_max_length + 1 + self.train_max_length % 2  # the next odd length
        if self.eval_max_length < shortest:
            raise ConfigError("eval_max_length", self.eval_max_length, f"at least {shortest} "
                              "(an odd length above train_max_length: expressions are odd)")  # fmt: skip


SEQUENCE_TARGETS = ("class", "regression")
MISSING_POLICIES = ("refuse", "zero", "ffill")
SEQUENCE_SUFFIXES = (".ts", ".csv", ".npz")  # the readers of rnnlab.data.files


@dataclass(kw_only=True)
class SequenceOptions(EvalBatchOptions):
    """What every variable-length sequence datamodule takes (``SequenceDataModule``)."""

    target: str = option("class", "class: one label per sequence; regression: one number per "
                         "sequence (with task=sequence_regression)", choices=SEQUENCE_TARGETS)  # fmt: skip
    val_fraction: float = option(0.1, "training cases held out for validation (seeded)", ge=0,
                                 lt=1)  # fmt: skip
    missing: str = option("refuse", "missing values (?, NaN): refuse, zero (0 once normalised) "
                          "or ffill (the step before)", choices=MISSING_POLICIES)  # fmt: skip
    normalize: bool = option(True, "standardise each channel with the training split's statistics")
    bucket_by_length: bool = option(False, "training batches of similar lengths (less padding)")
    batch_size: int = option(32, "sequences per training batch (per rank)", ge=1)


def _sequence_file(required: bool):
    """A test of a ``*_path`` value: an existing .ts, .csv or .npz file (or null)."""

    def check(path) -> bool:
        if path is None:
            return not required
        suffix_ok = isinstance(path, str) and Path(path).suffix.lower() in SEQUENCE_SUFFIXES
        return suffix_ok and Path(path).expanduser().is_file()

    return check


FILE = "an existing " + "/".join(SEQUENCE_SUFFIXES) + " file"


@dataclass(kw_only=True)
class SequenceFileOptions(SequenceOptions):
    """``SequenceDataModule``: a user's own files, and the columns of a long ``.csv``."""

    declares: ClassVar[str] = "rnnlab.data.sequences.SequenceDataModule"

    train_path: str = option("???", "training cases: a .ts, .csv or .npz file",
                             check=_sequence_file(True), allowed=FILE)  # fmt: skip
    test_path: str = option("???", "test cases, in the same format", check=_sequence_file(True),
                            allowed=FILE)  # fmt: skip
    val_path: str | None = option(None, "validation cases (null: val_fraction of train_path)",
                                  check=_sequence_file(False), allowed="null or " + FILE)  # fmt: skip
    id_column: str = option("id", ".csv: the column naming each row's sequence")
    time_column: str = option("time", ".csv: the column ordering the rows of a sequence")
    label_column: str = option("label", ".csv: the column of the sequence's label or target")

    def rules(self) -> None:
        super().rules()
        if len({self.id_column, self.time_column, self.label_column}) < 3:
            raise ConfigError("label_column", self.label_column,
                              "three different names for id_column, time_column and label_column")  # fmt: skip


@dataclass(kw_only=True)
class UeaOptions(SequenceOptions):
    """``UEADataModule``: one problem of the UEA/UCR archives, by name."""

    declares: ClassVar[str] = "rnnlab.data.uea.UEADataModule"

    name: str = option("???", "the archive's problem name, e.g. JapaneseVowels",
                       check=lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Za-z0-9_-]+", v)),
                       allowed="a problem of the archive, e.g. JapaneseVowels")  # fmt: skip
    data_dir: str = option("data/uea", "problems live in data_dir/<name>/<name>_TRAIN.ts, _TEST.ts")
    download: bool = option(True, "fetch a missing problem; false: fail and say where to put it")
    verify: bool = option(True, "check the files against the md5 sums recorded for the problem")

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)


# The options of each datamodule, by the ``_target_`` that names it in a data config.
OPTIONS: dict[str, type[DataOptions]] = {
    cls.declares: cls
    for cls in (
        SineOptions,
        MnistOptions,
        CharsOptions,
        AddingOptions,
        CopyOptions,
        SelectiveCopyOptions,
        MqarOptions,
        ParityOptions,
        ModularArithmeticOptions,
        SequenceFileOptions,
        UeaOptions,
    )
}


def build_options(cls: type[DataOptions], values: dict) -> DataOptions:
    """``cls(**values)``: the values were checked with the config (``rnnlab.schema``)."""
    return cls(**values)
