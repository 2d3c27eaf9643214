"""What each run-level config value allows, checked before torch is imported.

``check_run(cfg)`` is the first thing a training job does: it reads the composed config
and raises a ``ConfigError`` naming the key, the value and what is allowed for the first
bad value it finds. It covers the top-level keys, ``optimizer``, ``scheduler`` and
``trainer`` here, ``model`` through ``rnnlab.nn.options`` and ``data`` through
``rnnlab.data.options``; ``check_launcher`` is a sweep's (is SLURM there?). The classes
that take these values (the recurrent stack, the datamodules) call the same checks, so the
rules live in one place each. The module is long (about 280 lines) because it is that one
place for every run-level key: a list of short rules, read one at a time. Checks that need
a built object (does the task log the metric a scheduler monitors?) run in
``rnnlab.run.build`` before training starts.

Nothing here imports torch, Lightning or the models: a mistyped value is answered at once.
The one exception is a GPU asked for by name (``trainer.accelerator=gpu``): torch says
whether one is visible, and a run that wants a GPU imports torch anyway.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnlab.errors import (
    ConfigError,
    check_choice,
    check_positive,
    config_group,
)

SEED_RANGE = (0, 2**32 - 1)  # what every RNG that seed_everything seeds accepts
PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int_range(key: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, value, f"an integer from {low} to {high}")


def check_number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """A finite number within [low, high] (open ends where asked)."""
    ok = is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    bracket = ("(" if low_open or low is None else "[") + f"{lo}, {hi}"
    bracket += ")" if high_open or high is None else "]"
    raise ConfigError(key, value, f"a finite number in {bracket}")


def check_positive_number(key: str, value: Any) -> None:
    check_number(key, value, low=0, low_open=True)


def check_optional(check: Any, key: str, value: Any, *args: Any, **kwargs: Any) -> None:
    if value is not None:
        check(key, value, *args, **kwargs)


def check_seed(value: Any) -> None:
    check_int_range("seed", value, *SEED_RANGE)


def check_ckpt_path(value: Any, *, required: bool = False) -> None:
    """A checkpoint file to start from (or ``last``); null where none is needed."""
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        allowed = "a checkpoint file" if required else "a checkpoint file, last, or null"
        raise ConfigError("ckpt_path", value, allowed)


def check_optimizer(cfg: Mapping[str, Any]) -> None:
    """lr > 0, weight_decay >= 0, momentum and betas in [0, 1), eps > 0, where present."""
    check_positive_number("lr", cfg.get("lr"))
    check_optional(check_number, "weight_decay", cfg.get("weight_decay"), low=0)
    check_optional(check_number, "momentum", cfg.get("momentum"), low=0, high=1, high_open=True)
    check_optional(check_number, "dampening", cfg.get("dampening"), low=0, high=1)
    check_optional(check_positive_number, "eps", cfg.get("eps"))
    betas = cfg.get("betas")
    if betas is not None:
        if isinstance(betas, (str, bytes)) or len(list(betas)) != 2:
            raise ConfigError("betas", betas, "a pair [beta1, beta2] of numbers in [0, 1)")
        for beta in betas:
            if not (is_number(beta) and 0 <= beta < 1):
                raise ConfigError(
                    "betas", list(betas), "a pair [beta1, beta2] of numbers in [0, 1)"
                )
    for flag in ("nesterov", "amsgrad"):
        if flag in cfg and not isinstance(cfg[flag], bool):
            raise ConfigError(flag, cfg[flag], "true or false")


def _auto_or_positive(key: str, value: Any) -> None:
    if value != "auto":
        try:
            check_positive(key, value)
        except ConfigError:
            raise ConfigError(key, value, "auto or a positive integer") from None


def check_scheduler(cfg: Mapping[str, Any] | None) -> None:
    """The keys of the scheduler configs this project ships; other keys are left to torch."""
    if not cfg:
        return
    if "interval" in cfg:
        check_choice("interval", cfg["interval"], ("epoch", "step"))
    for key in ("T_max", "total_steps"):
        if key in cfg:
            _auto_or_positive(key, cfg[key])
    for key in ("step_size", "epochs", "steps_per_epoch"):
        check_optional(check_positive, key, cfg.get(key))
    check_optional(check_positive_number, "max_lr", cfg.get("max_lr"))
    check_optional(check_number, "eta_min", cfg.get("eta_min"), low=0)
    check_optional(check_number, "min_lr", cfg.get("min_lr"), low=0)
    check_optional(check_number, "gamma", cfg.get("gamma"), low=0, high=1, low_open=True)
    check_optional(check_number, "factor", cfg.get("factor"), low=0, high=1, low_open=True,
                   high_open=True)  # fmt: skip
    check_optional(check_number, "pct_start", cfg.get("pct_start"), low=0, high=1, low_open=True,
                   high_open=True)  # fmt: skip
    if "patience" in cfg:
        check_int_range("patience", cfg["patience"], 0, 10**9)
    if "mode" in cfg:
        check_choice("mode", cfg["mode"], ("min", "max"))
    if "monitor" in cfg and not (isinstance(cfg["monitor"], str) and "/" in cfg["monitor"]):
        raise ConfigError("monitor", cfg["monitor"], "a logged metric such as val/loss")


def _limit(key: str, value: Any) -> None:
    """Lightning's limit_*_batches: a number of batches, or a fraction in (0, 1]."""
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return
    if isinstance(value, float) and 0 < value <= 1:
        return
    raise ConfigError(key, value, "null, a number of batches >= 0 or a fraction in (0, 1]")


def _devices(value: Any) -> None:
    if value in ("auto", -1, "-1"):
        return
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        return
    raise ConfigError("devices", value, "auto, -1, a positive number of devices or a list of ids")


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


def check_trainer(cfg: Mapping[str, Any]) -> None:
    check_positive("max_epochs", cfg.get("max_epochs"))
    max_steps = cfg.get("max_steps", -1)
    if max_steps != -1:
        try:
            check_positive("max_steps", max_steps)
        except ConfigError:
            raise ConfigError(
                "max_steps", max_steps, "-1 (no limit) or a positive integer"
            ) from None
    clip = cfg.get("gradient_clip_val")
    check_optional(check_positive_number, "gradient_clip_val", clip)
    if "gradient_clip_algorithm" in cfg:
        check_choice("gradient_clip_algorithm", cfg["gradient_clip_algorithm"], ("norm", "value"))
    for key in ("log_every_n_steps", "check_val_every_n_epoch", "accumulate_grad_batches"):
        check_optional(check_positive, key, cfg.get(key))
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        _limit(key, cfg.get(key))
    if cfg.get("num_sanity_val_steps") is not None:
        check_int_range("num_sanity_val_steps", cfg["num_sanity_val_steps"], -1, 10**9)
    if "accelerator" in cfg:
        check_choice("accelerator", cfg["accelerator"], ACCELERATORS)
    if "devices" in cfg:
        _devices(cfg["devices"])
    check_accelerator(cfg.get("accelerator"), cfg.get("devices"))
    if "precision" in cfg:
        check_choice("precision", str(cfg["precision"]), PRECISIONS)
    deterministic = cfg.get("deterministic", False)
    if deterministic not in (True, False, None, "warn"):
        raise ConfigError("deterministic", deterministic, "true, false or warn")
    threads = cfg.get("threads", "auto")
    if threads != "auto":
        try:
            check_positive("threads", threads)
        except ConfigError:
            raise ConfigError("threads", threads, "auto or a positive integer") from None


# Hydra launchers that hand every job to SLURM, and the commands they run.
SLURM_LAUNCHERS = ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",)
SLURM_COMMANDS = ("sbatch", "srun")


def check_launcher(name: Any, target: Any) -> None:
    """A sweep's launcher can run here: SLURM's commands exist where jobs go to SLURM."""
    if target not in SLURM_LAUNCHERS:
        return
    missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
    if missing:
        raise ConfigError(
            "launcher", name or target, f"a launcher this machine can use: SLURM's "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on PATH; "
            "run the sweep here with launcher=local (or without launcher=)",
        )  # fmt: skip


@dataclass
class DisplayOptions:
    """Run-level keys of what a run shows (declared once each)."""

    print_config: Any = True  # print the composed config as a tree when a run starts: true | false

    def __post_init__(self) -> None:
        if not isinstance(self.print_config, bool):
            raise ConfigError("print_config", self.print_config, "true or false")


def check_run(cfg: Mapping[str, Any]) -> None:
    """Every value of a training config that can be checked without building anything."""
    from rnnlab.data.options import check_data
    from rnnlab.nn.options import check_model

    check_seed(cfg.get("seed"))
    DisplayOptions(**{k: cfg[k] for k in ("print_config",) if k in cfg})
    check_ckpt_path(cfg.get("ckpt_path"))
    with config_group("optimizer"):
        check_optimizer(cfg["optimizer"])
    with config_group("scheduler"):
        check_scheduler(cfg.get("scheduler"))
    with config_group("trainer"):
        check_trainer(cfg["trainer"])
    with config_group("model"):
        check_model(cfg["model"])
    with config_group("data"):
        check_data(cfg["data"])
