"""Every declaration, by what names it: the tables the check walks, the defaults the configs
compose (Hydra's ConfigStore), and the rules that span config groups.

The YAML files of ``rnnlab/conf`` select and override; the defaults come from here: each
declaration is stored as ``schema/<name>`` and a config file starts from it (``defaults:
[/schema/data_sine@_here_, _self_]``). A stored node holds plain values, not a typed
structured config, so that a wrong type is answered by the one check, in the one-line form,
rather than by OmegaConf in the middle of composing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra_plugins.rnnlab_optuna.config import RnnlabOptunaSweeperConf as SWEEPER
from rnnlab.benchmarks.options import BenchConfig
from rnnlab.callbacks.options import CALLBACKS
from rnnlab.data.options import OPTIONS as DATA
from rnnlab.errors import ConfigError
from rnnlab.launch.options import LAUNCHERS
from rnnlab.nn.options import StackOptions
from rnnlab.run.options import (
    LOGGERS,
    OPTIMIZERS,
    SCHEDULERS,
    EvalConfig,
    OptunaTrial,
    PathsConfig,
    SampleConfig,
    TrainConfig,
    TrainerOptions,
)
from rnnlab.schema.declare import Options
from rnnlab.tasks.options import TASKS

__all__ = ["CALLBACKS", "DATA", "LAUNCHERS", "LOGGERS", "OPTIMIZERS", "SCHEDULERS", "SWEEPER",
           "TASKS", "OptunaTrial", "PathsConfig", "StackOptions", "TrainerOptions"]  # fmt: skip

ROOTS: dict[str, type[Options]] = {"train": TrainConfig, "eval": EvalConfig,
                                   "sample": SampleConfig, "bench": BenchConfig}  # fmt: skip


def root(command: str) -> type[Options]:
    return ROOTS[command]


# The stored defaults: name -> declaration (``schema/<name>`` in Hydra's ConfigStore).
STORED: dict[str, type[Options]] = {
    "train": TrainConfig, "eval": EvalConfig, "sample": SampleConfig, "bench": BenchConfig,
    "model": StackOptions, "trainer": TrainerOptions,
    "data_sine": DATA["rnnlab.data.sine.SineDataModule"],
    "data_smnist": DATA["rnnlab.data.mnist.SequentialMNIST"],
    "data_chars": DATA["rnnlab.data.chars.CharDataModule"],
    "data_adding": DATA["rnnlab.data.synthetic.AddingProblem"],
    "data_copy": DATA["rnnlab.data.synthetic.CopyMemory"],
    "data_selective_copy": DATA["rnnlab.data.synthetic.SelectiveCopy"],
    "data_mqar": DATA["rnnlab.data.synthetic.MultiQueryRecall"],
    "data_parity": DATA["rnnlab.data.synthetic.Parity"],
    "data_modular_arithmetic": DATA["rnnlab.data.synthetic.ModularArithmetic"],
    "data_sequences": DATA["rnnlab.data.sequences.SequenceDataModule"],
    "data_uea": DATA["rnnlab.data.uea.UEADataModule"],
    "task_regression": TASKS["rnnlab.tasks.regress.RegressionTask"],
    "task_classification": TASKS["rnnlab.tasks.classify.ClassificationTask"],
    "task_sequence": TASKS["rnnlab.tasks.sequence.SequenceTask"],
    "task_language_model": TASKS["rnnlab.tasks.language.LanguageModelTask"],
    "task_sequence_regression": TASKS["rnnlab.tasks.regress_sequence.SequenceRegressionTask"],
    "optimizer_adam": OPTIMIZERS["torch.optim.Adam"],
    "optimizer_adamw": OPTIMIZERS["torch.optim.AdamW"],
    "optimizer_sgd": OPTIMIZERS["torch.optim.SGD"],
    "scheduler_cosine": SCHEDULERS["torch.optim.lr_scheduler.CosineAnnealingLR"],
    "scheduler_onecycle": SCHEDULERS["torch.optim.lr_scheduler.OneCycleLR"],
    "scheduler_plateau": SCHEDULERS["torch.optim.lr_scheduler.ReduceLROnPlateau"],
    "scheduler_step": SCHEDULERS["torch.optim.lr_scheduler.StepLR"],
    "callback_model_checkpoint": CALLBACKS["lightning.pytorch.callbacks.ModelCheckpoint"],
    "callback_early_stopping": CALLBACKS["lightning.pytorch.callbacks.EarlyStopping"],
    "callback_progress_bar": CALLBACKS["lightning.pytorch.callbacks.TQDMProgressBar"],
    "callback_model_summary": CALLBACKS["lightning.pytorch.callbacks.ModelSummary"],
    "callback_figures": CALLBACKS["rnnlab.callbacks.figures.TestFigures"],
    "callback_gradient_flow": CALLBACKS["rnnlab.callbacks.gradient_flow.GradientFlow"],
    "callback_last_checkpoint": CALLBACKS["rnnlab.run.interrupt.LastCheckpoint"],
    "callback_text_samples": CALLBACKS["rnnlab.callbacks.text_samples.TextSamples"],
    "callback_ema": CALLBACKS["rnnlab.callbacks.averaging.WeightAverage"],
    "callback_optuna_pruning": CALLBACKS["rnnlab.launch.pruning.OptunaPruning"],
    "logger_csv": LOGGERS["rnnlab.run.loggers.CSVLogger"],
    "logger_tensorboard": LOGGERS["lightning.pytorch.loggers.TensorBoardLogger"],
    "logger_wandb": LOGGERS["lightning.pytorch.loggers.WandbLogger"],
    "launcher_local": LAUNCHERS["local"],
    "launcher_slurm": LAUNCHERS["slurm"],
    "launcher_slurm_local": LAUNCHERS["slurm_local"],
}  # fmt: skip


def store() -> None:
    """Put every declaration's defaults into Hydra's ConfigStore as ``schema/<name>``."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, cls in STORED.items():
        cs.store(group="schema", name=name, node=cls.defaults(), provider="rnnlab")


# -- one key of a sweep ------------------------------------------------------------------------


def declaration_of(cfg: Mapping[str, Any], key: str,
                   command: str = "train") -> tuple[type[Options] | None, str]:  # fmt: skip
    """The declaration that holds ``key`` (``model.hidden_size``) in ``cfg`` of ``command``'s
    config, and the field."""
    parts = key.split(".")
    tables = {"data": DATA, "task": TASKS, "optimizer": OPTIMIZERS, "scheduler": SCHEDULERS}
    if len(parts) == 1:
        return ROOTS[command], key
    group, rest = parts[0], parts[1:]
    if group == "model" and len(rest) == 1:
        return StackOptions, rest[0]
    if group == "trainer" and len(rest) == 1:
        return TrainerOptions, rest[0]
    if group in tables and len(rest) == 1:
        target = (cfg.get(group) or {}).get("_target_")
        return tables[group].get(target), rest[0]
    if group in ("callbacks", "logger") and len(rest) == 2:
        table = CALLBACKS if group == "callbacks" else LOGGERS
        target = ((cfg.get(group) or {}).get(rest[0]) or {}).get("_target_")
        return table.get(target), rest[1]
    return None, parts[-1]


def check_key(cfg: Mapping[str, Any], key: str, value: Any, command: str = "train") -> None:
    """One swept value against its declaration alone (rules that span keys wait for the job,
    where the combination is known)."""
    choices = ((cfg.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    if key in choices:
        return  # a config group's option (model=rnn,lstm): Hydra composes each job from it
    cls, name = declaration_of(cfg, key, command)
    if cls is None:  # hydra.* and any other key no declaration holds
        return
    parent = key.rpartition(".")[0]
    try:
        cls.check({name: value}, rules=False, where=parent or "the config")
    except ConfigError as err:
        raise ConfigError(key, err.value, err.allowed) from None


# -- rules that span groups --------------------------------------------------------------------


def _monitors(cfg: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, metric) of every monitor a callback or the scheduler names."""
    found = []
    scheduler = cfg.get("scheduler") or {}
    if scheduler.get("monitor"):
        found.append(("scheduler.monitor", scheduler["monitor"]))
    for name, sub in (cfg.get("callbacks") or {}).items():
        if sub and sub.get("monitor"):
            found.append((f"callbacks.{name}.monitor", sub["monitor"]))
    return found


def cross_rules(cfg: Mapping[str, Any]) -> None:
    """The rules of ``rnnlab-train`` that span config groups."""
    model, trainer, task = cfg["model"], cfg["trainer"], cfg["task"]
    callbacks = cfg.get("callbacks") or {}
    if model.get("bidirectional") and task.get("_target_") == (
        "rnnlab.tasks.language.LanguageModelTask"
    ):
        raise ConfigError("model.bidirectional", True, "false for a language model: a backward "
                          "direction reads the characters it is asked to predict")  # fmt: skip
    epochs = trainer.get("max_epochs")
    every = trainer.get("check_val_every_n_epoch")
    never = trainer.get("limit_val_batches") == 0 or (every is not None and every > epochs)
    for key, metric in _monitors(cfg):
        if str(metric).startswith("val/") and never and cfg.get("train", True):
            why = ("limit_val_batches=0" if trainer.get("limit_val_batches") == 0
                   else f"check_val_every_n_epoch={every} > max_epochs={epochs}")  # fmt: skip
            raise ConfigError(key, metric, f"a metric this run logs: validation never runs ({why})")
    flow = callbacks.get("gradient_flow")
    if flow and flow.get("epochs") is not None:
        wanted = flow["epochs"] if isinstance(flow["epochs"], list) else [flow["epochs"]]
        if max(wanted) > epochs:
            raise ConfigError("callbacks.gradient_flow.epochs", flow["epochs"],
                              f"epochs within trainer.max_epochs={epochs}")  # fmt: skip
    _schedule_fits(cfg.get("scheduler") or {}, epochs)
    if cfg.get("test_last") and cfg.get("train", True) and not callbacks.get("last_checkpoint"):
        raise ConfigError("test_last", True, "false when callbacks.last_checkpoint is null: the "
                          "last weights are tested from checkpoints/last.ckpt")  # fmt: skip
    fused = (cfg.get("optimizer") or {}).get("fused")
    if fused and trainer.get("precision") == "16-mixed" and trainer.get("gradient_clip_val"):
        raise ConfigError("optimizer.fused", fused, "false with trainer.precision=16-mixed and "
                          "gradient clipping (a fused optimizer unscales float16 gradients "
                          "itself, after clipping read them); or use bf16-mixed")  # fmt: skip


def _schedule_fits(scheduler: Mapping[str, Any], epochs: int) -> None:
    """A schedule whose horizon does not fit the run: cosine restarting before the run ends,
    a step schedule that never steps."""
    if scheduler.get("interval", "epoch") != "epoch":
        return
    t_max = scheduler.get("T_max")
    if isinstance(t_max, int) and t_max < epochs:
        raise ConfigError("scheduler.T_max", t_max, f"auto or at least trainer.max_epochs="
                          f"{epochs}: the cosine climbs back after T_max epochs")  # fmt: skip
    step = scheduler.get("step_size")
    if (
        isinstance(step, int)
        and step >= epochs
        and scheduler.get("_target_", "").endswith("StepLR")
    ):
        raise ConfigError("scheduler.step_size", step, f"less than trainer.max_epochs={epochs}: "
                          "the lr would never drop")  # fmt: skip
