"""The Optuna sweeper in-process, with a stand-in launcher whose jobs report to their trial
as the pruning callback does: pruners (median, hyperband, none) and stale trials."""

from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace

import optuna
import pytest
from omegaconf import OmegaConf

from hydra_plugins.rnnlab_optuna.config import RnnlabOptunaSweeperConf
from hydra_plugins.rnnlab_optuna.sweeper import RnnlabOptunaSweeper
from rnnlab.errors import ConfigError
from rnnlab.io.runs import PRUNED_AT
from rnnlab.launch.pruning import OptunaPruning, make_pruner

EPOCHS = 4


def unquote(value: str) -> str:
    """An override's value as Hydra reads it (the sweeper quotes URLs)."""
    if value[:1] == "'" and value[-1:] == "'":
        return value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return value


class FakeLauncher:
    """Runs each trial's job at once: it reports a validation loss every epoch, stops when
    the pruner says so (as ``OptunaPruning`` makes Lightning do), and returns its best."""

    def __init__(self, loss_of) -> None:
        self.loss_of, self.batches = loss_of, []

    def launch(self, batch: list[list[str]], initial_job_idx: int) -> list:
        self.batches.append(batch)
        results = []
        for overrides in batch:
            args = {k: unquote(v) for k, v in (o.lstrip("+").split("=", 1) for o in overrides)}
            storage, name = args["optuna.storage"], args["optuna.study_name"]
            callback = OptunaPruning("val/loss", int(args["optuna.trial"]), storage, name)
            x, losses = float(args["x"]), []
            for epoch in range(EPOCHS):
                losses.append(self.loss_of(x, epoch))
                trainer = SimpleNamespace(
                    sanity_checking=False, is_global_zero=True, current_epoch=epoch,
                    callback_metrics={"val/loss": losses[-1]}, should_stop=False,
                    strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
                )  # fmt: skip
                callback.on_validation_end(trainer, None)
                if trainer.should_stop:  # pruned: marked for metrics.json and the tables
                    assert trainer.callback_metrics[PRUNED_AT] == epoch
                    break
            results.append(SimpleNamespace(return_value=min(losses)))
        return results


def sweeper(tmp_path, loss_of, **conf) -> tuple[RnnlabOptunaSweeper, FakeLauncher]:
    settings = {"params": {"x": "interval(0.0, 1.0)"}, "n_trials": 8, "study_name": "s",
                "storage": f"sqlite:///{tmp_path}/s.db", "seed": 3, "n_startup_trials": 8,
                "pruner_warmup_epochs": 1, "pruner_startup_trials": 2, **conf}  # fmt: skip
    defaults = {k: v for k, v in asdict(RnnlabOptunaSweeperConf()).items() if k != "_target_"}
    s = RnnlabOptunaSweeper(**{**defaults, **settings})
    s.config = OmegaConf.create({"paths": {"log_dir": str(tmp_path)}, "task_name": "t",
                                 "hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})  # fmt: skip
    s.hydra_context = SimpleNamespace(config_loader=None)
    s.launcher = FakeLauncher(loss_of)
    s.validate_batch_is_legal = lambda batch: None  # needs Hydra's config loader
    return s, s.launcher


def study(tmp_path) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db")


def bad_trials_diverge(x: float, epoch: int) -> float:
    """Trials with x > 0.5 are bad from the first epoch on; the others improve."""
    return 5 + x if x > 0.5 else x / (1 + epoch)


def assert_pruned_early(trials: list, before_the_end: bool = True) -> None:
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [(t.params, t.state.name) for t in trials]
    if before_the_end:  # stopped, not run to the end
        assert all(len(t.intermediate_values) < EPOCHS for t in pruned)
    assert all(t.state.name == "COMPLETE" for t in trials if t not in pruned)
    assert any(t.params["x"] > 0.5 for t in pruned)


def states(tmp_path) -> list[str]:
    return [t.state.name for t in study(tmp_path).trials]


def test_median_pruner_stops_diverging_trials(tmp_path):
    s, launcher = sweeper(tmp_path, bad_trials_diverge, pruner="median")
    s.sweep([])
    trials = study(tmp_path).trials
    assert len(trials) == 8 and study(tmp_path).user_attrs["pruner"]["kind"] == "median"
    assert_pruned_early(trials)
    assert (tmp_path / "sweep" / "trials.csv").is_file()


def test_no_pruner_lets_every_trial_finish(tmp_path):
    s, _ = sweeper(tmp_path, bad_trials_diverge, pruner="none")
    s.sweep([])
    trials = study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 8
    assert any(t.params["x"] > 0.5 for t in trials)  # bad trials ran, and ran to the end
    assert all(len(t.intermediate_values) == EPOCHS for t in trials)


def test_hyperband_pruner_stops_bad_trials_at_its_rungs(tmp_path):
    s, _ = sweeper(tmp_path, bad_trials_diverge, pruner="hyperband", n_trials=12)
    s.sweep([])
    trials = study(tmp_path).trials
    assert study(tmp_path).user_attrs["pruner"]["kind"] == "hyperband"
    assert_pruned_early(trials, before_the_end=False)  # a rung may be the last epoch


def test_make_pruner_kinds():
    median = make_pruner("median", warmup_epochs=3, startup_trials=4)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_warmup_steps, median._n_startup_trials) == (3, 4)
    hyperband = make_pruner("hyperband", warmup_epochs=0)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert hyperband._min_resource == 1  # at least one epoch before a rung
    assert make_pruner("hyperband", warmup_epochs=4)._min_resource == 4
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner='asha'"):
        make_pruner("asha")


@pytest.mark.parametrize("fail_stale", [True, False])
def test_stale_running_trials(tmp_path, fail_stale):
    """A trial left RUNNING by a killed sweep is failed on resume, unless the study is shared."""
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db").ask()
    s, launcher = sweeper(
        tmp_path, lambda x, epoch: x, n_trials=3, fail_stale_trials=fail_stale, pruner="none"
    )
    s.sweep([])
    trials = study(tmp_path).trials
    assert len(trials) == 4 and [t.state.name for t in trials[1:]] == ["COMPLETE"] * 3
    if fail_stale:
        assert trials[0].state.name == "FAIL" and trials[0].user_attrs["interrupted"] is True
    else:  # another worker's live trial: left alone
        assert trials[0].state.name == "RUNNING" and "interrupted" not in trials[0].user_attrs
    assert sum(len(b) for b in launcher.batches) == 3


def test_resumed_study_runs_only_the_remaining_trials(tmp_path):
    s, first = sweeper(tmp_path, lambda x, epoch: x, n_trials=3, pruner="none")
    s.sweep([])
    s, second = sweeper(tmp_path, lambda x, epoch: x, n_trials=5, pruner="none")
    s.sweep([])
    assert sum(len(b) for b in second.batches) == 2 and len(study(tmp_path).trials) == 5
