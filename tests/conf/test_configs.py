"""Every option of every config group composes, and the debug modes run."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.conf import conf_dir
from rnnlab.run.job import train

from helpers import FAST, make_config

# Groups selected on the command line as `group=option`; files starting with "_" are parts.
GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "debug",
          "experiment", "launcher", "hparams_search"]  # fmt: skip


def _options() -> list[tuple[str, str]]:
    root = Path(conf_dir())
    return [
        (group, path.stem)
        for group in GROUPS
        for path in sorted((root / group).glob("*.yaml"))
        if not path.stem.startswith("_")
    ]


@pytest.mark.parametrize("group,option", _options())
def test_every_option_composes(tmp_path, group, option):
    cfg = make_config(tmp_path, [f"{group}={option}"])
    assert cfg.model.cell
    assert cfg.data._target_.startswith("rnnlab.data.")


def test_every_group_has_options():
    found = {group for group, _ in _options()}
    assert {"data", "model", "optimizer", "trainer", "callbacks", "logger", "debug"} <= found


@pytest.mark.parametrize("mode", ["limit", "profiler"])
def test_debug_modes_run(tmp_path, mode):
    metrics = train(
        make_config(tmp_path, [*FAST, f"debug={mode}", "trainer.max_epochs=1"]), tmp_path
    )
    assert metrics["status"] == "completed"
