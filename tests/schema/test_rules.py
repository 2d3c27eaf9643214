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
