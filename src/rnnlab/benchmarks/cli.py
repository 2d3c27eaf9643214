"""rnnlab-bench: timing comparisons, each a ratio measured within one run.

  rnnlab-bench                              # quick mode, every benchmark
  rnnlab-bench mode=full device=cuda
  rnnlab-bench only=[loop,threads] write_docs=false

The benchmarks are listed in the ``benchmarks`` node of ``conf/bench.yaml``: a
``_target_`` function and the arguments of each mode. Each runs in its own process
(``rnnlab.benchmarks.worker``), so its peak memory is its own; one that fails shows its
error and the others still run. Results go to ``<run dir>/metrics.json`` and, with
``write_docs=true``, to ``docs/BENCHMARKS.md`` (see ``rnnlab.benchmarks.report``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.benchmarks.options import MODES
from rnnlab.cli.app import hydra_main
from rnnlab.errors import ConfigError
from rnnlab.io.atomic import write_json

log = logging.getLogger(__name__)

ROW_MARK = "RNNLAB-BENCH-ROW "


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "auto or cpu: no CUDA device is visible")
    return device


def spec_for(node: dict[str, Any], mode: str, device: str) -> dict[str, Any]:
    """The worker's arguments: the benchmark's own, then its mode's, then the device."""
    spec = {k: v for k, v in node.items() if k not in MODES}  # the arguments of each mode
    spec.update(node.get(mode) or {})
    spec["device"] = device
    return spec


def run_one(name: str, spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run one benchmark in a fresh process; a failure becomes a row saying so."""
    started = time.perf_counter()
    env = {**os.environ}
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the worker sets what the row asks
        env.pop(key, None)
    cmd = [sys.executable, "-m", "rnnlab.benchmarks.worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"name": name, "status": f"failed: no result within {timeout:.0f} s"}
    rows = [line[len(ROW_MARK) :] for line in proc.stdout.splitlines() if line.startswith(ROW_MARK)]
    if proc.returncode != 0 or not rows:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "status": f"failed: {last[:300]}"}
    row = json.loads(rows[-1])
    row.setdefault("status", "ok")
    row["wall_s"] = round(time.perf_counter() - started, 2)
    row.pop("name", None)
    return {"name": name, **row}


def bench(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run the selected benchmarks, print a table, record the rows."""
    from rnnlab.benchmarks.report import device_string, format_table, update_docs

    device = resolve_device(cfg.device)  # values were checked before the job (BenchConfig)
    benchmarks = OmegaConf.to_container(cfg.benchmarks, resolve=True)
    only = list(OmegaConf.to_container(cfg.only)) if cfg.get("only") else []
    selected = [n for n in benchmarks if not only or n in only]
    device_str = device_string(device)
    rows = []
    for name in selected:
        log.info("running %s (%s, %s)", name, cfg.mode, device)
        rows.append(run_one(name, spec_for(benchmarks[name], cfg.mode, device)))
        log.info("%s", format_table([rows[-1]]))
    log.info("\n%s, mode=%s\n%s", device_str, cfg.mode, format_table(rows))
    results = {"device": device_str, "mode": cfg.mode, "results": rows, "status": "completed"}
    write_json(output_dir / "metrics.json", results)
    if cfg.write_docs:
        measured = [r for r in rows if r.get("status") == "ok"]  # docs hold numbers only
        if measured:
            path = update_docs(Path(cfg.docs_path), measured, device=device_str, mode=cfg.mode)
            log.info("updated %s", path)
    return results


main = hydra_main("bench", "rnnlab.benchmarks.cli:bench")

if __name__ == "__main__":
    main()
