"""The run-level keys — top level, ``optimizer``, ``scheduler``, ``trainer``, ``logger`` —
declared once (``rnnlab.schema.declare.Options``), without importing torch.

Each shipped optimiser, scheduler and logger is declared by the ``_target_`` that names it:
the keys rnnlab's configs set are declared with their bounds, the class's other arguments
are listed as ``passthrough`` (accepted, handed on unchecked), so that a key the class does
not have is still refused before anything runs. ``tests/schema`` holds each declaration
against the class's real signature. The top-level keys of ``rnnlab-train``, ``-eval`` and
``-sample`` are ``TrainConfig``, ``EvalConfig`` and ``SampleConfig``.

The one exception to "no torch": a GPU asked for by name (``trainer.accelerator=gpu``)
asks torch whether one is visible; a run that wants a GPU imports torch anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, option
from rnnlab.tasks.options import MAX_SAMPLE_LENGTH

SEED = {"ge": 0, "le": 2**32 - 1}  # what every RNG that seed_everything seeds accepts
PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
MODES = ("min", "max")


# -- top level -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PathsConfig(Options):
    """``paths``: where datasets and logs live (``conf/paths/default.yaml`` binds them)."""

    group: ClassVar[str] = "paths"

    root_dir: str = option("???", "the checkout (or the working directory of a wheel)")
    data_dir: str = option("???", "datasets (RNNLAB_DATA_DIR overrides it)")
    log_dir: str = option("???", "run and sweep directories go under it")
    output_dir: str = option("???", "this run's directory (set by Hydra)")


@dataclass(kw_only=True)
class OptunaTrial(Options):
    """``optuna``: set per job by the Optuna sweeper, read by the pruning callback."""

    group: ClassVar[str] = "optuna"

    trial: int | None = option(None, "this job's trial number", ge=0)
    storage: str | None = option(None, "the study's storage URL")
    study_name: str | None = option(None, "the study's name")


def _task_name(value: Any) -> bool:
    """A folder name under ``paths.log_dir``: no separators, not ``.`` or ``..``."""
    return (isinstance(value, str) and value.strip() != "" and value not in (".", "..")
            and "/" not in value and "\\" not in value and "\0" not in value)  # fmt: skip


TASK_NAME = "a folder name under paths.log_dir (no '/', not '.' or '..')"


def _checkpoint_file(value: Any) -> bool:
    """A path to a file that exists: a missing checkpoint is refused before any job of a
    sweep starts, not found by each job. (Whether it is a readable checkpoint of rnnlab
    is read when it is loaded.)"""
    return isinstance(value, str) and bool(value.strip()) and Path(value).is_file()


@dataclass(kw_only=True)
class TrainConfig(Options):
    """The top-level keys of ``rnnlab-train``."""

    task_name: str = option("train", "names the log folder: logs/<task_name>/runs/...",
                            check=_task_name, allowed=TASK_NAME)  # fmt: skip
    tags: list[str] = option([], "labels for the loggers (W&B tags)")
    seed: int = option(42, "seed of everything: weights, data, batch order", **SEED)
    train: bool = option(True, "fit the model (false: test ckpt_path only)")
    test: bool = option(True, "test the best checkpoint (by val/loss) when training ends")
    test_last: bool = option(False, "also test the last epoch's weights: test_last/*")
    ckpt_path: str | None = option(None, "start from this checkpoint: a path, or last",
                                   allowed="an existing checkpoint file, last, or null",
                                   check=lambda v: v in (None, "last") or _checkpoint_file(v))  # fmt: skip
    resume_dir: str | None = option(None, "continue the run in this run dir (its last.ckpt)")
    optimized_metric: str | None = option(None, "the metric a hyper-parameter sweeper reads")
    print_config: bool = option(True, "print the composed config as a tree when a run starts")

    def rules(self) -> None:
        if not (self.train or self.test or self.test_last):
            raise ConfigError("train", self.train, "true when test and test_last are false: "
                              "the run would do nothing")  # fmt: skip
        if not self.train and self.test and self.ckpt_path is None:
            raise ConfigError("ckpt_path", None, "a checkpoint to test when train=false")
        if self.test_last and not self.train:
            raise ConfigError("test_last", True, "false when train=false (no last weights)")


@dataclass(kw_only=True)
class EvalConfig(Options):
    """The top-level keys of ``rnnlab-eval``."""

    task_name: str = option("eval", "names the log folder: logs/<task_name>/runs/...",
                            check=_task_name, allowed=TASK_NAME)  # fmt: skip
    ckpt_path: str = option("???", "the checkpoint to test (it holds its run's config)",
                            allowed="an existing checkpoint file", check=_checkpoint_file)  # fmt: skip


@dataclass(kw_only=True)
class SampleConfig(Options):
    """The top-level keys of ``rnnlab-sample``."""

    task_name: str = option("sample", "names the log folder: logs/<task_name>/runs/...",
                            check=_task_name, allowed=TASK_NAME)  # fmt: skip
    ckpt_path: str = option("???", "a character language model's checkpoint",
                            allowed="an existing checkpoint file", check=_checkpoint_file)  # fmt: skip
    prompt: str = option("\n", "the text to continue (every character in the vocabulary)",
                         check=lambda v: isinstance(v, str) and v != "",
                         allowed="a non-empty string")  # fmt: skip
    length: int = option(500, "characters generated after the prompt (streamed as drawn)", ge=0,
                         le=MAX_SAMPLE_LENGTH)  # fmt: skip
    temperature: float = option(0.8, "0 = greedy; higher = more varied", ge=0)
    top_k: int | None = option(None, "keep only the k most likely characters per step", ge=1)
    seed: int = option(0, "same seed, same text", **SEED)


# -- optimizer -------------------------------------------------------------------------------

BETAS = {"items": 2, "ge": 0, "lt": 1}


@dataclass(kw_only=True)
class OptimizerOptions(Options):
    group: ClassVar[str] = "optimizer"

    lr: float = option(0.01, "learning rate", gt=0)
    weight_decay: float = option(0.0, "L2 penalty (decoupled for adamw)", ge=0)


@dataclass(kw_only=True)
class AdamOptions(OptimizerOptions):
    declares: ClassVar[str] = "torch.optim.Adam"
    passthrough: ClassVar[tuple[str, ...]] = ("foreach", "maximize", "capturable",
                                              "differentiable", "fused",
                                              "decoupled_weight_decay")  # fmt: skip

    betas: list[float] = option([0.9, 0.999], "decay of the moment estimates", **BETAS)
    eps: float = option(1e-8, "added to the denominator", gt=0)
    amsgrad: bool = option(False, "use the AMSGrad variant")


@dataclass(kw_only=True)
class AdamWOptions(AdamOptions):
    declares: ClassVar[str] = "torch.optim.AdamW"
    passthrough: ClassVar[tuple[str, ...]] = ("foreach", "maximize", "capturable",
                                              "differentiable", "fused")  # fmt: skip

    lr: float = option(0.003, "learning rate", gt=0)
    weight_decay: float = option(0.01, "decoupled weight decay", ge=0)


@dataclass(kw_only=True)
class SGDOptions(OptimizerOptions):
    declares: ClassVar[str] = "torch.optim.SGD"
    passthrough: ClassVar[tuple[str, ...]] = ("maximize", "foreach", "differentiable", "fused")

    lr: float = option(0.1, "learning rate", gt=0)
    momentum: float = option(0.9, "momentum factor", ge=0, lt=1)
    dampening: float = option(0.0, "dampening for momentum", ge=0, le=1)
    nesterov: bool = option(False, "Nesterov momentum")

    def rules(self) -> None:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ConfigError("nesterov", True, "false unless momentum > 0 and dampening = 0")


# -- scheduler -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class SchedulerOptions(Options):
    """What rnnlab reads of every scheduler config besides the scheduler's own arguments."""

    group: ClassVar[str] = "scheduler"
    passthrough: ClassVar[tuple[str, ...]] = ("last_epoch",)

    interval: str = option("epoch", "step the schedule every epoch or every step",
                           choices=("epoch", "step"))  # fmt: skip


@dataclass(kw_only=True)
class CosineOptions(SchedulerOptions):
    declares: ClassVar[str] = "torch.optim.lr_scheduler.CosineAnnealingLR"

    T_max: int | str = option("auto", "length of the decay in intervals (auto: the run's)",
                              ge=1, choices=("auto",))  # fmt: skip
    eta_min: float = option(0.0, "the lr at the end of the decay", ge=0)


@dataclass(kw_only=True)
class OneCycleOptions(SchedulerOptions):
    declares: ClassVar[str] = "torch.optim.lr_scheduler.OneCycleLR"
    passthrough: ClassVar[tuple[str, ...]] = ("last_epoch", "anneal_strategy", "cycle_momentum",
                                              "base_momentum", "max_momentum", "div_factor",
                                              "final_div_factor", "three_phase")  # fmt: skip

    interval: str = option("step", "one-cycle is stepped every batch", choices=("step",))
    max_lr: float = option(0.01, "the peak learning rate", gt=0)
    total_steps: int | str = option("auto", "length of the cycle in steps (auto: the run's)",
                                    ge=1, choices=("auto",))  # fmt: skip
    epochs: int | None = option(None, "with steps_per_epoch, instead of total_steps", ge=1)
    steps_per_epoch: int | None = option(None, "with epochs, instead of total_steps", ge=1)
    pct_start: float = option(0.3, "share of the cycle spent raising the lr", gt=0, lt=1)


@dataclass(kw_only=True)
class PlateauOptions(SchedulerOptions):
    declares: ClassVar[str] = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    passthrough: ClassVar[tuple[str, ...]] = ("threshold", "threshold_mode", "cooldown", "eps")

    monitor: str = option("val/loss", "the logged metric that decides a plateau")
    mode: str | None = option(None, "null: from the metric (lower or higher is better); "
                              "min or max must agree with it", choices=MODES)  # fmt: skip
    factor: float = option(0.5, "lr multiplier at a plateau", gt=0, lt=1)
    patience: int = option(2, "epochs without improvement before the lr drops", ge=0)
    min_lr: float = option(0.0, "the lr never goes below this", ge=0)


@dataclass(kw_only=True)
class StepOptions(SchedulerOptions):
    declares: ClassVar[str] = "torch.optim.lr_scheduler.StepLR"

    step_size: int = option(10, "intervals between lr drops", ge=1)
    gamma: float = option(0.5, "lr multiplier at each drop", gt=0, le=1)


# -- trainer ---------------------------------------------------------------------------------

LIMIT = {"check": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)
                                          and v >= 0) or (isinstance(v, float) and 0 < v <= 1),
         "allowed": "null, a number of batches >= 0 or a fraction in (0, 1]"}  # fmt: skip


def _devices(value: Any) -> bool:
    if value in ("auto", -1, "-1"):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return value > 0
    return (isinstance(value, (list, tuple)) and bool(value)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))  # fmt: skip


def _auto_or_positive(value: Any) -> bool:
    return value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


@dataclass(kw_only=True)
class TrainerOptions(Options):
    """``trainer``: Lightning's Trainer arguments, and ``threads``, rnnlab's own."""

    group: ClassVar[str] = "trainer"
    declares: ClassVar[str] = "lightning.pytorch.Trainer"
    passthrough: ClassVar[tuple[str, ...]] = (
        "strategy", "num_nodes", "min_epochs", "min_steps", "max_time", "limit_predict_batches",
        "val_check_interval", "enable_checkpointing", "benchmark", "inference_mode",
        "use_distributed_sampler", "detect_anomaly", "barebones", "plugins", "sync_batchnorm",
        "reload_dataloaders_every_n_epochs", "default_root_dir", "enable_autolog_hparams",
        "model_registry", "logger", "callbacks",
    )  # fmt: skip

    threads: int | str = option("auto", "CPU threads: auto (1 for small steps, else the idle "
                                "cores) or N", check=_auto_or_positive,
                                allowed="auto or a positive integer")  # fmt: skip
    accelerator: str = option("auto", "where to train", choices=ACCELERATORS)
    devices: Any = option(1, "how many devices, or which", check=_devices,
                          allowed="auto, -1, a positive number of devices or a list of ids")  # fmt: skip
    max_epochs: int = option(40, "epochs to train", ge=1)
    max_steps: int = option(-1, "stop after this many steps (-1: no limit)",
                            check=lambda v: v == -1 or (isinstance(v, int)
                                                        and not isinstance(v, bool) and v > 0),
                            allowed="-1 (no limit) or a positive integer")  # fmt: skip
    precision: str = option("32-true", "numeric precision", choices=PRECISIONS,
                            check=lambda v: str(v) in PRECISIONS,
                            allowed="one of " + ", ".join(PRECISIONS))  # fmt: skip
    gradient_clip_val: float | None = option(1.0, "clip gradients to this norm (null: never)",
                                             gt=0)  # fmt: skip
    gradient_clip_algorithm: str = option("norm", "norm or value", choices=("norm", "value"))
    check_val_every_n_epoch: int | None = option(1, "validate every n epochs", ge=1)
    log_every_n_steps: int = option(20, "log train/loss_step every n steps", ge=1)
    accumulate_grad_batches: int = option(1, "batches per optimiser step", ge=1)
    deterministic: Any = option(False, "deterministic algorithms (warn: warn where none)",
                                check=lambda v: v in (True, False, None, "warn"),
                                allowed="true, false or warn")  # fmt: skip
    num_sanity_val_steps: int = option(0, "validation batches before training (-1: all)",
                                       ge=-1)  # fmt: skip
    enable_model_summary: bool = option(False, "Lightning's own summary (the callback prints it)")
    enable_progress_bar: bool = option(True, "show progress")
    fast_dev_run: Any = option(False, "one batch of each (or n): a smoke test",
                               check=lambda v: isinstance(v, bool) or (isinstance(v, int)
                                                                       and v >= 0),
                               allowed="true, false or a number of batches")  # fmt: skip
    overfit_batches: Any = option(0.0, "train and validate on this many batches (or a share; "
                                  "0: off)", check=lambda v: v in (0, 0.0) or LIMIT["check"](v),
                                  allowed="0 (off), a number of batches or a fraction in (0, 1]")  # fmt: skip
    limit_train_batches: Any = option(None, "training batches per epoch", **LIMIT)
    limit_val_batches: Any = option(None, "validation batches", **LIMIT)
    limit_test_batches: Any = option(None, "test batches", **LIMIT)
    profiler: str | None = option(None, "Lightning's profiler: simple, advanced or pytorch",
                                  choices=("simple", "advanced", "pytorch"))  # fmt: skip

    def rules(self) -> None:
        if self.limit_train_batches == 0:
            raise ConfigError("limit_train_batches", 0, "more than 0: a run must train "
                              "(train=false tests without training)")  # fmt: skip
        check_accelerator(self.accelerator, self.devices)


def visible_gpus(accelerator: str) -> int:
    """How many devices of ``accelerator`` (gpu, cuda, mps) torch sees on this machine."""
    import torch

    if accelerator == "mps":
        mps = getattr(torch.backends, "mps", None)
        return int(bool(mps is not None and mps.is_available()))
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_accelerator(accelerator: Any, devices: Any) -> None:
    """A GPU asked for by name is visible, and as many as ``devices`` asks for."""
    if accelerator not in ("gpu", "cuda", "mps"):
        return
    count = visible_gpus(accelerator)
    name = "MPS device" if accelerator == "mps" else "GPU"
    if count == 0:
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = f" (CUDA_VISIBLE_DEVICES={hidden!r})" if hidden is not None and name == "GPU" else ""
        raise ConfigError(
            "accelerator", accelerator, f"a device this machine has: no {name} is visible"
            f"{why}; train on the CPU with trainer=cpu (or trainer.accelerator=cpu)",
        )  # fmt: skip
    wanted = devices if isinstance(devices, int) and not isinstance(devices, bool) else None
    if isinstance(devices, (list, tuple)):
        wanted = max(devices) + 1 if devices else None
    if wanted is not None and wanted > count:
        raise ConfigError("devices", devices, f"at most {count}: the {name}s visible here")


# -- logger ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class CSVLoggerOptions(Options):
    declares: ClassVar[str] = "rnnlab.run.loggers.CSVLogger"

    save_dir: str = option("???", "the run dir")
    name: str = option("csv", "folder of metrics.csv in the run dir")


@dataclass(kw_only=True)
class TensorBoardOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.loggers.TensorBoardLogger"
    passthrough: ClassVar[tuple[str, ...]] = ("log_graph", "prefix", "sub_dir")

    save_dir: str = option("???", "the run dir")
    name: str = option("tensorboard", "folder of the event files in the run dir")
    version: str | None = option("", "sub-folder ('' for none)",
                                 check=lambda v: v is None or isinstance(v, (str, int)),
                                 allowed="null, a string or a number")  # fmt: skip
    default_hp_metric: bool = option(False, "log Lightning's placeholder hp_metric")


@dataclass(kw_only=True)
class WandbOptions(Options):
    declares: ClassVar[str] = "lightning.pytorch.loggers.WandbLogger"
    passthrough: ClassVar[tuple[str, ...]] = ("version", "dir", "id", "anonymous", "experiment",
                                              "prefix", "checkpoint_name", "add_file_policy",
                                              "notes", "mode", "resume", "config")  # fmt: skip

    project: str = option("rnnlab", "the W&B project")
    entity: str | None = option(None, "the W&B team or user (null: your default)")
    save_dir: str = option("???", "the run dir")
    name: str | None = option(None, "the run's name (null: filled per job)")
    group: str | None = option(None, "the run group (null: the sweep, or task_name)")
    job_type: str | None = option(None, "null: the task (regression, classification, ...)")
    tags: list[str] = option([], "the run's tags (the top-level tags)")
    offline: bool | None = option(None, "null: offline only when there are no credentials")
    log_model: Any = option(False, "upload checkpoints: false, true or all",
                            check=lambda v: v in (True, False, "all"),
                            allowed="true, false or all")  # fmt: skip


OPTIMIZERS = {c.declares: c for c in (AdamOptions, AdamWOptions, SGDOptions)}
SCHEDULERS = {c.declares: c for c in (CosineOptions, OneCycleOptions, PlateauOptions, StepOptions)}
LOGGERS = {c.declares: c for c in (CSVLoggerOptions, TensorBoardOptions, WandbOptions)}
