"""Shared fixtures; one torch thread for the whole suite.

The tests' tensors are tiny: more threads only add OpenMP synchronisation, and on a
shared machine spinning threads made the suite several times slower. Set before torch is
imported (here, and inherited by every process a test starts); a value already in the
environment is kept.
"""

from __future__ import annotations

import logging
import os

for _key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_key, "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from helpers import SHARED_DATA  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_hydra():
    """Tests that run a command in-process leave Hydra's singletons set (the last job's
    config) and its log handlers on the root logger (files in run dirs that pytest later
    removes); clear both so a later test neither is taken for that job nor logs there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def shared_data() -> Path:
    """The real datasets beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
