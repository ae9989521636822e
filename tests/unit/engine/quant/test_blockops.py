"""Per-thread work arrays and the inf/NaN note shared by the block kernels."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from engine.quant.kernels import blockops
from engine.quant.kernels.blockops import note_nonfinite, take_nonfinite, work


def test_a_key_gives_the_same_memory_until_a_larger_request() -> None:
    a = work("test_a", (4, 8), np.float32, np)
    a[...] = 7
    b = work("test_a", (2, 8), np.uint32, np)  # smaller: same buffer, new view
    assert np.shares_memory(a, b)
    assert work("test_a", (4, 8), np.float32, np) is work("test_a", (4, 8), np.float32, np)
    assert not np.shares_memory(a, work("test_b", (4, 8), np.float32, np))
    big = work("test_a", (64, 64), np.float32, np)
    assert big.shape == (64, 64) and not np.shares_memory(a, big)


def test_threads_get_their_own_arrays() -> None:
    mine = work("test_thread", (16,), np.float32, np)
    theirs: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: theirs.append(work("test_thread", (16,), np.float32, np)))
    worker.start()
    worker.join()
    assert not np.shares_memory(mine, theirs[0])


def test_other_array_modules_get_fresh_arrays() -> None:
    class Other:
        float32 = np.float32

        @staticmethod
        def empty(shape: tuple[int, ...], dtype: object) -> np.ndarray:
            return np.full(shape, 3, dtype=dtype)

    assert (work("test_other", (3,), np.float32, Other) == 3).all()  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="fork start method")
def test_a_forked_child_starts_without_the_parents_arrays() -> None:
    work("test_fork", (1024,), np.float32, np)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os._exit(0 if not blockops._SCRATCH.buffers else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "test_fork" in blockops._SCRATCH.buffers


def test_a_note_is_taken_once() -> None:
    take_nonfinite()
    assert not take_nonfinite()
    note_nonfinite()
    assert take_nonfinite()
    assert not take_nonfinite()
