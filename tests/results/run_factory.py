"""Helpers that write fake run directories in the training command's format.

A uniquely named module (not conftest) so test files can import the helpers
without clashing with conftest modules elsewhere in the tree.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

MNIST = "rnnlab.data.mnist.SequentialMNIST"
SINE = "rnnlab.data.sine.SineDataModule"


def base_config(cell: str = "lstm", seed: int = 0, mode: str = "row", **model: Any) -> dict:
    return {
        "seed": seed,
        "task_name": "train",
        "tags": ["dev"],
        "data": {"_target_": MNIST, "mode": mode, "batch_size": 128, "data_dir": "/tmp/x"},
        "model": {
            "cell": cell,
            "hidden_size": 64,
            "num_layers": 1,
            "bidirectional": False,
            "dropout": 0.0,
            "impl": "torch",
            "nonlinearity": "tanh",
            **model,
        },
        "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.003},
        "trainer": {"max_epochs": 2, "default_root_dir": f"/out/{cell}/{seed}"},
        "paths": {"output_dir": f"/out/{cell}/{seed}", "log_dir": "/logs"},
        "logger": {"wandb": {"id": f"run{cell}{seed}"}},
        "callbacks": {"model_checkpoint": {"dirpath": f"/ckpt/{seed}"}},
    }


BETTER = {
    "test/acc": "higher", "val/acc_best": "higher", "val/acc": "higher",
    "test/loss": "lower", "val/loss": "lower", "test/bpc": "lower", "val/bpc_best": "lower",
    "test/mse": "lower", "test/rollout_mse": "lower",
}  # fmt: skip


def write_run(
    root: Path,
    name: str,
    config: dict | None,
    metrics: dict | str | None,
    overrides: list[str] | None = None,
    curve: list[dict[str, Any]] | None = None,
) -> Path:
    """A run dir; ``metrics`` as a string is written verbatim (to fake corrupt JSON)."""
    run = root / name
    run.mkdir(parents=True)
    if metrics is not None:
        if isinstance(metrics, dict) and "better" not in metrics:
            # as a task writes them: which way each of its metrics is better
            better = {k: BETTER[k] for k in metrics if k in BETTER}
            metrics = {**metrics, "better": better}
        text = metrics if isinstance(metrics, str) else json.dumps(metrics)
        (run / "metrics.json").write_text(text)
    if config is not None:
        (run / ".hydra").mkdir()
        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides or []))
    if curve is not None:
        (run / "csv").mkdir()
        columns = ["epoch", "step", "train/loss", "val/acc", "val/loss"]
        with open(run / "csv" / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in curve:
                writer.writerow({c: row.get(c, "") for c in columns})
    return run


def lightning_curve(offset: float) -> list[dict[str, Any]]:
    """Rows shaped like CSVLogger output: train and val rows fill different columns."""
    rows: list[dict[str, Any]] = []
    for epoch in range(3):
        step = (epoch + 1) * 10 - 1
        rows.append({"epoch": epoch, "step": step - 5, "train/loss": 2.0 - epoch * 0.5})
        rows.append({"epoch": epoch, "step": step, "val/loss": 1.5 - 0.4 * epoch + offset})
        rows.append({"epoch": epoch, "step": step, "val/acc": 0.5 + 0.1 * epoch})
    return rows


# test/acc per (cell, seed); lstm is best on acc, gru best on loss.
ACC = {"lstm": [0.981, 0.975, 0.978], "gru": [0.970, 0.972, 0.969]}
LOSS = {"lstm": [0.060, 0.071, 0.065], "gru": [0.055, 0.052, 0.058]}


# A stand-in for wandb.Api and its run objects: only what the source reads.


class FakeSummary(dict):
    """wandb's summary object keeps the raw values in ``_json_dict``."""

    @property
    def _json_dict(self) -> dict:
        return dict(self)


def fake_run(run_id: str, cell: str, seed: int, acc: float, state: str = "finished") -> Any:
    config = {
        "seed": seed,
        "model": {"cell": cell, "hidden_size": 64},
        "data": {"value": {"_target_": "rnnlab.data.sine.SineDataModule"}},
        "_wandb": {"runtime": 3},
    }
    summary = FakeSummary({"test/acc": acc, "_step": 10, "_runtime": 2.0, "media": {"x": 1},
                           "better": {"test/acc": "higher"}})  # fmt: skip
    return SimpleNamespace(id=run_id, state=state, config=config, summary=summary)


class FakeApi:
    def __init__(self, runs: list[Any]):
        self._runs = runs
        self.calls: list[tuple[str, dict]] = []

    def runs(self, path: str, filters: dict | None = None) -> list[Any]:
        self.calls.append((path, filters or {}))
        return self._runs
