"""The rules that span keys, each refused with the key that breaks it and why; the same
values apart are accepted."""

from __future__ import annotations

import pytest

from rnnlab.errors import ConfigError

from helpers import check_config

RULES = {
    "window longer than the series": (["data.window=120"], "data.window=120", "at most length"),
    "batch larger than its split": (["data.batch_size=100000"], "data.batch_size=100000",
                                    "training examples"),
    "bidirectional language model": (["data=chars", "model.bidirectional=true"],
                                     "model.bidirectional=true", "language model"),
    "no training batches": (["trainer.limit_train_batches=0"], "trainer.limit_train_batches=0",
                            "must train"),
    "validation never runs": (["trainer.check_val_every_n_epoch=50"],
                              "callbacks.model_checkpoint.monitor='val/loss'", "never runs"),
    "validation switched off": (["trainer.limit_val_batches=0"],
                                "callbacks.model_checkpoint.monitor='val/loss'", "never runs"),
    "gradient flow beyond the run": (["callbacks=gradient_flow", "trainer.max_epochs=4"],
                                     "callbacks.gradient_flow.epochs=[1, 5, 10]", "max_epochs=4"),
    "cosine restarting within the run": (["scheduler.T_max=10"], "scheduler.T_max=10",
                                         "climbs back"),
    "step schedule that never steps": (["scheduler=step", "trainer.max_epochs=10"],
                                       "scheduler.step_size=10", "never drop"),
    "task_name leaving the log folder": (["task_name=../elsewhere"], "task_name='../elsewhere'",
                                         "folder name"),
    "test_last without last.ckpt": (["test_last=true", "callbacks.last_checkpoint=null"],
                                    "test_last=true", "last.ckpt"),
    "nesterov without momentum": (["optimizer=sgd", "optimizer.nesterov=true",
                                   "optimizer.momentum=0"], "optimizer.nesterov=true", "momentum"),
    "more tokens than steps": (["data=selective_copy", "data.length=4"], "data.num_tokens=8",
                               "at most length=4"),
    "chrono without its horizon": (["model.init=chrono"], "model.chrono_t_max=null", ">= 2"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(RULES))
def test_rule_is_refused_naming_the_key(tmp_path, case):
    overrides, start, why = RULES[case]
    with pytest.raises(ConfigError) as err:
        check_config(tmp_path, overrides)
    assert str(err.value).startswith(start + " is not allowed:"), str(err.value)
    assert why in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.window=100", "data.horizon=28", "data.batch_size=102"],  # exactly the series
        ["trainer.check_val_every_n_epoch=40"],  # validates once, at the end
        ["callbacks=gradient_flow", "trainer.max_epochs=10"],
        ["scheduler.T_max=40"],
        ["data=chars", "data.corpus=stdlib"],
        ["optimizer=sgd", "optimizer.nesterov=true"],
    ],
)
def test_the_edge_of_each_rule_is_accepted(tmp_path, overrides):
    check_config(tmp_path, overrides)


def _cfg(**groups) -> dict:
    """A composed config's groups as the cross-group rules read them."""
    return {"model": {}, "task": {}, "trainer": {"max_epochs": 10}, **groups}


CROSS = {
    "scheduler monitor, no validation": (
        _cfg(scheduler={"monitor": "val/loss"}, trainer={"max_epochs": 10, "limit_val_batches": 0}),
        "scheduler.monitor='val/loss' is not allowed: a metric this run logs: validation never "
        "runs (limit_val_batches=0)"),
    "checkpoint monitor, validation after the last epoch": (
        _cfg(callbacks={"model_checkpoint": {"monitor": "val/loss"}, "progress_bar": None},
             trainer={"max_epochs": 10, "check_val_every_n_epoch": 20}),
        "callbacks.model_checkpoint.monitor='val/loss' is not allowed: a metric this run logs: "
        "validation never runs (check_val_every_n_epoch=20 > max_epochs=10)"),
    "bidirectional language model": (
        _cfg(model={"bidirectional": True},
             task={"_target_": "rnnlab.tasks.language.LanguageModelTask"}),
        "model.bidirectional=true is not allowed: false for a language model: a backward "
        "direction reads the characters it is asked to predict"),
    "gradient flow after the last epoch": (
        _cfg(callbacks={"gradient_flow": {"epochs": 12}}),
        "callbacks.gradient_flow.epochs=12 is not allowed: epochs within trainer.max_epochs=10"),
    "test_last without the last checkpoint": (
        _cfg(test_last=True, callbacks={"model_checkpoint": {}}),
        "test_last=true is not allowed: false when callbacks.last_checkpoint is null: the last "
        "weights are tested from checkpoints/last.ckpt"),
    "cosine by epoch, no interval given": (
        _cfg(scheduler={"T_max": 4}),
        "scheduler.T_max=4 is not allowed: auto or at least trainer.max_epochs=10: the cosine "
        "climbs back after T_max epochs"),
    "step schedule that never steps": (
        _cfg(scheduler={"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 10}),
        "scheduler.step_size=10 is not allowed: less than trainer.max_epochs=10: the lr would "
        "never drop"),
    "fused optimizer, float16 scaler, clipping": (
        _cfg(optimizer={"fused": True},
             trainer={"max_epochs": 10, "precision": "16-mixed", "gradient_clip_val": 0.5}),
        "optimizer.fused=true is not allowed: false with trainer.precision=16-mixed and gradient "
        "clipping (a fused optimizer unscales float16 gradients itself, after clipping read "
        "them); or use bf16-mixed"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CROSS))
def test_a_rule_across_groups_is_refused_in_full(case):
    from rnnlab.schema.registry import cross_rules

    cfg, message = CROSS[case]
    with pytest.raises(ConfigError) as err:
        cross_rules(cfg)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "cfg",
    [
        _cfg(scheduler={"monitor": "val/loss"}),  # validation runs
        _cfg(
            scheduler={"monitor": "train/loss"}, trainer={"max_epochs": 5, "limit_val_batches": 0}
        ),
        _cfg(scheduler={"T_max": 4, "interval": "step"}),  # T_max counts steps then
        _cfg(scheduler={"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 9}),
        _cfg(scheduler={"step_size": 10}),  # not a StepLR: its step_size is its own
        _cfg(scheduler={"_target_": "x.OtherLR", "step_size": 10}),
        _cfg(scheduler=None, callbacks=None),
        _cfg(callbacks={"gradient_flow": {"epochs": 10}}),
        _cfg(callbacks={"gradient_flow": {"epochs": [1, 10]}}),
        _cfg(callbacks={"gradient_flow": {"epochs": None}}),
        _cfg(test_last=True, callbacks={"last_checkpoint": {"_target_": "x.LastCheckpoint"}}),
        _cfg(test_last=True, train=False),  # tests a checkpoint given: no last.ckpt needed
        _cfg(
            optimizer={"fused": True},
            trainer={"max_epochs": 10, "precision": "bf16-mixed", "gradient_clip_val": 1.0},
        ),  # no scaler
        _cfg(
            optimizer={"fused": True},
            trainer={"max_epochs": 10, "precision": "16-mixed", "gradient_clip_val": None},
        ),  # no clipping
        _cfg(
            optimizer={"fused": False},
            trainer={"max_epochs": 10, "precision": "16-mixed", "gradient_clip_val": 1.0},
        ),
        _cfg(
            optimizer=None,
            trainer={"max_epochs": 10, "precision": "16-mixed", "gradient_clip_val": 1.0},
        ),
        _cfg(
            train=False,
            scheduler={"monitor": "val/loss"},  # a test of a checkpoint only
            trainer={"max_epochs": 10, "limit_val_batches": 0},
        ),
    ],
)
def test_the_rules_across_groups_leave_these_alone(cfg):
    from rnnlab.schema.registry import cross_rules

    cross_rules(cfg)
