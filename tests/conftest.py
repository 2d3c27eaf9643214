"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA


@pytest.fixture(autouse=True)
def _fresh_hydra():
    """Tests that run a command in-process leave Hydra's singletons set (the last job's
    config); clear them so a later in-process run is not taken for that job."""
    yield
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


@pytest.fixture
def shared_data() -> Path:
    """The real datasets beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
