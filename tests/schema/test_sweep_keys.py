"""One key of a sweep (``model.hidden_size=32,64``), checked alone against the declaration its
path names in the composed config, before any job starts; rules that span keys wait for
the jobs, where each combination is known."""

from __future__ import annotations

import pytest

from rnnlab.errors import ConfigError
from rnnlab.schema import registry
from rnnlab.schema.registry import check_key, declaration_of

CFG = {
    "data": {"_target_": "rnnlab.data.sine.SineDataModule"},
    "task": {"_target_": "rnnlab.tasks.regress.RegressionTask"},
    "optimizer": {"_target_": "torch.optim.Adam"},
    "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR"},
    "callbacks": {"model_checkpoint": {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"},
                  "progress_bar": None},
    "logger": {"csv": {"_target_": "rnnlab.run.loggers.CSVLogger"}},
    "hydra": {"runtime": {"choices": {"model": "lstm", "data": "sine"}}},
}  # fmt: skip

ROUTES = {
    "seed": (registry.TrainConfig, "seed"),
    "model.hidden_size": (registry.StackOptions, "hidden_size"),
    "trainer.max_epochs": (registry.TrainerOptions, "max_epochs"),
    "data.window": (registry.DATA["rnnlab.data.sine.SineDataModule"], "window"),
    "task.foo": (registry.TASKS["rnnlab.tasks.regress.RegressionTask"], "foo"),
    "optimizer.lr": (registry.OPTIMIZERS["torch.optim.Adam"], "lr"),
    "scheduler.gamma": (registry.SCHEDULERS["torch.optim.lr_scheduler.StepLR"], "gamma"),
    "callbacks.model_checkpoint.monitor": (
        registry.CALLBACKS["lightning.pytorch.callbacks.ModelCheckpoint"], "monitor"),
    "logger.csv.name": (registry.LOGGERS["rnnlab.run.loggers.CSVLogger"], "name"),
    # no declaration: a node the config lacks, a group that is null, a path too deep or short
    "callbacks.progress_bar.refresh_rate": (None, "refresh_rate"),
    "callbacks.mine.every": (None, "every"),
    "logger.wandb.project": (None, "project"),
    "model.cells.lstm": (None, "lstm"),
    "trainer.plugins.x": (None, "x"),
    "data.split.val": (None, "val"),
    "callbacks.model_checkpoint.every.epoch": (None, "epoch"),
    "callbacks.model_checkpoint": (None, "model_checkpoint"),
    "paths.output_dir": (None, "output_dir"),
}  # fmt: skip


@pytest.mark.parametrize("key", list(ROUTES))
def test_each_key_is_found_in_the_declaration_its_path_names(key):
    assert declaration_of(CFG, key) == ROUTES[key]


def test_a_group_the_config_lacks_has_no_declaration():
    assert declaration_of({}, "data.window") == (None, "window")
    assert declaration_of({"callbacks": None}, "callbacks.x.monitor") == (None, "monitor")


REFUSED = {
    "model.hidden_size": (0, "model.hidden_size=0 is not allowed: a positive integer"),
    "data.window": ("long", "data.window='long' is not allowed: a positive integer"),
    "optimizer.lr": (-1.0, "optimizer.lr=-1.0 is not allowed: a finite number > 0"),
    "seed": ("x", "seed='x' is not allowed: an integer from 0 to 4294967295"),
    "model.hiden_size": (32, "model.hiden_size=32 is not allowed: a key of model (did you mean "
                         "model.hidden_size?); the keys are "),
    "sed": (3, "sed=3 is not allowed: a key of the config (did you mean seed?); the keys are "
            "task_name, tags, seed, "),
}  # fmt: skip


@pytest.mark.parametrize("key", list(REFUSED))
def test_a_swept_value_outside_its_declaration_is_refused_with_its_full_key(key):
    value, message = REFUSED[key]
    with pytest.raises(ConfigError) as err:
        check_key(CFG, key, value)
    assert str(err.value).startswith(message), str(err.value)
    assert err.value.key == key and err.value.value == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.hidden_size", 32),
        ("model.r_min", 0.9),  # r_min < r_max is a rule: the job checks it with r_max known
        ("model", "gru"),  # a config group's option: Hydra composes each job from it
        ("data", "nonsense"),
        ("hydra.sweeper.n_trials", -1),  # Hydra's own
        ("callbacks.mine.every", "x"),  # a class of the user's own: its job checks it
    ],
)
def test_a_swept_value_within_its_declaration_or_not_ours_passes(key, value):
    check_key(CFG, key, value)


@pytest.mark.parametrize("command", sorted(registry.ROOTS))
def test_a_top_level_key_belongs_to_its_commands_own_declaration(command):
    assert declaration_of({}, "seed", command) == (registry.ROOTS[command], "seed")


def test_a_swept_top_level_key_is_checked_against_its_commands_declaration():
    check_key(CFG, "temperature", 0.5, "sample")  # rnnlab-sample's key: allowed there
    with pytest.raises(ConfigError) as refused:
        check_key(CFG, "temperature", -1, "sample")
    assert (refused.value.key, refused.value.allowed) == ("temperature", "a finite number >= 0")
    with pytest.raises(ConfigError) as unknown:
        check_key(CFG, "temperature", 0.5)  # rnnlab-train has no such key
    assert unknown.value.key == "temperature"
