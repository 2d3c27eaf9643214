"""Build what one option of a config group configures, and make it do one thing.

``check_option(tmp_path, group, option)`` is the body of the test that every option of
every group works: a data module, a network that reads a batch, an optimizer that takes a
step on a parameter, a scheduler that moves the optimizer's learning rate, each logger
writing a value, each callback built against a task, a trainer, an experiment's data and
task, a launcher's and a search's plugin classes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf, open_dict

from rnnlab.nn.recurrent import RecurrentStack
from rnnlab.run.build import build_callbacks, build_datamodule, build_task, build_trainer
from rnnlab.run.loggers import build_loggers

from helpers import FAST, make_config

# The callbacks each `callbacks=` option builds, by class name.
CALLBACKS = {
    "default": {"ModelCheckpoint", "LastCheckpoint", "TQDMProgressBar", "ModelSummary",
                "TestFigures"},
    "early_stopping": {"ModelCheckpoint", "LastCheckpoint", "TQDMProgressBar", "ModelSummary",
                       "TestFigures", "EarlyStopping"},
    "gradient_flow": {"ModelCheckpoint", "LastCheckpoint", "TQDMProgressBar", "ModelSummary",
                      "TestFigures", "GradientFlow"},
    "ema": {"ModelCheckpoint", "LastCheckpoint", "TQDMProgressBar", "ModelSummary", "TestFigures",
            "WeightAverage"},
    "figures": {"TestFigures"}, "last_checkpoint": {"LastCheckpoint"},
    "model_checkpoint": {"ModelCheckpoint"}, "model_summary": {"ModelSummary"},
    "progress_bar": {"TQDMProgressBar"}, "text_samples": {"TextSamples"}, "none": set(),
}  # fmt: skip
LOGGERS = {"csv": ["CSVLogger"], "tensorboard": ["TensorBoardLogger"],
           "wandb": ["WandbLogger"], "many": ["CSVLogger", "TensorBoardLogger", "WandbLogger"]}  # fmt: skip
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def _required(tmp_path: Path, group: str, option: str) -> list[str]:
    """The values an option has no default for: tiny files written here."""
    if (group, option) == ("data", "sequences"):
        path = tmp_path / "seq.csv"
        path.write_text("id,time,f0,label\n" + "".join(f"s{i},0,{i},{i % 2}\n" for i in range(10)))
        return [f"data.train_path={path}", f"data.test_path={path}"]
    if (group, option) == ("data", "uea"):
        folder = tmp_path / "data" / "uea" / "Tiny"
        folder.mkdir(parents=True)
        for split in ("TRAIN", "TEST"):
            rows = "".join(f"{i},1:{i % 2}\n" for i in range(10))
            (folder / f"Tiny_{split}.ts").write_text(f"@classLabel true 0 1\n@data\n{rows}")
        return ["data.name=Tiny"]
    return []


def check_option(tmp_path: Path, group: str, option: str) -> None:
    cfg = make_config(tmp_path, [f"{group}={option}", *_required(tmp_path, group, option)])
    assert cfg.data._target_.startswith("rnnlab.data.")
    globals()[f"_check_{group}"](cfg, option, tmp_path)


def _check_data(cfg: Any, option: str, tmp_path: Path) -> None:
    dm = build_datamodule(cfg)
    assert type(dm).__module__ + "." + type(dm).__name__ == cfg.data._target_ or isinstance(
        dm, get_class(cfg.data._target_)
    )
    assert dm.batch_format == get_class(cfg.task._target_).batch_format  # its own task reads it
    if option == "sine":
        dm.setup("fit")
        x, y = next(iter(dm.train_dataloader()))
        assert x.shape == (cfg.data.batch_size, cfg.data.window, 1)
        assert y.shape == (cfg.data.batch_size, cfg.data.horizon, 1)
    if option in ("sequences", "uea"):
        dm.setup("fit")
        x, y, lengths = next(iter(dm.train_dataloader()))
        assert x.shape == (9, int(lengths.max()), 1)  # one feature; 10 cases less 1 held out
        assert y.dtype == torch.long and len(lengths) == 9


def _check_model(cfg: Any, option: str, tmp_path: Path) -> None:
    stack = RecurrentStack(input_size=3, **cfg.model)
    assert stack.cell == option
    out, state = stack(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, cfg.model.hidden_size) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in stack.parameters())


def _check_optimizer(cfg: Any, option: str, tmp_path: Path) -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = instantiate(cfg.optimizer)(params=[weight])
    assert type(optimizer) is OPTIMIZERS[option]
    group = optimizer.param_groups[0]
    for key in ("lr", "weight_decay", "momentum"):
        if key in cfg.optimizer:
            assert group[key] == cfg.optimizer[key], key
    weight.grad = torch.tensor([1.0, -2.0, 0.0])
    optimizer.step()
    lr, decay = cfg.optimizer.lr, cfg.optimizer.weight_decay
    if option == "sgd":  # first step: plain gradient (momentum buffer = gradient)
        expected = 1 - lr * (weight.grad + decay)
    else:  # Adam's first step moves each weight by lr in the gradient's direction
        expected = torch.ones(3) - lr * torch.sign(weight.grad)
        if option == "adamw":
            expected = expected - lr * decay
    torch.testing.assert_close(weight.detach(), expected, rtol=1e-4, atol=1e-6)


def _check_scheduler(cfg: Any, option: str, tmp_path: Path) -> None:
    if option == "none":
        assert not cfg.scheduler
        return
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = instantiate(cfg.optimizer)(params=[weight])
    spec = OmegaConf.to_container(cfg.scheduler)
    spec.pop("monitor", None)
    interval = spec.pop("interval", "epoch")
    assert interval in ("epoch", "step")
    spec = {k: (20 if v == "auto" else v) for k, v in spec.items()}  # the run's length
    if "mode" in spec and spec["mode"] is None:  # the task fills it from val/loss's direction
        spec["mode"] = "min"
    scheduler = instantiate(spec)(optimizer=optimizer)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(19):
        optimizer.step()
        scheduler.step(1.0) if option == "plateau" else scheduler.step()  # a flat val/loss
        lrs.append(optimizer.param_groups[0]["lr"])
    lr = cfg.optimizer.lr
    if option == "cosine":
        assert lrs[0] == lr and lrs[10] == pytest.approx(lr / 2) and lrs[-1] < lr / 50
    elif option == "step":
        assert lrs[9] == lr and lrs[10] == pytest.approx(lr * cfg.scheduler.gamma)
    elif option == "plateau":  # patience 2: the 4th flat epoch halves it
        assert lrs[3] == lr and lrs[4] == pytest.approx(lr * cfg.scheduler.factor)
    elif option == "onecycle":
        assert interval == "step" and max(lrs) == pytest.approx(cfg.scheduler.max_lr, rel=0.05)
        assert lrs[0] < cfg.scheduler.max_lr / 10 and lrs[-1] < lrs[0]


def _check_trainer(cfg: Any, option: str, tmp_path: Path) -> None:
    if option == "gpu" and not torch.cuda.is_available():
        pytest.skip("trainer=gpu needs a CUDA device")
    trainer = build_trainer(cfg, [], [])
    assert trainer.gradient_clip_val == 1.0 and trainer.gradient_clip_algorithm == "norm"
    accelerator = type(trainer.accelerator).__name__
    assert accelerator == {"cpu": "CPUAccelerator", "gpu": "CUDAAccelerator"}.get(
        option, accelerator
    )
    if option == "ddp":
        assert type(trainer.strategy).__name__ == "HydraDDPStrategy"
    from rnnlab.run.checkpoints import AtomicCheckpointIO

    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def _sine_task(tmp_path: Path) -> Any:
    cfg = make_config(tmp_path, FAST)
    dm = build_datamodule(cfg)
    return build_task(cfg, dm)


def _check_callbacks(cfg: Any, option: str, tmp_path: Path) -> None:
    task = None if option == "text_samples" else _sine_task(tmp_path)  # text needs a char LM
    callbacks = build_callbacks(cfg.get("callbacks"), task)
    assert {type(c).__name__ for c in callbacks} == CALLBACKS[option]
    by_name = {type(c).__name__: c for c in callbacks}
    if "EarlyStopping" in by_name:
        assert by_name["EarlyStopping"].monitor == "val/loss"
    if "ModelCheckpoint" in by_name:
        checkpoint = by_name["ModelCheckpoint"]
        assert (checkpoint.monitor, checkpoint.mode, checkpoint.filename) == (
            "val/loss",
            "min",
            "best",
        )
    if "WeightAverage" in by_name:
        assert (by_name["WeightAverage"].decay, by_name["WeightAverage"].start_step) == (0.998, 0)


def _check_logger(cfg: Any, option: str, tmp_path: Path) -> None:
    loggers = build_loggers(cfg.get("logger"))
    assert [type(lg).__name__ for lg in loggers] == LOGGERS[option]
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":  # a W&B run is started in the fit tests
            assert logger._offline or logger._wandb_init.get("mode") == "offline"
            continue
        logger.log_metrics({"val/loss": 0.5}, step=1)
        logger.finalize("success")
    if "CSVLogger" in LOGGERS[option]:
        assert "val/loss" in (tmp_path / "csv" / "metrics.csv").read_text()
    if "TensorBoardLogger" in LOGGERS[option]:
        assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def _check_debug(cfg: Any, option: str, tmp_path: Path) -> None:
    trainer = build_trainer(cfg, [], [])
    assert cfg.task_name == "debug"
    if option == "fdr":
        assert trainer.fast_dev_run == 1 and not cfg.get("logger")
    elif option == "limit":
        limits = (trainer.limit_train_batches, trainer.limit_val_batches,
                  trainer.limit_test_batches, trainer.max_epochs)  # fmt: skip
        assert limits == (5, 2, 2, 3)
    elif option == "overfit":
        assert trainer.overfit_batches == 1 and trainer.gradient_clip_val is None
        assert cfg.callbacks.model_checkpoint is None and not cfg.test
    elif option == "profiler":
        assert type(trainer.profiler).__name__ == "SimpleProfiler"


def _check_experiment(cfg: Any, option: str, tmp_path: Path) -> None:
    assert cfg.task_name == option
    dm = build_datamodule(cfg)
    assert dm.batch_format == get_class(cfg.task._target_).batch_format
    if option.startswith("smnist_"):
        assert cfg.data.mode == option.removeprefix("smnist_")
        assert dm.spec()["input_size"] == (28 if option == "smnist_row" else 1)
    elif option in ("adding", "copy", "selective_copy"):  # the long-memory tasks
        assert type(dm).__name__.lower().startswith(option.replace("_", ""))
        assert cfg.task._target_.endswith("SequenceTask") and cfg.data.length == 100
    elif option in ("parity", "modular_arithmetic"):  # trained on 1..40, scored on 41..100
        assert type(dm).__name__.lower() == option.replace("_", "")
        assert cfg.task._target_.endswith("SequenceTask")
        assert (dm.train_max_length, dm.eval_max_length) == (40, 100)
        odd = option == "modular_arithmetic"  # expressions have odd lengths
        assert dm.spec()["length_buckets"] == (
            [[41, 59], [61, 79], [81, 99]] if odd else [[41, 60], [61, 80], [81, 100]]
        )
    elif option == "mqar":  # 4 pairs in 16 steps over 32 tokens, scored at the queries
        assert type(dm).__name__ == "MultiQueryRecall"
        assert cfg.task._target_.endswith("SequenceTask")
        assert (cfg.data.num_kv_pairs, cfg.data.length, cfg.data.vocab_size) == (4, 16, 32)
    else:
        corpus = option.removeprefix("chars_").removesuffix("_cpu")
        assert cfg.data.corpus == corpus.replace("shakespeare", "tinyshakespeare")
        assert cfg.callbacks.text_samples._target_.endswith("TextSamples")
        if option == "chars_shakespeare_cpu":  # timed against a budget: one sample, at the end
            assert cfg.callbacks.text_samples.every_n_epochs == cfg.trainer.max_epochs
            assert cfg.test_last


def _hydra_config(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    from rnnlab.conf import conf_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def _check_launcher(cfg: Any, option: str, tmp_path: Path) -> None:
    hcfg = _hydra_config([f"launcher={option}"])
    launcher = get_class(hcfg.hydra.launcher._target_)
    # slurm and slurm_local: submitit's launchers, answering for a job that never returns
    assert launcher.__name__ == {"local": "JoblibLauncher", "slurm": "RnnlabSlurmLauncher",
                                 "slurm_local": "RnnlabLocalLauncher"}[option]  # fmt: skip


def _check_hparams_search(cfg: Any, option: str, tmp_path: Path) -> None:
    from hydra_plugins.rnnlab_optuna.space import distributions

    hcfg = _hydra_config([f"hparams_search={option}"])
    assert get_class(hcfg.hydra.sweeper._target_).__name__ == "RnnlabOptunaSweeper"
    space = distributions(dict(hcfg.hydra.sweeper.params), config_loader=None)
    assert space and all(math.isfinite(getattr(d, "low", 0)) for d in space.values())
    with open_dict(cfg):
        cfg.optuna.trial = None
    (pruning,) = [c for c in build_callbacks(cfg.callbacks) if type(c).__name__ == "OptunaPruning"]
    assert pruning.monitor == "val/loss" and cfg.optimized_metric == "val/loss_best"
