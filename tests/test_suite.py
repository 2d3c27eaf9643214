"""The suite itself: torch runs with the thread count tests/conftest.py pins (one, unless
the environment says otherwise)."""

import os

import torch


def test_torch_uses_the_pinned_thread_count():
    assert "OMP_NUM_THREADS" in os.environ
    assert torch.get_num_threads() == int(os.environ["OMP_NUM_THREADS"])
