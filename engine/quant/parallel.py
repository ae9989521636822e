"""Quantize one large tensor on a pool of threads, one chunk of rows per task.

Kernels are pure numpy, and numpy releases the GIL inside its loops, so threads over independent
row chunks scale with cores without copying the input into other processes. Every chunk goes through
the same ``Kernel.quantize_rows`` as a single-threaded call, so the bytes cannot differ.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import CancelledError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant.registry import Kernel, kernel_for
from engine.quant.xp import namespace_of

__all__ = ["TASK_VALUES", "chunk_bounds", "quantize_parallel"]

# About 4 MiB of float32 per task: large enough that pool overhead is noise, small enough to balance.
TASK_VALUES = 1 << 20
# Aim for at least this many tasks per thread so a slow chunk does not leave the others idle.
TASKS_PER_THREAD = 4

CancelCheck = Callable[[], object]


def chunk_bounds(n_rows: int, n_per_row: int, threads: int) -> list[tuple[int, int]]:
    """Half-open row ranges covering ``n_rows``, sized for ``threads`` workers."""
    by_size = max(1, TASK_VALUES // n_per_row)
    by_balance = max(1, -(-n_rows // (threads * TASKS_PER_THREAD)))
    step = min(by_size, by_balance) if threads > 1 else by_size
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def quantize_parallel(
    rows: Any,
    qtype: GGMLType | str,
    *,
    threads: int | None = None,
    imatrix: Any | None = None,
    name: str = "tensor",
    cancel: CancelCheck | None = None,
) -> Any:
    """Quantize 2-D rows to packed ``qtype`` rows using ``threads`` workers (default: every CPU).

    Args:
        rows: (n_rows, n_per_row) array; float32 or anything that converts to it chunk by chunk
            (a memmap is read one chunk at a time).
        qtype: target type, as GGMLType or name.
        threads: worker count; 1 runs on the calling thread. CuPy input always runs on one thread.
        imatrix: optional per-column importance weights, passed to the kernel unchanged.
        name: tensor name used in error messages.
        cancel: called before every chunk; it may raise CancelledError itself (``CancelToken.check``)
            or return a true value to request cancellation.

    Returns:
        uint8 array (n_rows, row_bytes), byte-identical to ``kernel_for(qtype).quantize_rows(rows)``.

    Raises:
        UsageError: bad shape, thread count or type; the kernel's own QuantpickErrors unchanged;
        CancelledError: when ``cancel`` asked to stop.
    """
    kernel = kernel_for(qtype)
    if rows.ndim != 2:
        raise UsageError(f"Expected a 2-D array of rows for {name}, got {rows.ndim} dimensions.")
    n_rows, n_per_row = rows.shape
    kernel.check_row_length(n_per_row)
    xp = namespace_of(rows)
    n_threads = _thread_count(threads) if xp is np else 1
    out = xp.empty((n_rows, kernel.row_bytes(n_per_row)), dtype=xp.uint8)
    job = _Job(kernel, rows, out, xp, imatrix, name, cancel)
    bounds = chunk_bounds(n_rows, n_per_row, n_threads)
    if n_threads == 1 or len(bounds) == 1:
        for start, stop in bounds:
            job.run(start, stop)
    else:
        _run_pool(job, bounds, n_threads)
    return out


def _thread_count(threads: int | None) -> int:
    if threads is None:
        return os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"The thread count must be a whole number of at least 1, not {threads!r}.")
    return threads


class _Job:
    """One tensor's shared state; ``run`` quantizes rows [start, stop) into the shared output."""

    def __init__(
        self,
        kernel: Kernel,
        rows: Any,
        out: Any,
        xp: ModuleType,
        imatrix: Any | None,
        name: str,
        cancel: CancelCheck | None,
    ) -> None:
        self.kernel, self.rows, self.out, self.xp = kernel, rows, out, xp
        self.imatrix, self.name, self.cancel = imatrix, name, cancel
        self.stop = threading.Event()  # set once any chunk failed: the rest return at once

    def run(self, start: int, stop: int) -> None:
        if self.stop.is_set():
            return
        if self.cancel is not None and self.cancel():
            raise CancelledError(f"Quantizing {self.name} was cancelled.")
        self.out[start:stop] = self.kernel.quantize_rows(
            self.rows[start:stop], xp=self.xp, imatrix=self.imatrix, name=self.name
        )


def _run_pool(job: _Job, bounds: list[tuple[int, int]], n_threads: int) -> None:
    """Run every chunk on the pool; on the first failure stop the rest and re-raise it unchanged."""
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="quantize") as pool:
        futures: list[Future[None]] = [pool.submit(job.run, start, stop) for start, stop in bounds]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = any(f.exception() is not None for f in done)
        if failed:
            job.stop.set()
            for fut in futures:
                fut.cancel()
    if failed:
        # Report the earliest chunk that failed, as a single-threaded run would have.
        for fut in futures:
            exc = None if fut.cancelled() else fut.exception()
            if exc is not None:
                raise exc
