"""Read what an offline W&B run file (``run-<id>.wandb``) holds, without the network
(its records: ``rnnlab.results.wandb_offline``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.results.wandb_offline import records


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """Config, history rows, summary and run metadata of one offline run directory."""

    (path,) = Path(run_dir).glob("run-*.wandb")
    out: dict[str, Any] = {
        "config": {},
        "history": [],
        "summary": {},
        "run": None,
        "exit_code": None,
    }
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run"] = record.run
            out["config"].update(
                {i.key: json.loads(i.value_json) for i in record.run.config.update}
            )
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            key = lambda i: i.key or "/".join(i.nested_key)  # noqa: E731
            out["history"].append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            out["summary"].update(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.summary.update
                }
            )
    return out
