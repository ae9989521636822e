"""Shared fixtures: where the golden data lives, and headless Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


@pytest.fixture(scope="session")
def golden() -> Path:
    """The copy of ../shared/golden that ships with the tests."""
    return GOLDEN
