"""Queues that always shut their worker thread down, and sources small and large."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.jobs.queue import JobQueue
from tests.conftest import GOLDEN
from tests.unit.app.synthetic import write_llama_gguf

TINY = GOLDEN / "requant" / "synth-a-f32.gguf"


@pytest.fixture
def queue(qtbot) -> Iterator[JobQueue]:  # noqa: ARG001 - qtbot makes sure a QApplication exists
    q = JobQueue()
    yield q
    assert q.shutdown(wait_ms=60_000)


@pytest.fixture(scope="session")
def big_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 25M parameters in F32 (100 MB): a Q4_K_M conversion takes a couple of seconds."""
    return write_llama_gguf(tmp_path_factory.mktemp("big") / "big-f32.gguf", embd=1024, ff=2048, layers=2,
                            vocab=4096)
