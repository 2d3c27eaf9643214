"""The docs and ``--help`` cannot drift from the declarations: every option table in the
README and docs/ names declared keys with their declared defaults, and ``--help`` shows
every key of the options a command line chooses."""

from __future__ import annotations

import re

import pytest

from rnnlab.cli.help import help_text
from rnnlab.schema.declare import default_of
from rnnlab.schema.registry import STORED

from helpers import REPO

ROW = re.compile(r"^\| `(?P<key>[a-z_]+(?:\.[a-z_]+)*)` \| `(?P<default>[^`]*)` \|", re.M)
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _declared(key: str) -> list[str]:
    """The defaults of ``key`` (``data.mode``) in every declaration of its group."""
    group, _, name = key.rpartition(".")
    prefix = {"data": "data_", "model": "model", "trainer": "trainer", "task": "task_",
              "optimizer": "optimizer_", "scheduler": "scheduler_", "": "train"}.get(group)  # fmt: skip
    if prefix is None:
        return []
    found = []
    for stored, cls in STORED.items():
        if stored.startswith(prefix):
            for f in cls.declared():
                if f.name == name:
                    value = default_of(f)
                    text = "null" if value is None else str(value)
                    found.append(text.lower() if isinstance(value, bool) else text)
    return found


def _rows():
    for doc in DOCS:
        for m in ROW.finditer(doc.read_text(encoding="utf-8")):
            if _declared(m["key"]):
                yield pytest.param(m["key"], m["default"], id=f"{doc.name}:{m['key']}")


def test_docs_have_option_tables():
    assert len(list(_rows())) >= 6


@pytest.mark.parametrize(("key", "default"), list(_rows()))
def test_every_option_table_row_states_the_declared_default(key, default):
    assert default in _declared(key), f"{key}: the docs say {default}, declared {_declared(key)}"


@pytest.mark.parametrize("overrides", [[], ["data=smnist", "model=gru"], ["data=chars"],
                                       ["data=adding", "scheduler=plateau"]])  # fmt: skip
def test_help_shows_every_key_of_the_chosen_options(overrides):
    from rnnlab.cli.compose import compose
    from rnnlab.conf import register_resolvers
    from rnnlab.schema.docs import chosen
    from rnnlab.schema.values import plain_config

    register_resolvers()
    text = help_text("train", [*overrides, "--help"])
    cfg = plain_config(compose("train", overrides, []))
    for prefix, cls in chosen(cfg, "train"):
        for f in cls.declared():
            assert f"  {prefix}{f.name}=" in text, f"{prefix}{f.name} missing from --help"


@pytest.mark.parametrize("command", ["eval", "sample", "bench"])
def test_every_command_has_help_with_its_keys(command):
    from rnnlab.conf import register_resolvers

    register_resolvers()
    text = help_text(command, ["--help"])
    for f in STORED[command].declared():
        assert f"  {f.name}=" in text


CALLBACKS = [("callbacks.model_checkpoint.", "ModelCheckpointOptions"),
             ("callbacks.last_checkpoint.", "LastCheckpointOptions"),
             ("callbacks.progress_bar.", "ProgressBarOptions"),
             ("callbacks.model_summary.", "ModelSummaryOptions"),
             ("callbacks.test_figures.", "TestFiguresOptions")]  # fmt: skip
CHOSEN = {
    "train": ("train", [], [("", "TrainConfig"), ("trainer.", "TrainerOptions"),
                            ("model.", "StackOptions"), ("data.", "SineOptions"),
                            ("task.", "RegressionOptions"), ("optimizer.", "AdamOptions"),
                            ("scheduler.", "CosineOptions"), *CALLBACKS,
                            ("logger.csv.", "CSVLoggerOptions")]),
    "smnist, no scheduler or callbacks": (
        "train", ["data=smnist", "~scheduler", "callbacks=none"],
        [("", "TrainConfig"), ("trainer.", "TrainerOptions"), ("model.", "StackOptions"),
         ("data.", "MnistOptions"), ("task.", "ClassificationOptions"),
         ("optimizer.", "AdamOptions"), ("logger.csv.", "CSVLoggerOptions")]),
    "a callback switched off": (
        "train", ["callbacks.progress_bar=null"],
        [("", "TrainConfig"), ("trainer.", "TrainerOptions"), ("model.", "StackOptions"),
         ("data.", "SineOptions"), ("task.", "RegressionOptions"), ("optimizer.", "AdamOptions"),
         ("scheduler.", "CosineOptions"), *(c for c in CALLBACKS if "progress" not in c[0]),
         ("logger.csv.", "CSVLoggerOptions")]),
    "eval": ("eval", [], [("", "EvalConfig"), ("trainer.", "TrainerOptions")]),
    "sample": ("sample", [], [("", "SampleConfig")]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CHOSEN))
def test_help_lists_the_declarations_the_config_chooses(tmp_path, case):
    """``--help`` shows the keys of exactly these nodes, each under its full prefix."""
    from rnnlab.schema.docs import chosen
    from rnnlab.schema.values import plain_config

    from helpers import make_config

    command, overrides, expected = CHOSEN[case]
    cfg = plain_config(make_config(tmp_path, overrides, command))
    assert [(prefix, cls.__name__) for prefix, cls in chosen(cfg, command)] == expected
