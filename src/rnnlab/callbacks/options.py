"""The keys of each callback rnnlab ships, declared once (``rnnlab.schema.declare.Options``).

A callback config is ``callbacks.<name>`` with a ``_target_``; the class it names selects
its declaration here. Lightning's callbacks are declared with the keys rnnlab's configs set
and their other arguments as ``passthrough``. A callback of the user's own
(``+callbacks.mine._target_=my_pkg.MyCallback``) is checked against its constructor's
signature instead (``rnnlab.schema.validate``). ``mode`` is null by default: the monitored
metric says which way is better, and a ``mode`` that contradicts it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rnnlab.schema.declare import Options, option

MODES = ("min", "max")


def _epochs(value: Any) -> bool:
    """An epoch number >= 0, or a non-empty list of them."""
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


@dataclass(kw_only=True)
class ModelCheckpointOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.callbacks.ModelCheckpoint"
    passthrough: ClassVar[tuple[str, ...]] = (
        "verbose", "save_on_exception", "save_weights_only", "every_n_train_steps",
        "train_time_interval", "every_n_epochs", "save_on_train_epoch_end",
        "enable_version_counter",
    )  # fmt: skip

    dirpath: str = option("???", "folder of best.ckpt (the run's checkpoints/)")
    filename: str = option("best", "file name of the best checkpoint")
    monitor: str = option("val/loss", "the logged metric that chooses the best checkpoint")
    mode: str | None = option(None, "null: from the metric; min or max must agree with it",
                              choices=MODES)  # fmt: skip
    save_top_k: int = option(1, "best checkpoints kept", ge=-1)
    save_last: bool | None = option(False, "last.ckpt is last_checkpoint's: keep false")
    auto_insert_metric_name: bool = option(False, "metric names in file names")


@dataclass(kw_only=True)
class EarlyStoppingOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.callbacks.EarlyStopping"
    passthrough: ClassVar[tuple[str, ...]] = (
        "verbose", "strict", "check_finite", "stopping_threshold", "divergence_threshold",
        "check_on_train_epoch_end", "log_rank_zero_only",
    )  # fmt: skip

    monitor: str = option("val/loss", "the logged metric that decides when to stop")
    mode: str | None = option(None, "null: from the metric; min or max must agree with it",
                              choices=MODES)  # fmt: skip
    patience: int = option(5, "validations without improvement before stopping", ge=1)
    min_delta: float = option(0.0, "the least change that counts as improvement", ge=0)


@dataclass(kw_only=True)
class ProgressBarOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.callbacks.TQDMProgressBar"
    passthrough: ClassVar[tuple[str, ...]] = ("process_position", "leave")

    refresh_rate: int = option(20, "batches between updates of the bar", ge=1)


@dataclass(kw_only=True)
class ModelSummaryOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.callbacks.ModelSummary"

    max_depth: int = option(1, "module depth printed (-1: all)", ge=-1)


@dataclass(kw_only=True)
class TestFiguresOptions(Options):
    declares: ClassVar[str] = "rnnlab.callbacks.figures.TestFigures"

    dirpath: str = option("???", "folder of the figures (the run dir)")


@dataclass(kw_only=True)
class GradientFlowOptions(Options):
    declares: ClassVar[str] = "rnnlab.callbacks.gradient_flow.GradientFlow"

    dirpath: str = option("???", "folder of gradient_flow.png and .json (the run dir)")
    epochs: Any = option([1, 5, 10], "record after these epochs (and before training)",
                         check=_epochs, allowed="an epoch number >= 0 or a list of them")  # fmt: skip
    batch_size: int = option(64, "validation sequences in the recorded batch", ge=1)


@dataclass(kw_only=True)
class LastCheckpointOptions(Options):
    declares: ClassVar[str] = "rnnlab.run.interrupt.LastCheckpoint"

    dirpath: str = option("???", "folder of last.ckpt (the run's checkpoints/)")
    every_n_train_steps: int | None = option(None, "write every n steps (null: by time)", ge=1)
    every_n_seconds: float | None = option(60.0, "write at most this often", gt=0)


@dataclass(kw_only=True)
class TextSamplesOptions(Options):
    declares: ClassVar[str] = "rnnlab.callbacks.text_samples.TextSamples"

    dirpath: str = option("???", "folder of samples.txt (the run dir)")
    every_n_epochs: int = option(1, "sample after every n epochs", ge=1)
    prompt: str | None = option(None, "null: the first data.prompt_chars characters of val")
    length: int = option(200, "characters generated per sample", ge=1, le=1_000_000)
    temperature: float = option(0.8, "0 = greedy", ge=0)
    top_k: int | None = option(None, "keep the k most likely characters per step", ge=1)
    seed: int = option(0, "seed of the sampling (the run's seed)", ge=0)
    filename: str = option("samples.txt", "file in the run dir")


@dataclass(kw_only=True)
class WeightAverageOptions(Options):
    declares: ClassVar[str] = "rnnlab.callbacks.averaging.WeightAverage"

    decay: float = option(0.998, "weight of the past average at each optimizer step", gt=0, lt=1)
    start_step: int = option(0, "average the weights after this optimizer step", ge=0)


@dataclass(kw_only=True)
class OptunaPruningOptions(Options):
    declares: ClassVar[str] = "rnnlab.launch.pruning.OptunaPruning"

    monitor: str = option("val/loss", "the metric reported to the trial every epoch")
    trial: int | None = option(None, "set by the sweeper", ge=0)
    storage: str | None = option(None, "set by the sweeper")
    study_name: str | None = option(None, "set by the sweeper")


CALLBACKS = {
    c.declares: c
    for c in (
        ModelCheckpointOptions,
        EarlyStoppingOptions,
        ProgressBarOptions,
        ModelSummaryOptions,
        TestFiguresOptions,
        GradientFlowOptions,
        LastCheckpointOptions,
        TextSamplesOptions,
        WeightAverageOptions,
        OptunaPruningOptions,
    )  # fmt: skip
}
