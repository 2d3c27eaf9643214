"""How many CPU threads a run uses: ``trainer.threads`` (``auto`` or a number).

torch's default, one thread per core, is the slowest choice on a machine that is busy:
OpenMP threads spin while they wait for a sibling that the scheduler has parked, and a
small recurrent step spends more time synchronising threads than computing. ``auto``
therefore gives a run one thread unless its steps are large enough to share, and then
no more threads than there are idle cores (the cores this process may use, less those
the machine is busy with: measured over a fifth of a second from ``/proc/stat``, else
the load average, which lags a minute behind). The choice is made before torch is
imported (``OMP_NUM_THREADS``), applied again with ``torch.set_num_threads``, and
recorded in ``metrics.json`` as ``threads``.

How waiting threads wait is chosen with it: where a run has more threads than idle
cores, ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep rather than spin (spinning beside
other work cost 6-11x); where the cores are idle, OpenMP's default (spin briefly, then
sleep) is kept, since a sleeping thread woken for every small step of a recurrence made
a two-thread LSTM no faster than one. A policy set in the environment is kept.

``OMP_NUM_THREADS`` in the environment (set by the user, or by the sweep launcher that
divides the machine between parallel jobs: ``launcher.threads_per_job``) is a choice
already made, and ``auto`` keeps it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

# A step whose work (batch x recurrent parameters) is below this is fastest on one
# thread: measured on 2-core CPUs with rnnlab-bench's threads benchmark.
PARALLEL_WORK = 2_000_000


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of every CPU since boot, from ``/proc/stat`` (Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle and iowait
    total = sum(fields[:8])  # guest time is counted in user time already
    return total - idle, total


def busy_cores(seconds: float = 0.2) -> float | None:
    """How many cores of the machine were busy over the last ``seconds`` (this process
    sleeping meanwhile); None where ``/proc/stat`` cannot be read."""
    import time

    before = _cpu_times()
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


def idle_cores() -> int:
    """Cores this process may use that are not busy now (at least 1)."""
    cores = available_cores()
    busy = busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores
    return max(1, min(cores, round(cores - busy)))


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


def choose_threads(
    requested: Any, cfg: Mapping[str, Any] | None = None, idle: Callable[[], int] = idle_cores
) -> int:
    """The thread count for ``trainer.threads=requested`` (see the module docstring)."""
    if requested != "auto":
        return int(requested)
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    if cfg is not None and step_work(cfg) < PARALLEL_WORK:
        return 1
    return idle()


# The wait policy this module set (not the user's), so that a later choice may undo it.
_SET_POLICY: list[str] = []


def set_thread_environment(threads: int, passive: bool = True) -> None:
    """Before torch is imported: size its OpenMP pool, and with ``passive`` make waiting
    threads sleep (a policy the environment gave is kept)."""
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = str(threads)
    policy = os.environ.get("OMP_WAIT_POLICY")
    if policy is not None and policy not in _SET_POLICY:
        return  # the user's
    _SET_POLICY.clear()
    if passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _SET_POLICY.append("PASSIVE")
    else:
        os.environ.pop("OMP_WAIT_POLICY", None)


def apply_threads(requested: Any, cfg: Mapping[str, Any] | None = None) -> int:
    """Choose and apply the thread count; returns it (for ``metrics.json``)."""
    idle = functools.cache(idle_cores)  # a fifth of a second: measured once, only where needed
    threads = choose_threads(requested, cfg, idle)
    set_thread_environment(threads, passive=threads > 1 and threads > idle())
    import torch

    torch.set_num_threads(threads)
    return threads
