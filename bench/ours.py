"""Our side of the benchmark: time ``quantize_parallel`` on the in-memory tensor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.timing import best_time
from bench.workload import TENSOR_NAME
from engine.formats.ggml_types import GGMLType
from engine.quant import registered_types
from engine.quant.parallel import quantize_parallel


@dataclass(frozen=True, slots=True)
class OurRun:
    """Fastest time for one (type, threads) pair and the bytes it produced (kept for the identity check)."""

    seconds: float
    data: np.ndarray


def is_implemented(type_name: str) -> bool:
    """True when a kernel for ``type_name`` is registered right now."""
    return GGMLType[type_name] in registered_types()


def time_ours(rows: np.ndarray, type_name: str, threads: int, *, repeat: int, budget_s: float) -> OurRun:
    """Quantize ``rows`` with ``threads`` workers; a small warm-up call first keeps one-off costs out."""
    quantize_parallel(rows[:4], type_name, threads=1, name=TENSOR_NAME)
    result: list[np.ndarray] = []

    def once() -> None:
        result[:] = [quantize_parallel(rows, type_name, threads=threads, name=TENSOR_NAME)]

    seconds = best_time(once, repeat=repeat, budget_s=budget_s)
    return OurRun(seconds, result[0])
