"""How many CPU threads a run uses: ``trainer.threads`` (``auto`` or a number).

torch's default, one thread per core, is the slowest choice on a machine that is busy:
OpenMP threads spin while they wait for a sibling that the scheduler has parked, and a
small recurrent step spends more time synchronising threads than computing. ``auto``
therefore gives a run one thread unless its steps are large enough to share, and then
no more threads than there are idle cores (the cores this process may use, less the
load average). The choice is made before torch is imported (``OMP_NUM_THREADS``, with
``OMP_WAIT_POLICY=PASSIVE`` so idle threads sleep rather than spin), applied again with
``torch.set_num_threads``, and recorded in ``metrics.json`` as ``threads``.

``OMP_NUM_THREADS`` in the environment (set by the user, or by the sweep launcher that
divides the machine between parallel jobs: ``launcher.threads_per_job``) is a choice
already made, and ``auto`` keeps it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# A step whose work (batch x recurrent parameters) is below this is fastest on one
# thread: measured on 2-core CPUs with rnnlab-bench's threads benchmark.
PARALLEL_WORK = 2_000_000


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """Cores this process may use that the load average says are not busy (at least 1)."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, round(cores - load)))


def step_work(cfg: Mapping[str, Any]) -> int:
    """A rough size of one training step: batch size times the stack's parameters."""
    from rnnlab.nn.options import stack_options

    model = cfg.get("model") or {}
    data = cfg.get("data") or {}
    try:  # the checked model config, its defaults from the declaration
        params = stack_options(model).parameters(int(data.get("input_size", 1) or 1))
        batch = int(data.get("batch_size") or 1)
    except (KeyError, TypeError, ValueError):
        return 0
    return params * batch


def choose_threads(requested: Any, cfg: Mapping[str, Any] | None = None) -> int:
    """The thread count for ``trainer.threads=requested`` (see the module docstring)."""
    if requested != "auto":
        return int(requested)
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    if cfg is not None and step_work(cfg) < PARALLEL_WORK:
        return 1
    return idle_cores()


def set_thread_environment(threads: int) -> None:
    """Before torch is imported: size its OpenMP pool and let idle threads sleep."""
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def apply_threads(requested: Any, cfg: Mapping[str, Any] | None = None) -> int:
    """Choose and apply the thread count; returns it (for ``metrics.json``)."""
    threads = choose_threads(requested, cfg)
    set_thread_environment(threads)
    import torch

    torch.set_num_threads(threads)
    return threads
