"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall clock measures it; nothing to do on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Temporarily use n intra-op threads. On a CPU shared with other jobs, n=1 avoids
    OpenMP threads waiting on a descheduled sibling, which made 2-thread timings erratic."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
