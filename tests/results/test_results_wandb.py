from __future__ import annotations

from typing import Any

import pytest
from run_factory import FakeApi, fake_run

from rnnlab.results.table import build_table
from rnnlab.results.wandb_source import WandbUnavailable, load_wandb_runs


def test_reads_config_and_summary_through_api():
    api = FakeApi(
        [
            fake_run("a", "lstm", 0, 0.9),
            fake_run("b", "lstm", 1, 0.8),
            fake_run("c", "gru", 0, 0.7),
            fake_run("d", "gru", 1, 0.1, state="crashed"),
        ]
    )
    runs, skipped = load_wandb_runs("me/proj", {"tags": "sweep"}, api=api)
    assert api.calls == [("me/proj", {"tags": "sweep"})]
    assert [s.location for s in skipped] == ["wandb:me/proj/d"]
    assert "crashed" in skipped[0].reason
    run = runs[0]
    assert run.location == "wandb:me/proj/a"
    assert run.config["model.cell"] == "lstm"
    assert run.config["data._target_"] == "rnnlab.data.sine.SineDataModule"
    assert not any(k.startswith("_wandb") for k in run.config)
    assert run.metrics == {"test/acc": 0.9}
    table = build_table(runs, metrics=["test/acc"])
    assert table.keys == ["model.cell"]
    lstm = next(g for g in table.groups if g.values["model.cell"] == "lstm")
    assert lstm.stats["test/acc"].mean == pytest.approx(0.85)


def test_api_errors_become_clear_message():
    class Broken:
        def runs(self, path: str, filters: dict | None = None) -> list[Any]:
            raise RuntimeError("permission denied")

    with pytest.raises(WandbUnavailable, match="could not read W&B project 'me/proj'"):
        load_wandb_runs("me/proj", api=Broken())


def test_offline_mode_is_refused_before_importing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(WandbUnavailable, match="offline"):
        load_wandb_runs("me/proj")


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """The real client is asked for, with no key anywhere: one clear error, no network."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc, no ~/.config/wandb
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    with pytest.raises(WandbUnavailable, match="could not create a W&B API client") as err:
        load_wandb_runs("me/proj")
    assert "wandb login" in str(err.value) and "WANDB_API_KEY" in str(err.value)
    assert "API key" in str(err.value.__cause__)  # raised by wandb itself, not by a stand-in


def test_project_must_be_entity_slash_name():
    with pytest.raises(ValueError, match="entity/project"):
        load_wandb_runs("justproject", api=FakeApi([]))
