"""How fast the commands answer when no training runs: ``--help``, ``--cfg job``, a config
error, tab completion; beside ``import torch`` alone, the floor any torch program pays.

Each command is a fresh process, timed from start to exit; the commands are run in turn
(A B C ... A B C ...) and the median of ``repeats`` rounds is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

COMMANDS = {
    "help_s": ["-m", "rnnlab.cli.train", "--help"],
    "cfg_job_s": ["-m", "rnnlab.cli.train", "--cfg", "job"],
    "config_error_s": ["-m", "rnnlab.cli.train", "model.hidden_size=0"],
    "completion_s": ["-m", "rnnlab.cli.train", "-sc", "query=bash"],
    "import_torch_s": ["-c", "import torch"],
}


def startup_seconds(device: str = "cpu", repeats: int = 5) -> dict[str, Any]:
    """Median wall seconds of each command in ``COMMANDS``."""
    samples: dict[str, list[float]] = {k: [] for k in COMMANDS}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COMP_LINE": "rnnlab-train mod", "COMP_POINT": "16",
               "RNNLAB_DATA_DIR": tmp}  # fmt: skip
        for _ in range(repeats):
            for key, args in COMMANDS.items():
                started = time.perf_counter()
                subprocess.run([sys.executable, *args], env=env, cwd=tmp, capture_output=True)
                samples[key].append(time.perf_counter() - started)
    row: dict[str, Any] = {k: round(statistics.median(v), 3) for k, v in samples.items()}
    row["repeats"] = repeats
    return row
