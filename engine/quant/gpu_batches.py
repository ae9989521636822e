"""What the GPU pipeline works on: tasks (chunks of rows in output order) and the batches they pack into.

Consecutive tasks of one type and row length (and the same importance matrix) share a batch: rows are
quantized independently, so the bytes are those of one task at a time, and a run of small tensors costs
one sequence of kernel launches instead of one each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from engine.formats.ggml_types import GGMLType

__all__ = ["Fallback", "GpuTask", "Sink", "plan_batches"]


@dataclass(frozen=True, slots=True)
class GpuTask:
    """One chunk of rows of one tensor, in output order.

    Attributes:
        read: Called on a reader thread. Returns the float32 rows (n_rows, n_per_row) to quantize; when
            ``qtype`` is None, the finished bytes, which are passed through unchanged.
        qtype: Target type; None for bytes passed through (a tensor copied as stored).
        n_rows: Rows ``read`` returns.
        n_per_row: Values per row.
        imatrix: Per-column importance weights, or None.
        name: Tensor name, for messages.
        first_row: Index of the chunk's first row in its tensor, for messages.
        read_raw: Optionally, the same rows as stored (uint8, n_rows x stored row bytes), in ``raw_type``
            (F32, F16 or BF16): uploaded as they are and widened on the GPU, which halves the transfer of
            16-bit inputs and leaves the reader threads nothing to convert.
        raw_type: The stored type ``read_raw`` returns.
    """

    read: Callable[[], np.ndarray]
    qtype: GGMLType | None
    n_rows: int
    n_per_row: int
    imatrix: np.ndarray | None = None
    name: str = "tensor"
    first_row: int = 0
    read_raw: Callable[[], np.ndarray] | None = None
    raw_type: GGMLType | None = None

    @property
    def n_values(self) -> int:
        return self.n_rows * self.n_per_row


# Quantizes a declined task's host rows on the CPU (raising or clamping as the CPU path does).
Fallback = Callable[[GpuTask, np.ndarray], np.ndarray]
# Takes a task's finished bytes (writes them out); called on the pipeline's writer thread.
Sink = Callable[[GpuTask, np.ndarray], None]


def plan_batches(tasks: Iterable[GpuTask], capacity: int) -> Iterator[tuple[GpuTask, ...]]:
    """Consecutive compatible tasks packed into batches of at most ``capacity`` values.

    A task larger than ``capacity`` forms a batch of its own; pass-through tasks are never packed.
    """
    batch: list[GpuTask] = []
    size = 0
    for task in tasks:
        if batch and not (_joins(batch[0], task) and size + task.n_values <= capacity):
            yield tuple(batch)
            batch, size = [], 0
        batch.append(task)
        size += task.n_values
    if batch:
        yield tuple(batch)


def _joins(first: GpuTask, task: GpuTask) -> bool:
    return (
        first.qtype is not None
        and task.qtype == first.qtype
        and task.n_per_row == first.n_per_row
        and task.imatrix is first.imatrix
        and task.raw_type == first.raw_type
    )
