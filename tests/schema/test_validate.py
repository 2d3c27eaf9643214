"""The walk over a composed config (``validate``): which node is checked by which declaration,
under which full key, and what each command checks; the refusal is one line naming the key."""

from __future__ import annotations

import copy

import pytest

from rnnlab.errors import ConfigError
from rnnlab.schema.validate import validate
from rnnlab.schema.values import plain_config

from helpers import make_config

SWEEPER = "hydra_plugins.rnnlab_optuna.sweeper.RnnlabOptunaSweeper"


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> dict:
    """``rnnlab-train``'s default config as the check reads it, with the parts of ``hydra``
    a launched run has (the group choices, the sweeper) added by hand."""
    cfg = plain_config(make_config(tmp_path_factory.mktemp("cfg")))
    cfg["hydra"] = {"runtime": {"choices": {"launcher": "local"}}, "sweeper": {}}
    return cfg


def _with(cfg: dict, **changes) -> dict:
    """A copy of ``cfg`` with ``group.key`` (``data__window``) or whole groups replaced."""
    out = copy.deepcopy(cfg)
    for name, value in changes.items():
        *path, key = name.split("__")
        node = out
        for part in path:
            node = node[part]
        node[key] = value
    return out


REFUSED = {
    "a top-level key": ({"seeed": 1}, "seeed=1 is not allowed: a key of rnnlab-train's config "
                        "(did you mean seed?); the keys are task_name, tags, seed, train, test, "
                        "test_last, ckpt_path, resume_dir, optimized_metric, print_config, data, "
                        "model, task, optimizer, scheduler, trainer, callbacks, logger, paths"),
    "a top-level value": ({"seed": -1}, "seed=-1 is not allowed: an integer from 0 to 4294967295"),
    "model": ({"model__hidden_size": 0}, "model.hidden_size=0 is not allowed: a positive integer"),
    "model rule": ({"model__cell": "lru", "model__r_min": 0.9, "model__r_max": 0.5},
                   "model.r_min=0.9 is not allowed: a number in [0, r_max=0.5)"),
    "model not a node": ({"model": 3}, "model=3 is not allowed: a config node (key: value pairs)"),
    "trainer": ({"trainer__max_epochs": 0}, "trainer.max_epochs=0 is not allowed: "),
    "paths": ({"paths__extra": 1}, "paths.extra=1 is not allowed: a key of paths"),
    "data": ({"data__window": 0}, "data.window=0 is not allowed: a positive integer"),
    "data not a node": ({"data": 3}, "data=3 is not allowed: a config node with a _target_"),
    "data without a target": ({"data": {"window": 3}}, "data._target_=null is not allowed: the "
                              "import path of a class, or one of rnnlab.data.sine.SineDataModule, "),
    "data with an empty target": ({"data___target_": ""}, "data._target_='' is not allowed: "
                                  "the import path of a class, or one of "),
    "task": ({"task__nonsense": 1}, "task.nonsense=1 is not allowed: a key of task"),
    "optimizer": ({"optimizer__lr": 0}, "optimizer.lr=0 is not allowed: a finite number > 0"),
    "scheduler": ({"scheduler__eta_min": -1.0}, "scheduler.eta_min=-1.0 is not allowed: "),
    "a callback": ({"callbacks__model_checkpoint__save_top_k": "x"},
                   "callbacks.model_checkpoint.save_top_k='x' is not allowed: "),
    "a logger": ({"logger__csv__nonsense": 1}, "logger.csv.nonsense=1 is not allowed: a key of "
                 "logger.csv"),
    "optuna": ({"optuna": {"trial": "x"}}, "optuna.trial='x' is not allowed: "),
    "the launcher chosen": ({"launcher": {"n_jobs": 0}}, "launcher.n_jobs=0 is not allowed: "),
    "the sweeper": ({"hydra__sweeper": {"_target_": SWEEPER, "direction": "sideways"}},
                    "hydra.sweeper.direction='sideways' is not allowed: "),
    "a rule across groups": ({"test_last": True, "callbacks__last_checkpoint": None},
                             "test_last=true is not allowed: false when callbacks.last_checkpoint "
                             "is null"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_node_is_checked_under_its_full_key(composed, case):
    changes, message = REFUSED[case]
    with pytest.raises(ConfigError) as err:
        validate(_with(composed, **changes), "train")
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"scheduler": None, "optuna": None},  # no scheduler, not an Optuna trial
        {"callbacks__model_checkpoint": None},  # a callback switched off
        {"launcher": {"nonsense": 1}, "hydra__runtime__choices__launcher": "elsewhere"},
        {"hydra__sweeper": {"_target_": "other.Sweeper", "direction": "sideways"}},
    ],
)
def test_what_is_not_checked_passes(composed, changes):
    validate(_with(composed, **changes), "train")


def test_rules_wait_when_asked_and_other_commands_check_their_own_keys(composed, tmp_path):
    rule = _with(composed, model__cell="lru", model__r_min=0.9, model__r_max=0.5)
    validate(rule, "train", rules=False)  # a sweep's base config: each job checks its rules
    sgd = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1, "momentum": 0.0,
           "nesterov": True}  # a rule of a node found by its _target_  # fmt: skip
    validate(_with(composed, optimizer=sgd), "train", rules=False)
    with pytest.raises(ConfigError, match=r"^optimizer\.nesterov=true is not allowed"):
        validate(_with(composed, optimizer=sgd), "train")
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"")  # a file that exists: what it holds is read when it is loaded
    cfg = {"task_name": "x", "ckpt_path": str(ckpt), "paths": composed["paths"],
           "trainer": composed["trainer"], "model": 3, "data": 3}  # fmt: skip
    validate(cfg, "eval")  # model and data are the checkpoint's, not the command line's
    for bad, message in ((_with(cfg, trainer__max_epochs=0), "trainer.max_epochs=0"),
                         (_with(cfg, paths__extra=1), "paths.extra=1"),
                         (_with(cfg, prompt="x"), "prompt='x' is not allowed: a key of "
                                                  "rnnlab-eval's config")):  # fmt: skip
        with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.")):
            validate(bad, "eval")


def test_every_node_is_checked_with_the_rules_the_caller_asked_for(composed, monkeypatch):
    """A sweep's base config (``rules=False``) has no node's rules applied; a run's has every
    node's: the flag reaches each declaration the walk finds, whatever finds it."""
    from rnnlab.schema.declare import Options

    seen: list[tuple[str, object]] = []
    original = Options.check.__func__

    def check(cls, values, rules=True, where=""):
        seen.append((where or cls.__name__, rules))
        return original(cls, values, rules, where)

    monkeypatch.setattr(Options, "check", classmethod(check))
    cfg = _with(composed, optuna={}, launcher={}, hydra__sweeper={"_target_": SWEEPER})
    for rules in (False, True):
        seen.clear()
        validate(cfg, "train", rules=rules)
        where = {w for w, _ in seen}
        assert {"paths", "trainer", "model", "data", "task", "optimizer", "scheduler",
                "callbacks.model_checkpoint", "logger.csv", "optuna", "launcher",
                "hydra.sweeper"} <= where, where  # fmt: skip
        assert all(r is rules for _, r in seen), seen


def test_an_unknown_top_level_key_lists_the_groups_of_this_config_only(composed):
    with pytest.raises(ConfigError) as err:
        validate(_with(composed, seeed=1), "train")
    assert str(err.value).endswith("optimized_metric, print_config, data, model, task, "
                                   "optimizer, scheduler, trainer, callbacks, logger, paths")  # fmt: skip


def test_the_plain_config_keeps_only_the_parts_of_hydra_the_check_reads():
    """The rest of ``hydra`` is never resolved: outside a launched app its interpolations
    (``${hydra:...}``) have nothing to resolve against."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"seed": 1, "hydra": {
        "runtime": {"choices": {"launcher": "local"}}, "sweeper": {"_target_": SWEEPER},
        "job": {"name": "${hydra:job.name}"}}})  # fmt: skip
    assert plain_config(cfg) == {"seed": 1, "hydra": {
        "runtime": {"choices": {"launcher": "local"}}, "sweeper": {"_target_": SWEEPER}}}  # fmt: skip
    del cfg.hydra.sweeper
    assert plain_config(cfg)["hydra"]["sweeper"] == {}  # no sweeper: an empty node
