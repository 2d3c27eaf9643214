"""The keys of each task config (``task``), declared once; torch-free.

A task's other arguments (sizes, the vocabulary, the objective) come from the datamodule's
``spec()``, not from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rnnlab.schema.declare import Options, option

ENCODINGS = ("embedding", "onehot")
MAX_SAMPLE_LENGTH = 1_000_000  # characters one rnnlab-sample may generate (about a minute on a CPU)


@dataclass(kw_only=True)
class TaskOptions(Options):
    group: ClassVar[str] = "task"


@dataclass(kw_only=True)
class RegressionOptions(TaskOptions):
    declares: ClassVar[str] = "rnnlab.tasks.regress.RegressionTask"


@dataclass(kw_only=True)
class ClassificationOptions(TaskOptions):
    declares: ClassVar[str] = "rnnlab.tasks.classify.ClassificationTask"


@dataclass(kw_only=True)
class SequenceOptions(TaskOptions):
    declares: ClassVar[str] = "rnnlab.tasks.sequence.SequenceTask"

    tolerance: float = option(0.04, "regression targets: within this counts as right", gt=0)


@dataclass(kw_only=True)
class LanguageModelOptions(TaskOptions):
    declares: ClassVar[str] = "rnnlab.tasks.language.LanguageModelTask"

    encoding: str = option("embedding", "how the network reads character ids",
                           choices=ENCODINGS)  # fmt: skip
    embedding_dim: int = option(64, "size of the embedding (encoding=embedding)", ge=1)


@dataclass(kw_only=True)
class SequenceRegressionOptions(TaskOptions):
    declares: ClassVar[str] = "rnnlab.tasks.regress_sequence.SequenceRegressionTask"


TASKS = {c.declares: c for c in (RegressionOptions, ClassificationOptions, SequenceOptions,
                               LanguageModelOptions, SequenceRegressionOptions)}  # fmt: skip
