"""Execute a conversion plan: stream every tensor through the quantizer into a GGUF file.

One pass, no intermediate file: rows are read in bounded chunks, widened to float32, quantized on a
thread pool and appended to ``<output>.partial``, which is renamed only after the last byte. Progress
is reported per chunk and cancellation is checked between chunks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

import numpy as np

from engine.convert.cleanup import claim_outputs
from engine.convert.finite import quantize_checked, raw_is_finite
from engine.convert.plan import ConversionPlan
from engine.convert.source import ConversionSource, SourceTensor
from engine.errors import CorruptInputError, UsageError
from engine.formats.ggml_types import GGMLType, row_bytes
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import GGUFStreamWriter
from engine.progress import CancelToken, ProgressFn, ProgressMeter, ignore_progress
from engine.quant.device import DeviceChoice
from engine.quant.gpu_pipeline import RAW_BYTES, GpuPipeline, GpuTask
from engine.quant.imatrix import Imatrix
from engine.quant.sizes import TensorChoice

# Float32 input per chunk: large enough to keep every thread busy, small enough to bound memory.
CHUNK_INPUT_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """A finished conversion: where the file is, how big, and how long it took."""

    output: Path
    bytes_written: int
    n_tensors: int
    seconds: float


def execute(
    plan: ConversionPlan,
    source: ConversionSource,
    *,
    threads: int | None = None,
    imatrix: Imatrix | None = None,
    progress: ProgressFn = ignore_progress,
    cancel: CancelToken | None = None,
    clamp: bool = False,
    device: DeviceChoice | None = None,
) -> ConversionResult:
    """Write the plan's output file from ``source`` and verify it by reading it back.

    ``clamp`` stores NaN as 0 and clamps infinite or overflowing values instead of stopping. ``device``
    (from ``choose_device``) quantizes on that GPU when it is one; None or a CPU choice uses ``threads``.

    Raises:
        CancelledError: ``cancel`` was triggered; no output file exists afterwards.
        OutOfDiskError: the disk filled up; no output file exists afterwards.
        InvalidValuesError: a tensor holds NaN/inf or overflows its target type (named in the message).
        CorruptInputError: the written file did not read back as planned.
    """
    started = time.monotonic()
    token = cancel or CancelToken()
    by_name = {t.name: t for t in source.tensors}
    meter = ProgressMeter(plan.bytes_to_process, progress)
    written: list[Path] = []
    # The claim lets a later start clean up after a kill; the pipeline exists only for a GPU choice.
    with claim_outputs([part.path for part in plan.parts]) as claim, _gpu_pipeline(device) as pipeline:
        try:
            for part in plan.parts:
                if part.path.is_dir():
                    raise UsageError(f"{part.path} is a folder.", "Choose a file name for the output.")
                with GGUFStreamWriter(part.path, list(part.metadata), [c.slot() for c in part.tensors]) as writer:
                    if pipeline is not None:
                        _write_part_gpu(writer, part.tensors, by_name, imatrix, pipeline, meter, token, clamp)
                    else:
                        for choice in part.tensors:
                            token.check()
                            tensor = by_name[choice.name]
                            weights = _imatrix_for(imatrix, choice, tensor)
                            _write_tensor(writer, choice, tensor, threads, weights, meter, token, clamp)
                written.append(part.path)
                claim.completed(part.path)
            verify_output(plan)
        except BaseException:
            for path in written:  # a split output is all or nothing
                path.unlink(missing_ok=True)
            raise
    return ConversionResult(plan.parts[0].path, plan.total_bytes, len(plan.tensors), time.monotonic() - started)


def _imatrix_for(imatrix: Imatrix | None, choice: TensorChoice, tensor: SourceTensor) -> np.ndarray | None:
    if imatrix is None or not choice.changes_type:
        return None
    n_mat = tensor.shape[2] if len(tensor.shape) > 2 else 1
    return imatrix.for_tensor(choice.name, tensor.row_length, n_mat)


def _write_tensor(
    writer: GGUFStreamWriter,
    choice: TensorChoice,
    tensor: SourceTensor,
    threads: int | None,
    weights: np.ndarray | None,
    meter: ProgressMeter,
    token: CancelToken,
    clamp: bool = False,
) -> None:
    """Stream one tensor; a 3-D tensor with an importance matrix uses matrix ``e``'s slice for expert ``e``."""
    row_len = tensor.row_length
    n_mat = tensor.shape[2] if len(tensor.shape) > 2 and weights is not None else 1
    rows_per_mat = tensor.n_rows // n_mat
    step = max(1, CHUNK_INPUT_BYTES // (4 * row_len))
    copy_verbatim = not choice.changes_type and tensor.read_raw is not None
    out_row_bytes = row_bytes(choice.target, row_len)
    for mat in range(n_mat):
        mat_weights = None if weights is None else weights[mat * row_len : (mat + 1) * row_len]
        first, last = mat * rows_per_mat, (mat + 1) * rows_per_mat
        for start in range(first, last, step):
            token.check()
            stop = min(last, start + step)
            data = tensor.read_raw(start, stop) if copy_verbatim else None
            if data is None or not raw_is_finite(data, tensor.dtype):
                data = quantize_checked(
                    tensor.read_rows(start, stop), choice.target, name=choice.name, first_row=start, clamp=clamp,
                    threads=threads, imatrix=mat_weights, cancel=token.check,
                )
            writer.write(data)
            meter.advance((stop - start) * out_row_bytes, choice.name)


def _gpu_pipeline(device: DeviceChoice | None) -> GpuPipeline | nullcontext[None]:
    return GpuPipeline(device) if device is not None and device.is_gpu else nullcontext(None)


def _write_part_gpu(
    writer: GGUFStreamWriter,
    choices: tuple[TensorChoice, ...],
    by_name: dict[str, SourceTensor],
    imatrix: Imatrix | None,
    pipeline: GpuPipeline,
    meter: ProgressMeter,
    token: CancelToken,
    clamp: bool,
) -> None:
    """Stream a part's tensors through the GPU; chunks the GPU declines take the CPU path's checks.

    The CPU fallback runs on one thread, so no worker process is forked beside CUDA's threads.
    """
    def fallback(task: GpuTask, rows: np.ndarray) -> np.ndarray:
        target = cast(GGMLType, task.qtype)  # the pipeline falls back for quantized tasks only
        return quantize_checked(rows, target, name=task.name, first_row=task.first_row, clamp=clamp,
                                threads=1, imatrix=task.imatrix, cancel=token.check)

    tasks = (task for choice in choices for task in _gpu_tasks(
        choice, by_name[choice.name], _imatrix_for(imatrix, choice, by_name[choice.name]),
        pipeline.capacity, clamp, token))

    def sink(task: GpuTask, data: np.ndarray) -> None:
        writer.write(data)
        meter.advance(data.nbytes, task.name)

    pipeline.drain(tasks, sink, fallback=fallback, cancel=token.check)


def _gpu_tasks(
    choice: TensorChoice, tensor: SourceTensor, weights: np.ndarray | None, batch_values: int, clamp: bool,
    token: CancelToken,
) -> Iterator[GpuTask]:
    """One tensor as GPU tasks of at most a batch each, split per expert matrix as ``_write_tensor`` does."""
    row_len = tensor.row_length
    n_mat = tensor.shape[2] if len(tensor.shape) > 2 and weights is not None else 1
    rows_per_mat = tensor.n_rows // n_mat
    step = max(1, batch_values // row_len)
    copy_verbatim = not choice.changes_type and tensor.read_raw is not None
    # Float rows the source can give as stored (reordered at most) go to the GPU as they are and are widened
    # there: half the transfer for 16-bit checkpoints, and no conversion on the reader threads.
    raw_type = tensor.stored_type if tensor.read_stored is not None and tensor.stored_type in RAW_BYTES else None
    for mat in range(n_mat):
        mat_weights = None if weights is None else weights[mat * row_len : (mat + 1) * row_len]
        first, last = mat * rows_per_mat, (mat + 1) * rows_per_mat
        for start in range(first, last, step):
            stop = min(last, start + step)
            if copy_verbatim:
                read = partial(_stored_bytes, tensor, choice, start, stop, clamp, token)
                yield GpuTask(read, None, stop - start, row_len, name=choice.name, first_row=start)
            else:
                read = partial(tensor.read_rows, start, stop)
                raw = partial(tensor.read_stored, start, stop) if raw_type is not None else None  # type: ignore[arg-type]
                yield GpuTask(read, choice.target, stop - start, row_len, mat_weights, choice.name, start, raw, raw_type)


def _stored_bytes(
    tensor: SourceTensor, choice: TensorChoice, start: int, stop: int, clamp: bool, token: CancelToken
) -> np.ndarray:
    """Rows kept in their stored type: their bytes, or (NaN/inf among them) the CPU path's check or clamp."""
    data = tensor.read_raw(start, stop) if tensor.read_raw is not None else None
    if data is not None and raw_is_finite(data, tensor.dtype):
        return np.asarray(data)
    return quantize_checked(tensor.read_rows(start, stop), choice.target, name=choice.name, first_row=start,
                            clamp=clamp, threads=1, imatrix=None, cancel=token.check)


def verify_output(plan: ConversionPlan) -> None:
    """Re-open every written part and check header, tensor names, types, sizes and file size."""
    for part in plan.parts:
        written = read_gguf(part.path)
        expected = [(c.name, c.target, c.nbytes) for c in part.tensors]
        actual = [(t.name, t.qtype, t.nbytes) for t in written.tensors]
        if expected != actual or [k for k, _ in part.metadata] != list(written.fields):
            raise CorruptInputError(
                f"The written file {part.path.name} did not read back as planned, so it was removed.",
                "Check the disk for errors and try again; report it if it happens again.",
            )
