"""The command line goes to Hydra as given; Hydra composes the config once and the boundary
callback checks it before any run or sweep dir exists (``rnnlab.cli.boundary``)."""

from __future__ import annotations

import sys

import pytest
from test_bad_input import TINY, invoke

from rnnlab.cli import compose as compose_module
from rnnlab.schema import values as values_module


@pytest.fixture
def no_second_composition(monkeypatch):
    """Composing a config outside Hydra's run fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command composed its config a second time")

    monkeypatch.setattr(compose_module, "compose", refuse)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["model.hidden_size=0"], "model.hidden_size=0"),
        (["model.hiden_size=8"], "model.hiden_size=8"),
        (["-m", "model.hidden_size=8,-1"], "model.hidden_size=-1"),
        (["-m", "model=lstm,gru", "model.d_state=4"], "model.d_state=4"),
    ],
)
def test_a_refusal_comes_from_hydras_own_composition(
    args, key, tmp_path, monkeypatch, capfd, no_second_composition
):
    result = invoke("train", [*args, f"paths.log_dir={tmp_path}"], monkeypatch, capfd)
    assert result.code == 2, result.err
    assert len(result.lines) == 1 and key in result.lines[0], result.err
    assert list(tmp_path.iterdir()) == []


def test_a_run_leaves_sys_argv_as_it_was(tmp_path, monkeypatch, capfd, no_second_composition):
    seen = []
    original = values_module.plain_config

    def spy(cfg):
        seen.append(list(sys.argv))
        return original(cfg)

    monkeypatch.setattr("rnnlab.cli.boundary.plain_config", spy)
    args = [*TINY, f"paths.log_dir={tmp_path}"]
    result = invoke("train", args, monkeypatch, capfd)
    assert result.code == 0, result.err
    assert seen == [["rnnlab-train", *args]]  # checked once, on what the user typed
