"""Quantize one large tensor with several workers, one chunk of rows per task.

Every chunk goes through the same ``Kernel.quantize_rows`` as a single-threaded call, so the bytes
cannot differ. On Linux a large numpy tensor is spread over forked worker processes (``_ProcessPool``):
a numpy kernel makes thousands of small calls per chunk and holds the GIL between them, so threads
mostly take turns, while processes run side by side. Elsewhere, and for small tensors, a thread pool
over the chunks does the work.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from multiprocessing.reduction import ForkingPickler
from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import CancelledError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant.registry import Kernel, kernel_for
from engine.quant.xp import keep_freed_host_memory, namespace_of

__all__ = ["PROCESS_MIN_VALUES", "TASK_VALUES", "chunk_bounds", "quantize_parallel"]

log = logging.getLogger(__name__)

# About 4 MiB of float32 per task: large enough that pool overhead is noise, small enough to balance.
TASK_VALUES = 1 << 20
# Aim for at least this many tasks per thread so a slow chunk does not leave the others idle.
TASKS_PER_THREAD = 4
# Tensors from this size (16 MiB of float32) go to worker processes: forking costs a few milliseconds.
PROCESS_MIN_VALUES = 1 << 22
# Seconds a worker gets to exit after being told to stop, before it is killed.
_JOIN_TIMEOUT_S = 5.0

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
        threads: worker count; 1 runs on the calling thread. Large tensors on Linux get forked worker
            processes, others threads. CuPy input always runs on one thread.
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
    if xp is np:
        keep_freed_host_memory()
    bounds = chunk_bounds(n_rows, n_per_row, n_threads)
    n_workers = min(n_threads, len(bounds))
    compute_bound = kernel.parallel_by_processes or (kernel.uses_imatrix and imatrix is not None)
    if n_workers > 1 and compute_bound and _use_processes(n_rows * n_per_row):
        out = _shared_output(n_rows, kernel.row_bytes(n_per_row))
        job = _Job(kernel, rows, out, xp, imatrix, name, cancel)
        _ProcessPool(job, n_workers).run(bounds)
        return out
    out = xp.empty((n_rows, kernel.row_bytes(n_per_row)), dtype=xp.uint8)
    job = _Job(kernel, rows, out, xp, imatrix, name, cancel)
    if n_workers == 1:
        for start, stop in bounds:
            job.run(start, stop)
    else:
        _run_threads(job, bounds, n_workers)
    return out


def _thread_count(threads: int | None) -> int:
    if threads is None:
        return os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"The thread count must be a whole number of at least 1, not {threads!r}.")
    return threads


def _use_processes(n_values: int) -> bool:
    """Forked workers: Linux only (fork is unsafe with macOS frameworks; Windows has none), large tensors."""
    return sys.platform.startswith("linux") and n_values >= PROCESS_MIN_VALUES


def _shared_output(n_rows: int, row_bytes: int) -> np.ndarray:
    """A zeroed uint8 (n_rows, row_bytes) array in anonymous shared memory that forked children can fill.

    Nothing is named, so nothing can leak: the mapping goes away with the last array and process using it.
    """
    buf = mmap.mmap(-1, max(1, n_rows * row_bytes))
    return np.frombuffer(buf, dtype=np.uint8, count=n_rows * row_bytes).reshape(n_rows, row_bytes)


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

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError(f"Quantizing {self.name} was cancelled.")

    def run(self, start: int, stop: int) -> None:
        if self.stop.is_set():
            return
        self.check_cancel()
        self.quantize(start, stop)

    def quantize(self, start: int, stop: int) -> None:
        self.out[start:stop] = self.kernel.quantize_rows(
            self.rows[start:stop], xp=self.xp, imatrix=self.imatrix, name=self.name
        )


def _run_threads(job: _Job, bounds: list[tuple[int, int]], n_threads: int) -> None:
    """Run every chunk on a thread pool; on the first failure stop the rest and re-raise it unchanged."""
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


def _worker_main(conn: Connection, inherited: list[Connection], job: _Job) -> None:
    """A forked worker: quantize the chunks the parent sends until it sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for other in inherited:
        other.close()  # the parent's ends of the pipes: EOF must reach us when the parent is gone
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        start, stop = task
        try:
            job.quantize(start, stop)
            reply: tuple[int, Exception | None, str] = (start, None, "")
        except Exception as e:  # noqa: BLE001 - every failure goes back to the parent, which raises it
            reply = (start, *_portable(e))
        try:
            conn.send(reply)
        except OSError:
            return  # the parent is gone


def _portable(exc: Exception) -> tuple[Exception, str]:
    """``exc`` if it survives pickling (QuantpickErrors do, hint included), else a plain stand-in;
    with its formatted traceback, which pickling would drop."""
    text = "".join(traceback.format_exception(exc))
    try:
        ForkingPickler.dumps(exc)
    except Exception:  # noqa: BLE001 - any pickling failure means: send a description instead
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc, text


class _RemoteTraceback(Exception):
    """Carries a worker's formatted traceback as the ``__cause__`` of the error the parent raises."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


class _ProcessPool:
    """Forked workers fed chunks over pipes; results land in the shared output array.

    The input needs no copying: a forked child sees the parent's arrays (and memmaps) as they were at
    fork time. The parent hands out chunks in order, calling ``cancel`` before each, and keeps
    ``QUEUE_DEPTH`` of them queued per worker so that a worker never waits for a busy parent to be
    scheduled; a worker with nothing left is told to exit at once, so exits overlap the last chunks. A
    failure stops the hand-out; once the chunks in flight are back, the earliest failure is raised, as
    a single-threaded run would have. If a worker dies, its unfinished chunks run in this process.
    Every way out (success, error, cancel, interrupt) ends with all workers gone.
    """

    QUEUE_DEPTH = 2

    def __init__(self, job: _Job, n_workers: int) -> None:
        self.job, self.n_workers = job, n_workers
        self.inflight: dict[Connection, deque[tuple[int, int]]] = {}
        self.procs: dict[Connection, multiprocessing.process.BaseProcess] = {}
        self.failures: dict[int, Exception] = {}
        self.orphans: list[tuple[int, int]] = []  # chunks of workers that died

    def run(self, bounds: list[tuple[int, int]]) -> None:
        todo = deque(bounds)
        clean = False
        try:
            self._start()
            for _ in range(self.QUEUE_DEPTH):
                for conn in self.procs:
                    self._hand_out(conn, todo)
            while any(self.inflight.values()):
                self._collect(todo)
            clean = True
        finally:
            self._stop(kill=not clean)
        if self.failures:
            raise self.failures[min(self.failures)]
        for start, stop in sorted(self.orphans) + list(todo):
            self.job.run(start, stop)

    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        for _ in range(self.n_workers):
            parent_end, child_end = ctx.Pipe(duplex=True)
            inherited = [*self.procs, parent_end]
            proc = ctx.Process(
                target=_worker_main, args=(child_end, inherited, self.job), name="quantize", daemon=True
            )
            self.procs[parent_end] = proc
            self.inflight[parent_end] = deque()
            proc.start()
            child_end.close()

    def _hand_out(self, conn: Connection, todo: deque[tuple[int, int]]) -> None:
        if self.failures or self.orphans or not todo or conn not in self.inflight:
            return
        self.job.check_cancel()
        task = todo.popleft()
        try:
            conn.send(task)
        except OSError:  # the worker died after its last reply
            self._lost(conn, [task])
            return
        self.inflight[conn].append(task)

    def _collect(self, todo: deque[tuple[int, int]]) -> None:
        busy = [c for c, tasks in self.inflight.items() if tasks]
        sentinels = {self.procs[c].sentinel: c for c in busy}
        for ready in wait_ready([*busy, *sentinels]):
            conn = sentinels.get(ready, ready)
            if not self.inflight.get(conn):
                continue  # both its pipe and its sentinel were ready; handled already
            try:
                start, error, text = conn.recv()
            except (EOFError, OSError):
                self._lost(conn, list(self.inflight[conn]))
                continue
            self.inflight[conn].popleft()
            if error is not None:
                error.__cause__ = _RemoteTraceback(text)
                self.failures[start] = error
            self._hand_out(conn, todo)
            if not self.inflight[conn]:
                self._release(conn)  # nothing left for it: it exits while the others finish

    def _lost(self, conn: Connection, tasks: list[tuple[int, int]]) -> None:
        """A worker died: its chunks are left for this process; nothing more goes to it."""
        log.warning("A quantize worker for %s stopped unexpectedly; finishing here.", self.job.name)
        self.orphans.extend(tasks)
        self.inflight.pop(conn, None)

    def _release(self, conn: Connection) -> None:
        """Tell an idle worker to exit; nothing more goes to it."""
        self.inflight.pop(conn, None)
        try:
            conn.send(None)
        except OSError:
            pass  # already gone

    def _stop(self, *, kill: bool) -> None:
        for conn, proc in self.procs.items():
            if kill:
                proc.kill()
            elif conn in self.inflight:
                self._release(conn)
        for conn, proc in self.procs.items():
            proc.join(_JOIN_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
            proc.close()  # frees its sentinel now, not whenever the error's traceback lets go of it
            conn.close()
