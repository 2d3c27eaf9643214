"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    """The real datasets beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
