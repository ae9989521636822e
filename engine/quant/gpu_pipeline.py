"""Quantize a stream of row chunks on the GPU, reading ahead so the GPU does not wait on the disk.

Tasks arrive in output order. Consecutive tasks of one type and row length (and the same importance
matrix) are packed into one batch: rows are quantized independently, so the bytes are those of one task
at a time, and a run of small tensors costs one sequence of kernel launches instead of one each. Every
batch passes through one of ``PIPELINE_SLOTS`` slots::

    reader thread: task.read() -> pinned host buffer -> upload to the slot's device buffer (slot stream)
    this thread:   wait for the upload -> kernels (compute stream) -> download into pinned host memory
    writer thread: (``drain`` only) the caller's sink writes the bytes out

Types with a compiled kernel (``cuda_kernels``) and no importance matrix take three launches per batch:
widen-and-scan, quantize, and the download of the bytes with the batch's largest magnitude; the host then
decides from that one number whether the batch was finite and whether its scales need the overflow
check. Other types run the whole-array kernels.

While one batch is quantized, reader threads fill the other slots with the next batches. A batch the
GPU declines (NaN or infinity in the input, a block scale overflowing float16, GPU memory exhausted, a
row longer than a batch) is handed to the caller's CPU ``fallback``, which raises or clamps exactly as
the CPU path does. Written against CuPy's API: ``cupy.cuda.Stream``, ``cupy.cuda.alloc_pinned_memory``,
``ndarray.set``/``get`` with a stream; CuPy is loaded through ``engine.quant.xp`` only.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import CancelledError, InvalidValuesError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant import cuda_kernels
from engine.quant.device import PIPELINE_SLOTS, DeviceChoice
from engine.quant.gpu_batches import Fallback, GpuTask, Sink, plan_batches
from engine.quant.gpu_buffers import Slot, pinned
from engine.quant.registry import HALF_MAX_BITS, kernel_for
from engine.quant.xp import load_cupy

__all__ = ["Fallback", "GpuPipeline", "GpuTask", "Sink", "plan_batches", "start_gpu"]

log = logging.getLogger(__name__)

# Stored types the GPU widens to float32 itself, and their bytes per value.
RAW_BYTES = {GGMLType.F32: 4, GGMLType.F16: 2, GGMLType.BF16: 2}
_INF_BITS = 0x7F800000  # magnitudes at or above these float bits are infinite or NaN


class _Untrusted:
    """Returned by the compiled path when it cannot vouch for a batch: the array kernels take it."""


_UNTRUSTED = _Untrusted()


CancelCheck = Callable[[], object]


def start_gpu(choice: DeviceChoice) -> None:
    """Create the chosen GPU's CUDA context and load the compiled kernels; nothing for a CPU choice.

    Both take tenths of a second (a first compile, seconds). A caller can do this on a thread while it
    reads the source's header, so the pipeline finds them ready.
    """
    if not choice.is_gpu or choice.gpu_index is None:
        return
    cupy = load_cupy()
    with cupy.cuda.Device(choice.gpu_index):
        cupy.empty(1, dtype=cupy.uint8)  # the first allocation creates the context
        cuda_kernels.load(cupy)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A batch after its reader: host rows (or passed-through bytes), and whether they are on the GPU."""

    tasks: tuple[GpuTask, ...]
    slot: Slot
    host: np.ndarray
    on_device: bool
    raw_type: GGMLType | None = None  # the device holds the stored bytes of this type, not float32


class GpuPipeline:
    """Quantizes task streams on the GPU of a DeviceChoice; use as a context manager, one stream at a time.

    Allocates ``slots`` pinned and device buffers of ``choice.batch_values`` values each, and caps CuPy's
    memory pool at ``choice.memory_limit_bytes`` (the margin NVML's free memory was sized with) until
    closed. Device memory comes from CuPy's default pool, never from managed memory.
    """

    def __init__(self, choice: DeviceChoice, *, slots: int = PIPELINE_SLOTS) -> None:
        if not choice.is_gpu or choice.gpu_index is None or choice.batch_values <= 0:
            raise UsageError("The GPU pipeline needs a GPU device choice.", "Choose the device with choose_device().")
        if slots < 2:
            raise UsageError(f"The GPU pipeline needs at least 2 slots, not {slots}.")
        self.choice = choice
        self.cupy = load_cupy()
        self.device = self.cupy.cuda.Device(choice.gpu_index)
        self.capacity = choice.batch_values
        self._pool = self.cupy.get_default_memory_pool()
        with self.device:  # the pool's limit is per device: set it for this one
            self._old_limit = self._pool.get_limit()
            self._pool.set_limit(size=choice.memory_limit_bytes)
            self.slots = [Slot(self.cupy, self.capacity) for _ in range(slots)]
            self.stream = self.cupy.cuda.Stream(non_blocking=True)
            # The compiled path's widened batch and largest magnitude (within KERNEL_BYTES_PER_VALUE).
            self._wide = self.cupy.empty(self.capacity, dtype=self.cupy.float32)
            self._maxbits = self.cupy.zeros(1, dtype=self.cupy.uint32)
        self._maxbits_host = pinned(self.cupy, 1, np.uint32)
        self._readers = ThreadPoolExecutor(max_workers=slots - 1, thread_name_prefix="gpu-read")

    def __enter__(self) -> "GpuPipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the readers and give the buffers and the pool's cached memory back."""
        self._readers.shutdown(wait=True, cancel_futures=True)
        self.slots = []
        with self.device:
            self._pool.free_all_blocks()
            self._pool.set_limit(size=self._old_limit)
        self.cupy.get_default_pinned_memory_pool().free_all_blocks()

    def run(
        self, tasks: Iterable[GpuTask], *, fallback: Fallback, cancel: CancelCheck | None = None
    ) -> Iterator[tuple[GpuTask, np.ndarray]]:
        """Yield ``(task, uint8 bytes (n_rows, row_bytes))`` for every task, in order.

        Each result stays valid until the next one is requested (it may live in a reused pinned buffer).
        ``cancel`` is called before every batch; it may raise CancelledError or return a true value.

        Raises:
            CancelledError: ``cancel`` asked to stop; readers are stopped before it propagates.
            Whatever a task's ``read`` or ``fallback`` raises, for the earliest task that failed.
        """
        with closing(self._batches(tasks, cancel)) as batches:
            for loaded in batches:
                yield from self._finish(loaded, fallback)

    def drain(
        self, tasks: Iterable[GpuTask], sink: Sink, *, fallback: Fallback, cancel: CancelCheck | None = None
    ) -> None:
        """Give ``sink`` every ``(task, bytes)`` of ``run``, in order, on a writer thread of its own.

        The disk write of one batch then overlaps the GPU's work on the next (on the H100, a 1.1B model's
        writes take 0.19 s; its batches went from 0.54 s to 0.40 s). A slot's pinned output is reused only
        once the sink has taken everything it held, so at most one batch per slot waits to be written.

        Raises:
            What ``run`` raises, once the batches already handed to the writer are written; and the first
            exception of ``sink``, after which the sink is not called again. No sink call runs after this
            returns or raises.
        """
        writes: deque[Future[None]] = deque()
        failed = threading.Event()  # set by the writer when the sink raised: later batches are skipped
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu-write") as writer:
            try:
                with closing(self._batches(tasks, cancel)) as batches:
                    for loaded in batches:
                        if loaded.slot.written is not None:
                            loaded.slot.written.result()  # the slot's last bytes are on their way out
                        results = list(self._finish(loaded, fallback))
                        loaded.slot.written = writer.submit(_sink_all, sink, results, failed)
                        writes.append(loaded.slot.written)
                        while writes and writes[0].done():  # a failed write stops the conversion early
                            writes.popleft().result()
                while writes:
                    writes.popleft().result()
            finally:
                wait(writes)  # at most one batch per slot; a failed sink makes the rest return at once
                for slot in self.slots:
                    slot.written = None

    def _batches(self, tasks: Iterable[GpuTask], cancel: CancelCheck | None) -> Iterator[_Loaded]:
        """Every batch once its reader has filled its slot, in order, with the next ones read ahead."""
        pending: deque[Future[_Loaded]] = deque()
        try:
            for k, batch in enumerate(plan_batches(tasks, self.capacity)):
                if len(pending) == len(self.slots):  # every slot busy: finish the oldest, whose slot k reuses
                    yield pending.popleft().result()
                _check(cancel)
                pending.append(self._readers.submit(self._load, batch, self.slots[k % len(self.slots)]))
            while pending:
                _check(cancel)
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            wait(pending)  # a reader still filling a slot finishes before the slot is reused or freed

    # -- reader threads ----------------------------------------------------------------------------
    def _load(self, batch: tuple[GpuTask, ...], slot: Slot) -> _Loaded:
        """Read a batch into the slot's pinned memory and start its upload."""
        first = batch[0]
        if first.qtype is None:
            return _Loaded(batch, slot, first.read(), on_device=False)
        n_rows = sum(t.n_rows for t in batch)
        size = n_rows * first.n_per_row
        if size > slot.capacity:  # a single row longer than a batch: the CPU takes it
            return _Loaded(batch, slot, _read(first), on_device=False)
        if first.read_raw is not None and first.raw_type in RAW_BYTES:
            return self._load_raw(batch, slot, n_rows, first.raw_type)
        flat = slot.input(size * 4).view(np.float32)
        rows = flat.reshape(n_rows, first.n_per_row)
        at = 0
        for task in batch:
            rows[at : at + task.n_rows] = _read(task)
            at += task.n_rows
        with self.device:
            slot.device_in[:size].set(flat, stream=slot.stream)
            slot.uploaded = slot.stream.record()
        return _Loaded(batch, slot, rows, on_device=True)

    def _load_raw(self, batch: tuple[GpuTask, ...], slot: Slot, n_rows: int, raw_type: GGMLType) -> _Loaded:
        """Read the stored bytes into the slot's pinned memory and upload them unconverted."""
        row_bytes = batch[0].n_per_row * RAW_BYTES[raw_type]
        raw = slot.input(n_rows * row_bytes).reshape(n_rows, row_bytes)
        at = 0
        for task in batch:
            raw[at : at + task.n_rows] = np.asarray(task.read_raw()).reshape(task.n_rows, row_bytes)  # type: ignore[misc]
            at += task.n_rows
        with self.device:
            slot.device_in.view(self.cupy.uint8)[: raw.size].set(raw.reshape(-1), stream=slot.stream)
            slot.uploaded = slot.stream.record()
        return _Loaded(batch, slot, raw, on_device=True, raw_type=raw_type)

    # -- this thread -------------------------------------------------------------------------------
    def _finish(self, loaded: _Loaded, fallback: Fallback) -> Iterator[tuple[GpuTask, np.ndarray]]:
        first = loaded.tasks[0]
        if first.qtype is None:
            yield first, loaded.host
            return
        out = self._quantize(loaded) if loaded.on_device else None
        at = 0
        for task in loaded.tasks:
            rows = slice(at, at + task.n_rows)
            if out is not None:
                yield task, out[rows]
            else:  # declined: the CPU redoes each task in order, so errors and clamping are the CPU path's
                yield task, fallback(task, _read(task) if loaded.raw_type is not None else loaded.host[rows])
            at += task.n_rows

    def _quantize(self, loaded: _Loaded) -> np.ndarray | None:
        """The batch's bytes in the slot's pinned output, or None when the GPU declines it."""
        first = loaded.tasks[0]
        if first.imatrix is None and cuda_kernels.has_kernel(first.qtype.name, self.cupy):  # type: ignore[union-attr]
            host = self._quantize_compiled(loaded)
            if not isinstance(host, _Untrusted):
                return host
        return self._quantize_arrays(loaded)

    def _quantize_compiled(self, loaded: _Loaded) -> np.ndarray | None | _Untrusted:
        """The compiled path: widen and scan, quantize, download; None for NaN, infinity or an overflow."""
        cupy, slot, first = self.cupy, loaded.slot, loaded.tasks[0]
        kernel = kernel_for(first.qtype)  # type: ignore[arg-type] - pass-through batches never get here
        n_rows, n_per_row = loaded.host.shape[0], first.n_per_row
        size, stored = n_rows * n_per_row, (loaded.raw_type or GGMLType.F32).name
        with self.device, self.stream:
            self.stream.wait_event(slot.uploaded)
            self._maxbits.fill(0)
            source = slot.device_in if stored == "F32" else slot.device_in.view(cupy.uint16)
            cuda_kernels.widen(source, stored, size, self._wide, self._maxbits, cupy)
            rows = (slot.device_in if stored == "F32" else self._wide)[:size].reshape(n_rows, n_per_row)
            data = cuda_kernels.quantize(rows, kernel.qtype.name, cupy, kernel.unchecked_rows)
            if data is None:  # the kernel failed its first check just now
                return _UNTRUSTED
            host = slot.output(data.size).reshape(data.shape)
            data.get(stream=self.stream, out=host)
            largest = self._largest()
        if largest >= _INF_BITS:
            return None
        if largest > HALF_MAX_BITS:  # a scale may have overflowed binary16: the CPU path's check decides
            try:
                kernel.check_scales(host, first.name)
            except InvalidValuesError:
                return None
        return host

    def _largest(self) -> int:
        """The largest magnitude's float bits folded so far (waits for the compute stream)."""
        self._maxbits.get(stream=self.stream, out=self._maxbits_host)
        self.stream.synchronize()
        return int(self._maxbits_host[0])

    def _quantize_arrays(self, loaded: _Loaded) -> np.ndarray | None:
        """The whole-array kernels (any type, with or without an importance matrix)."""
        cupy, slot, first = self.cupy, loaded.slot, loaded.tasks[0]
        kernel = kernel_for(first.qtype)  # type: ignore[arg-type] - pass-through batches never get here
        with self.device, self.stream:
            self.stream.wait_event(slot.uploaded)
            n_rows, n_per_row = loaded.host.shape[0], first.n_per_row
            rows = _widen(cupy, slot.device_in, loaded.raw_type, n_rows, n_per_row)
            try:
                if not bool(cupy.isfinite(rows).all()):
                    return None
                data = kernel.quantize_rows(rows, xp=cupy, imatrix=first.imatrix, name=first.name)
            except InvalidValuesError:
                return None
            except cupy.cuda.memory.OutOfMemoryError:
                log.warning("The GPU ran out of memory on %s; quantizing that part on the CPU.", first.name)
                self._pool.free_all_blocks()
                return None
            host = slot.output(data.size).reshape(data.shape)
            data.get(stream=self.stream, out=host)
            self.stream.synchronize()  # CuPy before 13 copies asynchronously when given a stream
        return host


def _widen(cupy: ModuleType, device_in: Any, raw_type: GGMLType | None, n_rows: int, n_per_row: int) -> Any:
    """The batch as float32 rows on the GPU: as uploaded, or widened exactly from its stored type."""
    size = n_rows * n_per_row
    if raw_type is None or raw_type == GGMLType.F32:
        return device_in[:size].reshape(n_rows, n_per_row)
    half = device_in.view(cupy.uint16)[:size]
    if raw_type == GGMLType.BF16:  # left_shift, not <<: CuPy's first operator call imports cupyx and SciPy
        wide = cupy.left_shift(half.astype(cupy.uint32), cupy.uint32(16)).view(cupy.float32)
    else:
        wide = half.view(cupy.float16).astype(cupy.float32)
    return wide.reshape(n_rows, n_per_row)


def _sink_all(sink: Sink, results: list[tuple[GpuTask, np.ndarray]], failed: threading.Event) -> None:
    if failed.is_set():
        return  # an earlier batch's write failed: the output is lost anyway, nothing more goes to it
    try:
        for task, data in results:
            sink(task, data)
    except BaseException:
        failed.set()
        raise


def _read(task: GpuTask) -> np.ndarray:
    rows = task.read()
    if rows.shape != (task.n_rows, task.n_per_row):
        raise UsageError(
            f"Reading {task.name} gave {rows.shape} values where {(task.n_rows, task.n_per_row)} were expected."
        )
    return rows


def _check(cancel: CancelCheck | None) -> None:
    if cancel is not None and cancel():
        raise CancelledError("The conversion was cancelled.")
