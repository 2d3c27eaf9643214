"""``rnnlab-bench``: timing comparisons, each a ratio measured within one run.

Examples::

    rnnlab-bench                              # quick mode, every benchmark
    rnnlab-bench mode=full device=cuda
    rnnlab-bench only=[loop] write_docs=false

Each benchmark is a function returning a dict with ``name``, its timings and, for a
comparison, ``ratio``. They live in ``rnnlab.benchmarks.*`` and are imported lazily:
one whose module is absent shows as "not available", one that fails shows its error,
and the others still run. Results go to ``<run dir>/metrics.json`` and, with
``write_docs=true``, to ``docs/BENCHMARKS.md`` (see ``rnnlab.benchmarks.report``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab.benchmarks.report import device_string, format_table, update_docs
from rnnlab.cli import hydra_main
from rnnlab.errors import ConfigError, check_choice
from rnnlab.io import write_json

log = logging.getLogger(__name__)


class Benchmark(NamedTuple):
    name: str
    target: str  # "module:function", imported only when run
    quick_kwargs: dict[str, Any]
    full_kwargs: dict[str, Any]


ONE_THREAD = {"num_threads": 1}  # quick CPU timings: steadier on a small, busy machine

BENCHMARKS: list[Benchmark] = [
    Benchmark("default_run", "rnnlab.benchmarks.default_run:default_run", {}, {}),
    Benchmark(
        "loop", "rnnlab.benchmarks.loop:lightning_vs_plain", {"quick": True}, {"quick": False}
    ),
    Benchmark(
        "batching",
        "rnnlab.benchmarks.batching:resident_vs_dataloader",
        {"quick": True},
        {"quick": False, "num_threads": None},
    ),
    *(
        Benchmark(
            f"cells_{c}",
            "rnnlab.benchmarks.cells:scratch_vs_torch",
            {"cell": c, "repeats": 10, **ONE_THREAD},
            {"cell": c, "repeats": 50},
        )  # fmt: skip
        for c in ("rnn", "lstm", "gru")
    ),
    *(
        Benchmark(
            f"scan_{t}",
            "rnnlab.benchmarks.cells:scan_vs_gru",
            {"seq_len": t, "repeats": 3 if t < 1000 else 2, **ONE_THREAD},
            {"seq_len": t, "batch": 64, "hidden": 256, "repeats": 10},
        )  # fmt: skip
        for t in (512, 4096)
    ),
    Benchmark(
        "chars",
        "rnnlab.benchmarks.chars:chars_per_second",
        {"steps": 3},
        {"batch": 128, "bptt": 256, "steps": 20, "warmup": 3},
    ),
    Benchmark(
        "sweeps",
        "rnnlab.benchmarks.sweeps:parallel_vs_sequential",
        {"epochs": 3, "sequential_threads": 1},
        {"epochs": 15},
    ),
]
MODES = ("quick", "full")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    check_choice("device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "auto or cpu: no CUDA device is visible")
    return device


def select(only: list[str]) -> list[Benchmark]:
    """The benchmarks named in ``only`` (all when empty), in registry order."""
    names = [b.name for b in BENCHMARKS]
    for name in only:
        check_choice("only", name, names)
    return [b for b in BENCHMARKS if not only or b.name in only]


def run_one(bench: Benchmark, mode: str, device: str) -> dict[str, Any]:
    """Run one benchmark; a missing module or a failure becomes a row saying so."""
    module_name, func_name = bench.target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError):
        return {"name": bench.name, "status": "not available"}
    kwargs = dict(bench.quick_kwargs if mode == "quick" else bench.full_kwargs)
    started = time.perf_counter()
    try:
        if "device" in inspect.signature(func).parameters:
            kwargs["device"] = device
        result = dict(func(**kwargs))
    except Exception as err:  # one broken benchmark must not lose the others' numbers
        log.exception("benchmark %s failed", bench.name)
        return {"name": bench.name, "status": f"failed: {type(err).__name__}: {err}"}
    result.setdefault("status", "ok")
    result["wall_s"] = time.perf_counter() - started
    return {"benchmark": bench.name, **result} if result.get("name") != bench.name else result


def bench(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run the selected benchmarks, print a table, record the rows."""
    check_choice("mode", cfg.mode, MODES)
    device = resolve_device(cfg.device)
    only = list(OmegaConf.to_container(cfg.only)) if cfg.get("only") else []
    selected = select(only)
    device_str = device_string(device)
    rows = []
    for b in selected:
        log.info("running %s (%s, %s)", b.name, cfg.mode, device)
        rows.append(run_one(b, cfg.mode, device))
        print(format_table([rows[-1]]), flush=True)
    print(f"\n{device_str}, mode={cfg.mode}\n{format_table(rows)}")
    results = {"device": device_str, "mode": cfg.mode, "results": rows, "status": "completed"}
    write_json(output_dir / "metrics.json", results)
    if cfg.write_docs:
        measured = [r for r in rows if r.get("status") == "ok"]  # docs hold numbers only
        if measured:
            path = update_docs(Path(cfg.docs_path), measured, device=device_str, mode=cfg.mode)
            print(f"updated {path}")
    return results


main = hydra_main("bench", bench)

if __name__ == "__main__":
    main()
