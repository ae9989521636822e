"""The background sync pushes written bytes to disk as they arrive and never hides a disk error."""

from __future__ import annotations

import errno
import os
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from engine.errors import OutOfDiskError
from engine.formats import gguf_write, writeback
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_write import GGUFStreamWriter, TensorSlot
from engine.formats.writeback import BackgroundFlush


def _counting_sync(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], threading.Semaphore]:
    calls: list[int] = []
    done = threading.Semaphore(0)

    def sync(fd: int) -> None:
        calls.append(fd)
        done.release()

    monkeypatch.setattr(writeback, "_datasync", sync)
    return calls, done


def test_a_sync_follows_every_threshold_of_bytes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls, done = _counting_sync(monkeypatch)
    with open(tmp_path / "f", "wb") as fh:
        flush = BackgroundFlush(fh.fileno(), every=100)
        flush.wrote(60)
        assert not done.acquire(timeout=0.2)  # 60 bytes: below the threshold, no sync
        flush.wrote(60)
        assert done.acquire(timeout=5)
        flush.close()
        assert calls == [fh.fileno()] and flush.syncs == 1


def test_close_without_enough_bytes_never_syncs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls, _ = _counting_sync(monkeypatch)
    with open(tmp_path / "f", "wb") as fh:
        flush = BackgroundFlush(fh.fileno(), every=100)
        flush.wrote(99)
        flush.close()
    assert calls == []


def test_a_failed_sync_is_raised_by_the_next_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    failed = threading.Event()

    def full_disk(fd: int) -> None:
        failed.set()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writeback, "_datasync", full_disk)
    with open(tmp_path / "f", "wb") as fh:
        flush = BackgroundFlush(fh.fileno(), every=10)
        flush.wrote(10)
        assert failed.wait(timeout=5)
        with pytest.raises(OSError) as raised:
            flush.close()
    assert raised.value.errno == errno.ENOSPC


def test_the_writer_syncs_in_the_background_and_keeps_the_bytes(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    calls, done = _counting_sync(monkeypatch)
    monkeypatch.setattr(gguf_write, "BackgroundFlush", partial(BackgroundFlush, every=1024))
    data = np.arange(4096, dtype=np.float32)
    out = tmp_path / "m.gguf"
    with GGUFStreamWriter(out, [], [TensorSlot("w", (4096,), GGMLType.F32)]) as writer:
        parts = np.split(data, 4)
        writer.write(parts[0])
        assert done.acquire(timeout=5)  # synced while the file was still open
        for part in parts[1:]:
            writer.write(part)
    assert out.read_bytes().endswith(data.tobytes()) and len(calls) >= 1


def test_a_full_disk_found_by_the_background_sync_leaves_no_file(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    failed = threading.Event()

    def full_disk(fd: int) -> None:
        failed.set()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writeback, "_datasync", full_disk)
    monkeypatch.setattr(gguf_write, "BackgroundFlush", partial(BackgroundFlush, every=1024))
    out = tmp_path / "m.gguf"
    with pytest.raises(OutOfDiskError):
        with GGUFStreamWriter(out, [], [TensorSlot("w", (4096,), GGMLType.F32)]) as writer:
            parts = np.split(np.zeros(4096, dtype=np.float32), 4)
            writer.write(parts[0])
            assert failed.wait(timeout=5)
            for part in parts[1:]:
                writer.write(part)
    assert list(tmp_path.iterdir()) == []
