"""Values outside their declaration, given on the command line: each is refused by
``rnnlab-train`` with exit 2 and one line naming the key, before anything is written.

The cases are drawn (with a fixed seed) from every declared key's generated bad values
(``test_declarations.bad_values``), so they cover keys nobody listed; a few more are written
by hand below and were never adjusted to what the check does.
"""

from __future__ import annotations

import logging
import random
import sys

import pytest

from rnnlab.cli import train as train_cli
from rnnlab.schema.declare import bound_of
from rnnlab.schema.registry import STORED

from test_declarations import bad_values

# How a declaration is reached on the command line: the overrides that select it, the prefix.
ROUTES = {
    "train": ([], ""), "model": ([], "model."), "trainer": ([], "trainer."),
    "data_sine": ([], "data."), "data_smnist": (["data=smnist"], "data."),
    "data_chars": (["data=chars"], "data."), "data_adding": (["data=adding"], "data."),
    "data_selective_copy": (["data=selective_copy"], "data."),
    "optimizer_adam": ([], "optimizer."), "optimizer_sgd": (["optimizer=sgd"], "optimizer."),
    "scheduler_plateau": (["scheduler=plateau"], "scheduler."),
    "scheduler_onecycle": (["scheduler=onecycle"], "scheduler."),
    "callback_model_checkpoint": ([], "callbacks.model_checkpoint."),
    "callback_early_stopping": (["callbacks=early_stopping"], "callbacks.early_stopping."),
    "callback_last_checkpoint": ([], "callbacks.last_checkpoint."),
    "task_language_model": (["data=chars"], "task."),
    "logger_wandb": (["logger=wandb"], "logger.wandb."),
}  # fmt: skip


def hydra_value(value) -> str:
    """A Python value written as a Hydra override value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"'{value}'" if value == "" or not value.isidentifier() else value
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return repr(value)


def _cases() -> list:
    cases = []
    for name, (select, prefix) in ROUTES.items():
        cls = STORED[name]
        hints = cls.hints()
        for f in cls.declared():
            for value in bad_values(hints[f.name], bound_of(f)):
                if value is None and prefix == "":
                    continue  # a top-level null is Hydra's "no value"
                cases.append((select, f"{prefix}{f.name}", hydra_value(value)))
    return random.Random(20261206).sample(cases, 24)


OWN = [  # written by hand
    ([], "data.noise", "-0.5"),
    (["data=adding"], "data.val_size", "0"),
    ([], "model.num_layers", "'two'"),
    (["optimizer=adamw"], "optimizer.eps", "0"),
    ([], "trainer.gradient_clip_algorithm", "clip"),
    (["data=chars"], "data.test_text", "all"),
    # the examples that passed through before there was one declaration per key
    ([], "+trainer.foo", "1"),
    ([], "+scheduler.warmup_steps", "1000"),
    ([], "trainer.profiler", "bogus"),
    ([], "callbacks.model_checkpoint.mode", "max"),
    (["hparams_search=sine_lstm"], "hydra.sweeper.direction", "sideways"),
]


@pytest.mark.parametrize(("select", "key", "value"), _cases() + OWN,
                         ids=lambda v: v if isinstance(v, str) else None)  # fmt: skip
def test_bad_value_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capfd,
                                                          select, key, value):  # fmt: skip
    run_dir = tmp_path / "run"
    args = [*select, f"{key}={value}", f"hydra.run.dir={run_dir}"]
    root = logging.getLogger()
    handlers = root.handlers[:]
    monkeypatch.setattr(sys, "argv", ["rnnlab-train", *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "data"))
    try:
        with pytest.raises(SystemExit) as exit_:
            train_cli.main()
    finally:
        root.handlers[:] = handlers
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert exit_.value.code == 2, err
    assert len(err) == 1 and err[0].startswith(f"error: {key.lstrip('+')}="), err
    assert "is not allowed" in err[0]
    assert list(tmp_path.iterdir()) == [], "a refused command wrote something"
