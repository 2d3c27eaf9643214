"""The composed config, printed as a compact tree when a run starts (``print_config``)."""

from __future__ import annotations

import logging

import pytest
from omegaconf import OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.run.config_tree import WIDTH, config_tree
from rnnlab.run.job import train

from helpers import FAST, check_config, make_config


def test_one_line_per_group_class_names_and_nested_groups_as_branches(tmp_path):
    cfg = OmegaConf.to_container(make_config(tmp_path, ["model=gru"]), resolve=False)
    lines = config_tree(cfg).splitlines()
    assert lines[0] == "config"
    assert all(len(line) <= WIDTH for line in lines)
    model = next(i for i, line in enumerate(lines) if line.startswith("├─ model: "))
    assert lines[model + 1].startswith("│         ")  # wrapped under its group
    assert "cell=gru" in " ".join(lines[model : model + 2])
    assert any(line.startswith("├─ data: SineDataModule batch_size=") for line in lines)
    assert "├─ callbacks" in lines
    assert any(line.startswith("│  ├─ model_checkpoint: ModelCheckpoint ") for line in lines)
    assert "plugins=[AtomicCheckpointIO(check_finite=true)]" in " ".join(lines)
    assert not any("rnnlab.data.sine" in line for line in lines)  # class names, not paths
    assert len(lines) < 45  # compact: about ninety keys on a screen


def tree_printed(tmp_path, caplog, overrides) -> bool:
    caplog.set_level(logging.INFO, logger="rnnlab.run.job")
    train(make_config(tmp_path, [*FAST, "trainer.max_epochs=1", *overrides]), tmp_path)
    return any(r.getMessage().startswith("config\n├─ ") for r in caplog.records)


def test_a_run_prints_its_config_unless_switched_off(tmp_path, caplog):
    assert tree_printed(tmp_path / "on", caplog, [])
    caplog.clear()
    assert not tree_printed(tmp_path / "off", caplog, ["print_config=false"])


def test_print_config_takes_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match="print_config='yes' is not allowed: true or false"):
        check_config(tmp_path, ["print_config=yes"])
