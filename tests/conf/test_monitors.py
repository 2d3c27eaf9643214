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


def _watchers(cfg) -> list[tuple[str, str, str]]:
    """(where, metric, mode) of every monitored metric in a composed config."""
    found = [("scheduler", cfg.scheduler.monitor, cfg.scheduler.mode)]
    for name, callback in cfg.callbacks.items():
        if callback is not None and callback.get("monitor") is not None:
            found.append((f"callbacks.{name}", callback.monitor, callback.mode))
    return found


@pytest.mark.parametrize("data", ["sine", "copy", "adding"])
def test_monitors_watch_their_metric_in_the_better_direction(tmp_path, data):
    small = FAST if data == "sine" else ["model.hidden_size=8", "data.train_size=64"]
    cfg = make_config(
        tmp_path, [f"data={data}", *small, "callbacks=early_stopping", "scheduler=plateau"]
    )
    task = build.build_task(cfg, build.build_datamodule(cfg), OmegaConf.to_container(cfg))
    better = task.metric_directions()
    watched = _watchers(cfg)
    assert {w for w, _, _ in watched} >= {"scheduler", "callbacks.early_stopping",
                                          "callbacks.model_checkpoint"}  # fmt: skip
    for where, metric, mode in watched:
        assert mode == MODE[better[metric]], f"{where} watches {metric} with mode={mode}"


@pytest.mark.parametrize(
    "search", [p.stem for p in (Path(conf_dir()) / "hparams_search").glob("*.yaml")]
)
def test_searches_optimise_in_the_better_direction(tmp_path, search):
    cfg = make_config(tmp_path, [f"hparams_search={search}", *FAST])
    task = build.build_task(cfg, build.build_datamodule(cfg), OmegaConf.to_container(cfg))
    metric = cfg.optimized_metric.removesuffix("_best")
    direction = OmegaConf.load(Path(conf_dir()) / "hparams_search" / f"{search}.yaml")
    assert direction.hydra.sweeper.direction == OPTUNA[task.metric_directions()[metric]]
