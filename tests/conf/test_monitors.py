"""Every metric a config monitors is watched in the direction its task says is better: a
best checkpoint, early stopping or a plateau scheduler set to ``max`` on a loss would keep
the worst weights, stop at the best epoch or cut the lr while training improves."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.conf import conf_dir
from rnnlab.run import build

from helpers import FAST, make_config

MODE = {"lower": "min", "higher": "max"}
OPTUNA = {"lower": "minimize", "higher": "maximize"}


@pytest.mark.parametrize("data", ["sine", "copy", "adding"])
def test_monitors_watch_their_metric_in_the_better_direction(tmp_path, data):
    """``mode`` is null in the configs: the built best checkpoint, early stopping and plateau
    scheduler take it from the metric they watch."""
    small = FAST if data == "sine" else ["model.hidden_size=8", "data.train_size=64"]
    cfg = make_config(
        tmp_path, [f"data={data}", *small, "callbacks=early_stopping", "scheduler=plateau"]
    )
    task = build.build_task(cfg, build.build_datamodule(cfg), OmegaConf.to_container(cfg))
    better = task.metric_directions()
    watched = {type(c).__name__: (c.monitor, c.mode)
               for c in build.build_callbacks(cfg.callbacks, task) if hasattr(c, "mode")}  # fmt: skip
    scheduler = task.configure_optimizers()["lr_scheduler"]
    watched["scheduler"] = (scheduler["monitor"], scheduler["scheduler"].mode)
    assert set(watched) >= {"scheduler", "EarlyStopping", "ModelCheckpoint"}
    for where, (metric, mode) in watched.items():
        assert mode == MODE[better[metric]], f"{where} watches {metric} with mode={mode}"


@pytest.mark.parametrize("where", ["callbacks.model_checkpoint", "callbacks.early_stopping",
                                   "scheduler"])  # fmt: skip
def test_a_mode_against_the_metric_is_refused(tmp_path, where):
    from rnnlab.errors import ConfigError

    cfg = make_config(tmp_path, [*FAST, "callbacks=early_stopping", "scheduler=plateau",
                                 f"{where}.mode=max"])  # fmt: skip
    task = build.build_task(cfg, build.build_datamodule(cfg), OmegaConf.to_container(cfg))
    with pytest.raises(ConfigError, match=f"{where}.mode='max' is not allowed: min, or null"):
        build.check_monitors(cfg, task)


@pytest.mark.parametrize(
    "search", [p.stem for p in (Path(conf_dir()) / "hparams_search").glob("*.yaml")]
)
def test_searches_optimise_in_the_better_direction(tmp_path, search):
    cfg = make_config(tmp_path, [f"hparams_search={search}", *FAST])
    task = build.build_task(cfg, build.build_datamodule(cfg), OmegaConf.to_container(cfg))
    metric = cfg.optimized_metric.removesuffix("_best")
    direction = OmegaConf.load(Path(conf_dir()) / "hparams_search" / f"{search}.yaml")
    assert direction.hydra.sweeper.direction == OPTUNA[task.metric_directions()[metric]]
