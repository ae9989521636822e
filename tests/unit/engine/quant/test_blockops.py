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


def _in_thread(key: str) -> np.ndarray:
    got: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: got.append(work(key, (16,), np.float32, np)))
    worker.start()
    worker.join()
    return got[0]


def test_threads_get_their_own_arrays_and_later_threads_reuse_them() -> None:
    mine = work("test_thread", (16,), np.float32, np)
    first = _in_thread("test_thread")
    assert not np.shares_memory(mine, first)
    assert np.shares_memory(first, _in_thread("test_thread"))  # the first thread's, handed on


def test_concurrent_threads_never_share_arrays() -> None:
    got: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(3)

    def take(i: int) -> None:
        got[i] = work("test_concurrent", (16,), np.float32, np)
        barrier.wait()  # all three hold theirs at once

    workers = [threading.Thread(target=take, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not any(np.shares_memory(got[i], got[j]) for i in range(3) for j in range(i))


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
        os._exit(0 if not blockops._arena().buffers and not blockops._POOL else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "test_fork" in blockops._arena().buffers


def test_a_note_is_taken_once() -> None:
    take_nonfinite()
    assert not take_nonfinite()
    note_nonfinite()
    assert take_nonfinite()
    assert not take_nonfinite()
