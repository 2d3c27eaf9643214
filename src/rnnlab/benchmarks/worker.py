"""Run one benchmark in this fresh process and print its row as JSON (``rnnlab-bench`` calls it).

A process per row keeps each row's peak memory its own (``peak_rss_mb``, and
``peak_gpu_mb`` on a GPU) and its thread count what the row asks for: ``threads`` 1 by
default, a number, or ``all`` (torch's default, one per core). The environment is set
before torch is imported, as the run does.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any


def run(spec: dict[str, Any]) -> dict[str, Any]:
    threads = spec.pop("threads", 1)
    if threads != "all":
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from hydra.utils import get_method

    func = get_method(spec.pop("_target_"))
    import inspect

    if "device" in inspect.signature(func).parameters:
        spec.setdefault("device", "cpu")
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    row = dict(func(**spec))
    row.setdefault("threads", torch.get_num_threads())
    row["load_1min"] = round(load, 2)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return row


if __name__ == "__main__":
    result = run(json.loads(sys.argv[1]))
    print("\nRNNLAB-BENCH-ROW " + json.dumps(result, default=str))
