"""Freed memory is kept for the next step: no page faults for a buffer allocated again."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, sys
from rnnlab.run.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
import torch
def step():
    torch.empty(16 * 2**20).fill_(1.0)  # 64 MiB, allocated and freed like an activation
for _ in range(20):  # the heap grows to what the pattern needs, then stays
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _faults_per_step(mode: str) -> tuple[bool, float]:
    env = {"OMP_NUM_THREADS": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         env=env, check=True).stdout.split()  # fmt: skip
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_a_buffer_freed_and_allocated_again_costs_no_page_faults():
    kept, faults = _faults_per_step("keep")
    assert kept
    assert faults < 100  # the 64 MiB block is reused
    kept, faults = _faults_per_step("default")
    assert not kept
    assert faults > 10_000  # unmapped on free: one fault per 4 KiB page touched again


def test_the_users_own_glibc_settings_are_left_alone(monkeypatch):
    from rnnlab.run.allocator import keep_freed_memory

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert keep_freed_memory() is False
