"""What each datamodule's arguments allow, checked before torch is imported.

One ``check_*`` function per datamodule, with exactly its constructor's parameters (a test
holds them equal): the datamodule calls it first thing, and ``check_data`` calls it on a
``data`` config before anything heavy is imported, so a mistyped value is answered at once.
Checks that need the data itself (is the corpus long enough for the batch?) stay in the
datamodules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
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


def _check_int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, "an integer")


def _check_optional_positive(key: str, value: Any) -> None:
    if value is not None:
        check_positive(key, value)


def check_batching(batch_size: Any, eval_batch_size: Any, seed: Any) -> None:
    """The arguments every datamodule passes to ``TensorDataModule``."""
    check_positive("batch_size", batch_size)
    _check_optional_positive("eval_batch_size", eval_batch_size)
    _check_int("seed", seed)


def check_sine(
    num_series: int = 256,
    length: int = 160,
    window: int = 32,
    horizon: int = 16,
    stride: int = 1,
    sampling: str = "sequential",
    windows_per_epoch: int | None = None,
    freq_range: tuple[float, float] = (0.02, 0.1),
    phase_range: tuple[float, float] = (0.0, 2 * math.pi),
    amplitude_range: tuple[float, float] = (0.5, 1.5),
    noise: float = 0.01,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    normalize: bool = True,
    batch_size: int = 128,
    eval_batch_size: int | None = 1024,
    seed: int = 0,
) -> None:
    """``SineDataModule``: sizes, ranges, and at least one series in every split."""
    check_batching(batch_size, eval_batch_size, seed)
    for key, value in [("num_series", num_series), ("length", length), ("window", window),
                       ("horizon", horizon), ("stride", stride)]:  # fmt: skip
        check_positive(key, value)
    if window + horizon > length:
        raise ConfigError(
            "window", window, f"window + horizon ({window} + {horizon}) at most length={length}"
        )
    check_choice("sampling", sampling, SAMPLINGS)
    _check_optional_positive("windows_per_epoch", windows_per_epoch)
    for key, value in [("freq_range", freq_range), ("phase_range", phase_range),
                       ("amplitude_range", amplitude_range)]:  # fmt: skip
        check_range(key, value)
    number = isinstance(noise, (int, float)) and not isinstance(noise, bool)
    if not (number and math.isfinite(noise) and noise >= 0):
        raise ConfigError("noise", noise, "a finite number >= 0")
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)
    _check_bool("normalize", normalize)
    n_val, n_test = round(num_series * val_fraction), round(num_series * test_fraction)
    if min(n_val, n_test, num_series - n_val - n_test) < 1:
        raise ConfigError(
            "num_series", num_series, "enough series for at least one per split "
            f"(val_fraction={val_fraction}, test_fraction={test_fraction})",
        )  # fmt: skip


MNIST_MODES = ("row", "pixel", "permuted")
MNIST_PROTOCOLS = ("official", "test10k")


def check_mnist(
    data_dir: str | Path = "data/mnist",
    mode: str = "row",
    protocol: str = "official",
    val_size: int = 5000,
    permutation_seed: int = 0,
    download: bool = True,
    verify: bool = True,
    batch_size: int = 128,
    eval_batch_size: int | None = 1024,
    seed: int = 0,
) -> None:
    """``SequentialMNIST``."""
    check_batching(batch_size, eval_batch_size, seed)
    check_choice("mode", mode, MNIST_MODES)
    check_choice("protocol", protocol, MNIST_PROTOCOLS)
    check_positive("val_size", val_size)
    _check_bool("download", download)
    _check_bool("verify", verify)
    _check_int("permutation_seed", permutation_seed)


CORPORA = ("tinyshakespeare", "ptb", "path", "stdlib")
TEXT_FORMATS = ("auto", "plain", "ptb")
TEST_TEXTS = ("test", "heldout")


def check_chars(
    corpus: str = "tinyshakespeare",
    data_dir: str = "data",
    path: str | None = None,
    format: str = "auto",
    download: bool = True,
    verify: bool = True,
    max_chars: int | None = None,
    sampling: str = "sequential",
    bptt: int = 128,
    batch_size: int = 32,
    eval_streams: int = 8,
    windows_per_epoch: int | None = None,
    test_text: str = "test",
    prompt_chars: int = 32,
    seed: int = 0,
) -> None:
    """``CharDataModule``."""
    check_batching(batch_size, eval_streams, seed)
    check_choice("corpus", corpus, CORPORA)
    check_choice("sampling", sampling, SAMPLINGS)
    check_choice("format", format, TEXT_FORMATS)
    check_choice("test_text", test_text, TEST_TEXTS)
    _check_bool("download", download)
    _check_bool("verify", verify)
    check_positive("bptt", bptt)
    check_positive("eval_streams", eval_streams)
    check_positive("prompt_chars", prompt_chars)
    _check_optional_positive("max_chars", max_chars)
    _check_optional_positive("windows_per_epoch", windows_per_epoch)
    if corpus == "path" and not (path and Path(path).expanduser().is_file()):
        raise ConfigError("path", path, "an existing UTF-8 text file (data.corpus=path reads it)")


def _check_min(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, value, f"an integer >= {minimum}")


def check_synthetic(train_size: Any, val_size: Any, test_size: Any, data_seed: Any,
                    batch_size: Any, eval_batch_size: Any, seed: Any) -> None:  # fmt: skip
    """The arguments every generated long-memory task shares."""
    check_batching(batch_size, eval_batch_size, seed)
    for key, value in (("train_size", train_size), ("val_size", val_size),
                       ("test_size", test_size)):  # fmt: skip
        check_positive(key, value)
    if data_seed is not None and (isinstance(data_seed, bool) or not isinstance(data_seed, int)):
        raise ConfigError("data_seed", data_seed, "an integer or null (use seed)")


def check_adding(
    length: int = 100,
    train_size: int = 20_000,
    val_size: int = 2_000,
    test_size: int = 2_000,
    data_seed: int | None = None,
    batch_size: int = 64,
    eval_batch_size: int | None = 1_000,
    seed: int = 0,
) -> None:
    """``AddingProblem``: a length of at least 2, one marker per half."""
    check_synthetic(train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed)
    _check_min("length", length, 2)


def check_copy(
    length: int = 100,
    train_size: int = 20_000,
    val_size: int = 2_000,
    test_size: int = 2_000,
    data_seed: int | None = None,
    batch_size: int = 64,
    eval_batch_size: int | None = 1_000,
    seed: int = 0,
) -> None:
    """``CopyMemory``: at least one blank between the symbols and the delimiter."""
    check_synthetic(train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed)
    _check_min("length", length, 1)


MAX_SYMBOLS = 1 << 31  # the counter generator draws integers below 2**31


def check_selective_copy(
    length: int = 100,
    num_tokens: int = 8,
    num_symbols: int = 8,
    train_size: int = 20_000,
    val_size: int = 2_000,
    test_size: int = 2_000,
    data_seed: int | None = None,
    batch_size: int = 64,
    eval_batch_size: int | None = 1_000,
    seed: int = 0,
) -> None:
    """``SelectiveCopy``: room for the tokens among the steps, at least two symbols."""
    check_synthetic(train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed)
    _check_min("length", length, 1)
    _check_min("num_tokens", num_tokens, 1)
    if num_tokens > length:
        raise ConfigError("num_tokens", num_tokens, f"at most length={length}")
    _check_min("num_symbols", num_symbols, 2)
    if num_symbols > MAX_SYMBOLS:
        raise ConfigError("num_symbols", num_symbols, f"at most {MAX_SYMBOLS}")


# The check of each datamodule, by the ``_target_`` that names it in a data config.
CHECKS: dict[str, Callable[..., None]] = {
    "rnnlab.data.sine.SineDataModule": check_sine,
    "rnnlab.data.mnist.SequentialMNIST": check_mnist,
    "rnnlab.data.chars.CharDataModule": check_chars,
    "rnnlab.data.synthetic.AddingProblem": check_adding,
    "rnnlab.data.synthetic.CopyMemory": check_copy,
    "rnnlab.data.synthetic.SelectiveCopy": check_selective_copy,
}


def check_data(cfg: Mapping[str, Any]) -> None:
    """The check of the datamodule a ``data`` config names; unknown keys are named."""
    target = cfg.get("_target_")
    check = CHECKS.get(target)
    if check is None:  # a datamodule of the user's own: its constructor checks itself
        return
    import inspect

    known = inspect.signature(check).parameters
    args = {k: v for k, v in cfg.items() if not k.startswith("_")}
    unknown = [k for k in args if k not in known]
    if unknown:
        key = unknown[0]
        raise ConfigError(key, args[key], "not a key of this data" + did_you_mean(key, known)
                          + "; the keys are " + ", ".join(known))  # fmt: skip
    check(**args)
