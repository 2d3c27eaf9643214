"""Keep the memory a training step frees for the next step, instead of returning it.

A training step allocates and frees the same large buffers every step (activations kept
for the backward pass, gradients, optimizer temporaries). glibc's allocator hands large
freed blocks back to the kernel (blocks above its mmap threshold are unmapped, free
memory at the top of the heap is trimmed), and the next step pays a page fault for every
4 KiB page it touches again. On a 2-core CPU that was a third of a character LM's CPU
time, spent in the kernel (``rnnlab-bench only=[allocator]``). Raising both thresholds
keeps freed blocks in the process for reuse; the price is that its resident memory stays
at its peak between steps, which a training run reaches every step anyway.

Only glibc (Linux) has these settings; elsewhere, or when the user has set glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB are reused rather than returned
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; returns whether they were set."""
    if not sys.platform.startswith("linux") or any(k in os.environ for k in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    )
