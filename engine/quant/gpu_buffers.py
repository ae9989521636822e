"""Host and device buffers of the GPU pipeline: page-locked host memory and the per-batch slots."""

from __future__ import annotations

from concurrent.futures import Future
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["Slot", "pinned"]


def pinned(cupy: ModuleType, count: int, dtype: Any) -> np.ndarray:
    """A numpy array of ``count`` items in page-locked host memory, which uploads and downloads asynchronously."""
    mem = cupy.cuda.alloc_pinned_memory(count * np.dtype(dtype).itemsize)
    return np.frombuffer(mem, dtype=dtype, count=count)


class Slot:
    """Buffers and stream for one batch in flight: pinned input and output, device input, upload stream.

    The pinned buffers are page-locked on first use, by the thread that needs them and at the size it
    needs (16-bit rows take half of a float32 batch): page-locking costs about 5 ms per 32 MiB, so the
    readers do it in parallel while the GPU starts, instead of the constructor doing all of it up front.
    """

    def __init__(self, cupy: ModuleType, capacity: int) -> None:
        self.capacity = capacity
        self.cupy = cupy
        self.host_in = np.empty(0, dtype=np.uint8)
        self.host_out = np.empty(0, dtype=np.uint8)
        self.device_in = cupy.empty(capacity, dtype=cupy.float32)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.uploaded: Any = None  # the Event recorded after the latest upload
        self.written: Future[None] | None = None  # the writer's hand-off of the latest output (drain)

    def input(self, nbytes: int) -> np.ndarray:
        """Pinned host memory for an upload of ``nbytes`` (at most a float32 batch); it only grows."""
        self.host_in = _grown(self.cupy, self.host_in, nbytes)
        return self.host_in[:nbytes]

    def output(self, nbytes: int) -> np.ndarray:
        """Pinned host memory for a download of ``nbytes``; it only grows."""
        self.host_out = _grown(self.cupy, self.host_out, nbytes)
        return self.host_out[:nbytes]


def _grown(cupy: ModuleType, buffer: np.ndarray, nbytes: int) -> np.ndarray:
    return buffer if buffer.size >= nbytes else pinned(cupy, nbytes, np.uint8)
