"""Lightning modules, one per kind of task; the datamodule states which it needs."""

from __future__ import annotations

import importlib

from rnnlab.errors import ConfigError

TASKS = {
    "regression": "rnnlab.tasks.regress:RegressionTask",
    "classification": "rnnlab.tasks.classify:ClassificationTask",
    "language_model": "rnnlab.tasks.language:LanguageModelTask",
}


def task_class(task: str) -> type:
    if task not in TASKS:
        raise ConfigError("task", task, "one of " + ", ".join(TASKS))
    module, name = TASKS[task].split(":")
    return getattr(importlib.import_module(module), name)
