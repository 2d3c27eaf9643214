from __future__ import annotations

from pathlib import Path

import pytest
from run_factory import ACC, LOSS, base_config, lightning_curve, write_run


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A two-cell, three-seed multirun with learning curves."""
    root = tmp_path / "multirun"
    for cell in ("lstm", "gru"):
        for seed in range(3):
            write_run(
                root,
                f"{cell}_{seed}",
                base_config(cell, seed),
                {
                    "test/acc": ACC[cell][seed],
                    "test/loss": LOSS[cell][seed],
                    "val/loss": 0.1,
                    "val/acc_best": ACC[cell][seed] + 0.001,
                    "model/params": 12345,
                    "status": "completed",
                    "note": "ignored",
                },
                [f"model={cell}", f"seed={seed}"],
                curve=lightning_curve(0.05 * seed + (0.2 if cell == "gru" else 0.0)),
            )
    return root
