"""Layer 1: quantization kernels and per-tensor type rules.

``quantize(rows, "Q4_K")`` and ``dequantize(data, "Q4_K", n_per_row)`` work on numpy or CuPy arrays;
importing this package registers every kernel.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from engine.formats.ggml_types import GGMLType
from engine.quant import kernels as _kernels  # noqa: F401 - registers every kernel
from engine.quant.registry import Kernel, kernel_for, registered_types
from engine.quant.xp import namespace_of

__all__ = ["Kernel", "dequantize", "kernel_for", "quantize", "registered_types"]


def quantize(
    rows: Any, qtype: GGMLType | str, *, imatrix: Any | None = None, name: str = "tensor", xp: ModuleType | None = None
) -> Any:
    """Quantize float32 rows (n_rows, n_per_row) to packed uint8 rows of ``qtype``."""
    xp = xp or namespace_of(rows)
    return kernel_for(qtype).quantize_rows(rows, xp=xp, imatrix=imatrix, name=name)


def dequantize(data: Any, qtype: GGMLType | str, n_per_row: int, *, xp: ModuleType | None = None) -> Any:
    """Unpack quantized rows of ``qtype`` back to float32 (n_rows, n_per_row)."""
    xp = xp or namespace_of(data)
    return kernel_for(qtype).dequantize_rows(data, n_per_row, xp=xp)
